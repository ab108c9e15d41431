/*
 * The bad days, made to happen on demand: the real libmetatoken against the
 * real metatokend, with the control API moving the server's clock and
 * injecting faults, and the client's clock seam moved in step. No test
 * sleeps through token time; twelve hours pass in well under a second.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <metatoken/metatoken.h>
#include <metatoken/testing.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "server_proc.h"

static struct test_server srv;
static struct mtk_client *client;

/* The client's clocks: they move only when the test says so (or when the
 * client "sleeps" between retries). */
static _Atomic int64_t fake_mono_ms = 1000000;
static _Atomic int64_t fake_wall_ms = 1795000000000;

static int64_t mono(void *arg)
{
	(void)arg;
	return atomic_load(&fake_mono_ms);
}

static int64_t wall(void *arg)
{
	(void)arg;
	return atomic_load(&fake_wall_ms);
}

static void sleep_fake(void *arg, int64_t ms)
{
	(void)arg;
	atomic_fetch_add(&fake_mono_ms, ms);
	atomic_fetch_add(&fake_wall_ms, ms);
}

static const struct mtk_clock fake_clock = { mono, wall, sleep_fake, NULL };

/* A fixed jitter source, so refresh points are reproducible. */
static uint64_t no_jitter(void *arg)
{
	(void)arg;
	return 0;
}

static void ctl(const char *method, const char *path, const char *body)
{
	struct test_response r;

	cr_assert_eq(test_control(srv.base_url, srv.admin_secret, method, path, body, &r), 0);
	cr_assert(r.status == 200 || r.status == 201, "%s %s: %ld %s", method, path, r.status,
	          r.body);
	test_response_free(&r);
}

/* Moves both clocks, the server's and the client's, by s seconds. */
static void advance_s(int64_t s)
{
	char body[64];

	snprintf(body, sizeof(body), "{\"advance_s\": %lld}", (long long)s);
	ctl("POST", "clock", body);
	atomic_fetch_add(&fake_mono_ms, s * 1000);
	atomic_fetch_add(&fake_wall_ms, s * 1000);
}

static void new_client(const struct mtk_client_options *extra)
{
	static const struct mtk_testing_seams seams = { .clock = &fake_clock,
		                                        .random_u64 = no_jitter };
	struct mtk_client_options o =
	    extra ? *extra : (struct mtk_client_options)MTK_CLIENT_OPTIONS_INIT;

	o.endpoint = srv.host_port;
	o.testing = &seams;
	cr_assert_eq(mtk_client_new(&o, &client), MTK_OK);
}

static void start(void)
{
	cr_assert_eq(test_server_start(&srv, NULL), 0);
	new_client(NULL);
}

static void stop(void)
{
	mtk_client_free(client);
	client = NULL;
	test_server_stop(&srv);
}

TestSuite(scenario, .init = start, .fini = stop, .timeout = 60);

/* Gets a token from the client into out; returns the status. */
static enum mtk_status get(char *out, size_t cap)
{
	struct mtk_token *t;
	enum mtk_status st = mtk_client_get_token(client, &t);

	if (st == MTK_OK) {
		snprintf(out, cap, "%s", mtk_token_access_token(t));
		mtk_token_free(t);
	}
	return st;
}

static long protected_call(const char *token)
{
	char url[256], auth[1024];
	const char *h[] = { auth, NULL };
	struct test_response r;
	long status;

	snprintf(url, sizeof(url), "%s/protected/v1/things", srv.base_url);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	cr_assert_eq(test_http("GET", url, h, NULL, &r), 0);
	status = r.status;
	test_response_free(&r);
	return status;
}

static uint64_t http_requests(void)
{
	struct mtk_client_stats s;

	cr_assert_eq(mtk_client_get_stats(client, &s), MTK_OK);
	return s.http_requests;
}

static uint64_t fetch_failures(void)
{
	struct mtk_client_stats s;

	cr_assert_eq(mtk_client_get_stats(client, &s), MTK_OK);
	return s.fetch_failures;
}

/*
 * A get that finds its token stale (still valid) answers with it at once
 * and the refresh it started goes on without it (issue 13). These wait for
 * that refresh to end, on the real clock (at most 10 s, yielding the CPU):
 * until a get hands out a token other than prev (into t), or until a fetch
 * failure past `failures` is counted.
 */
static void await_new_token(const char *prev, char *t, size_t cap)
{
	time_t until = time(NULL) + 10;

	while (get(t, cap) == MTK_OK && strcmp(t, prev) == 0 && time(NULL) < until)
		sched_yield();
	cr_assert_str_neq(t, prev, "no new token within 10 s");
}

