/*
 * The IAM exchange source (client/fetch_iam.c) through the public API, on
 * the fake clock and a recording fake transport: the request is a POST of
 * a PS256 JWT that verifies with the key's public half and carries the
 * right claims; the answer's expiresAt sets the lifetime; the cache's
 * rules apply; Yandex's error answers land in last_error; endpoints, the
 * environment variable and key files are checked at creation.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/rsa.h>

#include "jwt.h"
#include "metatoken/metatoken.h"
#include "metatoken/testing.h"
#include "private/fetcher.h"
#include "private/internal.h"
#include "test_client_fake.h"
#include "test_iam_key.h"

#define S        1000LL
#define HOUR     (3600 * S)
#define ENDPOINT "http://127.0.0.1:1/iam/v1/tokens"

static struct fake f;
static struct test_key key;

/* What the last request carried, recorded around the fake's transport. */
static struct {
	char method[16];
	char body[8192];
	char url[512];
	char headers[512];
} rec;
static struct mtk_transport recording;

static enum mtk_status record(void *arg, const struct mtk_http_request *req,
                              struct mtk_http_response *resp)
{
	snprintf(rec.method, sizeof(rec.method), "%s", req->method ? req->method : "GET");
	snprintf(rec.body, sizeof(rec.body), "%.*s", (int)req->body_len,
	         req->body ? req->body : "");
	snprintf(rec.url, sizeof(rec.url), "%s", req->url);
	rec.headers[0] = '\0';
	for (const char *const *h = req->headers; h && *h; h++) {
		strncat(rec.headers, *h, sizeof(rec.headers) - strlen(rec.headers) - 2);
		strcat(rec.headers, "\n");
	}
	return f.transport.perform(arg, req, resp);
}

static void setup(void)
{
	fake_init(&f);
	recording = (struct mtk_transport){ .perform = record, .arg = &f };
	f.seams.transport = &recording;
	memset(&rec, 0, sizeof(rec));
	unsetenv("METATOKEN_IAM_ENDPOINT");
	test_key_make(&key, 0600, true);
}

static void teardown(void)
{
	test_key_free(&key);
	fake_release_all(&f);
}

TestSuite(iam, .init = setup, .fini = teardown);

static struct mtk_client_options iam_options(void)
{
	struct mtk_client_options o = fake_options(&f);

	o.endpoint = NULL;
	o.key_file = key.path;
	o.iam_endpoint = ENDPOINT;
	return o;
}

static struct mtk_client *iam_client(void)
{
	struct mtk_client_options o = iam_options();

	return fake_client(&f, &o);
}

static int64_t wall_now(void)
{
	return f.clock.wall_ms(f.clock.arg);
}

/* An IAM answer whose expiresAt is at_ms (with a 9-digit fraction). */
static struct fake_answer iam_answer(const char *token, int64_t at_ms)
{
	static char ring[8][256];
	static int slot;
	char *b = ring[slot++ % 8], when[32];
	time_t secs = (time_t)(at_ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(b, sizeof(ring[0]), "{\"iamToken\":\"%s\",\"expiresAt\":\"%s.%03d456789Z\"}",
	         token, when, (int)(at_ms % 1000));
	return (struct fake_answer){ .st = MTK_OK, .status = 200, .body = b };
}

/* An answer valid for life_ms from the fake wall clock's now. */
static struct fake_answer iam_for(const char *token, int64_t life_ms)
{
	return iam_answer(token, wall_now() + life_ms);
}

/* Waits (really, at most 10 s) for a background refresh to have failed n
 * times: synchronisation with its thread, not time passing. */
static bool wait_failures(struct mtk_client *c, uint64_t n)
{
	struct timespec pause = { 0, 1000000 };
	struct mtk_client_stats s;

	for (int i = 0; i < 10000; i++) {
		cr_assert_eq(mtk_client_get_stats(c, &s), MTK_OK);
		if (s.fetch_failures >= n)
			return true;
		nanosleep(&pause, NULL);
	}
	return false;
}

static void expect_token(struct mtk_client *c, const char *want)
{
	enum mtk_status st;
	char *got = get_text(c, &st);

	cr_assert_eq(st, MTK_OK, "get: %s", mtk_strerror(st));
	cr_assert_str_eq(got, want);
	free(got);
}

/* The JWT of the last request, taken apart. */
static void last_jwt(struct mtk__jwt *j, cJSON **header, cJSON **claims)
{
	cJSON *body = cJSON_Parse(rec.body);
	const cJSON *jwt = cJSON_GetObjectItemCaseSensitive(body, "jwt");
	/* j borrows the signed part from the text: it must outlive j. */
	static char text[8192];
	char err[160];

	cr_assert(cJSON_IsString(jwt), "body: %s", rec.body);
	cr_assert_eq(cJSON_GetArraySize(body), 1, "body: %s", rec.body);
	snprintf(text, sizeof(text), "%s", jwt->valuestring);
	cr_assert_eq(mtk__jwt_split(text, strlen(text), j, err, sizeof(err)), 0, "%s", err);
	*header = cJSON_Parse(j->header);
	*claims = cJSON_Parse(j->claims);
	cr_assert_not_null(*header);
	cr_assert_not_null(*claims);
	cJSON_Delete(body);
}

static const char *str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	cr_assert(cJSON_IsString(v), "%s is not a string", name);
	return v->valuestring;
}

