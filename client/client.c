/*
 * The client: one cached token per client, single-flight fetches, refresh
 * ahead of expiry, retries with backoff, and an optional refresher thread.
 * The state machine is described in include/metatoken/metatoken.h.
 *
 * Locking: c->lock guards everything under "Guarded by lock". The one thread
 * that set c->fetching does the I/O with the lock released; everybody else
 * either serves the cached token or waits on c->fetched for that fetch to
 * end. No callback into the transport or the clock's sleep runs under the
 * lock.
 *
 * The fast path: while the token is fresh, a get takes no lock and writes
 * no shared memory. Every change of c->tok (under the lock) republishes a
 * copy of it in c->snap, a seqlock: readers copy the token out with
 * (acquire) atomic loads and keep the copy only if the sequence number did
 * not move meanwhile; otherwise, and whenever the token is not fresh, they
 * take the lock. Get counts go to per-thread-ish stripes, so that counting does not
 * bounce one cache line between cores either.
 */
#include "private/internal.h"

#include "metatoken/aws.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_REQUEST_TIMEOUT_MS 3000
#define DEFAULT_FETCH_BUDGET_MS    10000
#define DEFAULT_MAX_ATTEMPTS       3
#define DEFAULT_BACKOFF_BASE_MS    100
#define DEFAULT_BACKOFF_MAX_MS     2000
/* Below the 5 min after which Google's and metatokend's servers hand out a
 * new token, so that a refresh does get a new one. */
#define DEFAULT_REFRESH_WINDOW_MS 240000
#define DEFAULT_REFRESH_JITTER_MS 60000
/* golang oauth2's margin: a request started with less left may arrive with
 * an expired token. */
#define DEFAULT_EXPIRY_MARGIN_MS        10000
#define DEFAULT_MIN_REFRESH_INTERVAL_MS 30000
#define MAX_ATTEMPTS_LIMIT              100
/* With a fake clock, the refresher polls it this often (real time). */
#define FAKE_CLOCK_POLL_MS     2
#define REFRESHER_MAX_SLEEP_MS 60000
#define SNAP_WORDS             ((MTK_MAX_ACCESS_TOKEN + 8) / 8)
#define GET_STRIPES            16
/* With the real clock, the fast path serves a token only while it stays
 * fresh this much longer by the coarse clock: a margin for late ticks. */
#define COARSE_GUARD_MS 50

/* The fast path's clocks when no test seam replaces them: the kernel's
 * coarse clocks, the time of the last tick, read in a few ns where the
 * precise ones take tens. */
#ifdef CLOCK_MONOTONIC_COARSE
#define FAST_MONOTONIC CLOCK_MONOTONIC_COARSE
#define FAST_REALTIME  CLOCK_REALTIME_COARSE
#else
#define FAST_MONOTONIC CLOCK_MONOTONIC
#define FAST_REALTIME  CLOCK_REALTIME
#endif

struct cached {
	char *access_token; /* NULL: no token */
	size_t len;
	char *aws_key_id; /* AWS flavour: the rest of the set */
	char *aws_secret;
	int64_t expires_ms;      /* monotonic: the real expiry */
	int64_t usable_until_ms; /* expiry minus the margin: "expired" after this */
	int64_t refresh_at_ms;   /* expiry minus window and jitter: "stale" after this */
};

enum state { FRESH, STALE, CRITICAL, EXPIRED };

/*
 * The lock-free copy of a fresh token (a seqlock; see the head of the file).
 * Written only under the client's lock; seq is odd while it is written.
 * fast_until is the monotonic time until which the token is fresh, or
 * INT64_MIN when there is no fresh token to serve without the lock.
 */
struct snapshot {
	_Atomic uint64_t seq;
	_Atomic int64_t fast_until_ms;
	_Atomic int64_t expires_ms;
	_Atomic int64_t published_ms; /* monotonic, precise: when written */
	_Atomic size_t len;
	_Atomic uint64_t words[SNAP_WORDS]; /* the token's bytes, then zeros */
};

/* A counter padded to a cache line's size. (Not _Alignas(64): the client
 * comes from calloc, which promises less.) */
struct stripe {
	_Atomic uint64_t n;
	char pad[64 - sizeof(uint64_t)];
};

struct mtk_client {
	/* Immutable after mtk_client_new(). */
	char *token_url;
	enum mtk_flavour flavour;
	struct mtk__aws *aws; /* AWS flavour; used by the fetching thread only */
	int64_t connect_timeout_ms;
	int64_t request_timeout_ms;
	int64_t fetch_budget_ms;
	int max_attempts;
	int64_t backoff_base_ms;
	int64_t backoff_max_ms;
	int64_t refresh_window_ms;
	int64_t refresh_jitter_ms;
	int64_t expiry_margin_ms;
	int64_t min_refresh_interval_ms;
	bool background;
	bool real_clock;
	bool real_wall;
	/* How far a coarse clock may lag the precise one (a tick, and the
	 * rounding to ms); 0 when the fast path reads the seam's clock. */
	int64_t coarse_slack_ms;
	struct mtk_clock clock;
	struct mtk_transport transport;
	struct mtk__curl *curl; /* when transport is the real one */
	uint64_t (*random_u64)(void *arg);
	void *random_arg;

	/* Used only by the thread that set `fetching`. */
	char *body; /* MTK_MAX_BODY bytes */

