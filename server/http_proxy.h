/*
 * Yandex Cloud Functions' HTTP integration as data (PROTOCOL.md §3): the
 * event an HTTP request becomes and the HTTP response a function's answer
 * becomes. No request, no reply, no function: http_invoke.c gathers the
 * request and sends the response; this file only translates, so that
 * tests and the fuzz target reach it directly.
 *
 * The event has the fields of Yandex's documentation and of live events:
 * httpMethod, headers (one value per name: the last), url, path, params,
 * multiValueParams, pathParams, multiValueHeaders, queryStringParameters
 * (the last value), multiValueQueryStringParameters, requestContext
 * {identity {sourceIp, userAgent}, httpMethod, requestId, requestTime (CLF,
 * "26/Dec/2019:14:22:07 +0000"), requestTimeEpoch (seconds)}, body and
 * isBase64Encoded. Header names are canonical ("content-type" is
 * "Content-Type") and keys are sorted, as Yandex's events have them. The
 * headers Yandex strips are left out (Authorization, Cookie, Connection,
 * Expect, Te, Trailer, Upgrade, Proxy-Authenticate, Content-Md5,
 * Max-Forwards, Server, Transfer-Encoding, Www-Authenticate) and the ones
 * it adds are added: X-Forwarded-For (the client's address after any it
 * was given), X-Real-Remote-Address ("[ip]:port") and X-Request-Id. A body
 * sent as application/json (and valid UTF-8) is passed as is; any other is
 * base64 with isBase64Encoded true. Text that is not UTF-8 (a header, a
 * decoded query) has each bad byte replaced by U+FFFD.
 *
 * The answer is {statusCode, headers, multiValueHeaders, body,
 * isBase64Encoded}, each optional (status 200, no headers, empty body);
 * other members are ignored. multiValueHeaders wins over headers for a
 * name in both (any case). Response headers are filtered as Yandex
 * documents: Host, Authorization, User-Agent, Connection, Max-Forwards and
 * Cookie dropped (Content-Length too: it is computed); Proxy-Authenticate,
 * Transfer-Encoding and Via refused; Content-Md5, Date, Server and
 * Www-Authenticate renamed X-Yf-Remapped-<name>.
 */
#ifndef METATOKEN_SERVER_HTTP_PROXY_H
#define METATOKEN_SERVER_HTTP_PROXY_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* A name and a value: a header, a query argument (value NULL: no '='). */
struct http_kv {
	const char *name;
	const char *value;
};

/* What the event is made of. Every pointer is borrowed. */
struct http_call {
	const char *method;
	const char *path; /* after /functions/<name>: "" or "/..." (decoded) */
	const struct http_kv *headers;
	size_t n_headers; /* in the order they came, repeats included */
	const struct http_kv *query;
	size_t n_query;
	const char *body; /* body_len bytes, any */
	size_t body_len;
	const char *source_ip; /* "127.0.0.1", "::1" */
	unsigned source_port;
	const char *request_id;
	int64_t time_ms; /* the request's time, ms since the epoch */
};

/* The event as JSON text, malloc'd (the caller frees it), its length in
 * *len; NULL when out of memory. */
char *http_proxy_event(const struct http_call *c, size_t *len);

/* The most header bytes (names and values) an answer may set. The
 * response's head is built in the connection's memory (libmicrohttpd's
 * 32 KiB by default), which the request's headers share: at this cap a
 * response goes out after request headers of up to 14 KB (measured;
 * libmicrohttpd refuses requests past about 19 KB with 431 either way). */
#define HTTP_ANSWER_HEADER_BYTES_MAX 8192

/* A function's answer, ready to send. */
struct http_answer {
	unsigned status;
	struct http_kv *headers; /* to send, in order, repeats included */
	size_t n_headers;
	char *body; /* decoded, malloc'd (NUL after it) */
	size_t body_len;
	cJSON *tree; /* holds the strings headers point to */
};

/*
 * Reads a function's answer: len bytes of text, any. Returns 0 with *a
 * filled (release it with http_answer_release), or -1 with what is wrong
 * in why as one line ("not a valid json", "statusCode must be...") and *a
 * empty.
 */
int http_proxy_answer(const char *text, size_t len, struct http_answer *a, char *why,
                      size_t whylen);
void http_answer_release(struct http_answer *a);

/* A copy of len bytes with each byte that is not part of valid UTF-8 (and
 * each NUL) replaced by U+FFFD, malloc'd and NUL-terminated; NULL when out
 * of memory. */
char *http_proxy_utf8(const char *s, size_t len);

#endif
