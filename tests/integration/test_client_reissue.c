/*
 * The client against metatokend's HTTP stack run in this process, both on
 * one injected clock: hours of token life pass in milliseconds, and the
 * client's refresh meets the server's reissue margin.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inproc.h"
#include "metatoken/metatoken.h"
#include "metatoken/testing.h"

#define S 1000LL

/* The server's time source is the client's clock too. */
static struct test_inproc ip;
static struct mtk_client *c;

static int64_t client_clock(void *arg)
{
	(void)arg;
	return fake_clock_read(&ip.server_time);
}

static void client_sleep(void *arg, int64_t ms)
{
	(void)arg;
	fake_clock_advance(&ip.server_time, ms);
}

static uint64_t draw;

static uint64_t client_random(void *arg)
{
	(void)arg;
	return draw;
}

static const struct mtk_clock shared_clock = {
	.monotonic_ms = client_clock,
	.wall_ms = client_clock,
	.sleep_ms = client_sleep,
};

static void start(void)
{
	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	c = NULL;
}

static void stop(void)
{
	mtk_client_free(c);
	test_inproc_stop(&ip, 1000);
}

TestSuite(client_reissue, .init = start, .fini = stop, .timeout = 30);

static void new_client(void)
{
	static const struct mtk_testing_seams seams = { .clock = &shared_clock,
		                                        .random_u64 = client_random };
	enum mtk_status st = mtk_client_new(
	    &(struct mtk_client_options){ .struct_size = sizeof(struct mtk_client_options),
	                                  .endpoint = ip.srv.bound,
	                                  .testing = &seams },
	    &c);

	cr_assert_eq(st, MTK_OK, "%s", mtk_strerror(st));
}

static char *get(int64_t *expires_in_ms)
{
	struct mtk_token *t = NULL;
	enum mtk_status st;
	char *s;

	st = mtk_client_get_token(c, &t);
	cr_assert_eq(st, MTK_OK, "%s", mtk_strerror(st));
	s = strdup(mtk_token_access_token(t));
	if (expires_in_ms)
		*expires_in_ms = mtk_token_expires_in_ms(t);
	mtk_token_free(t);
	return s;
}

static uint64_t requests(void)
{
	struct mtk_client_stats s;

	mtk_client_get_stats(c, &s);
	return s.http_requests;
}

static void renews_when_the_server_reissues(void)
{
	struct slot_snapshot snap;
	int64_t left;
	char *first, *t;
	int hour;

	new_client();
	first = get(&left);
	cr_assert_eq(left, 43200 * S);
	/* Eleven hours of invocations: all from the cache. */
	for (hour = 1; hour <= 11; hour++) {
		fake_clock_advance(&ip.server_time, 3600 * S);
		t = get(NULL);
		cr_assert_str_eq(t, first);
		free(t);
	}
	cr_assert_eq(requests(), 1);
	/* 301 s left: outside the client's window (at most 300 s). */
	fake_clock_advance(&ip.server_time, 3600 * S - 301 * S);
	t = get(NULL);
	cr_assert_str_eq(t, first);
	free(t);
	cr_assert_eq(requests(), 1);
	/* Inside the client's window and the server's margin: one request
	 * brings a new twelve-hour token. */
	fake_clock_advance(&ip.server_time, 62 * S);
	t = get(&left);
	cr_assert_str_neq(t, first);
	cr_assert_eq(left, 43200 * S);
	cr_assert_eq(requests(), 2);
	slot_snapshot(&ip.srv.accounts[0].slot, &snap);
	cr_assert_eq(snap.minted, 2);
	free(t);
	free(first);
}

Test(client_reissue, renews_when_the_server_reissues_without_jitter)
{
	draw = 0; /* refresh at 240 s left */
	renews_when_the_server_reissues();
}

Test(client_reissue, renews_when_the_server_reissues_with_the_largest_jitter)
{
	draw = 59999; /* refresh at 299.999 s left: still inside the server's 300 s */
	renews_when_the_server_reissues();
}
