/*
 * The cache's state machine on the fake clock and transport: fresh, stale,
 * expired; keep-last-good; the no-refetch-loop rule; invalidation.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metatoken/metatoken.h"
#include "test_client_fake.h"

#define S    1000LL
#define HOUR (3600 * S)
/* Defaults, as documented in metatoken.h. */
#define WINDOW       (240 * S)
#define MARGIN       (10 * S)
#define MIN_INTERVAL (30 * S)

static struct fake f;
static struct mtk_client *c;

static void setup(void)
{
	fake_init(&f);
	c = fake_client(&f, NULL);
}

static void teardown(void)
{
	mtk_client_free(c);
	fake_release_all(&f);
}

TestSuite(client, .init = setup, .fini = teardown);

/* Gets a token and checks its text; returns nothing, asserts. */
static void expect_token(const char *want)
{
	enum mtk_status st;
	char *got = get_text(c, &st);

	cr_assert_eq(st, MTK_OK, "get: %s", mtk_strerror(st));
	cr_assert_str_eq(got, want);
	free(got);
}

static struct mtk_client_stats stats(void)
{
	struct mtk_client_stats s;

	cr_assert_eq(mtk_client_get_stats(c, &s), MTK_OK);
	return s;
}

Test(client, first_get_fetches_and_fresh_gets_do_no_io)
{
	int i;

	fake_push(&f, fake_token("tok-1", 3600));
	expect_token("tok-1");
	cr_assert_eq(fake_calls(&f), 1);
	for (i = 0; i < 100; i++)
		expect_token("tok-1");
	/* Just before the refresh window: still fresh. */
	fake_advance(&f, HOUR - WINDOW - 1);
	expect_token("tok-1");
	cr_assert_eq(fake_calls(&f), 1);
	cr_assert_eq(stats().gets, 102);
	cr_assert_eq(stats().fetches, 1);
}

Test(client, stale_get_fetches_once_and_returns_the_new_token)
{
	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&f, fake_token("tok-2", 3600));
	expect_token("tok-1");
	fake_advance(&f, HOUR - WINDOW);
	expect_token("tok-2");
	expect_token("tok-2");
	cr_assert_eq(fake_calls(&f), 2);
}

Test(client, expired_get_fetches_a_new_token)
{
	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&f, fake_token("tok-2", 3600));
	expect_token("tok-1");
	fake_advance(&f, HOUR);
	expect_token("tok-2");
	cr_assert_eq(fake_calls(&f), 2);
}

Test(client, inside_the_margin_counts_as_expired)
{
	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&f, fake_token("tok-2", 3600));
	expect_token("tok-1");
	fake_advance(&f, HOUR - MARGIN);
	expect_token("tok-2");
}

Test(client, wall_clock_jumps_change_nothing)
{
	struct mtk_token *t;

	fake_push(&f, fake_token("tok-1", 3600));
	expect_token("tok-1");
	atomic_store(&f.wall_offset_ms, 30LL * 24 * HOUR); /* a month ahead */
	expect_token("tok-1");
	atomic_store(&f.wall_offset_ms, -30LL * 24 * HOUR); /* and back */
	expect_token("tok-1");
	cr_assert_eq(fake_calls(&f), 1);
	/* The absolute expiry follows the wall clock of the moment. */
	cr_assert_eq(mtk_client_get_token(c, &t), MTK_OK);
	cr_assert_eq(mtk_token_expires_in_ms(t), HOUR);
	cr_assert_eq(mtk_token_expires_at_ms(t), f.clock.wall_ms(&f) + HOUR);
	mtk_token_free(t);
}