static void await_failure_after(uint64_t failures)
{
	time_t until = time(NULL) + 10;

	while (fetch_failures() == failures && time(NULL) < until)
		sched_yield();
	cr_assert_gt(fetch_failures(), failures, "the refresh did not fail within 10 s");
}

static void last_error(char *buf, size_t cap)
{
	cr_assert_eq(mtk_client_last_error(client, buf, cap), MTK_OK);
}

#define TOKEN_PATH "/computeMetadata/v1/instance/service-accounts/"

Test(scenario, the_token_expires_while_cached)
{
	char t1[512], t2[512];

	cr_assert_eq(get(t1, sizeof(t1)), MTK_OK);
	cr_assert_eq(protected_call(t1), 200);
	advance_s(43200 + 1);
	cr_assert_eq(protected_call(t1), 401, "the cloud still takes an expired token");
	cr_assert_eq(get(t2, sizeof(t2)), MTK_OK);
	cr_assert_str_neq(t1, t2, "the client used its expired token");
	cr_assert_eq(protected_call(t2), 200);
	cr_assert_eq(http_requests(), 2);
}

Test(scenario, revocation_then_invalidate_refetches_once)
{
	char t1[512], t2[512], t3[512];
	uint64_t before;

	cr_assert_eq(get(t1, sizeof(t1)), MTK_OK);
	ctl("POST", "accounts/default/revoke", NULL);
	cr_assert_eq(protected_call(t1), 401);
	before = http_requests();
	cr_assert(mtk_client_invalidate(client, t1));
	cr_assert_eq(get(t2, sizeof(t2)), MTK_OK);
	cr_assert_str_neq(t1, t2);
	cr_assert_eq(protected_call(t2), 200);
	cr_assert_eq(http_requests(), before + 1, "one refetch, not more");
	/* A late 401 for the old token changes nothing: no loop. */
	cr_assert_not(mtk_client_invalidate(client, t1));
	cr_assert_eq(get(t3, sizeof(t3)), MTK_OK);
	cr_assert_str_eq(t3, t2);
	cr_assert_eq(http_requests(), before + 1);
}

/* For 500, 503 and 429: two failures are retried through; five outlast one
 * fetch, and the client keeps its still-valid token until they pass. */
Test(scenario, server_errors_are_retried_and_the_valid_token_kept)
{
	static const unsigned statuses[] = { 500, 503, 429 };
	char t[512], prev[512], rule[256], err[512];

	cr_assert_eq(get(prev, sizeof(prev)), MTK_OK);
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		uint64_t before;

		/* Into the refresh window (200 s left): the server reissues too. */
		advance_s(43200 - 200);
		snprintf(rule, sizeof(rule),
		         "{\"path\": \"" TOKEN_PATH "\", \"status\": %u, \"count\": 2%s}",
		         statuses[i], statuses[i] == 429 ? ", \"retry_after_s\": 1" : "");
		ctl("POST", "faults", rule);
		before = http_requests();
		cr_assert_eq(get(t, sizeof(t)), MTK_OK); /* the valid token, or already the new */
		await_new_token(prev, t, sizeof(t));
		cr_assert_eq(http_requests(), before + 3, "HTTP %u: 2 failures + 1 success",
		             statuses[i]);
		cr_assert_eq(protected_call(t), 200);
		snprintf(prev, sizeof(prev), "%s", t);
	}

	/* Five failures: one fetch (3 attempts) fails, the valid token stays. */
	advance_s(43200 - 200);
	ctl("POST", "faults", "{\"path\": \"" TOKEN_PATH "\", \"status\": 503, \"count\": 5}");
	{
		uint64_t failures = fetch_failures();

		cr_assert_eq(get(t, sizeof(t)), MTK_OK);
		cr_assert_str_eq(t, prev, "the still-valid token was not served");
		await_failure_after(failures);
	}
	last_error(err, sizeof(err));
	cr_assert_not_null(strstr(err, "503"), "last error: %s", err);
	/* No refetch on every call while the server is failing. */
	{
		uint64_t before = http_requests();

		cr_assert_eq(get(t, sizeof(t)), MTK_OK);
		cr_assert_eq(http_requests(), before);
	}
	/* Later, the remaining two failures pass and the client recovers. */
	advance_s(31);
	cr_assert_eq(get(t, sizeof(t)), MTK_OK);
	await_new_token(prev, t, sizeof(t)); /* "the client did not recover" */
	cr_assert_eq(protected_call(t), 200);
}

