/*
 * libmetatoken's test seams. NOT A STABLE INTERFACE: what this header
 * declares may change, or go, in any release, minor or patch, with no
 * SOVERSION bump. It exists for libmetatoken's own tests and benchmarks,
 * and for a program's tests that must run the client against a fake clock
 * or transport; a program that ships includes only metatoken/metatoken.h
 * (and aws.h, context.h, runtime.h) and leaves mtk_client_options.testing
 * NULL.
 *
 * Use: fill a struct mtk_testing_seams and point the client options'
 * `testing` field at it; it is read during mtk_client_new() only, but the
 * clock and transport it points to must outlive the client. The runtime
 * loop's are a struct mtk_testing_runtime_seams, in mtk_runtime_options.
 */
#ifndef METATOKEN_TESTING_H
#define METATOKEN_TESTING_H

#include <stddef.h>
#include <stdint.h>

#include "metatoken/metatoken.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Test seam: the clocks. Each NULL function falls back to the real one, so
 * a test replaces all three. arg is passed to each. Must be thread-safe.
 * - monotonic_ms: any monotonic origin; all expiry logic runs on it.
 * - wall_ms: milliseconds since the Unix epoch; used only to report
 *   absolute expiry times and for contexts' deadlines.
 * - sleep_ms: the pause between retries (never called with a value <= 0).
 */
struct mtk_clock {
	int64_t (*monotonic_ms)(void *arg);
	int64_t (*wall_ms)(void *arg);
	void (*sleep_ms)(void *arg, int64_t ms);
	void *arg;
};

/*
 * Test seam: the HTTP transport. One request, synchronous. The client calls
 * perform() from at most one thread at a time per client, never holding the
 * client's lock.
 */
struct mtk_http_request {
	const char *url;            /* absolute http:// or https:// URL */
	const char *const *headers; /* NULL-terminated "Name: value" lines */
	int64_t connect_timeout_ms; /* > 0 */
	int64_t timeout_ms;         /* > 0, whole request */
	/* "GET" or "PUT" (the AWS flavour's IMDSv2 session request, sent with
	 * Content-Length: 0), or "POST" (the IAM exchange, with body). NULL
	 * means GET: transports written before this field existed see only
	 * GETs from a GCE-flavour client. */
	const char *method;
	/* POST only: body_len bytes to send (a secret: the transport keeps no
	 * copy); NULL otherwise. Its Content-Type is among the headers. */
	const char *body;
	size_t body_len;
};

struct mtk_http_response {
	long status;     /* out: HTTP status */
	char *body;      /* caller-owned buffer of body_cap bytes */
	size_t body_cap; /* MTK_MAX_BODY */
	size_t body_len; /* out: bytes written to body (no NUL is added) */
	/* out: the value of the response's Retry-After header, NUL-terminated
	 * and cut to fit, into this caller-owned buffer of retry_after_cap
	 * bytes, which the client hands over holding "". A transport written
	 * before these fields existed leaves it so: no Retry-After. */
	char *retry_after;
	size_t retry_after_cap;
};

/*
 * perform() returns MTK_OK when a response arrived (whatever its status),
 * MTK_ERR_CONNECT, MTK_ERR_TIMEOUT or MTK_ERR_TRANSPORT (retried), or
 * MTK_ERR_BODY_TOO_LARGE when the body would exceed body_cap (not retried).
 */
struct mtk_transport {
	enum mtk_status (*perform)(void *arg, const struct mtk_http_request *req,
	                           struct mtk_http_response *resp);
	void *arg;
};

/* The seams of one client; each NULL one is the real thing. */
struct mtk_testing_seams {
	const struct mtk_clock *clock;
	const struct mtk_transport *transport;
	uint64_t (*random_u64)(void *arg); /* jitter source */
	void *random_arg;
};

/*
 * The runtime loop's seam (metatoken/runtime.h): its HTTP transport. One request,
 * synchronous; the response's headers and body go to the sink as they
 * arrive.
 */
struct mtk_runtime_request {
	const char *method;         /* "GET" or "POST" */
	const char *url;            /* absolute http:// URL */
	const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
	const char *body;           /* POST: body_len bytes (may be NULL when 0) */
	size_t body_len;
	int64_t connect_timeout_ms; /* > 0 */
	int64_t timeout_ms;         /* whole request; 0: none (the /next long poll) */
};

struct mtk_runtime_sink {
	/* One response header (no CR/LF; value without surrounding blanks).
	 * Non-zero means "too much": the transport stops and returns
	 * MTK_ERR_BODY_TOO_LARGE. */
	int (*header)(void *arg, const char *name, size_t name_len, const char *value,
	              size_t value_len);
	/* The next len bytes of the body; non-zero as for header. */
	int (*body)(void *arg, const char *data, size_t len);
	void *arg;
};

/*
 * perform() returns MTK_OK when a response arrived, with *status set (any
 * status); else MTK_ERR_CONNECT, MTK_ERR_TIMEOUT, MTK_ERR_TRANSPORT,
 * MTK_ERR_NO_MEMORY or MTK_ERR_BODY_TOO_LARGE (the sink refused).
 */
struct mtk_runtime_transport {
	enum mtk_status (*perform)(void *arg, const struct mtk_runtime_request *req,
	                           const struct mtk_runtime_sink *sink, long *status);
	void *arg;
};

/* The seams of a runtime loop (mtk_runtime_options.testing); each NULL one
 * is the real thing. */
struct mtk_testing_runtime_seams {
	const struct mtk_runtime_transport *transport;
	const struct mtk_clock *clock; /* monotonic_ms and sleep_ms (backoff) */
	/* Receives each log line without prefix or newline. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
};

#ifdef __cplusplus
}
#endif

#endif