	pthread_mutex_t lock;
	pthread_cond_t fetched;        /* a fetch ended (fetch_gen moved) */
	pthread_cond_t refresher_wake; /* CLOCK_MONOTONIC; state changed or stopping */
	pthread_t refresher;
	bool refresher_started;

	/* Guarded by lock. */
	struct cached tok;
	bool invalidated;
	bool fetching;
	uint64_t fetch_gen;
	enum mtk_status last_status;
	char last_error[512];
	int64_t next_attempt_ms; /* no refresh attempt before this (monotonic) */
	bool ever_invalidated;
	int64_t last_invalidation_ms;
	bool stopping;
	struct mtk_client_stats stats; /* but http_requests and fast gets, below */

	_Atomic uint64_t http_requests;
	struct stripe fast_gets[GET_STRIPES]; /* gets served by the fast path */
	struct snapshot snap;
};

static int64_t mono(const struct mtk_client *c)
{
	return c->clock.monotonic_ms(c->clock.arg);
}

static int64_t read_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The monotonic time on the fast path. With the real clock, the coarse
 * clock plus its slack: not earlier than the precise clock's time (a tick
 * later at most) while ticks come on time. A late tick (seen: 5 ms with a
 * 4 ms tick on a busy VM) is what COARSE_GUARD_MS and the clamp in
 * snap_begin() are for.
 */
static int64_t fast_mono(const struct mtk_client *c)
{
	if (c->coarse_slack_ms)
		return read_ms(FAST_MONOTONIC) + c->coarse_slack_ms;
	return mono(c);
}

/* The wall clock on the fast path: the coarse one with the same slack, so
 * that fast_wall() - fast_mono() is the precise clocks' difference. */
