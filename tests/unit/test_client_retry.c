/*
 * Fetch failures: what is retried, the backoff schedule (exponential, full
 * jitter, capped), the attempt and time budgets, and what is not retried.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metatoken/metatoken.h"
#include "test_client_fake.h"

static struct fake f;

static void setup(void)
{
	fake_init(&f);
}

static void teardown(void)
{
	fake_release_all(&f);
}

TestSuite(retry, .init = setup, .fini = teardown);

/*
 * A "random" value whose remainder modulo cap+1 is cap for every cap of the
 * schedule 100, 200, 400, 800 (and 300): full jitter then draws the cap
 * itself, which makes the doubling visible. 101*201*401*801/3 = lcm.
 */
#define DRAWS_THE_CAP (101ULL * 201 * 401 * 801 / 3 * 301 - 1)

static enum mtk_status run(struct mtk_client_options o)
{
	struct mtk_client *c = fake_client(&f, &o);
	enum mtk_status st;

	free(get_text(c, &st));
	mtk_client_free(c);
	return st;
}

Test(retry, backoff_doubles_from_100_ms)
{
	struct mtk_client_options o = fake_options(&f);

	cr_assert_eq(DRAWS_THE_CAP % 101, 100);
	cr_assert_eq(DRAWS_THE_CAP % 801, 800);
	f.random_value = DRAWS_THE_CAP;
	o.max_attempts = 5;
	o.fetch_budget_ms = 100000;
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_ERR_CONNECT });
	cr_assert_eq(run(o), MTK_ERR_CONNECT);
	cr_assert_eq(f.calls, 5);
	cr_assert_eq(f.nsleeps, 4);
	cr_assert_eq(f.sleeps_ms[0], 100);
	cr_assert_eq(f.sleeps_ms[1], 200);
	cr_assert_eq(f.sleeps_ms[2], 400);
	cr_assert_eq(f.sleeps_ms[3], 800);
	/* The sleeps went through the clock seam: attempts are spaced by them. */
	cr_assert_eq(f.call_times_ms[4] - f.call_times_ms[3], 800);
}

Test(retry, backoff_is_capped)
{
	struct mtk_client_options o = fake_options(&f);

	f.random_value = DRAWS_THE_CAP;
	o.max_attempts = 6;
	o.backoff_max_ms = 300;
	o.fetch_budget_ms = 100000;
	cr_assert_eq(run(o), MTK_ERR_CONNECT);
	cr_assert_eq(f.nsleeps, 5);
	cr_assert_eq(f.sleeps_ms[0], 100);
	cr_assert_eq(f.sleeps_ms[1], 200);
	cr_assert_eq(f.sleeps_ms[2], 300);
	cr_assert_eq(f.sleeps_ms[4], 300);
}

/* Huge backoff options: the doubling saturates instead of overflowing
 * (UBSan aborts on that), and a huge delay ends the fetch at the budget. */
Test(retry, huge_backoff_options_do_not_overflow)
{
	struct mtk_client_options o = fake_options(&f);

	o.max_attempts = 5;
	o.backoff_base_ms = INT64_MAX / 4;
	o.backoff_max_ms = INT64_MAX;
	f.random_value = 0; /* every pause is 0 ms: all five attempts run */
	cr_assert_eq(run(o), MTK_ERR_CONNECT);
	cr_assert_eq(f.calls, 5);
	cr_assert_eq(f.nsleeps, 0);

	/* A pause of INT64_MAX ms after an attempt that took 1 ms. */
	fake_release_all(&f);
	fake_init(&f);
	o = fake_options(&f);
	o.max_attempts = 5;
	o.backoff_base_ms = INT64_MAX;
	o.backoff_max_ms = INT64_MAX;
	f.random_value = UINT64_MAX;
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_ERR_CONNECT, .takes_ms = 1 });
	cr_assert_eq(run(o), MTK_ERR_CONNECT);
	cr_assert_eq(f.calls, 1, "slept past the budget");
	cr_assert_eq(f.nsleeps, 0);
}

Test(retry, jitter_draws_below_the_cap)
{
	struct mtk_client_options o = fake_options(&f);

	f.random_value = 50; /* 50 mod (cap + 1) for every cap */
	o.max_attempts = 4;
	cr_assert_eq(run(o), MTK_ERR_CONNECT);
	cr_assert_eq(f.nsleeps, 3);
	cr_assert_eq(f.sleeps_ms[0], 50);
	cr_assert_eq(f.sleeps_ms[2], 50);
}

Test(retry, default_is_three_attempts)
{
	cr_assert_eq(run(fake_options(&f)), MTK_ERR_CONNECT);
	cr_assert_eq(f.calls, 3);
}

