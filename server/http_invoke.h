/*
 * HTTP calls into a function, the way Yandex Cloud Functions' function URL
 * and API gateway make them (issue 12, PROTOCOL.md §3), routed by route.c:
 *
 *   any method  /functions/<name>[/<rest...>][?query]    http_invoke_handle
 *
 * The request becomes Yandex's HTTP event (http_proxy.h), the function's
 * answer the response; the caller is held, no thread waiting, until the
 * invocation ends. Every configured function is reachable, and the
 * implicit `function`. No Metadata-Flavor header is needed (a browser can
 * call it) but the Host rules of the listener apply; X-Forwarded-For is
 * accepted and passed on.
 *
 * Outcomes: the answer's status, headers and body; an unhandled function
 * error 502 with X-Function-Error: true and the error document; a
 * malformed answer 502 {"errorMessage": "Malformed serverless function
 * response: <what>", "errorType": "ProxyIntegrationError", "payload":
 * <the answer>}; a timeout 504 with the error document. With
 * ?integration=raw the body is the event as is and the function's result
 * the 200 response's body as is. Every answer from a function carries
 * X-Request-Id (unless the function set one).
 *
 * Its own errors are {"errorMessage", "errorType"}: 404 NotFound (no such
 * function), 413 PayloadTooLarge (the event over the function's
 * max_event_bytes), 429 TooManyRequests (over its concurrency), 503
 * ServiceUnavailable (stopping). Neither bodies nor headers are logged.
 */
#ifndef METATOKEN_SERVER_HTTP_INVOKE_H
#define METATOKEN_SERVER_HTTP_INVOKE_H

struct request;

#define HTTP_INVOKE_PREFIX "/functions"

void http_invoke_handle(struct request *rq);

/* The flavour's error shape (its ended hook is function_invoker_ended). */
void http_invoke_flavour_error(struct request *rq, unsigned status, const char *text);

#endif
