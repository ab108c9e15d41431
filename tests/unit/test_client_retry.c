/*
 * Fetch failures: what is retried, the backoff schedule (exponential, full
 * jitter, capped), the attempt and time budgets, and what is not retried.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metatoken/metatoken.h"
#include "private/retry.h"
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
	cr_assert_str_eq(why, "GET http://127.0.0.1:1/computeMetadata/v1/instance/service-accounts/"
	                      "default/token: could not connect to the metadata service (or IAM "
	                      "endpoint) (3 attempts)");
	mtk_client_free(c);
}

/*
 * Retry-After on 429 and 503: the next attempt comes no sooner than the
 * server asked, on the clock seam; a pause the budget cannot hold ends the
 * fetch at once, saying why, instead of asking again too early.
 */
Test(retry, retry_after_seconds_spaces_the_attempts)
{
	struct mtk_client_options o = fake_options(&f);

	o.fetch_budget_ms = 60000;
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_OK, .status = 503, .retry_after = "5" });
	cr_assert_eq(run(o), MTK_ERR_HTTP_SERVER);
	cr_assert_eq(f.calls, 3);
	cr_assert_geq(f.call_times_ms[1] - f.call_times_ms[0], 5000);
	cr_assert_geq(f.call_times_ms[2] - f.call_times_ms[1], 5000);
	cr_assert_eq(f.sleeps_ms[0], 5000);
}

Test(retry, retry_after_on_429_then_a_token)
{
	struct mtk_client_options o = fake_options(&f);
	struct mtk_client *c;
	enum mtk_status st;
	char *tok;

	fake_push(&f, (struct fake_answer){ .st = MTK_OK, .status = 429, .retry_after = " 2 " });
	fake_push(&f, fake_token("tok-1", 3600));
	c = fake_client(&f, &o);
	tok = get_text(c, &st);
	cr_assert_eq(st, MTK_OK);
	cr_assert_str_eq(tok, "tok-1");
	cr_assert_eq(f.call_times_ms[1] - f.call_times_ms[0], 2000);
	free(tok);
	mtk_client_free(c);
}

Test(retry, retry_after_as_an_http_date)
{
	struct mtk_client_options o = fake_options(&f);
	char date[64];
	time_t at;

	/* The fake wall clock's time plus 7 s, as an IMF-fixdate. */
	at = (time_t)((f.clock.wall_ms(&f) + 7000) / 1000);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&at));
	o.fetch_budget_ms = 60000;
	o.max_attempts = 2;
	fake_otherwise(&f,
	               (struct fake_answer){ .st = MTK_OK, .status = 503, .retry_after = date });
	cr_assert_eq(run(o), MTK_ERR_HTTP_SERVER);
	cr_assert_eq(f.calls, 2);
	cr_assert_geq(f.call_times_ms[1] - f.call_times_ms[0], 6000, "%s", date);
	cr_assert_leq(f.call_times_ms[1] - f.call_times_ms[0], 7000, "%s", date);
}

Test(retry, retry_after_past_the_budget_gives_up_at_once)
{
	struct mtk_client_options o = fake_options(&f);
	struct mtk_client *c;
	enum mtk_status st;
	char why[512];

	o.fetch_budget_ms = 2000;
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_OK, .status = 503, .retry_after = "5" });
	c = fake_client(&f, &o);
	cr_assert_null(get_text(c, &st));
	cr_assert_eq(st, MTK_ERR_HTTP_SERVER);
	cr_assert_eq(f.calls, 1, "%d attempts", f.calls);
	cr_assert_eq(f.nsleeps, 0);
	cr_assert_eq(mtk_client_last_error(c, why, sizeof(why)), MTK_OK);
	cr_assert(strstr(why, "HTTP 503"), "%s", why);
	cr_assert(strstr(why, "(1 attempt)"), "%s", why);
	cr_assert(strstr(why, "retried in 5000 ms (Retry-After), more than the 2000 ms left"), "%s",
	          why);
	mtk_client_free(c);
}

Test(retry, retry_after_is_read_only_on_429_and_503)
{
	struct mtk_client_options o = fake_options(&f);

	/* A 500 with Retry-After keeps the backoff (0 ms with this draw). */
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_OK, .status = 500, .retry_after = "5" });
	cr_assert_eq(run(o), MTK_ERR_HTTP_SERVER);
	cr_assert_eq(f.calls, 3);
	cr_assert_eq(f.nsleeps, 0);
}

Test(retry, a_malformed_retry_after_is_ignored)
{
	static const char *const bad[] = { "",
		                           "soon",
		                           "5s",
		                           "-5",
		                           "1.5",
		                           "Sun, 06 Nov 1994 08:49:37 UTC",
		                           "Sunday, 06-Nov-94 08:49:37 GMT" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mtk_client_options o = fake_options(&f);

		f.calls = 0;
		f.nsleeps = 0;
		f.random_value = 50; /* a 50 ms backoff */
		fake_otherwise(
		    &f, (struct fake_answer){ .st = MTK_OK, .status = 503, .retry_after = bad[i] });
		cr_expect_eq(run(o), MTK_ERR_HTTP_SERVER, "%s", bad[i]);
		cr_expect_eq(f.calls, 3, "\"%s\": %d attempts", bad[i], f.calls);
		cr_expect_eq(f.sleeps_ms[0], 50, "\"%s\"", bad[i]);
	}
}

/* The parser itself: internal (client/private/retry.h). */
Test(retry, retry_after_parse)
{
	/* 1994-11-06T08:49:37Z */
	const int64_t then = 784111777000LL;

	cr_assert_eq(mtk__retry_after_parse("0", then), 0);
	cr_assert_eq(mtk__retry_after_parse("120", then), 120000);
	cr_assert_eq(mtk__retry_after_parse("\t 3 \t", then), 3000);
	cr_assert_eq(mtk__retry_after_parse("86400", then), MTK__RETRY_AFTER_MAX_MS);
	cr_assert_eq(mtk__retry_after_parse("99999999999999999999999999", then),
	             MTK__RETRY_AFTER_MAX_MS);
	cr_assert_eq(mtk__retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", then), 0);
	cr_assert_eq(mtk__retry_after_parse("Sun, 06 Nov 1994 08:49:47 GMT", then), 10000);
	cr_assert_eq(mtk__retry_after_parse(" Sun, 06 Nov 1994 08:49:47 GMT ", then - 500), 10500);
	cr_assert_eq(mtk__retry_after_parse("Sat, 06 Nov 1993 08:49:37 GMT", then), 0);
	cr_assert_eq(mtk__retry_after_parse("Mon, 06 Nov 2094 08:49:37 GMT", then),
	             MTK__RETRY_AFTER_MAX_MS);
	cr_assert_eq(mtk__retry_after_parse("Sun, 06 Nov 1994 24:49:37 GMT", then), -1);
	cr_assert_eq(mtk__retry_after_parse("Sun, 06 Xyz 1994 08:49:37 GMT", then), -1);
	cr_assert_eq(mtk__retry_after_parse("Abc, 06 Nov 1994 08:49:37 GMT", then), -1);
	cr_assert_eq(mtk__retry_after_parse("Sun, 6 Nov 1994 08:49:37 GMT", then), -1);
	cr_assert_eq(mtk__retry_after_parse("Sun Nov  6 08:49:37 1994", then), -1);
	cr_assert_eq(mtk__retry_after_parse("", then), -1);
	cr_assert_eq(mtk__retry_after_parse("   ", then), -1);
	cr_assert_eq(mtk__retry_after_parse("12 34", then), -1);
}
