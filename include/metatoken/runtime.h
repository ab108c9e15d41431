/*
 * The runtime client: runs a C handler under the Lambda Runtime API, the
 * protocol both AWS Lambda and Yandex Cloud Functions runtimes speak (and
 * metatokend serves), so a function written against this header runs
 * unchanged locally and in either cloud.
 *
 *	static int handle(const char *event, size_t len, const struct mtk_context *ctx,
 *	                  struct mtk_result *out, void *arg)
 *	{
 *		if (!mtk_context_has_token(ctx))
 *			return mtk_result_error(out, "NoToken", "no service account"), 0;
 *		return mtk_result_set(out, "{\"ok\":true}", 11) == MTK_OK ? 0 : -1;
 *	}
 *
 *	int main(void)
 *	{
 *		return mtk_runtime_run(NULL, handle, NULL) == MTK_OK ? 0 : 1;
 *	}
 *
 * Or build the handler as a shared object and let the `metatoken-bootstrap`
 * program load it (`_HANDLER=libfn.so:handle`): see examples/.
 *
 * The loop, per invocation:
 * 1. GET http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/next,
 *    a long poll without a timeout (every other request has one);
 * 2. a context (metatoken/context.h) from the answer's headers: request id
 *    (request_id and aws_request_id), Deadline-Ms, Invoked-Function-Arn,
 *    Trace-Id (also put into $_X_AMZN_TRACE_ID, as AWS runtimes do),
 *    Client-Context, Cognito-Identity, and Yandex's Function-Name,
 *    Function-Version, Memory-Limit and Log-Group-Name; what the headers
 *    lack comes from AWS_LAMBDA_FUNCTION_NAME, _VERSION, _MEMORY_SIZE,
 *    AWS_LAMBDA_LOG_GROUP_NAME, and the log stream from
 *    AWS_LAMBDA_LOG_STREAM_NAME. The token comes from Lambda-Runtime-Token-
 *    Json (an unparsable one means no token); when that header is absent,
 *    from the metadata service through a struct mtk_client, as on AWS (no
 *    token when that fails: the handler still runs);
 * 3. the handler, with the event body (NUL-terminated; len excludes the NUL);
 * 4. POST .../invocation/<request id>/response with the handler's bytes, or
 *    .../<request id>/error with {"errorMessage","errorType","stackTrace":[]}
 *    and the header Lambda-Runtime-Function-Error-Type.
 *
 * Failures: /next is retried with exponential backoff when it cannot connect
 * or answers an error (418, Yandex's "worker not ready", after 100 ms), and
 * after next_attempts failures in a row mtk_runtime_run() returns; an answer
 * without a usable request id is reported and skipped; a POST that fails is
 * reported and the loop goes on. Messages go to stderr as
 * "<log_prefix>: <message>" lines (or to the log seam); they never hold a
 * token.
 *
 * Threads: mtk_runtime_run() runs the loop on the calling thread; one loop
 * per process is what the clouds run. It changes the environment variable
 * _X_AMZN_TRACE_ID, so no other thread may call setenv() or getenv()
 * meanwhile.
 */
#ifndef METATOKEN_RUNTIME_H
#define METATOKEN_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memset, for mtk_runtime_options_init() */

#include "metatoken/context.h"
#include "metatoken/metatoken.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MTK_PRINTF_(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define MTK_PRINTF_(fmt, args)
#endif

#define MTK_RUNTIME_MAX_EVENT 6291456 /* default cap on an event, bytes (6 MiB, as AWS) */

/* What a handler returns through: bytes, or an error. Owned by the loop. */
struct mtk_result;

/*
 * A function handler. event holds len bytes followed by a NUL; ctx is valid
 * until the handler returns. Before returning, the handler sets out with
 * mtk_result_set(), mtk_result_take() or mtk_result_error(); the last call
 * wins. A non-zero return with no error set reports errorType
 * "Runtime.HandlerFailed"; returning without setting anything reports
 * "Runtime.NoResult" (an empty response is mtk_result_set(out, "", 0)).
 * arg is the pointer given to mtk_runtime_run().
 */
typedef int (*mtk_handler_fn)(const char *event, size_t len, const struct mtk_context *ctx,
                              struct mtk_result *out, void *arg);

/* The response is a copy of len bytes at bytes (which may be NULL when len is 0). */
MTK_EXPORT enum mtk_status mtk_result_set(struct mtk_result *out, const void *bytes, size_t len);

/* The response is the NUL-terminated string s (copied). */
MTK_EXPORT enum mtk_status mtk_result_set_string(struct mtk_result *out, const char *s);

/*
 * The response is len bytes at bytes, a buffer from malloc() that the loop
 * now owns and releases with free(), also when this call fails.
 */