static double num(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	cr_assert(cJSON_IsNumber(v), "%s is not a number", name);
	return v->valuedouble;
}

Test(iam, the_request_is_a_post_of_a_jwt_signed_by_the_key_with_the_right_claims)
{
	struct mtk_client *c = iam_client();
	struct mtk__jwt j;
	cJSON *h, *cl;
	EVP_PKEY *other = EVP_RSA_gen(2048);
	int64_t iat = wall_now() / 1000;

	cr_assert_str_eq(mtk_client_token_url(c), ENDPOINT);
	fake_push(&f, iam_for("t1.first", HOUR));
	expect_token(c, "t1.first");
	cr_assert_str_eq(rec.method, "POST");
	cr_assert_str_eq(rec.url, ENDPOINT);
	cr_assert_not_null(strstr(rec.headers, "Content-Type: application/json\n"), "%s",
	                   rec.headers);
	cr_assert_null(strstr(rec.headers, "Metadata-Flavor"), "%s", rec.headers);

	last_jwt(&j, &h, &cl);
	cr_assert_eq(mtk__jwt_verify_ps256(key.pkey, &j), 1, "the key's public half verifies");
	cr_assert_eq(mtk__jwt_verify_ps256(other, &j), 0, "another key does not");
	cr_assert_str_eq(str(h, "alg"), "PS256");
	cr_assert_str_eq(str(h, "typ"), "JWT");
	cr_assert_str_eq(str(h, "kid"), TEST_KEY_ID);
	cr_assert_str_eq(str(cl, "iss"), TEST_SA_ID);
	cr_assert_str_eq(str(cl, "aud"), "https://iam.api.cloud.yandex.net/iam/v1/tokens");
	cr_assert_eq((int64_t)num(cl, "iat"), iat, "iat is the fake wall clock's now");
	cr_assert_eq((int64_t)num(cl, "exp"), iat + 3600);
	cJSON_Delete(h);
	cJSON_Delete(cl);
	mtk__jwt_release(&j);
	EVP_PKEY_free(other);
	mtk_client_free(c);
}

Test(iam, each_fetch_signs_a_new_jwt_at_its_own_wall_time)
{
	struct mtk_client *c = iam_client();
	struct mtk__jwt j;
	cJSON *h, *cl;

	fake_push(&f, iam_for("t1.a", HOUR));
	fake_push(&f, iam_for("t1.b", 2 * HOUR));
	expect_token(c, "t1.a");
	/* Inside the expiry margin: the get waits for the new fetch (a stale
	 * one might not, when signing is slow). */
	fake_advance(&f, HOUR - 5 * S);
	expect_token(c, "t1.b");
	cr_assert_eq(fake_calls(&f), 2);
	last_jwt(&j, &h, &cl);
	cr_assert_eq((int64_t)num(cl, "iat"), wall_now() / 1000);
	cr_assert_eq(mtk__jwt_verify_ps256(key.pkey, &j), 1);
	cJSON_Delete(h);
	cJSON_Delete(cl);
	mtk__jwt_release(&j);
	mtk_client_free(c);
}