static int64_t fast_wall(const struct mtk_client *c)
{
	if (c->coarse_slack_ms && c->real_wall)
		return read_ms(FAST_REALTIME) + c->coarse_slack_ms;
	return c->clock.wall_ms(c->clock.arg);
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static enum state state_at(const struct mtk_client *c, int64_t now)
{
	if (!c->tok.access_token || c->invalidated || now >= c->tok.expires_ms)
		return EXPIRED;
	if (now >= c->tok.usable_until_ms)
		return CRITICAL;
	if (now >= c->tok.refresh_at_ms)
		return STALE;
	return FRESH;
}

static void free_wiped(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static void cached_wipe(struct cached *t)
{
	if (t->access_token) {
		OPENSSL_cleanse(t->access_token, t->len);
		free(t->access_token);
	}
	free_wiped(t->aws_key_id);
	free_wiped(t->aws_secret);
	memset(t, 0, sizeof(*t));
}

/*
 * Republishes c->tok in c->snap: the token when it is fresh and not
 * invalidated, else nothing. Bytes of a previous, longer token are zeroed.
 * Under lock.
 */
static void publish_locked(struct mtk_client *c)
{
	struct snapshot *sn = &c->snap;
	uint64_t seq = atomic_load_explicit(&sn->seq, memory_order_relaxed);
	size_t old_len = atomic_load_explicit(&sn->len, memory_order_relaxed);
	size_t len = c->tok.access_token && !c->invalidated ? c->tok.len : 0;
	size_t used = len ? len / 8 + 1 : 0, old_used = old_len ? old_len / 8 + 1 : 0;
	int64_t until = c->tok.refresh_at_ms;

	if (c->tok.usable_until_ms < until)
		until = c->tok.usable_until_ms;
	if (c->tok.expires_ms < until)
		until = c->tok.expires_ms;
	if (c->coarse_slack_ms)
		until -= COARSE_GUARD_MS; /* the locked path serves the rest */
	/* Release stores after the odd seq: a reader that loads any of them
	 * (with acquire) then sees seq moved. */
	atomic_store_explicit(&sn->seq, seq + 1, memory_order_relaxed);
	atomic_store_explicit(&sn->fast_until_ms, len ? until : INT64_MIN, memory_order_release);
	atomic_store_explicit(&sn->expires_ms, c->tok.expires_ms, memory_order_release);
	atomic_store_explicit(&sn->published_ms, mono(c), memory_order_release);
	atomic_store_explicit(&sn->len, len, memory_order_release);
	for (size_t i = 0; i < used; i++) {
		uint64_t w = 0;
		size_t n = len - i * 8 < 8 ? len - i * 8 : 8;

		memcpy(&w, c->tok.access_token + i * 8, n);
		atomic_store_explicit(&sn->words[i], w, memory_order_release);
	}
	for (size_t i = used; i < old_used; i++)
		atomic_store_explicit(&sn->words[i], 0, memory_order_release);
	atomic_store_explicit(&sn->seq, seq + 2, memory_order_release);
}

/* A lock-free read of the snapshot under way (see snap_begin). */
struct snap_read {
	uint64_t seq;
	size_t len;
	int64_t expires_ms;
	int64_t now_ms; /* the fast path's monotonic time of the read */
};

/*
 * Starts the fast path's read: true when the published token is fresh at
 * the fast path's monotonic time, with its length, expiry and that time in
 * *r. The caller then copies it with snap_copy() and may use the copy only
 * if snap_check() confirms that no writer came meanwhile; on false, or a
 * failed check, it takes the lock instead.
 */
static bool snap_begin(struct mtk_client *c, struct snap_read *r)
{
	struct snapshot *sn = &c->snap;
	int64_t until;

	r->seq = atomic_load_explicit(&sn->seq, memory_order_acquire);
	if (r->seq & 1)
		return false;
	until = atomic_load_explicit(&sn->fast_until_ms, memory_order_acquire);
	r->expires_ms = atomic_load_explicit(&sn->expires_ms, memory_order_acquire);
	r->len = atomic_load_explicit(&sn->len, memory_order_acquire);
	/* Torn values are possible until snap_check(): len must not be
	 * trusted further than the bounds of the buffers. */
	if (r->len == 0 || r->len > MTK_MAX_ACCESS_TOKEN)
		return false;
	r->now_ms = fast_mono(c);
	if (c->coarse_slack_ms) {
		/* A tick can come late (a busy VM): the coarse clock may then
		 * lag more than its slack. Not before the snapshot was written,
		 * at least, so a remaining life is never above the lifetime. */
		int64_t from = atomic_load_explicit(&sn->published_ms, memory_order_acquire);

		if (r->now_ms < from)
			r->now_ms = from;
	}
	return r->now_ms < until;
}

/* Copies the r->len published bytes and a NUL into dst. */
static void snap_copy(const struct mtk_client *c, const struct snap_read *r, char *dst)
{
	const struct snapshot *sn = &c->snap;
	size_t i, len = r->len;

	/* Four words a turn, each stored on its own: a wide copy of words
	 * just stored would stall on store forwarding. */
	for (i = 0; i + 32 <= len; i += 32) {
		uint64_t w0 = atomic_load_explicit(&sn->words[i / 8], memory_order_acquire);
		uint64_t w1 = atomic_load_explicit(&sn->words[i / 8 + 1], memory_order_acquire);
		uint64_t w2 = atomic_load_explicit(&sn->words[i / 8 + 2], memory_order_acquire);
		uint64_t w3 = atomic_load_explicit(&sn->words[i / 8 + 3], memory_order_acquire);

		memcpy(dst + i, &w0, 8);
		memcpy(dst + i + 8, &w1, 8);
		memcpy(dst + i + 16, &w2, 8);
		memcpy(dst + i + 24, &w3, 8);
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w = atomic_load_explicit(&sn->words[i / 8], memory_order_acquire);

		memcpy(dst + i, &w, 8);
	}
	if (i < len) {
		uint64_t w = atomic_load_explicit(&sn->words[i / 8], memory_order_acquire);

		memcpy(dst + i, &w, len - i);
	}
	dst[len] = '\0';
}

/*
 * True when the snapshot did not change since snap_begin(r). Every load of
 * the read was an acquire, so this load of seq cannot move before any of
 * them, and a value that a writer stored (with release, after its odd seq)
 * makes it see that seq or a later one. This takes the place of fences,
 * which ThreadSanitizer does not model; on x86 it costs nothing more.
 */
static bool snap_check(const struct mtk_client *c, const struct snap_read *r)
{
	return atomic_load_explicit(&c->snap.seq, memory_order_relaxed) == r->seq;
}

/* Counts a get served by the fast path, on the stripe of the CPU it runs
 * on: threads on different CPUs never write the same cache line. */
static void count_fast_get(struct mtk_client *c)
{
	int cpu = sched_getcpu();

	atomic_fetch_add_explicit(&c->fast_gets[(unsigned)(cpu < 0 ? 0 : cpu) % GET_STRIPES].n, 1,
	                          memory_order_relaxed);
}

/* A uniformly random value in [0, bound], bound >= 0. */
static int64_t random_upto(const struct mtk_client *c, int64_t bound)
{
	if (bound <= 0)
		return 0;
	return (int64_t)(c->random_u64(c->random_arg) % ((uint64_t)bound + 1));
}

/*
 * Pause before retry number `attempt` (1 for the first retry): "full
 * jitter", uniform in [0, min(max, base * 2^(attempt-1))].
 */
static int64_t backoff_ms(const struct mtk_client *c, int attempt)
{
	int64_t cap = c->backoff_base_ms;
	int i;

	/* Doubling stops at the maximum, and before it could overflow when
	 * the options are huge. */
	for (i = 1; i < attempt && cap < c->backoff_max_ms && cap <= INT64_MAX / 2; i++)
		cap *= 2;
	return random_upto(c, min64(cap, c->backoff_max_ms));
}

static enum mtk_status status_for_http(long http, bool *retry)
{
	*retry = false;
	if (http == 404)
		return MTK_ERR_NO_SUCH_ACCOUNT;
	if (http == 429) {
		*retry = true;
		return MTK_ERR_HTTP_THROTTLED;
	}
	if (http >= 500 && http <= 599) {
		*retry = true;
		return MTK_ERR_HTTP_SERVER;
	}
	if (http >= 400 && http <= 499)
		return MTK_ERR_HTTP_CLIENT;
	return MTK_ERR_HTTP_UNEXPECTED;
}

int64_t mtk__client_mono(const struct mtk_client *c)
{
	return mono(c);
}

int64_t mtk__client_wall(const struct mtk_client *c)
{
	return c->clock.wall_ms(c->clock.arg);
}

/*
 * One request, retrying connect errors, timeouts, 429 and 5xx with backoff
 * while max_attempts and the budget of the fetch that began at start last;
 * each attempt waits at most timeout_ms. See internal.h. Runs without the
 * lock, in the one fetching thread.
 */
static enum mtk_status request(struct mtk_client *c, const char *method, const char *url,
                               const char *const *headers, int64_t start, int max_attempts,
                               int64_t timeout_ms, long *http_out, char **body, size_t *body_len,
                               int64_t *sent_ms, char *detail, size_t detail_len)
{
	enum mtk_status st = MTK_ERR_TIMEOUT;
	int64_t t0, left, delay;
	long http = 0;
	int attempt;

	*body = c->body;
	*body_len = 0;
	for (attempt = 1;; attempt++) {
		struct mtk_http_request req = { .url = url, .headers = headers, .method = method };
		struct mtk_http_response resp = { .body = c->body, .body_cap = MTK_MAX_BODY };
		bool retry = false;

		left = c->fetch_budget_ms - (mono(c) - start);
		if (left <= 0) {
			attempt--;
			break;
		}
		req.timeout_ms = min64(timeout_ms, left);
		req.connect_timeout_ms = min64(c->connect_timeout_ms, req.timeout_ms);
		t0 = mono(c);
		st = c->transport.perform(c->transport.arg, &req, &resp);
		atomic_fetch_add_explicit(&c->http_requests, 1, memory_order_relaxed);
		if (resp.body_len > MTK_MAX_BODY) {
			resp.body_len = MTK_MAX_BODY;
			if (st == MTK_OK)
				st = MTK_ERR_BODY_TOO_LARGE;
		}
		if (st == MTK_OK) {
			bool ok = resp.status == 200;

			if (!ok)
				st = status_for_http(resp.status, &retry);
			if (ok || !retry || attempt >= max_attempts) {
				if (!ok)
					snprintf(detail, detail_len,
					         "%s %s: HTTP %ld: %s (%d attempt%s)",
					         method ? method : "GET", url, resp.status,
					         mtk_strerror(st), attempt,
					         attempt == 1 ? "" : "s");
				*http_out = resp.status;
				*body_len = resp.body_len;
				*sent_ms = t0;
				return MTK_OK;
			}
			http = resp.status;
		} else {
			http = 0;
			retry = st == MTK_ERR_CONNECT || st == MTK_ERR_TIMEOUT ||
			        st == MTK_ERR_TRANSPORT;
		}
		OPENSSL_cleanse(c->body, resp.body_len);
		if (!retry || attempt >= max_attempts)
			break;
		delay = backoff_ms(c, attempt);
		/* Written so that a delay near INT64_MAX cannot overflow. */
		if (delay >= c->fetch_budget_ms - (mono(c) - start))
			break;
		if (delay > 0)
			c->clock.sleep_ms(c->clock.arg, delay);
	}

	if (http) {
		/* The budget ran out between retries of an HTTP error. */
		snprintf(detail, detail_len, "%s %s: HTTP %ld: %s (%d attempt%s)",
		         method ? method : "GET", url, http, mtk_strerror(st), attempt,
		         attempt == 1 ? "" : "s");
		*http_out = http;
		*sent_ms = t0;
		return MTK_OK;
	}
	snprintf(detail, detail_len, "%s %s: %s (%d attempt%s)", method ? method : "GET", url,
	         mtk_strerror(st), attempt, attempt == 1 ? "" : "s");
	return st;
}

enum mtk_status mtk__client_request(struct mtk_client *c, const char *method, const char *url,
                                    const char *const *headers, int64_t start, long *http,
                                    char **body, size_t *body_len, int64_t *sent_ms, char *detail,
                                    size_t detail_len)
{
	return request(c, method, url, headers, start, c->max_attempts, c->request_timeout_ms, http,
	               body, body_len, sent_ms, detail, detail_len);
}

enum mtk_status mtk__client_request_once(struct mtk_client *c, const char *method, const char *url,
                                         const char *const *headers, int64_t start,
                                         int64_t timeout_ms, long *http, char **body,
                                         size_t *body_len, int64_t *sent_ms, char *detail,
                                         size_t detail_len)
{
	return request(c, method, url, headers, start, 1, min64(timeout_ms, c->request_timeout_ms),
	               http, body, body_len, sent_ms, detail, detail_len);
}

/*
 * One fetch: GET the token URL with the retries of mtk__client_request. On
 * MTK_OK, *doc holds the token and *sent_ms the monotonic time its request
 * was sent (its lifetime counts from then, the conservative end).
 * Otherwise detail says what went wrong.
 */
static enum mtk_status fetch(struct mtk_client *c, struct mtk__token_doc *doc, int64_t *sent_ms,
                             char *detail, size_t detail_len)
{
	static const char *const headers[] = { "Metadata-Flavor: Google", NULL };
	enum mtk_status st;
	char why[160] = "", *body;
	size_t len;
	long http = 0;
	bool retry;

	if (c->aws)
		return mtk__aws_fetch(c, c->aws, doc, sent_ms, detail, detail_len);
	st = mtk__client_request(c, NULL, c->token_url, headers, mono(c), &http, &body, &len,
	                         sent_ms, detail, detail_len);
	if (st != MTK_OK)
		return st;
	if (http == 200) {
		st = mtk__token_parse(body, len, doc, why, sizeof(why));
		OPENSSL_cleanse(body, len);
		if (st != MTK_OK)
			snprintf(detail, detail_len, "GET %s: malformed token response: %s",
			         c->token_url, why);
		return st;
	}
	OPENSSL_cleanse(body, len);
	return status_for_http(http, &retry); /* detail was written */
}

/* Replaces the cached token with doc's (taking its memory). Under lock. */
static void install_locked(struct mtk_client *c, struct mtk__token_doc *doc, int64_t sent_ms,
                           int64_t jitter_ms)
{
	int64_t lifetime_ms = doc->expires_in_s * 1000;

	cached_wipe(&c->tok);
	c->tok.access_token = doc->access_token;
	c->tok.len = doc->access_token_len;
	c->tok.aws_key_id = doc->aws_key_id;
	c->tok.aws_secret = doc->aws_secret;
	doc->access_token = NULL;
	doc->access_token_len = 0;
	doc->aws_key_id = doc->aws_secret = NULL;
	c->tok.expires_ms = sent_ms + lifetime_ms;
	/* A short-lived token (expiry tests) stays usable for half its life,
	 * so it is never "expired" on arrival. */
	c->tok.usable_until_ms = c->tok.expires_ms - min64(c->expiry_margin_ms, lifetime_ms / 2);
	c->tok.refresh_at_ms = c->tok.expires_ms - (c->refresh_window_ms + jitter_ms);
	c->invalidated = false;
	publish_locked(c);
}

/*
 * Becomes the fetching thread: releases the lock for the I/O, then records
 * the outcome, and wakes the waiters. Called and returns with the lock held.
 */
static void fetch_locked(struct mtk_client *c)
{
	struct mtk__token_doc doc = { 0 };
	char detail[sizeof(c->last_error)] = "";
	int64_t sent_ms = 0, jitter_ms;
	enum mtk_status st;

	c->fetching = true;
	c->stats.fetches++;
	pthread_mutex_unlock(&c->lock);

	st = fetch(c, &doc, &sent_ms, detail, sizeof(detail));
	/* Jitter in [0, refresh_jitter_ms): strictly inside the window. */
	jitter_ms = c->refresh_jitter_ms > 0 ? random_upto(c, c->refresh_jitter_ms - 1) : 0;

	pthread_mutex_lock(&c->lock);
	if (st == MTK_OK) {
		install_locked(c, &doc, sent_ms, jitter_ms);
	} else {
		c->stats.fetch_failures++;
		memcpy(c->last_error, detail, sizeof(detail));
	}
	c->last_status = st;
	/* Whatever happened, the next refresh attempt waits: this is what keeps
	 * a failing server, or one that hands out a token already inside the
	 * window, from being asked on every call. */
	c->next_attempt_ms = mono(c) + c->min_refresh_interval_ms;
	c->fetching = false;
	c->fetch_gen++;
	pthread_cond_broadcast(&c->fetched);
	pthread_cond_signal(&c->refresher_wake);
	mtk__token_doc_release(&doc);
}

static void wait_for_fetch_locked(struct mtk_client *c)
{
	uint64_t gen = c->fetch_gen;

	c->stats.waits++;
	while (c->fetching && c->fetch_gen == gen)
		pthread_cond_wait(&c->fetched, &c->lock);
}

/*
 * Makes c->tok usable if the rules allow: serves, fetches or waits. Called
 * and returns with the lock held; on MTK_OK c->tok is valid and *now_ms is
 * the monotonic time it was checked at.
 */
static enum mtk_status acquire_locked(struct mtk_client *c, int64_t *now_ms)
{
	int64_t now = mono(c);

	c->stats.gets++;
	switch (state_at(c, now)) {
	case FRESH:
		*now_ms = now;
		return MTK_OK;
	case STALE:
		/* Everybody else keeps the still-valid token without waiting. */
		if (!c->fetching && !c->background && now >= c->next_attempt_ms)
			fetch_locked(c);
		break;
	case CRITICAL:
		if (c->fetching)
			wait_for_fetch_locked(c);
		else if (now >= c->next_attempt_ms)
			fetch_locked(c);
		break;
	case EXPIRED:
		if (c->fetching)
			wait_for_fetch_locked(c);
		else
			fetch_locked(c);
		break;
	}

	/* Whatever the fetch did, a token that is really still valid (and not
	 * refused by an API) is served: keep the last good one. */
	now = mono(c);
	if (c->tok.access_token && !c->invalidated && now < c->tok.expires_ms) {
		*now_ms = now;
		return MTK_OK;
	}
	return c->last_status != MTK_OK ? c->last_status : MTK_ERR_EXPIRED;
}

static void *refresher_main(void *arg)
{
	struct mtk_client *c = arg;
	struct timespec ts;
	int64_t now, wake, delay_ms;
	enum state s;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		now = mono(c);
		s = state_at(c, now);
		if (!c->fetching && s != FRESH && now >= c->next_attempt_ms) {
			fetch_locked(c);
			continue;
		}
		if (c->fetching)
			wake = now + REFRESHER_MAX_SLEEP_MS; /* the fetch end signals us */
		else if (s == FRESH)
			wake = c->tok.refresh_at_ms;
		else
			wake = c->next_attempt_ms;
		delay_ms = wake - now;
		if (delay_ms < 1)
			delay_ms = 1;
		if (delay_ms > REFRESHER_MAX_SLEEP_MS)
			delay_ms = REFRESHER_MAX_SLEEP_MS;
		/* A fake clock moves by itself: poll it. */
		if (!c->real_clock && delay_ms > FAKE_CLOCK_POLL_MS)
			delay_ms = FAKE_CLOCK_POLL_MS;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += delay_ms / 1000;
		ts.tv_nsec += (delay_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&c->refresher_wake, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Applies the default for 0 and refuses negative values. */
static int pick(int64_t v, int64_t def, int64_t *out)
{
	if (v < 0)
		return -1;
	*out = v ? v : def;
	return 0;
}

/*
 * How far behind the precise monotonic clock (in ms, as mono() reads it)
 * the fast path's coarse one may be: its resolution, a tick, rounded up to
 * whole ms (both round down to ms, which loses nothing more). Always > 0.
 */
static int64_t coarse_slack_ms(void)
{
	struct timespec res;

	if (clock_getres(FAST_MONOTONIC, &res) != 0 || res.tv_sec > 0)
		return 1000; /* not expected: a second, to be safe */
	return (res.tv_nsec + 999999) / 1000000;
}

static enum mtk_status init_sync(struct mtk_client *c)
{
	pthread_condattr_t attr;

	if (pthread_mutex_init(&c->lock, NULL) != 0)
		return MTK_ERR_INIT;
	if (pthread_cond_init(&c->fetched, NULL) != 0)
		goto out_mutex;
	if (pthread_condattr_init(&attr) != 0)
		goto out_fetched;
	if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&c->refresher_wake, &attr) != 0) {
		pthread_condattr_destroy(&attr);
		goto out_fetched;
	}
	pthread_condattr_destroy(&attr);
	return MTK_OK;

out_fetched:
	pthread_cond_destroy(&c->fetched);
out_mutex:
	pthread_mutex_destroy(&c->lock);
	return MTK_ERR_INIT;
}

enum mtk_status mtk_client_new(const struct mtk_client_options *opts, struct mtk_client **out)
{
	static const struct mtk_client_options defaults = { 0 };
	static const char token_path_fmt[] =
	    "%s/computeMetadata/v1/instance/service-accounts/%s/token";
	const char *account;
	struct mtk_client *c;
	enum mtk_status st;
	char *base = NULL;
	int64_t attempts;
	size_t n;

	if (!out)
		return MTK_ERR_INVALID_ARGUMENT;
	if (!opts)
		opts = &defaults;
	account = opts->account ? opts->account : "default";
	if ((st = mtk__account_check(account)) != MTK_OK)
		return st;

	c = calloc(1, sizeof(*c));
	if (!c)
		return MTK_ERR_NO_MEMORY;
	if (pick(opts->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS, &c->connect_timeout_ms) ||
	    pick(opts->request_timeout_ms, DEFAULT_REQUEST_TIMEOUT_MS, &c->request_timeout_ms) ||
	    pick(opts->fetch_budget_ms, DEFAULT_FETCH_BUDGET_MS, &c->fetch_budget_ms) ||
	    pick(opts->max_attempts, DEFAULT_MAX_ATTEMPTS, &attempts) ||
	    attempts > MAX_ATTEMPTS_LIMIT ||
	    pick(opts->backoff_base_ms, DEFAULT_BACKOFF_BASE_MS, &c->backoff_base_ms) ||
	    pick(opts->backoff_max_ms, DEFAULT_BACKOFF_MAX_MS, &c->backoff_max_ms) ||
	    pick(opts->refresh_window_ms, DEFAULT_REFRESH_WINDOW_MS, &c->refresh_window_ms) ||
	    pick(opts->refresh_jitter_ms, DEFAULT_REFRESH_JITTER_MS, &c->refresh_jitter_ms) ||
	    pick(opts->expiry_margin_ms, DEFAULT_EXPIRY_MARGIN_MS, &c->expiry_margin_ms) ||
	    pick(opts->min_refresh_interval_ms, DEFAULT_MIN_REFRESH_INTERVAL_MS,
	         &c->min_refresh_interval_ms)) {
		free(c);
		return MTK_ERR_INVALID_ARGUMENT;
	}
	c->max_attempts = (int)attempts;
	c->background = opts->background_refresh;

	c->clock.monotonic_ms = mtk__monotonic_ms;
	c->clock.wall_ms = mtk__wall_ms;
	c->clock.sleep_ms = mtk__sleep_ms;
	c->real_clock = true;
	c->real_wall = true;
	if (opts->clock) {
		c->clock.arg = opts->clock->arg;
		if (opts->clock->monotonic_ms) {
			c->clock.monotonic_ms = opts->clock->monotonic_ms;
			c->real_clock = false;
		}
		if (opts->clock->wall_ms) {
			c->clock.wall_ms = opts->clock->wall_ms;
			c->real_wall = false;
		}
		if (opts->clock->sleep_ms)
			c->clock.sleep_ms = opts->clock->sleep_ms;
	}
	if (c->real_clock)
		c->coarse_slack_ms = coarse_slack_ms();
	c->random_u64 = opts->random_u64 ? opts->random_u64 : mtk__random_u64;
	c->random_arg = opts->random_arg;

	c->flavour = opts->flavour;
	if (c->flavour == MTK_FLAVOUR_AUTO) {
		/* metatokend's banner exports both flavours' variables: the GCE
		 * ones, the library's first flavour, win. */
		const char *aws = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
		const char *yc = getenv("YC_METADATA_ADDR"), *gce = getenv("GCE_METADATA_HOST");

		c->flavour = aws && *aws && !(yc && *yc) && !(gce && *gce) ? MTK_FLAVOUR_AWS
		                                                           : MTK_FLAVOUR_GCE;
	}
	if (c->flavour != MTK_FLAVOUR_GCE && c->flavour != MTK_FLAVOUR_AWS) {
		st = MTK_ERR_INVALID_ARGUMENT;
		goto out_free;
	}
	c->body = malloc(MTK_MAX_BODY);
	if (!c->body) {
		st = MTK_ERR_NO_MEMORY;
		goto out_free;
	}
	if (c->flavour == MTK_FLAVOUR_AWS) {
		if ((st = mtk__aws_new(
		         opts->endpoint, strcmp(account, "default") == 0 ? NULL : account,
		         opts->aws_session_ttl_s, c->min_refresh_interval_ms, &c->aws)) != MTK_OK)
			goto out_free;
		c->token_url = strdup(mtk__aws_url(c->aws));
		if (!c->token_url) {
			st = MTK_ERR_NO_MEMORY;
			goto out_free;
		}
	} else {
		if ((st = mtk__endpoint_resolve(opts->endpoint, &base)) != MTK_OK)
			goto out_free;
		n = strlen(base) + strlen(account) + sizeof(token_path_fmt);
		c->token_url = malloc(n);
		if (!c->token_url) {
			st = MTK_ERR_NO_MEMORY;
			goto out_free;
		}
		snprintf(c->token_url, n, token_path_fmt, base, account);
		free(base);
		base = NULL;
	}

	if (opts->transport && opts->transport->perform) {
		c->transport = *opts->transport;
	} else {
		if ((st = mtk__curl_new(&c->curl)) != MTK_OK)
			goto out_free;
		c->transport.perform = mtk__curl_perform;
		c->transport.arg = c->curl;
	}

	if ((st = init_sync(c)) != MTK_OK)
		goto out_free;
	atomic_init(&c->http_requests, 0);
	c->last_status = MTK_OK;
	if (c->background) {
		if (pthread_create(&c->refresher, NULL, refresher_main, c) != 0) {
			c->background = false;
			mtk_client_free(c);
			return MTK_ERR_INIT;
		}
		c->refresher_started = true;
	}
	*out = c;
	return MTK_OK;

out_free:
	free(base);
	mtk__aws_free(c->aws);
	mtk__curl_free(c->curl);
	free(c->body);
	free(c->token_url);
	free(c);
	return st;
}

void mtk_client_free(struct mtk_client *c)
{
	if (!c)
		return;
	if (c->refresher_started) {
		pthread_mutex_lock(&c->lock);
		c->stopping = true;
		pthread_cond_signal(&c->refresher_wake);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->refresher, NULL);
	}
	cached_wipe(&c->tok);
	publish_locked(c); /* wipes the published copy */
	OPENSSL_cleanse(c->body, MTK_MAX_BODY);
	pthread_cond_destroy(&c->refresher_wake);
	pthread_cond_destroy(&c->fetched);
	pthread_mutex_destroy(&c->lock);
	mtk__curl_free(c->curl);
	mtk__aws_free(c->aws);
	free(c->body);
	free(c->token_url);
	free(c);
}

enum mtk_status mtk_client_get_token(struct mtk_client *c, struct mtk_token **out)
{
	struct mtk_token *t = NULL;
	struct snap_read r;
	enum mtk_status st;
	int64_t now;
	size_t n;

	if (!c || !out)
		return MTK_ERR_INVALID_ARGUMENT;
	/* The lock-free copy holds the access token only: an AWS set takes the
	 * locked path. */
	if (!c->aws && snap_begin(c, &r) && (t = malloc(sizeof(*t) + r.len + 1))) {
		snap_copy(c, &r, t->access_token);
		if (snap_check(c, &r)) {
			count_fast_get(c);
			t->len = r.len;
			t->alloc_len = r.len + 1;
			t->aws_key_id = t->aws_secret = NULL;
			t->expires_in_ms = r.expires_ms - r.now_ms;
			t->expires_at_ms = fast_wall(c) + t->expires_in_ms;
			*out = t;
			return MTK_OK;
		}
		mtk__wipe(t->access_token, r.len);
		free(t);
	}
	pthread_mutex_lock(&c->lock);
	st = acquire_locked(c, &now);
	if (st != MTK_OK)
		goto out_unlock;
	n = c->tok.len + 1;
	if (c->tok.aws_key_id)
		n += strlen(c->tok.aws_key_id) + 1 + strlen(c->tok.aws_secret) + 1;
	t = malloc(sizeof(*t) + n);
	if (!t) {
		st = MTK_ERR_NO_MEMORY;
		goto out_unlock;
	}
	t->len = c->tok.len;
	t->alloc_len = n;
	t->aws_key_id = t->aws_secret = NULL;
	memcpy(t->access_token, c->tok.access_token, c->tok.len + 1);
	if (c->tok.aws_key_id) {
		char *p = t->access_token + c->tok.len + 1;

		t->aws_key_id = strcpy(p, c->tok.aws_key_id);
		p += strlen(p) + 1;
		t->aws_secret = strcpy(p, c->tok.aws_secret);
	}
	t->expires_in_ms = c->tok.expires_ms - now;
	t->expires_at_ms = c->clock.wall_ms(c->clock.arg) + t->expires_in_ms;
	*out = t;
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return st;
}

/*
 * Writes prefix (prefix_len bytes), the token and a NUL into buf, and its
 * remaining life into *expires_in_ms when that is not NULL: the whole of
 * authorization_header and copy_token, argument checks included. The fast
 * path copies straight into buf and keeps the copy if the snapshot did not
 * change meanwhile; else the locked path writes buf again. On failure buf
 * is wiped of whatever the fast path wrote and left holding "", so that it
 * never holds a torn token.
 */
static enum mtk_status copy_out(struct mtk_client *c, const char *prefix, size_t prefix_len,
                                char *buf, size_t buflen, int64_t *expires_in_ms)
{
	struct snap_read r;
	enum mtk_status st;
	size_t written = 0;
	int64_t now;

	if (!buf)
		return MTK_ERR_INVALID_ARGUMENT;
	if (!c || c->aws) {
		if (buflen > 0)
			buf[0] = '\0';
		/* AWS requests are signed, not bearer: their credentials are a
		 * set, not one token (aws.h). */
		return c ? MTK_ERR_WRONG_FLAVOUR : MTK_ERR_INVALID_ARGUMENT;
	}
	/* Too small a buffer: the locked path says MTK_ERR_BUFFER_TOO_SMALL. */
	if (snap_begin(c, &r) && buflen > prefix_len + r.len) {
		memcpy(buf, prefix, prefix_len);
		snap_copy(c, &r, buf + prefix_len);
		if (snap_check(c, &r)) {
			count_fast_get(c);
			if (expires_in_ms)
				*expires_in_ms = r.expires_ms - r.now_ms;
			return MTK_OK;
		}
		written = prefix_len + r.len + 1;
	}
	pthread_mutex_lock(&c->lock);
	st = acquire_locked(c, &now);
	if (st == MTK_OK) {
		if (buflen <= prefix_len + c->tok.len) {
			st = MTK_ERR_BUFFER_TOO_SMALL;
		} else {
			memcpy(buf, prefix, prefix_len);
			memcpy(buf + prefix_len, c->tok.access_token, c->tok.len + 1);
			if (expires_in_ms)
				*expires_in_ms = c->tok.expires_ms - now;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (st != MTK_OK && buflen > 0) {
		mtk__wipe(buf, written);
		buf[0] = '\0';
	} else if (st == MTK_OK && written > prefix_len + strlen(buf + prefix_len) + 1) {
		/* A longer torn copy ran past the token's end: no trace of it. */
		size_t end = prefix_len + strlen(buf + prefix_len) + 1;

		mtk__wipe(buf + end, written - end);
	}
	return st;
}

enum mtk_status mtk_client_authorization_header(struct mtk_client *c, char *buf, size_t buflen)
{
	static const char prefix[] = "Authorization: Bearer ";

	return copy_out(c, prefix, sizeof(prefix) - 1, buf, buflen, NULL);
}

enum mtk_status mtk_client_copy_token(struct mtk_client *c, char *buf, size_t buflen,
                                      int64_t *expires_in_ms)
{
	return copy_out(c, "", 0, buf, buflen, expires_in_ms);
}

bool mtk_client_invalidate(struct mtk_client *c, const char *access_token)
{
	bool will_fetch;
	int64_t now;

	if (!c)
		return false;
	pthread_mutex_lock(&c->lock);
	now = mono(c);
	if (!c->tok.access_token || c->invalidated) {
		will_fetch = true;
	} else if (access_token && (strlen(access_token) != c->tok.len ||
	                            CRYPTO_memcmp(access_token, c->tok.access_token, c->tok.len))) {
		will_fetch = false; /* already replaced */
	} else if (c->ever_invalidated &&
	           now - c->last_invalidation_ms < c->min_refresh_interval_ms) {
		will_fetch = false; /* the same token came back: no loop */
	} else {
		c->invalidated = true;
		c->ever_invalidated = true;
		c->last_invalidation_ms = now;
		publish_locked(c);
		will_fetch = true;
		pthread_cond_signal(&c->refresher_wake);
	}
	pthread_mutex_unlock(&c->lock);
	return will_fetch;
}

enum mtk_status mtk_client_last_error(struct mtk_client *c, char *buf, size_t buflen)
{
	if (!c || !buf || buflen == 0)
		return MTK_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&c->lock);
	snprintf(buf, buflen, "%s", c->last_error);
	pthread_mutex_unlock(&c->lock);
	return MTK_OK;
}

const char *mtk_client_token_url(const struct mtk_client *c)
{
	return c ? c->token_url : "";
}

enum mtk_status mtk_client_get_stats(struct mtk_client *c, struct mtk_client_stats *out)
{
	if (!c || !out)
		return MTK_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < GET_STRIPES; i++)
		out->gets += atomic_load_explicit(&c->fast_gets[i].n, memory_order_relaxed);
	out->http_requests = atomic_load_explicit(&c->http_requests, memory_order_relaxed);
	return MTK_OK;
}

const char *mtk_token_access_token(const struct mtk_token *t)
{
	return t ? t->access_token : NULL;
}

size_t mtk_token_access_token_len(const struct mtk_token *t)
{
	return t ? t->len : 0;
}

const char *mtk_token_type(const struct mtk_token *t)
{
	return t ? "Bearer" : NULL;
}

int64_t mtk_token_expires_at_ms(const struct mtk_token *t)
{
	return t ? t->expires_at_ms : 0;
}

int64_t mtk_token_expires_in_ms(const struct mtk_token *t)
{
	return t ? t->expires_in_ms : 0;
}

enum mtk_status mtk_token_to_json(const struct mtk_token *t, char **json)
{
	int64_t s;

	if (!t || !json)
		return MTK_ERR_INVALID_ARGUMENT;
	s = t->expires_in_ms / 1000;
	return mtk__token_json(t->access_token, s > 0 ? s : 1, json);
}

void mtk_token_free(struct mtk_token *t)
{
	if (!t)
		return;
	mtk__wipe(t->access_token, t->alloc_len);
	free(t);
}

enum mtk_flavour mtk_client_flavour(const struct mtk_client *c)
{
	return c ? c->flavour : MTK_FLAVOUR_AUTO;
}
