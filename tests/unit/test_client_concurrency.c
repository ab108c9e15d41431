/*
 * Many threads, one client: single flight at expiry, stale callers that do
 * not wait, the background refresher, readers of a token that is being
 * replaced. Also run under ThreadSanitizer.
 */
#include "cr_shim.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metatoken/metatoken.h"
#include "test_client_fake.h"

#define NTHREADS 64
#define S        1000LL
#define HOUR     (3600 * S)

static struct fake f;
static struct mtk_client *c;
static pthread_barrier_t barrier;

struct result {
	enum mtk_status st;
	char *token;
};

static struct result results[NTHREADS];

static void setup(void)
{
	fake_init(&f);
	memset(results, 0, sizeof(results));
}

static void teardown(void)
{
	int i;

	mtk_client_free(c);
	c = NULL;
	for (i = 0; i < NTHREADS; i++)
		free(results[i].token);
	fake_release_all(&f);
}

TestSuite(concurrency, .init = setup, .fini = teardown);

static void *getter(void *arg)
{
	struct result *r = arg;

	pthread_barrier_wait(&barrier);
	r->token = get_text(c, &r->st);
	return NULL;
}

static void sleep_real_ms(long ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = ms * 1000000 };

	nanosleep(&ts, NULL);
}

static uint64_t stat_waits(void)
{
	struct mtk_client_stats s;

	mtk_client_get_stats(c, &s);
	return s.waits;
}

/* Waits (really, up to 10 s) until n gets are waiting for the fetch. */
static bool wait_for_waiters(uint64_t n)
{
	int i;

	for (i = 0; i < 10000 && stat_waits() < n; i++)
		sleep_real_ms(1);
	return stat_waits() >= n;
}

/*
 * Starts NTHREADS getters while the transport blocks, waits until one is
 * fetching and all others wait for it, then lets the fetch finish.
 */
static void run_herd(int calls_before)
{
	pthread_t th[NTHREADS];
	int i;

	fake_block(&f);
	pthread_barrier_init(&barrier, NULL, NTHREADS);
	for (i = 0; i < NTHREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, getter, &results[i]), 0);
	cr_assert(fake_wait_calls(&f, calls_before + 1), "no fetch started");
	cr_assert(wait_for_waiters(NTHREADS - 1), "only %llu waiters",
	          (unsigned long long)stat_waits());
	fake_release(&f);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
}

Test(concurrency, sixty_four_threads_at_expiry_cause_one_fetch)
{
	enum mtk_status st;
	int i;

	c = fake_client(&f, NULL);
	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&f, fake_token("tok-2", 3600));
	free(get_text(c, &st));
	cr_assert_eq(st, MTK_OK);
	fake_advance(&f, HOUR);

	run_herd(1);
	for (i = 0; i < NTHREADS; i++) {
		cr_assert_eq(results[i].st, MTK_OK, "thread %d: %s", i,
		             mtk_strerror(results[i].st));
		cr_assert_str_eq(results[i].token, "tok-2");
	}
	cr_assert_eq(fake_calls(&f), 2);
}

Test(concurrency, sixty_four_threads_on_a_cold_client_cause_one_fetch)
{
	int i;

	c = fake_client(&f, NULL);
	fake_push(&f, fake_token("tok-1", 3600));
	run_herd(0);
	for (i = 0; i < NTHREADS; i++)
		cr_assert_str_eq(results[i].token, "tok-1");
	cr_assert_eq(fake_calls(&f), 1);
}

Test(concurrency, waiters_share_a_failed_fetch_instead_of_each_retrying)
{
	int i;

	c = fake_client(&f, NULL);
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_OK, .status = 403 });
	run_herd(0);
	for (i = 0; i < NTHREADS; i++) {
		cr_assert_eq(results[i].st, MTK_ERR_HTTP_CLIENT);
		cr_assert_null(results[i].token);
	}
	cr_assert_eq(fake_calls(&f), 1);
}

static void *one_getter(void *arg)
{
	struct result *r = arg;

	r->token = get_text(c, &r->st);
	return NULL;
}

Test(concurrency, stale_callers_get_the_cached_token_without_waiting)
{
	struct result mine;
	pthread_t th;
	int i;

	c = fake_client(&f, NULL);
	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&f, fake_token("tok-2", 3600));
	free(get_text(c, &results[0].st));
	fake_advance(&f, HOUR - 240 * S);

	fake_block(&f);
	cr_assert_eq(pthread_create(&th, NULL, one_getter, &results[0]), 0);
	cr_assert(fake_wait_blocked(&f, 1));
	/* The refresh is in flight and stuck; these return at once. */
	for (i = 0; i < 100; i++) {
		mine.token = get_text(c, &mine.st);
		cr_assert_eq(mine.st, MTK_OK);
		cr_assert_str_eq(mine.token, "tok-1");
		free(mine.token);
	}
	cr_assert_eq(stat_waits(), 0);
	fake_release(&f);
	pthread_join(th, NULL);
	cr_assert_str_eq(results[0].token, "tok-2");
	cr_assert_eq(fake_calls(&f), 2);
}