Test(iam, the_lifetime_is_expires_at_minus_the_time_the_request_was_sent)
{
	struct mtk_client *c = iam_client();
	struct mtk_token *t = NULL;
	struct fake_answer a = iam_for("t1.slow", HOUR + 500);

	a.takes_ms = 2 * S; /* the answer arrives 2 s after the request left */
	fake_push(&f, a);
	cr_assert_eq(mtk_client_get_token(c, &t), MTK_OK);
	/* Whole seconds from the send (the .5 s cut), less the 2 s in flight. */
	cr_assert_eq(mtk_token_expires_in_ms(t), HOUR - 2 * S);
	mtk_token_free(t);
	mtk_client_free(c);
}

Test(iam, a_lifetime_beyond_12_hours_is_cut_to_12_hours)
{
	struct mtk_client *c = iam_client();
	struct mtk_token *t = NULL;

	fake_push(&f, iam_for("t1.long", 48 * HOUR));
	cr_assert_eq(mtk_client_get_token(c, &t), MTK_OK);
	cr_assert_eq(mtk_token_expires_in_ms(t), 12 * HOUR);
	mtk_token_free(t);
	mtk_client_free(c);
}

Test(iam, fresh_stale_expired_and_keep_last_good)
{
	struct mtk_client_options o = iam_options();
	struct mtk_client *c;
	struct fake_answer down = { .st = MTK_OK, .status = 503, .body = "{}" };
	enum mtk_status st;
	char why[512];

	o.min_refresh_interval_ms = 1;
	c = fake_client(&f, &o);
	fake_push(&f, iam_for("t1.one", HOUR));
	expect_token(c, "t1.one");
	fake_advance(&f, HOUR - 300 * S); /* fresh: no I/O */
	expect_token(c, "t1.one");
	cr_assert_eq(fake_calls(&f), 1);

	/* Stale, and the endpoint fails: the last good token is served. */
	fake_otherwise(&f, down);
	fake_advance(&f, 100 * S);
	expect_token(c, "t1.one");
	cr_assert(wait_failures(c, 1), "the refresh failed");
	cr_assert_eq(fake_calls(&f), 4, "1 + 3 attempts");
	expect_token(c, "t1.one");
	cr_assert_eq(mtk_client_last_error(c, why, sizeof(why)), MTK_OK);
	cr_assert_not_null(strstr(why, "POST " ENDPOINT ": HTTP 503"), "%s", why);

	/* Inside the 10 s margin a new fetch is awaited, but the old token is
	 * still really valid: served. Past its real expiry: the error. */
	fake_advance(&f, 195 * S);
	expect_token(c, "t1.one");
	fake_advance(&f, 5 * S);
	cr_assert_null(get_text(c, &st));
	cr_assert_eq(st, MTK_ERR_HTTP_SERVER);

	/* It recovers. */
	fake_push(&f, iam_for("t1.two", HOUR));
	fake_advance(&f, 1 * S);
	expect_token(c, "t1.two");
	mtk_client_free(c);
}

Test(iam, a_401_is_not_retried_and_its_message_goes_into_last_error)
{
	struct mtk_client *c = iam_client();
	struct fake_answer a = {
		.st = MTK_OK,
		.status = 401,
		.body =
		    "{\"code\":16,\"message\":\"The token is invalid\\nfor kid x\",\"details\":[]}"
	};
	enum mtk_status st;
	char why[512];

	fake_push(&f, a);
	fake_otherwise(&f, iam_for("t1.never", HOUR));
	cr_assert_null(get_text(c, &st));
	cr_assert_eq(st, MTK_ERR_HTTP_CLIENT);
	cr_assert_eq(fake_calls(&f), 1, "a 401 is not retried");
	cr_assert_eq(mtk_client_last_error(c, why, sizeof(why)), MTK_OK);
	cr_assert_not_null(strstr(why, "POST " ENDPOINT ": HTTP 401"), "%s", why);
	cr_assert_not_null(strstr(why, ": code 16: The token is invalid?for kid x"), "%s", why);
	mtk_client_free(c);
}

Test(iam, a_long_error_message_is_cut)
{
	struct mtk_client *c = iam_client();
	static char body[4096];
	struct fake_answer a = { .st = MTK_OK, .status = 400, .body = body };
	enum mtk_status st;
	char why[1024];

	snprintf(body, sizeof(body), "{\"code\":3,\"message\":\"%0*d\"}", 1000, 7);
	fake_push(&f, a);
	cr_assert_null(get_text(c, &st));
	cr_assert_eq(st, MTK_ERR_HTTP_CLIENT);
	cr_assert_eq(mtk_client_last_error(c, why, sizeof(why)), MTK_OK);
	cr_assert_not_null(strstr(why, ": code 3: 0000"), "%s", why);
	cr_assert_not_null(strstr(why, "0..."), "%s", why);
	cr_assert_lt(strlen(why), 400, "%s", why);
	mtk_client_free(c);
}

