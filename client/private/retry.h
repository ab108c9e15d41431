/*
 * The retry loop (client/retry.c): one HTTP request through a transport,
 * retried with backoff within the time budget of the fetch it is part of.
 * It takes a transport and a clock, never the client: it knows no cache and
 * no source of credentials. The fetchers (client/fetch_*.c) call it.
 * Never installed.
 */
#ifndef METATOKEN_CLIENT_RETRY_H
#define METATOKEN_CLIENT_RETRY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "metatoken/metatoken.h"
#include "metatoken/testing.h"

/* The longest pause a Retry-After is read as: any budget is shorter. */
#define MTK__RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)

struct mtk__retry_options {
	struct mtk_transport transport; /* perform is not NULL */
	struct mtk_clock clock;         /* every function set */
	uint64_t (*random_u64)(void *arg);
	void *random_arg;
	int64_t connect_timeout_ms; /* > 0 */
	int64_t request_timeout_ms; /* > 0, per attempt */
	int64_t fetch_budget_ms;    /* > 0, one fetch with all its requests */
	int max_attempts;           /* >= 1, the first included */
	int64_t backoff_base_ms;
	int64_t backoff_max_ms;
};

struct mtk__retry {
	struct mtk__retry_options o;
	char *body;                /* MTK_MAX_BODY bytes: one fetch at a time uses it */
	_Atomic uint64_t requests; /* transport calls, retries included */
};

/* What a request got: an HTTP status and its body, which lies in the
 * retry loop's buffer (the caller wipes it), and when it was sent. */
struct mtk__answer {
	long http;
	char *body;
	size_t len;
	int64_t sent_ms; /* monotonic */
};

/* Copies the options and allocates the body buffer (MTK_ERR_NO_MEMORY). */
enum mtk_status mtk__retry_init(struct mtk__retry *r, const struct mtk__retry_options *o);
/* Wipes and frees the buffer. */
void mtk__retry_release(struct mtk__retry *r);

int64_t mtk__retry_mono(const struct mtk__retry *r);
int64_t mtk__retry_wall(const struct mtk__retry *r);

/*
 * One request, retrying connect errors, timeouts, 429 and 5xx with
 * exponential backoff and full jitter while max_attempts and the budget of
 * the fetch that began at start_ms last. A Retry-After on a 429 or 503
 * makes the pause at least that long; when the budget does not allow it,
 * the request gives up at once, detail saying why.
 * Returns MTK_OK with *out set whatever the HTTP status (detail then says
 * what a status other than 200 was), or the transport's error after the
 * retries, detail saying what failed. Runs in one thread at a time.
 */
enum mtk_status mtk__retry_request(struct mtk__retry *r, const char *method, const char *url,
                                   const char *const *headers, int64_t start_ms,
                                   struct mtk__answer *out, char *detail, size_t detail_len);
/* The same with a body (a POST's, body_len bytes; the caller wipes it):
 * the IAM exchange. method is not NULL. */
enum mtk_status mtk__retry_request_body(struct mtk__retry *r, const char *method, const char *url,
                                        const char *const *headers, const char *body,
                                        size_t body_len, int64_t start_ms, struct mtk__answer *out,
                                        char *detail, size_t detail_len);
/* The same with one attempt of at most min(timeout_ms, request_timeout_ms):
 * for requests that are never retried (the IMDSv2 PUT). */
enum mtk_status mtk__retry_request_once(struct mtk__retry *r, const char *method, const char *url,
                                        const char *const *headers, int64_t start_ms,
                                        int64_t timeout_ms, struct mtk__answer *out, char *detail,
                                        size_t detail_len);

/* The status a fetch reports for an HTTP status other than 200. */
enum mtk_status mtk__http_status(long http);

/*
 * Parses a Retry-After value: delay-seconds (digits only) or an IMF-fixdate
 * ("Sun, 06 Nov 1994 08:49:37 GMT", the form RFC 9110 has servers send),
 * as a pause in ms from now_wall_ms: a date in the past is 0, anything
 * beyond MTK__RETRY_AFTER_MAX_MS is that. Spaces around it are allowed.
 * -1 for anything else. Any NUL-terminated string is safe input.
 */
int64_t mtk__retry_after_parse(const char *value, int64_t now_wall_ms);

#endif