Test(retry, retries_timeouts_429_and_5xx_then_succeeds)
{
	struct mtk_client_options o = fake_options(&f);
	struct mtk_client *c;
	enum mtk_status st;
	char *tok;

	o.max_attempts = 6;
	fake_push(&f, (struct fake_answer){ .st = MTK_ERR_TIMEOUT });
	fake_push(&f, (struct fake_answer){ .st = MTK_OK, .status = 429 });
	fake_push(&f, (struct fake_answer){ .st = MTK_OK, .status = 500 });
	fake_push(&f, (struct fake_answer){ .st = MTK_ERR_TRANSPORT });
	fake_push(&f, (struct fake_answer){ .st = MTK_OK, .status = 503 });
	fake_push(&f, fake_token("tok-1", 3600));
	c = fake_client(&f, &o);
	tok = get_text(c, &st);
	cr_assert_eq(st, MTK_OK);
	cr_assert_str_eq(tok, "tok-1");
	cr_assert_eq(f.calls, 6);
	free(tok);
	mtk_client_free(c);
}

Test(retry, the_last_status_is_reported_after_retries)
{
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_OK, .status = 429 });
	cr_assert_eq(run(fake_options(&f)), MTK_ERR_HTTP_THROTTLED);
	cr_assert_eq(f.calls, 3);
}

Test(retry, other_4xx_are_not_retried)
{
	static const struct {
		long http;
		enum mtk_status want;
	} cases[] = {
		{ 400, MTK_ERR_HTTP_CLIENT },     { 401, MTK_ERR_HTTP_CLIENT },
		{ 403, MTK_ERR_HTTP_CLIENT },     { 404, MTK_ERR_NO_SUCH_ACCOUNT },
		{ 405, MTK_ERR_HTTP_CLIENT },     { 204, MTK_ERR_HTTP_UNEXPECTED },
		{ 302, MTK_ERR_HTTP_UNEXPECTED }, { 100, MTK_ERR_HTTP_UNEXPECTED },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f.calls = 0;
		fake_otherwise(&f, (struct fake_answer){ .st = MTK_OK, .status = cases[i].http });
		cr_expect_eq(run(fake_options(&f)), cases[i].want, "HTTP %ld", cases[i].http);
		cr_expect_eq(f.calls, 1, "HTTP %ld: %d requests", cases[i].http, f.calls);
	}
}

Test(retry, malformed_responses_and_huge_bodies_are_not_retried)
{
	fake_push(&f, (struct fake_answer){ .st = MTK_ERR_BODY_TOO_LARGE });
	cr_assert_eq(run(fake_options(&f)), MTK_ERR_BODY_TOO_LARGE);
	cr_assert_eq(f.calls, 1);
	fake_push(&f, (struct fake_answer){ .st = MTK_OK, .status = 200, .body = "<html>" });
	cr_assert_eq(run(fake_options(&f)), MTK_ERR_BAD_JSON);
	cr_assert_eq(f.calls, 2);
}

Test(retry, the_fetch_budget_bounds_attempts_and_their_timeouts)
{
	struct mtk_client_options o = fake_options(&f);

	/* Each attempt times out after its 3 s; budget 7 s. */
	f.random_value = DRAWS_THE_CAP;
	o.max_attempts = 10;
	o.fetch_budget_ms = 7000;
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_ERR_TIMEOUT, .takes_ms = 3000 });
	cr_assert_eq(run(o), MTK_ERR_TIMEOUT);
	/* 0..3000, sleep 100, 3100..6100, sleep 200, 6300 with 700 ms left. */
	cr_assert_eq(f.calls, 3);
	cr_assert_eq(f.last_timeout_ms, 700);
	cr_assert_eq(f.last_connect_timeout_ms, 700);
}

Test(retry, default_timeouts_and_request_shape)
{
	struct mtk_client_options o = fake_options(&f);

	o.endpoint = "metadata.google.internal";
	o.account = "sa@project.iam.gserviceaccount.com";
	cr_assert_eq(run(o), MTK_ERR_CONNECT);
	cr_assert_eq(f.last_connect_timeout_ms, 1000);
	cr_assert_eq(f.last_timeout_ms, 3000);
	cr_assert_str_eq(f.last_url, "http://metadata.google.internal/computeMetadata/v1/instance/"
	                             "service-accounts/sa@project.iam.gserviceaccount.com/token");
	cr_assert_str_eq(f.last_headers, "Metadata-Flavor: Google\n");
}

Test(retry, configured_timeouts_are_used)
{
	struct mtk_client_options o = fake_options(&f);

	o.connect_timeout_ms = 250;
	o.request_timeout_ms = 500;
	cr_assert_eq(run(o), MTK_ERR_CONNECT);
	cr_assert_eq(f.last_connect_timeout_ms, 250);
	cr_assert_eq(f.last_timeout_ms, 500);
}

Test(retry, last_error_says_what_where_and_how_often)
{
	struct mtk_client_options o = fake_options(&f);
	struct mtk_client *c;
	enum mtk_status st;
	char why[512];

	fake_otherwise(&f, (struct fake_answer){ .st = MTK_ERR_CONNECT });
	c = fake_client(&f, &o);
	cr_assert_eq(mtk_client_last_error(c, why, sizeof(why)), MTK_OK);
	cr_assert_str_eq(why, "");
	cr_assert_null(get_text(c, &st));
	cr_assert_eq(mtk_client_last_error(c, why, sizeof(why)), MTK_OK);
	cr_assert_str_eq(why,
	                 "GET http://127.0.0.1:1/computeMetadata/v1/instance/service-accounts/"
	                 "default/token: could not connect to the metadata service (3 attempts)");
	mtk_client_free(c);
}
