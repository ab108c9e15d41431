/*
 * libmetatoken's AWS flavour against the real metatokend: fetch, cache,
 * rotation and session expiry. The server's clock moves through the
 * control API; the client's clocks are the real ones plus an offset the
 * test moves by the same amount, so nothing sleeps.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "metatoken/aws.h"
#include "metatoken/testing.h"
#include "server_proc.h"

#define ROLE     "metatoken-role"
#define LIFETIME (6 * 3600)

static struct test_server srv;
static _Atomic int64_t offset_ms;

static int64_t now_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&offset_ms);
}

static int64_t mono(void *arg)
{
	(void)arg;
	return now_ms(CLOCK_MONOTONIC);
}

static int64_t wall(void *arg)
{
	(void)arg;
	return now_ms(CLOCK_REALTIME);
}

static const struct mtk_clock shifted = { .monotonic_ms = mono, .wall_ms = wall };

static void start_with(const char *config_json)
{
	atomic_store(&offset_ms, 0);
	unsetenv("YC_METADATA_ADDR");
	unsetenv("GCE_METADATA_HOST");
	cr_assert_eq(test_server_start_config(&srv, config_json), 0, "metatokend did not start");
}

static void start(void)
{
	start_with(NULL);
}

static void stop(void)
{
	test_server_stop(&srv);
}

/* Moves the server's clock and the client's by s seconds (server only when
 * client_too is 0). */
static void advance(long long s, int client_too)
{
	char body[64];
	struct test_response r;

	snprintf(body, sizeof(body), "{\"advance_s\": %lld}", s);
	cr_assert_eq(test_control(srv.base_url, srv.admin_secret, "POST", "clock", body, &r), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	test_response_free(&r);
	if (client_too)
		atomic_fetch_add(&offset_ms, s * 1000);
}

static struct mtk_client *client(int64_t session_ttl_s)
{
	static const struct mtk_testing_seams seams = { .clock = &shifted };
	struct mtk_client_options o = { .struct_size = sizeof(o),
		                        .endpoint = srv.base_url,
		                        .flavour = MTK_FLAVOUR_AWS,
		                        .aws_session_ttl_s = session_ttl_s,
		                        .testing = &seams };
	struct mtk_client *c = NULL;
	enum mtk_status st = mtk_client_new(&o, &c);

	cr_assert_eq(st, MTK_OK, "%s", mtk_strerror(st));
	return c;
}

/* What a v1 client reads from the credentials path: the AccessKeyId. */
static void raw_key_id(char *out, size_t cap)
{
	char url[256];
	struct test_response r;
	const char *k, *e;

	snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/" ROLE,
	         srv.base_url);
	cr_assert_eq(test_http("GET", url, NULL, NULL, &r), 0);
	cr_assert_eq(r.status, 200);
	k = strstr(r.body, "\"AccessKeyId\" : \"");
	cr_assert_not_null(k);
	k += strlen("\"AccessKeyId\" : \"");
	e = strchr(k, '"');
	snprintf(out, cap, "%.*s", (int)(e - k), k);
	test_response_free(&r);
}

static struct mtk_token *get(struct mtk_client *c)
{
	struct mtk_token *t = NULL;
	enum mtk_status st = mtk_client_get_token(c, &t);
	char why[512] = "";

	mtk_client_last_error(c, why, sizeof(why));
	cr_assert_eq(st, MTK_OK, "%s: %s", mtk_status_name(st), why);
	return t;
}

static uint64_t requests(struct mtk_client *c)
{
	struct mtk_client_stats s;

	mtk_client_get_stats(c, &s);
	return s.http_requests;
}

TestSuite(client_aws_daemon, .init = start, .fini = stop, .timeout = 30);

