/*
 * The Lambda Invoke API flavour (PROTOCOL.md §3), routed by route.c:
 *
 *   POST /2015-03-31/functions/<name>/invocations       invoke_post
 *
 * The body is the event. X-Amz-Invocation-Type: RequestResponse (default:
 * the invoker is held, no thread waiting, until the invocation ends), Event
 * (202, runs later), DryRun (204). X-Amz-Client-Context: base64 JSON,
 * handed to the runtime. A function error, a crash or a timeout is 200
 * with X-Amz-Function-Error: Unhandled and the error document. The API's
 * own errors are AWS's: X-Amzn-ErrorType and {"Type","message"}: 404
 * ResourceNotFoundException, 429 TooManyRequestsException (over the
 * function's concurrency), 413 RequestEntityTooLargeException, 400
 * InvalidRequestContentException.
 */
#ifndef METATOKEN_SERVER_INVOKE_API_H
#define METATOKEN_SERVER_INVOKE_API_H

struct request;

#define INVOKE_PREFIX "/2015-03-31/functions"

void invoke_post(struct request *rq);

/* The flavour's error shape (its ended hook is function_invoker_ended). */
void invoke_api_flavour_error(struct request *rq, unsigned status, const char *text);

__attribute__((format(printf, 4, 5))) void invoke_api_error(struct request *rq, unsigned status,
                                                            const char *type, const char *fmt, ...);

#endif