Test(iam, a_503_is_retried)
{
	struct mtk_client *c = iam_client();

	fake_push(&f, (struct fake_answer){ .st = MTK_OK, .status = 503 });
	fake_push(&f, (struct fake_answer){ .st = MTK_ERR_CONNECT });
	fake_push(&f, iam_for("t1.third", HOUR));
	expect_token(c, "t1.third");
	cr_assert_eq(fake_calls(&f), 3);
	cr_assert_str_eq(rec.method, "POST", "the retry is a POST too");
	cr_assert_not_null(strstr(rec.body, "{\"jwt\":\""));
	mtk_client_free(c);
}

Test(iam, malformed_answers_are_refused_and_not_cached)
{
	static const struct {
		const char *body;
		enum mtk_status st;
	} cases[] = {
		{ "not json", MTK_ERR_BAD_JSON },
		{ "[]", MTK_ERR_BAD_JSON },
		{ "{\"iamToken\":\"a\",\"iamToken\":\"b\",\"expiresAt\":\"2099-01-01T00:00:00Z\"}",
		  MTK_ERR_BAD_JSON },
		{ "{\"iamToken\":\"a\\u0000b\",\"expiresAt\":\"2099-01-01T00:00:00Z\"}",
		  MTK_ERR_BAD_JSON },
		{ "{\"expiresAt\":\"2099-01-01T00:00:00Z\"}", MTK_ERR_IAM_MISSING_FIELD },
		{ "{\"iamToken\":\"t1.x\"}", MTK_ERR_IAM_MISSING_FIELD },
		{ "{\"access_token\":\"t1.x\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
		  MTK_ERR_IAM_MISSING_FIELD },
		{ "{\"iamToken\":\"\",\"expiresAt\":\"2099-01-01T00:00:00Z\"}",
		  MTK_ERR_BAD_ACCESS_TOKEN },
		{ "{\"iamToken\":\"t1 x\",\"expiresAt\":\"2099-01-01T00:00:00Z\"}",
		  MTK_ERR_BAD_ACCESS_TOKEN },
		{ "{\"iamToken\":7,\"expiresAt\":\"2099-01-01T00:00:00Z\"}",
		  MTK_ERR_BAD_ACCESS_TOKEN },
		{ "{\"iamToken\":\"t1.x\",\"expiresAt\":4102444800}", MTK_ERR_BAD_EXPIRES_AT },
		{ "{\"iamToken\":\"t1.x\",\"expiresAt\":\"2099-01-01 00:00:00Z\"}",
		  MTK_ERR_BAD_EXPIRES_AT },
		/* In the past of the fake clock (2023). */
		{ "{\"iamToken\":\"t1.x\",\"expiresAt\":\"2020-01-01T00:00:00Z\"}",
		  MTK_ERR_BAD_EXPIRES_AT },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mtk_client *c = iam_client();
		enum mtk_status st;
		char why[512];

		fake_push(
		    &f, (struct fake_answer){ .st = MTK_OK, .status = 200, .body = cases[i].body });
		cr_assert_null(get_text(c, &st), "%s", cases[i].body);
		cr_assert_eq(st, cases[i].st, "%s: %s", cases[i].body, mtk_status_name(st));
		cr_assert_eq(mtk_client_last_error(c, why, sizeof(why)), MTK_OK);
		cr_assert_not_null(strstr(why, "malformed IAM response"), "%s", why);
		cr_assert_null(strstr(why, "t1.x"), "no token in the message: %s", why);
		mtk_client_free(c);
	}
}

