/*
 * The Lambda Runtime API flavour (PROTOCOL.md §3), routed by route.c:
 *
 *   GET  /2018-06-01/runtime/invocation/next           runtime_next
 *   POST /2018-06-01/runtime/invocation/<id>/response  runtime_response
 *   POST /2018-06-01/runtime/invocation/<id>/error     runtime_error
 *   POST /2018-06-01/runtime/init/error                runtime_init_error
 *
 * /next is held (no thread waits) until an invocation is queued; answers
 * carry AWS's headers and Yandex's, Lambda-Runtime-Token-Json included.
 * Errors are {"errorMessage","errorType"}: 400 InvalidRequestID for an id
 * that is not running, 403 InvalidStateTransition for one that has ended
 * (answered, timed out), 413 for a response over the function's maximum.
 */
#ifndef METATOKEN_SERVER_RUNTIME_API_H
#define METATOKEN_SERVER_RUNTIME_API_H

struct request;

#define RUNTIME_PREFIX "/2018-06-01/runtime"
enum { RUNTIME_LEAF_OTHER, RUNTIME_LEAF_NEXT };

void runtime_next(struct request *rq);
void runtime_response(struct request *rq);
void runtime_error(struct request *rq);
void runtime_init_error(struct request *rq);

/* The flavour's hooks: its error shape, and a request that ended. */
void runtime_api_flavour_error(struct request *rq, unsigned status, const char *text);
void runtime_api_ended(struct request *rq);

#endif