Test(scenario, the_service_is_down_and_the_token_expired)
{
	char t[512], err[512];
	enum mtk_status st;
	time_t t0;

	cr_assert_eq(get(t, sizeof(t)), MTK_OK);
	test_server_stop(&srv);
	atomic_fetch_add(&fake_mono_ms, (int64_t)43200 * 1000);
	atomic_fetch_add(&fake_wall_ms, (int64_t)43200 * 1000);
	t0 = time(NULL);
	st = get(t, sizeof(t));
	cr_assert_eq(st, MTK_ERR_CONNECT, "status %s", mtk_status_name(st));
	cr_assert_leq(time(NULL) - t0, 5, "the client hung");
	last_error(err, sizeof(err));
	cr_assert_not_null(strstr(err, srv.host_port), "the error does not say where: %s", err);
	cr_assert_eq(test_server_start(&srv, NULL), 0); /* for the suite's fini */
}

Test(scenario, the_service_stalls_and_the_token_expired)
{
	const struct mtk_client_options o = {
		.struct_size = sizeof(o),
		.request_timeout_ms = 200,
		.max_attempts = 2,
		.fetch_budget_ms = 1000,
	};
	char t[512];
	enum mtk_status st;
	time_t t0;

	mtk_client_free(client);
	new_client(&o);
	cr_assert_eq(get(t, sizeof(t)), MTK_OK);
	ctl("POST", "faults", "{\"path\": \"" TOKEN_PATH "\", \"latency_ms\": 30000}");
	advance_s(43200);
	t0 = time(NULL);
	st = get(t, sizeof(t));
	cr_assert_eq(st, MTK_ERR_TIMEOUT, "status %s", mtk_status_name(st));
	cr_assert_leq(time(NULL) - t0, 5, "the client waited past its timeout");
}

Test(scenario, twelve_hours_fast_forwarded_with_renewal_at_the_margin)
{
	char t[512], first[512], seen[4][512];
	int64_t renewed_at_remaining = -1;
	size_t n_seen = 0;

	cr_assert_eq(get(first, sizeof(first)), MTK_OK);
	snprintf(seen[n_seen++], sizeof(seen[0]), "%s", first);
	/* Twelve hours and ten minutes in 30-second steps. */
	for (int64_t elapsed = 30; elapsed <= 43200 + 600; elapsed += 30) {
		advance_s(30);
		cr_assert_eq(get(t, sizeof(t)), MTK_OK, "at %llds", (long long)elapsed);
		if (strcmp(t, seen[n_seen - 1]) != 0) {
			cr_assert_lt(n_seen, 4, "too many renewals");
			snprintf(seen[n_seen++], sizeof(seen[0]), "%s", t);
			if (renewed_at_remaining < 0)
				renewed_at_remaining = 43200 - elapsed;
		}
	}
	cr_assert_eq(n_seen, 2, "one renewal in twelve hours, saw %zu tokens", n_seen);
	/* Renewed inside the server's 300 s margin, before the client's
	 * 10 s expiry margin: nobody ever held an expired token. */
	cr_assert(renewed_at_remaining > 10 && renewed_at_remaining <= 300,
	          "renewed with %llds left", (long long)renewed_at_remaining);
	cr_assert_eq(http_requests(), 2, "no refetch loop");
	cr_assert_eq(protected_call(seen[1]), 200);
	cr_assert_eq(protected_call(first), 401);
}

Test(scenario, malformed_and_truncated_bodies_keep_the_last_good_token)
{
	char t1[512], t[512], err[512];

	cr_assert_eq(get(t1, sizeof(t1)), MTK_OK);
	advance_s(43200 - 200);

	ctl("POST", "faults",
	    "{\"path\": \"" TOKEN_PATH "\", \"body\": \"malformed\", \"count\": 1}");
	cr_assert_eq(get(t, sizeof(t)), MTK_OK);
	cr_assert_str_eq(t, t1);
	last_error(err, sizeof(err));
	cr_assert_not_null(strstr(err, "JSON"), "%s", err);

	advance_s(31);
	ctl("POST", "faults",
	    "{\"path\": \"" TOKEN_PATH "\", \"body\": \"truncated\", \"count\": 3}");
	cr_assert_eq(get(t, sizeof(t)), MTK_OK);
	cr_assert_str_eq(t, t1);

	advance_s(31);
	ctl("POST", "faults", "{\"path\": \"" TOKEN_PATH "\", \"expires_in\": 0, \"count\": 1}");
	cr_assert_eq(get(t, sizeof(t)), MTK_OK);
	cr_assert_str_eq(t, t1);
	last_error(err, sizeof(err));
	cr_assert_not_null(strstr(err, "expires_in"), "%s", err);

	advance_s(31);
	cr_assert_eq(get(t, sizeof(t)), MTK_OK);
	cr_assert_str_neq(t, t1, "no recovery once the server answered well");
	cr_assert_eq(protected_call(t), 200);
}
