/*
 * The token cache (private/cache.h): one cached token, single-flight
 * fetches, refresh ahead of expiry, keep-last-good, and an optional
 * refresher thread. The state machine is described in
 * include/metatoken/metatoken.h. No I/O here: a fetcher brings tokens.
 *
 * Locking: c->lock guards everything under "Guarded by lock". The one
 * thread that set c->fetching (a get, the refresher, or the thread a stale
 * get started) calls the fetcher with the lock released; everybody else
 * either serves the cached token or waits on c->fetched for that fetch to
 * end, the stale get that started it at most STALE_WAIT_MAX_MS. No fetcher
 * call runs under the lock.
 *
 * The fast path: while the token is fresh, a get takes no lock and writes
 * no shared memory. It reads the snapshot (snapshot.c), which every change
 * of c->tok republishes; get counts go to per-CPU stripes, so that
 * counting does not bounce one cache line between cores either.
 */
#include "private/cache.h"
#include "private/internal.h"
#include "private/snapshot.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* With a fake clock, the refresher polls it this often (real time). */
#define FAKE_CLOCK_POLL_MS     2
#define REFRESHER_MAX_SLEEP_MS 60000
#define GET_STRIPES            16
/* The longest a get that finds the token stale waits for the refresh it
 * started (never past the margin): long enough for a metadata server on
 * the host or link to answer, short enough not to be felt. */
#define STALE_WAIT_MAX_MS 100

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

/* A counter padded to a cache line's size. (Not _Alignas(64): the cache
 * comes from calloc, which promises less.) */
struct stripe {
	_Atomic uint64_t n;
	char pad[64 - sizeof(uint64_t)];
};

struct mtk__cache {
	/* Immutable after mtk__cache_new(). */
	struct mtk__cache_options o;
	bool real_clock;

	pthread_mutex_t lock;
	pthread_cond_t fetched;        /* a fetch ended (fetch_gen moved) */
	pthread_cond_t refresher_wake; /* CLOCK_MONOTONIC; state changed or stopping */
	pthread_t refresher;
	bool refresher_started;
	/* The thread of the last refresh a stale get started (no refresher). */
	pthread_t helper;
	bool helper_started;

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
	struct mtk_client_stats stats; /* but fast gets, below */

	struct stripe fast_gets[GET_STRIPES]; /* gets served by the fast path */
	struct mtk__snap snap;
};