Test(client, token_reports_remaining_life_and_type)
{
	struct mtk_token *t;
	char *json;

	fake_push(&f, fake_token("tok-1", 3600));
	expect_token("tok-1");
	fake_advance(&f, 1000 * S);
	cr_assert_eq(mtk_client_get_token(c, &t), MTK_OK);
	cr_assert_eq(mtk_token_expires_in_ms(t), 2600 * S);
	cr_assert_str_eq(mtk_token_type(t), "Bearer");
	cr_assert_eq(mtk_token_access_token_len(t), 5);
	cr_assert_eq(mtk_token_to_json(t, &json), MTK_OK);
	cr_assert_str_eq(
	    json, "{\"access_token\":\"tok-1\",\"expires_in\":2600,\"token_type\":\"Bearer\"}");
	mtk_json_free(json);
	mtk_token_free(t);
}

Test(client, lifetime_counts_from_when_the_request_was_sent)
{
	struct mtk_token *t;
	struct fake_answer slow = fake_token("tok-1", 3600);

	slow.takes_ms = 2 * S;
	fake_push(&f, slow);
	cr_assert_eq(mtk_client_get_token(c, &t), MTK_OK);
	cr_assert_eq(mtk_token_expires_in_ms(t), HOUR - 2 * S);
	mtk_token_free(t);
}

Test(client, jitter_moves_the_refresh_earlier_but_never_to_the_servers_margin)
{
	/* The largest jitter draw: refresh starts 299.999 s before expiry,
	 * still inside the server's 300 s reissue margin. */
	f.random_value = 60000 - 1;
	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&f, fake_token("tok-2", 3600));
	expect_token("tok-1");
	fake_advance(&f, HOUR - 300 * S);
	expect_token("tok-1");
	cr_assert_eq(fake_calls(&f), 1);
	fake_advance(&f, 1);
	expect_token("tok-2");
}

Test(client, different_draws_refresh_at_different_times)
{
	struct fake g;
	struct mtk_client *c2;
	enum mtk_status st;
	char *s;

	fake_init(&g);
	g.random_value = 30000;
	c2 = fake_client(&g, NULL);
	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&g, fake_token("tok-1", 3600));
	fake_otherwise(&f, fake_token("tok-2", 3600));
	fake_otherwise(&g, fake_token("tok-2", 3600));
	expect_token("tok-1");
	free(get_text(c2, &st));
	/* 4.5 min before expiry: the jittered client refreshes, the other not. */
	fake_advance(&f, HOUR - 270 * S);
	fake_advance(&g, HOUR - 270 * S);
	expect_token("tok-1");
	s = get_text(c2, &st);
	cr_assert_str_eq(s, "tok-2");
	free(s);
	mtk_client_free(c2);
	fake_release_all(&g);
}

Test(client, failed_refresh_keeps_serving_the_last_good_token_until_real_expiry)
{
	struct mtk_token *t = (struct mtk_token *)&f; /* a sentinel */
	char why[512];

	fake_push(&f, fake_token("tok-1", 3600));
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_OK, .status = 503 });
	expect_token("tok-1");
	fake_advance(&f, HOUR - WINDOW);
	expect_token("tok-1"); /* refresh failed: 3 attempts */
	cr_assert_eq(fake_calls(&f), 4);
	cr_assert_eq(stats().fetch_failures, 1);
	cr_assert_eq(mtk_client_last_error(c, why, sizeof(why)), MTK_OK);
	cr_assert(strstr(why, "HTTP 503"), "%s", why);
	cr_assert(strstr(why, "/computeMetadata/v1/instance/service-accounts/default/token"), "%s",
	          why);

	/* Inside the expiry margin the old token is still really valid. */
	fake_advance(&f, WINDOW - MARGIN / 2);
	expect_token("tok-1");
	/* At its real expiry: the fetch's status, and *out untouched. */
	fake_advance(&f, HOUR); /* well past */
	cr_assert_eq(mtk_client_get_token(c, &t), MTK_ERR_HTTP_SERVER);
	cr_assert_eq(t, (struct mtk_token *)&f);
}