Test(client_aws_daemon, fetches_the_servers_credentials)
{
	struct mtk_client *c = client(0);
	struct mtk_token *t = get(c);
	char raw[64];

	raw_key_id(raw, sizeof(raw));
	cr_assert_str_eq(mtk_token_aws_access_key_id(t), raw);
	cr_assert_eq(strlen(mtk_token_aws_secret_access_key(t)), 40);
	cr_assert_eq(strncmp(mtk_token_aws_session_token(t), "t1.", 3), 0);
	/* Six hours, to the second Expiration carries. */
	cr_assert_gt(mtk_token_expires_in_ms(t), (LIFETIME - 5) * 1000LL);
	cr_assert_leq(mtk_token_expires_in_ms(t), LIFETIME * 1000LL);
	mtk_token_free(t);
	cr_assert_eq(requests(c), 3); /* PUT, role, credentials */
	mtk_client_free(c);
}

Test(client_aws_daemon, caches_the_set)
{
	struct mtk_client *c = client(0);
	struct mtk_token *a = get(c), *b;

	advance(3600, 1);
	b = get(c);
	cr_assert_str_eq(mtk_token_aws_access_key_id(a), mtk_token_aws_access_key_id(b));
	cr_assert_eq(requests(c), 3, "a cached set was fetched again");
	mtk_token_free(a);
	mtk_token_free(b);
	mtk_client_free(c);
}

Test(client_aws_daemon, rotation_brings_a_new_set_before_expiry)
{
	struct mtk_client *c = client(0);
	struct mtk_token *a = get(c), *b;
	char raw[64];

	/* Four minutes before expiry: inside the server's 5-minute margin and
	 * the client's 4..5-minute window. */
	advance(LIFETIME - 4 * 60, 1);
	b = get(c);
	cr_assert_str_neq(mtk_token_aws_access_key_id(b), mtk_token_aws_access_key_id(a),
	                  "no new set 4 minutes before expiry");
	raw_key_id(raw, sizeof(raw));
	cr_assert_str_eq(mtk_token_aws_access_key_id(b), raw);
	cr_assert_gt(mtk_token_expires_in_ms(b), (LIFETIME - 5) * 1000LL);
	/* The session (6 h) was still good: one request for the new set. */
	cr_assert_eq(requests(c), 4);
	mtk_token_free(a);
	mtk_token_free(b);
	mtk_client_free(c);
}

Test(client_aws_daemon, a_session_expired_on_the_server_is_replaced)
{
	struct mtk_client *c = client(60);
	struct mtk_token *t;

	mtk_token_free(get(c));
	/* The server's clock runs ahead of the client's: the session the
	 * client still trusts (30 s old of 60) has expired there. */
	advance(61, 0);
	advance(30, 1);
	cr_assert(mtk_client_invalidate(c, NULL));
	t = get(c);
	cr_assert_not_null(mtk_token_aws_access_key_id(t));
	/* GET (401), PUT, GET. */
	cr_assert_eq(requests(c), 3 + 3, "requests: %llu", (unsigned long long)requests(c));
	mtk_token_free(t);
	mtk_client_free(c);
}

Test(client_aws_daemon, the_session_is_renewed_before_its_ttl_runs_out)
{
	struct mtk_client *c = client(60);

	mtk_token_free(get(c));
	advance(55, 1); /* 5 s left of 60: less than a tenth */
	cr_assert(mtk_client_invalidate(c, NULL));
	mtk_token_free(get(c));
	/* PUT, GET: no 401 first. */
	cr_assert_eq(requests(c), 3 + 2, "requests: %llu", (unsigned long long)requests(c));
	mtk_client_free(c);
}

static void start_v2_only(void)
{
	start_with("{\"aws\": {\"imdsv2_only\": true}}");
}

TestSuite(client_aws_v2_only, .init = start_v2_only, .fini = stop, .timeout = 30);

Test(client_aws_v2_only, fetches_with_a_session)
{
	struct mtk_client *c = client(0);
	struct mtk_token *t = get(c);

	cr_assert_eq(strncmp(mtk_token_aws_access_key_id(t), "ASIA", 4), 0);
	mtk_token_free(t);
	mtk_client_free(c);
}
