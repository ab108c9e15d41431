/*
 * The retry loop (private/retry.h): attempts, backoff with full jitter and
 * the fetch's time budget, over a transport and a clock. No cache, no
 * credential source: a fetcher says what to ask, this says how often and
 * when.
 */
#include "private/internal.h"
#include "private/retry.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Room for any Retry-After value worth reading (an IMF-fixdate is 29). */
#define RETRY_AFTER_CAP 64

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

enum mtk_status mtk__retry_init(struct mtk__retry *r, const struct mtk__retry_options *o)
{
	r->o = *o;
	atomic_init(&r->requests, 0);
	r->body = malloc(MTK_MAX_BODY);
	return r->body ? MTK_OK : MTK_ERR_NO_MEMORY;
}

void mtk__retry_release(struct mtk__retry *r)
{
	if (!r->body)
		return;
	OPENSSL_cleanse(r->body, MTK_MAX_BODY);
	free(r->body);
	r->body = NULL;
}

int64_t mtk__retry_mono(const struct mtk__retry *r)
{
	return r->o.clock.monotonic_ms(r->o.clock.arg);
}

int64_t mtk__retry_wall(const struct mtk__retry *r)
{
	return r->o.clock.wall_ms(r->o.clock.arg);
}

/* A uniformly random value in [0, bound], bound >= 0. */
static int64_t random_upto(const struct mtk__retry *r, int64_t bound)
{
	if (bound <= 0)
		return 0;
	return (int64_t)(r->o.random_u64(r->o.random_arg) % ((uint64_t)bound + 1));
}

/*
 * Pause before retry number `attempt` (1 for the first retry): "full
 * jitter", uniform in [0, min(max, base * 2^(attempt-1))].
 */
static int64_t backoff_ms(const struct mtk__retry *r, int attempt)
{
	int64_t cap = r->o.backoff_base_ms;
	int i;

	/* Doubling stops at the maximum, and before it could overflow when
	 * the options are huge. */
	for (i = 1; i < attempt && cap < r->o.backoff_max_ms && cap <= INT64_MAX / 2; i++)
		cap *= 2;
	return random_upto(r, min64(cap, r->o.backoff_max_ms));
}

enum mtk_status mtk__http_status(long http)
{
	if (http == 404)
		return MTK_ERR_NO_SUCH_ACCOUNT;
	if (http == 429)
		return MTK_ERR_HTTP_THROTTLED;
	if (http >= 500 && http <= 599)
		return MTK_ERR_HTTP_SERVER;
	if (http >= 400 && http <= 499)
		return MTK_ERR_HTTP_CLIENT;
	return MTK_ERR_HTTP_UNEXPECTED;
}

static bool http_retried(long http)
{
	return http == 429 || (http >= 500 && http <= 599);
}

static const char *plural(int n)
{
	return n == 1 ? "" : "s";
}

int64_t mtk__retry_after_parse(const char *value, int64_t now_wall_ms)
{
	const char *s = value, *end;
	int64_t sec = 0, at;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end == s)
		return -1;
	if (*s >= '0' && *s <= '9') {
		for (const char *p = s; p < end; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			/* Past the maximum the value no longer matters. */
			if (sec <= MTK__RETRY_AFTER_MAX_MS / 1000)
				sec = sec * 10 + (*p - '0');
		}
		return sec >= MTK__RETRY_AFTER_MAX_MS / 1000 ? MTK__RETRY_AFTER_MAX_MS : sec * 1000;
	}
	at = mtk__imf_fixdate_ms(s, (size_t)(end - s));
	if (at < 0)
		return -1;
	if (at <= now_wall_ms)
		return 0;
	return at - now_wall_ms > MTK__RETRY_AFTER_MAX_MS ? MTK__RETRY_AFTER_MAX_MS
	                                                  : at - now_wall_ms;
}

/* A request to send, as the callers of request() describe it. */
struct req_spec {
	const char *method; /* NULL: GET */
	const char *url;
	const char *const *headers;
	const char *body; /* NULL but for a POST */
	size_t body_len;
};