Test(client, a_failing_server_is_not_asked_on_every_call)
{
	int i, calls;

	fake_push(&f, fake_token("tok-1", 3600));
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_OK, .status = 500 });
	expect_token("tok-1");
	fake_advance(&f, HOUR - WINDOW);
	expect_token("tok-1");
	calls = fake_calls(&f);
	for (i = 0; i < 1000; i++)
		expect_token("tok-1");
	cr_assert_eq(fake_calls(&f), calls);
	fake_advance(&f, MIN_INTERVAL);
	expect_token("tok-1");
	cr_assert_gt(fake_calls(&f), calls);
}

Test(client, a_token_already_inside_the_window_is_not_refetched_on_every_call)
{
	int second, calls;

	/* The server keeps handing out a token with 200 s left (less than the
	 * 240 s window); a get every second for 5 minutes. */
	fake_otherwise(&f, fake_token("same", 200));
	for (second = 0; second < 300; second++) {
		expect_token("same");
		expect_token("same");
		fake_advance(&f, S);
	}
	calls = fake_calls(&f);
	cr_assert_leq(calls, 1 + 300 / 30, "%d fetches", calls);
	cr_assert_geq(calls, 300 / 30 - 1, "it must still try: %d fetches", calls);
}

Test(client, a_short_lived_token_is_usable_for_half_its_life)
{
	int i;

	/* 8 s: less than the 10 s margin; usable for 4 s, then served while
	 * rate-limited until it really expires, then refetched. */
	fake_otherwise(&f, fake_token("short", 8));
	for (i = 0; i < 79; i++) {
		expect_token("short");
		fake_advance(&f, 100);
	}
	cr_assert_eq(fake_calls(&f), 1);
	fake_advance(&f, 100);
	expect_token("short");
	cr_assert_eq(fake_calls(&f), 2);
}

Test(client, first_get_failure_returns_the_status_and_leaves_out_alone)
{
	struct mtk_token *t = NULL;
	char buf[64];

	fake_otherwise(&f, (struct fake_answer){ .st = MTK_ERR_CONNECT });
	cr_assert_eq(mtk_client_get_token(c, &t), MTK_ERR_CONNECT);
	cr_assert_null(t);
	memset(buf, 'X', sizeof(buf));
	cr_assert_eq(mtk_client_authorization_header(c, buf, sizeof(buf)), MTK_ERR_CONNECT);
	cr_assert_eq(buf[0], '\0', "a failed call leaves an empty string");
	cr_assert_eq(buf[1], 'X', "and writes nothing else");
}

Test(client, absent_token_is_fetched_on_every_get_after_a_failure)
{
	enum mtk_status st;

	/* Nothing to serve: every get tries (one fetch each, not a loop). */
	fake_push(&f, (struct fake_answer){ .st = MTK_OK, .status = 403 });
	fake_push(&f, fake_token("tok-1", 3600));
	cr_assert_null(get_text(c, &st));
	cr_assert_eq(st, MTK_ERR_HTTP_CLIENT);
	expect_token("tok-1");
	cr_assert_eq(fake_calls(&f), 2);
}

Test(client, authorization_header)
{
	char buf[MTK_AUTHORIZATION_HEADER_MAX];
	char small[20];

	fake_push(&f, fake_token("tok-1", 3600));
	cr_assert_eq(mtk_client_authorization_header(c, buf, sizeof(buf)), MTK_OK);
	cr_assert_str_eq(buf, "Authorization: Bearer tok-1");
	/* Exactly fits: 22 + 5 + NUL. */
	cr_assert_eq(mtk_client_authorization_header(c, buf, 28), MTK_OK);
	memset(small, 'X', sizeof(small));
	cr_assert_eq(mtk_client_authorization_header(c, small, 27), MTK_ERR_BUFFER_TOO_SMALL);
	cr_assert_eq(small[0], '\0', "no part of the token, nor what was there");
	cr_assert_eq(fake_calls(&f), 1);
}