static int64_t mono(const struct mtk__cache *c)
{
	return c->o.clock.monotonic_ms(c->o.clock.arg);
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static enum state state_at(const struct mtk__cache *c, int64_t now)
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
 * Republishes c->tok in the snapshot: the token while it is fresh and not
 * invalidated, else nothing. A set (AWS) is more than one token: it is
 * served by the locked path only. Under lock.
 */
static void publish_locked(struct mtk__cache *c)
{
	bool serve = c->tok.access_token && !c->invalidated && !c->tok.aws_key_id;
	int64_t until =
	    min64(min64(c->tok.refresh_at_ms, c->tok.usable_until_ms), c->tok.expires_ms);

	mtk__snap_publish(&c->snap, c->tok.access_token, serve ? c->tok.len : 0, until,
	                  c->tok.expires_ms);
}

/* Counts a get served by the fast path, on the stripe of the CPU it runs
 * on: threads on different CPUs never write the same cache line. */
static void count_fast_get(struct mtk__cache *c)
{
	int cpu = sched_getcpu();

	atomic_fetch_add_explicit(&c->fast_gets[(unsigned)(cpu < 0 ? 0 : cpu) % GET_STRIPES].n, 1,
	                          memory_order_relaxed);
}

/* A uniformly random value in [0, bound], bound >= 0. */
static int64_t random_upto(const struct mtk__cache *c, int64_t bound)
{
	if (bound <= 0)
		return 0;
	return (int64_t)(c->o.random_u64(c->o.random_arg) % ((uint64_t)bound + 1));
}

/* Replaces the cached token with doc's (taking its memory). Under lock. */
static void install_locked(struct mtk__cache *c, struct mtk__token_doc *doc, int64_t sent_ms,
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
	c->tok.usable_until_ms = c->tok.expires_ms - min64(c->o.expiry_margin_ms, lifetime_ms / 2);
	c->tok.refresh_at_ms = c->tok.expires_ms - (c->o.refresh_window_ms + jitter_ms);
	c->invalidated = false;
	publish_locked(c);
}

/*
 * The fetch itself, by the thread that set c->fetching: releases the lock
 * for the fetcher, then records the outcome and wakes the waiters. Called
 * and returns with the lock held.
 */
static void run_fetch_locked(struct mtk__cache *c)
{
	struct mtk__token_doc doc = { 0 };
	char detail[sizeof(c->last_error)] = "";
	int64_t sent_ms = 0, jitter_ms;
	enum mtk_status st;

	pthread_mutex_unlock(&c->lock);
	st = c->o.fetcher.fetch(c->o.fetcher.self, &doc, &sent_ms, detail, sizeof(detail));
	/* Jitter in [0, refresh_jitter_ms): strictly inside the window. */
	jitter_ms = c->o.refresh_jitter_ms > 0 ? random_upto(c, c->o.refresh_jitter_ms - 1) : 0;

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
	c->next_attempt_ms = mono(c) + c->o.min_refresh_interval_ms;
	c->fetching = false;
	c->fetch_gen++;
	pthread_cond_broadcast(&c->fetched);
	pthread_cond_signal(&c->refresher_wake);
	mtk__token_doc_release(&doc);
}

/* Becomes the fetching thread and fetches. Under lock. */
static void fetch_locked(struct mtk__cache *c)
{
	c->fetching = true;
	c->stats.fetches++;
	run_fetch_locked(c);
}

static void wait_for_fetch_locked(struct mtk__cache *c)
{
	uint64_t gen = c->fetch_gen;

	c->stats.waits++;
	while (c->fetching && c->fetch_gen == gen)
		pthread_cond_wait(&c->fetched, &c->lock);
}

/* Adds ms to the CLOCK_MONOTONIC time now, for a timed wait. */
static struct timespec deadline_in(int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/*
 * Waits for the fetch under way until it ends or the monotonic clock
 * reaches deadline_ms, whichever comes first. A fake clock moves by
 * itself: it is polled. Under lock.
 */
static void wait_until_locked(struct mtk__cache *c, int64_t deadline_ms)
{
	uint64_t gen = c->fetch_gen;
	struct timespec ts;
	int64_t left;

	while (c->fetching && c->fetch_gen == gen && (left = deadline_ms - mono(c)) > 0) {
		if (!c->real_clock && left > FAKE_CLOCK_POLL_MS)
			left = FAKE_CLOCK_POLL_MS;
		ts = deadline_in(left);
		pthread_cond_timedwait(&c->fetched, &c->lock, &ts);
	}
}

/* Starts a thread of the library's with every signal blocked: signals are
 * for the program's own threads. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* The thread of one refresh started by a stale get: c->fetching is set. */
static void *refresh_main(void *arg)
{
	struct mtk__cache *c = arg;

	pthread_mutex_lock(&c->lock);
	run_fetch_locked(c);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/*
 * Starts a refresh in a thread of its own, so that the stale get that
 * wants it need not wait for it. Returns false when no thread could be
 * started: the token is still valid, so the refresh is put off by
 * min_refresh_interval_ms (and a get that finds it critical fetches
 * itself). Under lock, with no fetch under way.
 */
static bool start_refresh_locked(struct mtk__cache *c)
{
	if (c->helper_started) {
		/* Its fetch ended (c->fetching is false) and it wants the lock
		 * no more: this join returns at once. */
		pthread_join(c->helper, NULL);
		c->helper_started = false;
	}
	c->fetching = true;
	if (start_thread(&c->helper, refresh_main, c) != 0) {
		c->fetching = false;
		c->next_attempt_ms = mono(c) + c->o.min_refresh_interval_ms;
		return false;
	}
	c->helper_started = true;
	c->stats.fetches++;
	return true;
}

/*
 * Makes c->tok usable if the rules allow: serves, fetches or waits. Called
 * and returns with the lock held; on MTK_OK c->tok is valid and *now_ms is
 * the monotonic time it was checked at.
 */
static enum mtk_status acquire_locked(struct mtk__cache *c, int64_t *now_ms)
{
	int64_t now = mono(c);

	c->stats.gets++;
	switch (state_at(c, now)) {
	case FRESH:
		*now_ms = now;
		return MTK_OK;
	case STALE:
		/* The token is valid: nobody waits long for its successor. The
		 * first get to find it stale (when no refresher does it) starts
		 * the refresh in a thread and waits for it briefly, which a
		 * quick server answers within; every other get keeps the
		 * cached token at once. */
		if (!c->fetching && !c->o.background && now >= c->next_attempt_ms &&
		    start_refresh_locked(c))
			wait_until_locked(
			    c, now + min64(STALE_WAIT_MAX_MS, c->tok.usable_until_ms - now));
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
	struct mtk__cache *c = arg;
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
		ts = deadline_in(delay_ms);
		pthread_cond_timedwait(&c->refresher_wake, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static enum mtk_status init_sync(struct mtk__cache *c)
{
	pthread_condattr_t attr;

	if (pthread_mutex_init(&c->lock, NULL) != 0)
		return MTK_ERR_INIT;
	if (pthread_condattr_init(&attr) != 0)
		goto out_mutex;
	if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&c->fetched, &attr) != 0)
		goto out_attr;
	if (pthread_cond_init(&c->refresher_wake, &attr) != 0)
		goto out_fetched;
	pthread_condattr_destroy(&attr);
	return MTK_OK;

out_fetched:
	pthread_cond_destroy(&c->fetched);
out_attr:
	pthread_condattr_destroy(&attr);
out_mutex:
	pthread_mutex_destroy(&c->lock);
	return MTK_ERR_INIT;
}

enum mtk_status mtk__cache_new(const struct mtk__cache_options *o, struct mtk__cache **out)
{
	struct mtk__cache *c = calloc(1, sizeof(*c));

	if (!c)
		return MTK_ERR_NO_MEMORY;
	c->o = *o;
	c->real_clock = o->real_mono;
	mtk__snap_init(&c->snap, &o->clock, o->real_mono, o->real_wall);
	if (init_sync(c) != MTK_OK) {
		free(c);
		return MTK_ERR_INIT;
	}
	c->last_status = MTK_OK;
	if (c->o.background) {
		if (start_thread(&c->refresher, refresher_main, c) != 0) {
			mtk__cache_free(c);
			return MTK_ERR_INIT;
		}
		c->refresher_started = true;
	}
	*out = c;
	return MTK_OK;
}

void mtk__cache_free(struct mtk__cache *c)
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
	/* A refresh a stale get started may still be fetching. */
	if (c->helper_started)
		pthread_join(c->helper, NULL);
	cached_wipe(&c->tok);
	publish_locked(c); /* wipes the published copy */
	pthread_cond_destroy(&c->refresher_wake);
	pthread_cond_destroy(&c->fetched);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

enum mtk_status mtk__cache_get(struct mtk__cache *c, struct mtk_token **out)
{
	struct mtk_token *t = NULL;
	struct mtk__snap_read r;
	enum mtk_status st;
	int64_t now;
	size_t n;

	if (mtk__snap_begin(&c->snap, &r) && (t = malloc(sizeof(*t) + r.len + 1))) {
		mtk__snap_copy(&c->snap, &r, t->access_token);
		if (mtk__snap_check(&c->snap, &r)) {
			count_fast_get(c);
			t->len = r.len;
			t->alloc_len = r.len + 1;
			t->aws_key_id = t->aws_secret = NULL;
			t->expires_in_ms = r.expires_ms - r.now_ms;
			t->expires_at_ms = mtk__snap_wall(&c->snap) + t->expires_in_ms;
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
	t->expires_at_ms = c->o.clock.wall_ms(c->o.clock.arg) + t->expires_in_ms;
	*out = t;
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return st;
}

/*
 * The fast path copies straight into buf and keeps the copy if the
 * snapshot did not change meanwhile; else the locked path writes buf
 * again. On failure buf is wiped of whatever the fast path wrote and left
 * holding "", so that it never holds a torn token.
 */
enum mtk_status mtk__cache_copy(struct mtk__cache *c, const char *prefix, size_t prefix_len,
                                char *buf, size_t buflen, int64_t *expires_in_ms)
{
	struct mtk__snap_read r;
	enum mtk_status st;
	size_t written = 0;
	int64_t now;

	/* Too small a buffer: the locked path says MTK_ERR_BUFFER_TOO_SMALL. */
	if (mtk__snap_begin(&c->snap, &r) && buflen > prefix_len + r.len) {
		memcpy(buf, prefix, prefix_len);
		mtk__snap_copy(&c->snap, &r, buf + prefix_len);
		if (mtk__snap_check(&c->snap, &r)) {
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

bool mtk__cache_invalidate(struct mtk__cache *c, const char *access_token)
{
	bool will_fetch;
	int64_t now;

	pthread_mutex_lock(&c->lock);
	now = mono(c);
	if (!c->tok.access_token || c->invalidated) {
		will_fetch = true;
	} else if (access_token && (strlen(access_token) != c->tok.len ||
	                            CRYPTO_memcmp(access_token, c->tok.access_token, c->tok.len))) {
		will_fetch = false; /* already replaced */
	} else if (c->ever_invalidated &&
	           now - c->last_invalidation_ms < c->o.min_refresh_interval_ms) {
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

void mtk__cache_last_error(struct mtk__cache *c, char *buf, size_t buflen)
{
	pthread_mutex_lock(&c->lock);
	snprintf(buf, buflen, "%s", c->last_error);
	pthread_mutex_unlock(&c->lock);
}

void mtk__cache_stats(struct mtk__cache *c, struct mtk_client_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < GET_STRIPES; i++)
		out->gets += atomic_load_explicit(&c->fast_gets[i].n, memory_order_relaxed);
	out->http_requests = 0;
}