static enum mtk_status request(struct mtk__retry *r, const struct req_spec *spec, int64_t start,
                               int max_attempts, int64_t timeout_ms, struct mtk__answer *out,
                               char *detail, size_t detail_len)
{
	const char *method = spec->method, *url = spec->url;
	/* NULL (GET) goes to the transport as it is: see mtk_http_request. */
	const char *verb = method ? method : "GET";
	enum mtk_status st = MTK_ERR_TIMEOUT;
	int64_t t0 = 0, left, delay, asked_ms = -1;
	char ra[RETRY_AFTER_CAP];
	bool too_far = false;
	long http = 0;
	int attempt;

	out->body = r->body;
	out->len = 0;
	for (attempt = 1;; attempt++) {
		struct mtk_http_request req = { .url = url,
			                        .headers = spec->headers,
			                        .method = method,
			                        .body = spec->body,
			                        .body_len = spec->body_len };
		struct mtk_http_response resp = { .body = r->body,
			                          .body_cap = MTK_MAX_BODY,
			                          .retry_after = ra,
			                          .retry_after_cap = sizeof(ra) };
		bool retry = false;

		left = r->o.fetch_budget_ms - (mtk__retry_mono(r) - start);
		if (left <= 0) {
			attempt--;
			break;
		}
		req.timeout_ms = min64(timeout_ms, left);
		req.connect_timeout_ms = min64(r->o.connect_timeout_ms, req.timeout_ms);
		t0 = mtk__retry_mono(r);
		ra[0] = '\0';
		st = r->o.transport.perform(r->o.transport.arg, &req, &resp);
		ra[sizeof(ra) - 1] = '\0';
		atomic_fetch_add_explicit(&r->requests, 1, memory_order_relaxed);
		if (resp.body_len > MTK_MAX_BODY) {
			resp.body_len = MTK_MAX_BODY;
			if (st == MTK_OK)
				st = MTK_ERR_BODY_TOO_LARGE;
		}
		if (st == MTK_OK) {
			bool ok = resp.status == 200;

			retry = !ok && http_retried(resp.status);
			if (!ok)
				st = mtk__http_status(resp.status);
			if (ok || !retry || attempt >= max_attempts) {
				if (!ok)
					snprintf(detail, detail_len,
					         "%s %s: HTTP %ld: %s (%d attempt%s)", verb, url,
					         resp.status, mtk_strerror(st), attempt,
					         plural(attempt));
				out->http = resp.status;
				out->len = resp.body_len;
				out->sent_ms = t0;
				return MTK_OK;
			}
			http = resp.status;
		} else {
			http = 0;
			retry = st == MTK_ERR_CONNECT || st == MTK_ERR_TIMEOUT ||
			        st == MTK_ERR_TRANSPORT;
		}
		OPENSSL_cleanse(r->body, resp.body_len);
		if (!retry || attempt >= max_attempts)
			break;
		delay = backoff_ms(r, attempt);
		/* The server says when it can answer: no sooner, then. */
		asked_ms = http == 429 || http == 503
		               ? mtk__retry_after_parse(ra, mtk__retry_wall(r))
		               : -1;
		if (asked_ms > delay)
			delay = asked_ms;
		/* Written so that a delay near INT64_MAX cannot overflow. */
		left = r->o.fetch_budget_ms - (mtk__retry_mono(r) - start);
		if (delay >= left) {
			/* Asking again sooner would only be refused again. */
			too_far = asked_ms >= 0 && delay == asked_ms;
			break;
		}
		if (delay > 0)
			r->o.clock.sleep_ms(r->o.clock.arg, delay);
	}

	if (http) {
		/* The budget ran out between retries of an HTTP error. */
		snprintf(detail, detail_len, "%s %s: HTTP %ld: %s (%d attempt%s)", verb, url, http,
		         mtk_strerror(st), attempt, plural(attempt));
		if (too_far) {
			size_t n = strlen(detail);

			snprintf(detail + n, detail_len - n,
			         "; it asked to be retried in %lld ms (Retry-After), more than the "
			         "%lld ms left of the fetch budget",
			         (long long)asked_ms, (long long)left);
		}
		out->http = http;
		out->sent_ms = t0;
		return MTK_OK;
	}
	snprintf(detail, detail_len, "%s %s: %s (%d attempt%s)", verb, url, mtk_strerror(st),
	         attempt, plural(attempt));
	return st;
}

enum mtk_status mtk__retry_request(struct mtk__retry *r, const char *method, const char *url,
                                   const char *const *headers, int64_t start_ms,
                                   struct mtk__answer *out, char *detail, size_t detail_len)
{
	const struct req_spec spec = { .method = method, .url = url, .headers = headers };

	return request(r, &spec, start_ms, r->o.max_attempts, r->o.request_timeout_ms, out, detail,
	               detail_len);
}

enum mtk_status mtk__retry_request_body(struct mtk__retry *r, const char *method, const char *url,
                                        const char *const *headers, const char *body,
                                        size_t body_len, int64_t start_ms, struct mtk__answer *out,
                                        char *detail, size_t detail_len)
{
	const struct req_spec spec = {
		.method = method, .url = url, .headers = headers, .body = body, .body_len = body_len
	};

	return request(r, &spec, start_ms, r->o.max_attempts, r->o.request_timeout_ms, out, detail,
	               detail_len);
}

enum mtk_status mtk__retry_request_once(struct mtk__retry *r, const char *method, const char *url,
                                        const char *const *headers, int64_t start_ms,
                                        int64_t timeout_ms, struct mtk__answer *out, char *detail,
                                        size_t detail_len)
{
	const struct req_spec spec = { .method = method, .url = url, .headers = headers };

	return request(r, &spec, start_ms, 1, min64(timeout_ms, r->o.request_timeout_ms), out,
	               detail, detail_len);
}