Test(client, copy_token)
{
	char buf[MTK_MAX_ACCESS_TOKEN + 1], small[8];
	int64_t in_ms = 0;

	fake_push(&f, fake_token("tok-1", 3600));
	cr_assert_eq(mtk_client_copy_token(c, buf, sizeof(buf), &in_ms), MTK_OK);
	cr_assert_str_eq(buf, "tok-1");
	cr_assert_eq(in_ms, HOUR);
	/* From the cache: the remaining life as of this call. Exactly fits:
	 * 5 + NUL. */
	fake_advance(&f, 1000 * S);
	memset(buf, 'X', sizeof(buf));
	cr_assert_eq(mtk_client_copy_token(c, buf, 6, &in_ms), MTK_OK);
	cr_assert_str_eq(buf, "tok-1");
	cr_assert_eq(in_ms, 2600 * S);
	cr_assert_eq(mtk_client_copy_token(c, buf, sizeof(buf), NULL), MTK_OK);
	cr_assert_str_eq(buf, "tok-1");
	/* One byte short: refused, the buffer left empty and expires_in_ms
	 * not written. */
	memset(small, 'X', sizeof(small));
	in_ms = 42;
	cr_assert_eq(mtk_client_copy_token(c, small, 5, &in_ms), MTK_ERR_BUFFER_TOO_SMALL);
	cr_assert_eq(small[0], '\0');
	cr_assert(memchr(small, 't', sizeof(small)) == NULL, "no byte of the token");
	cr_assert_eq(in_ms, 42);
	cr_assert_eq(mtk_client_copy_token(c, NULL, 5, &in_ms), MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(fake_calls(&f), 1);
	cr_assert_eq(stats().gets, 4);
}

Test(client, copy_token_follows_invalidation_and_expiry)
{
	char buf[MTK_MAX_ACCESS_TOKEN + 1];
	int64_t in_ms = 0;

	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&f, fake_token("tok-2", 3600));
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_OK, .status = 404 });
	cr_assert_eq(mtk_client_copy_token(c, buf, sizeof(buf), &in_ms), MTK_OK);
	cr_assert_str_eq(buf, "tok-1");
	cr_assert(mtk_client_invalidate(c, "tok-1"));
	cr_assert_eq(mtk_client_copy_token(c, buf, sizeof(buf), &in_ms), MTK_OK);
	cr_assert_str_eq(buf, "tok-2");
	/* Past its expiry the refetch fails: the buffer holds "" (not the
	 * expired token) and expires_in_ms is not written. */
	fake_advance(&f, HOUR);
	in_ms = 42;
	cr_assert_eq(mtk_client_copy_token(c, buf, sizeof(buf), &in_ms), MTK_ERR_NO_SUCH_ACCOUNT);
	cr_assert_str_eq(buf, "");
	cr_assert_eq(in_ms, 42);
	cr_assert_eq(fake_calls(&f), 3);
}

Test(client, invalidate_refetches_once)
{
	fake_push(&f, fake_token("tok-1", 3600));
	fake_push(&f, fake_token("tok-2", 3600));
	expect_token("tok-1");
	cr_assert(mtk_client_invalidate(c, "tok-1"));
	expect_token("tok-2");
	expect_token("tok-2");
	cr_assert_eq(fake_calls(&f), 2);
	/* A late 401 for the token already replaced changes nothing. */
	cr_assert_not(mtk_client_invalidate(c, "tok-1"));
	expect_token("tok-2");
	cr_assert_eq(fake_calls(&f), 2);
}

Test(client, invalidate_never_loops_when_the_server_hands_back_the_same_token)
{
	int i;

	/* The metadata server caches: the refetch returns the same token, the
	 * API refuses it again. One refetch, then no more for a while. */
	fake_otherwise(&f, fake_token("tok-1", 3600));
	expect_token("tok-1");
	cr_assert(mtk_client_invalidate(c, "tok-1"));
	expect_token("tok-1");
	cr_assert_eq(fake_calls(&f), 2);
	for (i = 0; i < 100; i++) {
		cr_assert_not(mtk_client_invalidate(c, "tok-1"));
		expect_token("tok-1");
	}
	cr_assert_eq(fake_calls(&f), 2);
	fake_advance(&f, MIN_INTERVAL);
	cr_assert(mtk_client_invalidate(c, NULL));
	expect_token("tok-1");
	cr_assert_eq(fake_calls(&f), 3);
}