/* The documented bound on a stale get's wait for its refresh. */
#define STALE_WAIT_MS 100

static _Atomic int done;

static void *counted_getter(void *arg)
{
	struct result *r = arg;

	r->token = get_text(c, &r->st);
	atomic_fetch_add(&done, 1);
	return NULL;
}

/* Waits (really, up to 10 s) until n counted getters returned. */
static bool wait_for_done(int n)
{
	for (int i = 0; i < 10000 && atomic_load(&done) < n; i++)
		sleep_real_ms(1);
	return atomic_load(&done) >= n;
}

static int blocked_calls(void)
{
	int n;

	pthread_mutex_lock(&f.lock);
	n = f.blocked;
	pthread_mutex_unlock(&f.lock);
	return n;
}

/*
 * Without the refresher, under a stalled server: the get that finds the
 * token stale starts the refresh and waits for it only STALE_WAIT_MS on
 * the clock, then gets the still-valid token (it used to wait out the
 * whole fetch); every other get meanwhile returns it at once and starts no
 * fetch of its own; the first get after expiry waits for that one fetch.
 */
Test(concurrency, a_stale_get_does_not_wait_for_a_stalled_refresh)
{
	pthread_t th;

	c = fake_client(&f, NULL);
	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&f, fake_token("tok-2", 3600));
	free(get_text(c, &results[0].st));
	fake_advance(&f, HOUR - 240 * S);

	fake_block(&f);
	atomic_store(&done, 0);
	cr_assert_eq(pthread_create(&th, NULL, counted_getter, &results[0]), 0);
	cr_assert(fake_wait_blocked(&f, 1), "no refresh started");
	fake_advance(&f, STALE_WAIT_MS);
	pthread_join(th, NULL);
	cr_assert_eq(results[0].st, MTK_OK);
	cr_assert_str_eq(results[0].token, "tok-1");
	cr_assert_eq(blocked_calls(), 1, "the get returned only once the fetch ended");

	/* The refresh is still stuck: others are served at once, no fetch
	 * is stacked on it. */
	for (int i = 0; i < 100; i++) {
		struct result mine;

		mine.token = get_text(c, &mine.st);
		cr_assert_eq(mine.st, MTK_OK);
		cr_assert_str_eq(mine.token, "tok-1");
		free(mine.token);
	}
	cr_assert_eq(stat_waits(), 0);
	cr_assert_eq(fake_calls(&f), 2);

	/* Past expiry the token is gone: the next get waits for the fetch. */
	fake_advance(&f, 240 * S);
	cr_assert_eq(pthread_create(&th, NULL, counted_getter, &results[1]), 0);
	cr_assert(wait_for_waiters(1), "the expired get did not wait");
	cr_assert_eq(atomic_load(&done), 1);
	fake_release(&f);
	pthread_join(th, NULL);
	cr_assert_eq(results[1].st, MTK_OK);
	cr_assert_str_eq(results[1].token, "tok-2");
	cr_assert_eq(fake_calls(&f), 2);
}

/* 64 threads find the token stale while the server stalls: one refresh,
 * and only the get that started it waits, for STALE_WAIT_MS at most. */
Test(concurrency, sixty_four_stale_gets_start_one_refresh_and_do_not_wait_for_it)
{
	pthread_t th[NTHREADS];
	int i;

	c = fake_client(&f, NULL);
	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&f, fake_token("tok-2", 3600));
	free(get_text(c, &results[0].st));
	free(results[0].token);
	fake_advance(&f, HOUR - 240 * S);

	fake_block(&f);
	atomic_store(&done, 0);
	for (i = 0; i < NTHREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, counted_getter, &results[i]), 0);
	cr_assert(fake_wait_blocked(&f, 1));
	cr_assert(wait_for_done(NTHREADS - 1), "%d of %d gets returned", atomic_load(&done),
	          NTHREADS - 1);
	fake_advance(&f, STALE_WAIT_MS);
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(results[i].st, MTK_OK);
		cr_assert_str_eq(results[i].token, "tok-1");
	}
	cr_assert_eq(blocked_calls(), 1);
	cr_assert_eq(fake_calls(&f), 2);
	cr_assert_eq(stat_waits(), 0);
	fake_release(&f);
}

/*
 * The wait never runs into the expiry margin: an 8 s token is usable for
 * 4 s. 50 ms before that, a stale get waits 50 ms, not STALE_WAIT_MS: past
 * them the clock moves no more, so a longer wait would end only with the
 * fetch (after the fake transport's 10 s), with the next token.
 */