Test(iam, expires_at_parsing)
{
	/* 2026-11-30T20:51:08Z */
	const int64_t base = 1796071868000LL;
	static const char *const bad[] = {
		"",
		"2026-11-30T20:51:08",
		"2026-11-30T20:51:08z",
		"2026-11-30t20:51:08Z",
		"2026-11-30T20:51:08.Z",
		"2026-11-30T20:51:08.1234567890Z",
		"2026-11-30T20:51:08+00:00",
		"2026-11-30T20:51:08.12aZ",
		"2026-11-31T20:51:08Z",
		"2026-02-29T20:51:08Z",
		"2026-13-01T20:51:08Z",
		"2026-11-30T24:00:00Z",
		"2026-11-30T20:60:08Z",
		"2026-11-30T20:51:60Z",
		"1969-12-31T23:59:59Z",
		"2026-11-30T20:51:08ZZ",
		" 2026-11-30T20:51:08Z",
		"+026-11-30T20:51:08Z",
		"2026-1-30T20:51:08Z",
	};

#define PARSE(s) mtk__rfc3339_ms(s, strlen(s), true)
	cr_assert_eq(PARSE("2026-11-30T20:51:08Z"), base);
	cr_assert_eq(PARSE("2026-11-30T20:51:08.123456789Z"), base + 123);
	cr_assert_eq(PARSE("2026-11-30T20:51:08.9Z"), base + 900);
	cr_assert_eq(PARSE("2026-11-30T20:51:08.05Z"), base + 50);
	cr_assert_eq(PARSE("2024-02-29T00:00:00Z"), 1709164800000LL);
	cr_assert_eq(PARSE("1970-01-01T00:00:00Z"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(PARSE(bad[i]), -1, "\"%s\" accepted", bad[i]);
	/* Not NUL-terminated where it ends. */
	cr_assert_eq(mtk__rfc3339_ms("2026-11-30T20:51:08Zjunk", 20, true), base);
#undef PARSE
}

Test(iam, the_environment_names_the_endpoint_when_the_option_does_not)
{
	struct mtk_client_options o = iam_options();
	struct mtk_client *c = NULL;
	char why[512];

	o.iam_endpoint = NULL;
	c = fake_client(&f, &o);
	cr_assert_str_eq(mtk_client_token_url(c), "https://iam.api.cloud.yandex.net/iam/v1/tokens");
	mtk_client_free(c);

	setenv("METATOKEN_IAM_ENDPOINT", "https://localhost:8443/iam/v1/tokens", 1);
	c = fake_client(&f, &o);
	cr_assert_str_eq(mtk_client_token_url(c), "https://localhost:8443/iam/v1/tokens");
	fake_push(&f, iam_for("t1.env", HOUR));
	expect_token(c, "t1.env");
	cr_assert_str_eq(rec.url, "https://localhost:8443/iam/v1/tokens");
	mtk_client_free(c);

	o.iam_endpoint = ENDPOINT; /* the option wins */
	c = fake_client(&f, &o);
	cr_assert_str_eq(mtk_client_token_url(c), ENDPOINT);
	mtk_client_free(c);

	o.iam_endpoint = NULL;
	setenv("METATOKEN_IAM_ENDPOINT", "ftp://x/", 1);
	c = NULL;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_ENDPOINT);
	cr_assert_null(c);
	cr_assert_eq(mtk_client_last_error(NULL, why, sizeof(why)), MTK_OK);
	cr_assert_not_null(strstr(why, "$METATOKEN_IAM_ENDPOINT \"ftp://x/\""), "%s", why);
	unsetenv("METATOKEN_IAM_ENDPOINT");
}

Test(iam, bad_endpoints_are_refused_at_creation)
{
	static const char *const bad[] = {
		"",
		"iam.api.cloud.yandex.net",
		"ftp://host/iam",
		"http://",
		"http:///iam",
		"http://user@host/iam",
		"http://host:0/iam",
		"http://host:65536/iam",
		"http://host:/iam",
		"http://host/iam?x=1",
		"http://host/iam#f",
		"http://host/i am",
		"http://host/iam\n",
		"http://[]/",
		"http://[::1/",
	};
	static const char *const good[] = {
		"http://127.0.0.1:8169/iam/v1/tokens",
		"HTTPS://iam.api.cloud.yandex.net/iam/v1/tokens",
		"http://[::1]:8169/iam/v1/tokens",
		"http://localhost",
	};
	struct mtk_client_options o = iam_options();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mtk_client *c = NULL;

		o.iam_endpoint = bad[i];
		cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_ENDPOINT, "\"%s\"", bad[i]);
		cr_assert_null(c);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct mtk_client *c = NULL;

		o.iam_endpoint = good[i];
		cr_assert_eq(mtk_client_new(&o, &c), MTK_OK, "\"%s\"", good[i]);
		mtk_client_free(c);
	}
}