Test(client, invalidated_token_is_not_served_when_the_refetch_fails)
{
	enum mtk_status st;

	fake_push(&f, fake_token("tok-1", 3600));
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_OK, .status = 404 });
	expect_token("tok-1");
	cr_assert(mtk_client_invalidate(c, "tok-1"));
	cr_assert_null(get_text(c, &st));
	cr_assert_eq(st, MTK_ERR_NO_SUCH_ACCOUNT);
}

Test(client, stats_count_requests)
{
	struct mtk_client_stats s;

	fake_push(&f, (struct fake_answer){ .st = MTK_ERR_TIMEOUT });
	fake_push(&f, fake_token("tok-1", 3600));
	expect_token("tok-1");
	s = stats();
	cr_assert_eq(s.fetches, 1);
	cr_assert_eq(s.http_requests, 2);
	cr_assert_eq(s.fetch_failures, 0);
	cr_assert_eq(s.waits, 0);
}

/*
 * The cached gets on the real clocks (no clock seam), which the fast path
 * reads through the kernel's coarse clocks: right after a fetch (when a
 * coarse clock still shows the tick before the request was sent), the
 * remaining life is never more than the token's lifetime, and the absolute
 * expiry is the wall clock of the get plus that remaining life.
 */
Test(client_real_clock, cached_gets_never_overstate_the_remaining_life)
{
	struct mtk_client_options o;
	struct mtk_client *rc;
	char buf[MTK_AUTHORIZATION_HEADER_MAX];
	struct fake g;
	int i;

	fake_init(&g);
	o = fake_options(&g);
	g.seams.clock = NULL;
	fake_otherwise(&g, fake_token("tok-real", 3600));
	rc = fake_client(&g, &o);
	for (i = 0; i < 2000; i++) {
		struct mtk_token *t;
		struct timespec w0, w1;
		int64_t in_ms = 0, at_wall_ms;

		clock_gettime(CLOCK_REALTIME, &w0);
		cr_assert_eq(mtk_client_get_token(rc, &t), MTK_OK);
		clock_gettime(CLOCK_REALTIME, &w1);
		cr_assert_str_eq(mtk_token_access_token(t), "tok-real");
		cr_assert_leq(mtk_token_expires_in_ms(t), HOUR);
		cr_assert_gt(mtk_token_expires_in_ms(t), HOUR - 60 * S);
		/* The wall clock that expires_at counts from is that of the
		 * get, to within a coarse clock's tick. */
		at_wall_ms = mtk_token_expires_at_ms(t) - mtk_token_expires_in_ms(t);
		cr_assert_geq(at_wall_ms, (int64_t)w0.tv_sec * 1000 + w0.tv_nsec / 1000000 - 50);
		cr_assert_leq(at_wall_ms, (int64_t)w1.tv_sec * 1000 + w1.tv_nsec / 1000000 + 50);
		mtk_token_free(t);

		cr_assert_eq(mtk_client_copy_token(rc, buf, sizeof(buf), &in_ms), MTK_OK);
		cr_assert_str_eq(buf, "tok-real");
		cr_assert_leq(in_ms, HOUR);
		cr_assert_gt(in_ms, HOUR - 60 * S);
		cr_assert_eq(mtk_client_authorization_header(rc, buf, sizeof(buf)), MTK_OK);
		cr_assert_str_eq(buf, "Authorization: Bearer tok-real");
	}
	cr_assert_eq(fake_calls(&g), 1);
	mtk_client_free(rc);
	fake_release_all(&g);
}