Test(concurrency, a_stale_get_waits_no_later_than_the_margin)
{
	struct mtk_client_options o = fake_options(&f);
	pthread_t th;

	o.min_refresh_interval_ms = 1000; /* else the next try is in 30 s */
	c = fake_client(&f, &o);
	fake_push(&f, fake_token("short", 8));
	fake_push(&f, fake_token("next", 8));
	free(get_text(c, &results[0].st));
	fake_advance(&f, 4 * S - 50);
	fake_block(&f);
	atomic_store(&done, 0);
	cr_assert_eq(pthread_create(&th, NULL, counted_getter, &results[1]), 0);
	cr_assert(fake_wait_blocked(&f, 1));
	fake_advance(&f, 50);
	pthread_join(th, NULL);
	cr_assert_str_eq(results[1].token, "short");
	cr_assert_eq(blocked_calls(), 1);
	fake_release(&f);
}

/* Polls (really, up to 10 s) until a get returns `want`. */
static bool eventually_token(const char *want)
{
	enum mtk_status st;
	char *t;
	int i;

	for (i = 0; i < 10000; i++) {
		t = get_text(c, &st);
		if (t && strcmp(t, want) == 0) {
			free(t);
			return true;
		}
		free(t);
		sleep_real_ms(1);
	}
	return false;
}

Test(concurrency, background_refresher_keeps_the_token_fresh)
{
	struct mtk_client_options o = fake_options(&f);
	struct mtk_client_stats s;

	o.background_refresh = true;
	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&f, fake_token("tok-2", 3600));
	c = fake_client(&f, &o);
	/* It fetches the first token by itself. */
	cr_assert(fake_wait_calls(&f, 1));
	cr_assert(eventually_token("tok-1"));
	/* Inside the window, callers keep the cached token: the refresher
	 * fetches, not they. */
	fake_advance(&f, HOUR - 240 * S);
	cr_assert(fake_wait_calls(&f, 2), "the refresher did not refresh");
	cr_assert(eventually_token("tok-2"));
	mtk_client_get_stats(c, &s);
	cr_assert_eq(s.fetches, 2);
	cr_assert_eq(fake_calls(&f), 2);
	/* teardown frees the client: the refresher must stop and join. */
}

Test(concurrency, background_refresher_retries_after_a_failure_no_sooner_than_the_interval)
{
	struct mtk_client_options o = fake_options(&f);
	int calls;

	o.background_refresh = true;
	o.max_attempts = 1;
	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&f, (struct fake_answer){ .st = MTK_OK, .status = 500 });
	fake_push(&f, fake_token("tok-2", 3600));
	c = fake_client(&f, &o);
	cr_assert(eventually_token("tok-1"));
	fake_advance(&f, HOUR - 240 * S);
	cr_assert(fake_wait_calls(&f, 2));
	/* Failed; still serving tok-1, and no new attempt for 30 s. */
	cr_assert(eventually_token("tok-1"));
	sleep_real_ms(20); /* ten polls of the fake clock: nothing may happen */
	calls = fake_calls(&f);
	cr_assert_eq(calls, 2);
	fake_advance(&f, 30 * S);
	cr_assert(fake_wait_calls(&f, 3));
	cr_assert(eventually_token("tok-2"));
}

struct hammer {
	int gets, failures;
};

static _Atomic int stop_hammer;

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	char buf[MTK_AUTHORIZATION_HEADER_MAX];
	struct mtk_token *t;

	while (!atomic_load(&stop_hammer)) {
		if (h->gets % 2) {
			h->failures +=
			    mtk_client_authorization_header(c, buf, sizeof(buf)) != MTK_OK;
		} else {
			t = NULL;
			h->failures += mtk_client_get_token(c, &t) != MTK_OK;
			mtk_token_free(t);
		}
		h->gets++;
	}
	return NULL;
}

Test(concurrency, many_threads_while_time_passes)
{
	struct mtk_client_options o = fake_options(&f);
	struct hammer h[8] = { 0 };
	pthread_t th[8];
	int i, minute;

	o.background_refresh = true;
	/* An hour's token: its life is ~360 ms of real time here, so a thread
	 * descheduled for a while on a loaded machine (ASan, CI) does not see
	 * a token fetched for it expire before it reads it. */
	fake_otherwise(&f, fake_token("tok", 3600));
	c = fake_client(&f, &o);
	cr_assert(eventually_token("tok"));
	atomic_store(&stop_hammer, 0);
	for (i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, hammer_main, &h[i]);
	/* Two hours in 10 s steps. */
	for (minute = 0; minute < 720; minute++) {
		fake_advance(&f, 10 * S);
		sleep_real_ms(1);
	}
	atomic_store(&stop_hammer, 1);
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(h[i].failures, 0);
	}
	/* 3600 s tokens refreshed 240 s early: one fetch per ~56 min at best,
	 * never one per get. */
	cr_assert_lt(fake_calls(&f), 2 * 7200 / 3360 + 10, "%d fetches", fake_calls(&f));
}