Test(iam, a_key_file_others_may_read_is_refused_with_the_chmod_to_run)
{
	struct mtk_client_options o = iam_options();
	struct mtk_client *c = NULL;
	char why[512], want[256];

	test_key_free(&key);
	test_key_make(&key, 0644, true);
	o.key_file = key.path;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_KEY_FILE);
	cr_assert_null(c);
	cr_assert_eq(mtk_client_last_error(NULL, why, sizeof(why)), MTK_OK);
	snprintf(want, sizeof(want), "run `chmod 600 %s`", key.path);
	cr_assert_not_null(strstr(why, want), "%s", why);
	cr_assert_not_null(strstr(why, "644"), "%s", why);
	cr_assert_eq(fake_calls(&f), 0);

	/* A later success clears it. */
	o.key_file = NULL;
	o.endpoint = "127.0.0.1:1";
	cr_assert_eq(mtk_client_new(&o, &c), MTK_OK);
	cr_assert_eq(mtk_client_last_error(NULL, why, sizeof(why)), MTK_OK);
	cr_assert_str_eq(why, "");
	mtk_client_free(c);
}

Test(iam, a_missing_or_invalid_key_file_is_refused_naming_it)
{
	struct mtk_client_options o = iam_options();
	struct mtk_client *c = NULL;
	char why[512];
	const char *p;

	o.key_file = "/nonexistent/key.json";
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_KEY_FILE);
	mtk_client_last_error(NULL, why, sizeof(why));
	cr_assert_not_null(strstr(why, "/nonexistent/key.json: cannot read the authorized key"),
	                   "%s", why);

	p = test_key_write(&key, "bad.json", "{\"id\":\"k\",\"service_account_id\":\"\"}", 0600);
	o.key_file = p;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_KEY_FILE);
	mtk_client_last_error(NULL, why, sizeof(why));
	cr_assert_not_null(strstr(why, "service_account_id"), "%s", why);
	cr_assert_null(c);
}

Test(iam, the_older_key_format_without_the_marker_line_works_too)
{
	struct mtk_client *c;
	struct mtk__jwt j;
	cJSON *h, *cl;

	test_key_free(&key);
	test_key_make(&key, 0600, false);
	c = iam_client();
	fake_push(&f, iam_for("t1.old", HOUR));
	expect_token(c, "t1.old");
	last_jwt(&j, &h, &cl);
	cr_assert_eq(mtk__jwt_verify_ps256(key.pkey, &j), 1);
	cJSON_Delete(h);
	cJSON_Delete(cl);
	mtk__jwt_release(&j);
	mtk_client_free(c);
}

Test(iam, the_aws_flavour_and_a_key_file_are_refused_together)
{
	struct mtk_client_options o = iam_options();
	struct mtk_client *c = NULL;
	char why[512];

	o.flavour = MTK_FLAVOUR_AWS;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_INVALID_ARGUMENT);
	mtk_client_last_error(NULL, why, sizeof(why));
	cr_assert_not_null(strstr(why, "key_file"), "%s", why);
	o.flavour = MTK_FLAVOUR_GCE;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_OK);
	mtk_client_free(c);
}

Test(iam, an_unreadable_ca_file_is_refused_at_creation)
{
	struct mtk_client_options o = iam_options();
	struct mtk_client *c = NULL;
	char why[512];

	o.ca_file = "/nonexistent/ca.pem";
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_CA_FILE);
	cr_assert_null(c);
	mtk_client_last_error(NULL, why, sizeof(why));
	cr_assert_not_null(strstr(why, "/nonexistent/ca.pem: cannot open"), "%s", why);
	o.ca_file = key.path; /* readable: the content is curl's to judge */
	cr_assert_eq(mtk_client_new(&o, &c), MTK_OK);
	mtk_client_free(c);
}

Test(iam, the_token_is_a_bearer_token_for_the_header_and_copy_calls)
{
	struct mtk_client *c = iam_client();
	char buf[MTK_AUTHORIZATION_HEADER_MAX];

	fake_push(&f, iam_for("t1.hdr", HOUR));
	cr_assert_eq(mtk_client_authorization_header(c, buf, sizeof(buf)), MTK_OK);
	cr_assert_str_eq(buf, "Authorization: Bearer t1.hdr");
	cr_assert_eq(mtk_client_copy_token(c, buf, sizeof(buf), NULL), MTK_OK);
	cr_assert_str_eq(buf, "t1.hdr");
	mtk_client_free(c);
}