MTK_EXPORT enum mtk_status mtk_result_take(struct mtk_result *out, void *bytes, size_t len);

/*
 * The invocation failed: errorType type (NULL: "Error"; characters other
 * than printable ASCII become '_', as it also travels in a header) and
 * errorMessage from the printf-style fmt. A message that cannot be
 * formatted or stored is replaced by a fixed one, so the error itself is
 * never lost: the call fails only for a NULL out or fmt.
 */
MTK_EXPORT enum mtk_status mtk_result_error(struct mtk_result *out, const char *type,
                                            const char *fmt, ...) MTK_PRINTF_(3, 4);

struct mtk_testing_runtime_seams;

/*
 * Options. Start from MTK_RUNTIME_OPTIONS_INIT (or
 * mtk_runtime_options_init()), which sets struct_size; zero means "the
 * default" for every other field; NULL options mean all defaults. Strings
 * are read during the call only. struct_size works as in struct
 * mtk_client_options (metatoken.h): a wrong one is MTK_ERR_BAD_STRUCT_SIZE.
 */
struct mtk_runtime_options {
	size_t struct_size; /* sizeof(struct mtk_runtime_options), set by the init */
	/* host[:port] of the Runtime API; NULL: $AWS_LAMBDA_RUNTIME_API. */
	const char *runtime_api;
	/* Return MTK_OK after this many /next answers (0: loop forever). */
	uint64_t max_invocations;
	int64_t connect_timeout_ms; /* 0: 1000 */
	int64_t request_timeout_ms; /* 0: 10000, every request but /next */
	int next_attempts;          /* 0: 5 /next failures in a row end the loop */
	int64_t backoff_base_ms;    /* 0: 100, doubled per failure */
	int64_t backoff_max_ms;     /* 0: 2000 */
	size_t max_event_bytes;     /* 0: MTK_RUNTIME_MAX_EVENT */
	/* The token fallback (no Lambda-Runtime-Token-Json header): this
	 * client, which the caller owns and may share; NULL: one the loop makes
	 * on first need from the environment ($YC_METADATA_ADDR, ...), with
	 * short timeouts, and frees at the end. */
	struct mtk_client *metadata_client;
	/* No token fallback at all: without the header there is no token. */
	bool no_metadata_token;
	/* After a fallback that got no token, the next one waits this long
	 * (0: 30000), so that a function without a service account does not
	 * pay a metadata request per invocation. */
	int64_t metadata_retry_ms;
	/* The prefix of log lines (NULL: "metatoken-runtime"). */
	const char *log_prefix;

	/* Not a stable interface: the test seams of metatoken/testing.h, whose
	 * contents may change in any release. NULL outside tests. */
	const struct mtk_testing_runtime_seams *testing;
};

#define MTK_RUNTIME_OPTIONS_INIT                                                                   \
	{                                                                                          \
		.struct_size = sizeof(struct mtk_runtime_options)                                  \
	}

/* Sets *o to MTK_RUNTIME_OPTIONS_INIT (inline: the caller's size). */
static inline void mtk_runtime_options_init(struct mtk_runtime_options *o)
{
	memset(o, 0, sizeof(*o));
	o->struct_size = sizeof(*o);
}

/*
 * Runs the loop until max_invocations answers of /next were handled, or
 * /next keeps failing. Returns MTK_OK after max_invocations;
 * MTK_ERR_BAD_ENVIRONMENT (nothing sent) when there is no Runtime API
 * address or it is not host[:port], or when AWS_LAMBDA_FUNCTION_MEMORY_SIZE
 * is not a positive integer (reported to /runtime/init/error first);
 * MTK_ERR_INVALID_ARGUMENT for a NULL handler; otherwise the status of the
 * last /next failure (MTK_ERR_CONNECT, MTK_ERR_HTTP_UNEXPECTED, ...), with
 * a message naming the address.
 */
MTK_EXPORT enum mtk_status mtk_runtime_run(const struct mtk_runtime_options *opts,
                                           mtk_handler_fn handler, void *arg);

/*
 * Reports a failed initialisation: POST /2018-06-01/runtime/init/error with
 * {"errorMessage","errorType","stackTrace":[]} and the header
 * Lambda-Runtime-Function-Error-Type, and logs the message. The caller then
 * exits non-zero. Returns MTK_OK when the Runtime API answered 2xx.
 */
MTK_EXPORT enum mtk_status mtk_runtime_init_error(const struct mtk_runtime_options *opts,
                                                  const char *type, const char *fmt, ...)
    MTK_PRINTF_(3, 4);

#ifdef __cplusplus
}
#endif

#endif