/*
 * Republishing under readers: each token is "t<i>-" and then one letter
 * repeated, and consecutive tokens differ in letter and length, so a copy
 * torn between two of them, or cut to the wrong length, does not pass
 * token_whole(). Readers use all three ways of getting the token while the
 * main thread replaces it, by invalidation, 60 times.
 */
#define REPUBLISHES 60

static char republish_bodies[REPUBLISHES + 1][600];

static size_t republish_len(int i)
{
	return 20 + (size_t)(i * 97 % 400);
}

static bool token_whole(const char *s)
{
	char *end;
	long i = strtol(s + 1, &end, 10);
	size_t n;

	if (s[0] != 't' || *end != '-' || i < 0 || i > REPUBLISHES)
		return false;
	for (n = 0; end[1 + n]; n++)
		if (end[1 + n] != 'a' + i % 26)
			return false;
	return n == republish_len((int)i);
}

static _Atomic int stop_readers;

/*
 * A getter that waited for a fetch may find its token invalidated again by
 * the time it wakes: MTK_ERR_EXPIRED, as documented, and not torn. Any
 * other failure, or a token that is not whole, counts.
 */
static void *reader_main(void *arg)
{
	struct hammer *h = arg;
	char buf[MTK_AUTHORIZATION_HEADER_MAX];
	struct mtk_token *t = NULL;
	enum mtk_status st = MTK_OK;
	int64_t in_ms = 0;

	while (!atomic_load(&stop_readers)) {
		bool whole = false;

		switch (h->gets % 3) {
		case 0:
			st = mtk_client_copy_token(c, buf, sizeof(buf), &in_ms);
			whole = st == MTK_OK && token_whole(buf) && in_ms > 0;
			break;
		case 1:
			st = mtk_client_authorization_header(c, buf, sizeof(buf));
			whole = st == MTK_OK && strncmp(buf, "Authorization: Bearer ", 22) == 0 &&
			        token_whole(buf + 22);
			break;
		case 2:
			st = mtk_client_get_token(c, &t);
			whole = st == MTK_OK && token_whole(mtk_token_access_token(t)) &&
			        strlen(mtk_token_access_token(t)) == mtk_token_access_token_len(t);
			mtk_token_free(t);
			t = NULL;
			break;
		}
		/* A failed copy leaves "", never what a torn read wrote. */
		h->failures +=
		    st == MTK_OK ? !whole : st != MTK_ERR_EXPIRED || (h->gets % 3 != 2 && buf[0]);
		h->gets++;
	}
	return NULL;
}

Test(concurrency, readers_never_see_a_torn_token_while_it_is_republished)
{
	struct hammer h[4] = { 0 };
	pthread_t th[4];
	char want[600];
	int i, k;

	for (i = 0; i <= REPUBLISHES; i++) {
		char tok[500];
		int n = snprintf(tok, sizeof(tok), "t%d-", i);

		memset(tok + n, 'a' + i % 26, republish_len(i));
		tok[n + republish_len(i)] = '\0';
		snprintf(republish_bodies[i], sizeof(republish_bodies[i]),
		         "{\"access_token\":\"%s\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
		         tok);
		fake_push(&f, (struct fake_answer){
		                  .st = MTK_OK, .status = 200, .body = republish_bodies[i] });
	}
	c = fake_client(&f, NULL);
	snprintf(want, sizeof(want), "t0-%.20s", "aaaaaaaaaaaaaaaaaaaa");
	cr_assert(eventually_token(want));
	atomic_store(&stop_readers, 0);
	for (k = 0; k < 4; k++)
		pthread_create(&th[k], NULL, reader_main, &h[k]);
	for (i = 1; i <= REPUBLISHES; i++) {
		enum mtk_status st;
		char *got;

		/* An invalidation is honoured once per min_refresh_interval. */
		fake_advance(&f, 30 * S);
		cr_assert(mtk_client_invalidate(c, NULL));
		got = get_text(c, &st);
		cr_assert_eq(st, MTK_OK);
		cr_assert(token_whole(got));
		cr_assert_eq(strtol(got + 1, NULL, 10), i);
		free(got);
		sleep_real_ms(1);
	}
	atomic_store(&stop_readers, 1);
	for (k = 0; k < 4; k++) {
		pthread_join(th[k], NULL);
		cr_assert_eq(h[k].failures, 0, "%d of %d gets failed", h[k].failures, h[k].gets);
	}
	cr_assert_eq(fake_calls(&f), REPUBLISHES + 1);
}
