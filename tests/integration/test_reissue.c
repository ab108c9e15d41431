/*
 * Token caching and reissue over HTTP, with the server's clock injected: the
 * server runs in this process on an ephemeral loopback port, and the test
 * moves its time source, so twelve hours of token life take milliseconds.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cr_shim.h"
#include "http.h"
#include "inproc.h"

static struct test_inproc ip;
static char base[256];

static void advance_s(int64_t s)
{
	fake_clock_advance(&ip.server_time, s * 1000);
}

/* Starts the server from JSON config text (NULL: the embedded default). */
static void start_with(const char *json)
{
	cr_assert_eq(test_inproc_start(&ip, json, NULL), 0);
	snprintf(base, sizeof(base), "%s/computeMetadata/v1/instance/service-accounts/", ip.base);
}

static void stop(void)
{
	test_inproc_stop(&ip, 1000);
}

struct token {
	char text[512];
	long long expires_in;
};

static struct token fetch(const char *account)
{
	struct test_response r;
	struct token t;
	char url[512];
	cJSON *j;

	snprintf(url, sizeof(url), "%s%s/token", base, account);
	cr_assert_eq(test_http_gce(url, &r), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = cJSON_Parse(r.body);
	cr_assert_not_null(j);
	snprintf(t.text, sizeof(t.text), "%s",
	         cJSON_GetObjectItemCaseSensitive(j, "access_token")->valuestring);
	t.expires_in = (long long)cJSON_GetObjectItemCaseSensitive(j, "expires_in")->valuedouble;
	cJSON_Delete(j);
	test_response_free(&r);
	return t;
}

/* Tokens the account has minted so far. */
static uint64_t minted(size_t account)
{
	struct slot_snapshot snap;

	slot_snapshot(&ip.srv.accounts[account].slot, &snap);
	return snap.minted;
}

TestSuite(reissue, .fini = stop, .timeout = 30);

Test(reissue, same_token_with_falling_expires_in_then_a_new_one_at_the_margin)
{
	struct token first, t;
	struct tokens_claims claims;

	start_with(NULL);
	first = fetch("default");
	cr_assert_eq(first.expires_in, 43200);

	advance_s(1);
	t = fetch("default");
	cr_assert_str_eq(t.text, first.text);
	cr_assert_eq(t.expires_in, 43199);

	advance_s(3600 - 1);
	t = fetch("default");
	cr_assert_str_eq(t.text, first.text);
	cr_assert_eq(t.expires_in, 39600);

	/* Remaining life 300 s: still at the margin, not below it. */
	advance_s(39600 - 300);
	t = fetch("default");
	cr_assert_str_eq(t.text, first.text);
	cr_assert_eq(t.expires_in, 300);

	/* One second inside the margin: a fresh twelve-hour token. */
	advance_s(1);
	t = fetch("default");
	cr_assert_str_neq(t.text, first.text);
	cr_assert_eq(t.expires_in, 43200);
	cr_assert_eq(minted(0), 2);

	/* The old token stays valid until its own expiry, and not after. */
	cr_assert_eq(tokens_verify(ip.srv.key, first.text, strlen(first.text),
	                           clock_now_ms(&ip.srv.clock), &claims),
	             TOKENS_VALID);
	advance_s(299);
	cr_assert_eq(tokens_verify(ip.srv.key, first.text, strlen(first.text),
	                           clock_now_ms(&ip.srv.clock), &claims),
	             TOKENS_EXPIRED);
	cr_assert_str_eq(fetch("default").text, t.text);
}

Test(reissue, the_email_path_and_default_share_one_token)
{
	struct token a, b;

	start_with(NULL);
	a = fetch("default");
	b = fetch("default@metatoken-local.iam.gserviceaccount.com");
	cr_assert_str_eq(a.text, b.text);
	cr_assert_eq(minted(0), 1);
}

Test(reissue, accounts_have_their_own_tokens_and_lifetimes)
{
	struct token a, b;

	start_with("{\"service_accounts\": ["
	           "{\"id\": \"ajefirst\", \"email\": \"first@p.iam\"},"
	           "{\"id\": \"ajesecond\", \"email\": \"second@p.iam\", \"lifetime_s\": 3600,"
	           " \"reissue_margin_s\": 600}]}");
	a = fetch("first@p.iam");
	b = fetch("second@p.iam");
	cr_assert_str_neq(a.text, b.text);
	cr_assert_eq(a.expires_in, 43200);
	cr_assert_eq(b.expires_in, 3600);
	advance_s(3000);
	cr_assert_str_eq(fetch("second@p.iam").text, b.text);
	advance_s(1);
	cr_assert_str_neq(fetch("second@p.iam").text, b.text);
	cr_assert_str_eq(fetch("first@p.iam").text, a.text);
}

Test(reissue, lifetime_below_the_margin_serves_each_token_for_half_its_life)
{
	struct token a, t;

	start_with("{\"service_accounts\": [{\"id\": \"ajeshort\", \"email\": \"short@p.iam\","
	           " \"lifetime_s\": 10, \"reissue_margin_s\": 300}]}");
	a = fetch("default");
	cr_assert_eq(a.expires_in, 10);
	advance_s(5);
	t = fetch("default");
	cr_assert_str_eq(t.text, a.text);
	cr_assert_eq(t.expires_in, 5);
	advance_s(1);
	t = fetch("default");
	cr_assert_str_neq(t.text, a.text);
	cr_assert_eq(t.expires_in, 10);
}

/* Many clients at the moment of reissue: one mint, one token for all. */
struct fetcher {
	pthread_t thread;
	char first[512];
	int same; /* every fetch returned `first` */
};

static void *fetch_many(void *arg)
{
	struct fetcher *f = arg;

	f->same = 1;
	for (int i = 0; i < 20; i++) {
		struct token t = fetch("default");

		if (i == 0)
			snprintf(f->first, sizeof(f->first), "%s", t.text);
		else if (strcmp(t.text, f->first) != 0)
			f->same = 0;
	}
	return NULL;
}

static void fetch_concurrently(struct fetcher *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(pthread_create(&f[i].thread, NULL, fetch_many, &f[i]), 0);
	for (size_t i = 0; i < n; i++)
		pthread_join(f[i].thread, NULL);
}

Test(reissue, concurrent_requests_at_the_margin_mint_once)
{
	struct fetcher f[8];
	char before[512];

	curl_global_init(CURL_GLOBAL_DEFAULT);
	start_with(NULL);
	/* A fault rule and stats are in play too, as in real use. */
	snprintf(before, sizeof(before), "%s", fetch("default").text);
	advance_s(43200 - 299); /* inside the 300 s margin */
	fetch_concurrently(f, 8);
	cr_assert_eq(minted(0), 2, "one reissue for 160 requests");
	for (size_t i = 0; i < 8; i++) {
		cr_assert(f[i].same, "thread %zu saw two tokens", i);
		cr_assert_str_eq(f[i].first, f[0].first);
	}
	cr_assert_str_neq(f[0].first, before);
}
