/*
 * libmetatoken's AWS flavour on the fake clock, against a small fake IMDS
 * (a transport that answers by method and path, and logs every request):
 * the IMDSv2 session and its renewal, the v1 fallback where the SDKs fall
 * back, the credentials' parsing and expiry, and the shared cache rules.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metatoken/aws.h"
#include "test_client_fake.h"

#define ROLE      "test-role"
#define SESSION   "SESSION-TOKEN-1"
#define MAX_LOG   32
#define CREDS_URL "http://127.0.0.1:1/latest/meta-data/iam/security-credentials/"

/* The fake IMDS. Fields are set by each test before the client runs. */
struct imds {
	struct fake *f;
	enum mtk_status put_st;     /* not MTK_OK: the PUT fails so (a timeout
	                             * takes the request's whole timeout) */
	long put_status;            /* 200: answer `session` */
	bool v2_only;               /* a GET without a session gets 401 */
	long role_status;           /* for .../security-credentials/ */
	const char *role_body;      /* answer these role_body_len bytes */
	size_t role_body_len;       /* instead of ROLE */
	long creds_status;          /* for .../security-credentials/ROLE */
	int64_t lifetime_s;         /* Expiration = wall clock now + this */
	const char *session;        /* the token a PUT answers */
	const char *creds_override; /* answer this body instead */
	int sessions_valid;         /* 0: every request with a token gets 401; else
	                             * only the current `session` is accepted */
	int serial;                 /* numbers the key ids handed out */
	/* What was asked. */
	char log[MAX_LOG][256];
	int n;
	int64_t put_timeout_ms, put_connect_timeout_ms; /* of the last PUT */
};

static struct fake f;
static struct imds m;
static struct mtk_transport transport;

static enum mtk_status perform(void *arg, const struct mtk_http_request *req,
                               struct mtk_http_response *resp)
{
	struct imds *im = arg;
	const char *method = req->method ? req->method : "GET";
	const char *token = NULL, *ttl = NULL;
	char body[1024];
	const char *path = strstr(req->url, "/latest/");

	for (const char *const *h = req->headers; h && *h; h++) {
		if (strncmp(*h, "X-aws-ec2-metadata-token: ", 26) == 0)
			token = *h + 26;
		if (strncmp(*h, "X-aws-ec2-metadata-token-ttl-seconds: ", 38) == 0)
			ttl = *h + 38;
	}
	cr_assert_lt(im->n, MAX_LOG);
	snprintf(im->log[im->n++], sizeof(im->log[0]), "%s %s%s%s%s%s", method, path,
	         token ? " token=" : "", token ? token : "", ttl ? " ttl=" : "", ttl ? ttl : "");
	body[0] = '\0';
	if (strcmp(method, "PUT") == 0) {
		im->put_timeout_ms = req->timeout_ms;
		im->put_connect_timeout_ms = req->connect_timeout_ms;
		if (im->put_st == MTK_ERR_TIMEOUT)
			fake_advance(im->f, req->timeout_ms);
		if (im->put_st != MTK_OK)
			return im->put_st;
		resp->status = im->put_status;
		if (im->put_status == 200)
			snprintf(body, sizeof(body), "%s", im->session);
	} else if (token ? !im->sessions_valid || strcmp(token, im->session) != 0 : im->v2_only) {
		resp->status = 401;
	} else if (strcmp(path, "/latest/meta-data/iam/security-credentials/") == 0) {
		resp->status = im->role_status;
		if (im->role_body) {
			memcpy(resp->body, im->role_body, im->role_body_len);
			resp->body_len = im->role_body_len;
			return MTK_OK;
		}
		snprintf(body, sizeof(body), "%s", ROLE);
	} else if (strcmp(path, "/latest/meta-data/iam/security-credentials/" ROLE) == 0) {
		time_t exp = (time_t)(f.clock.wall_ms(f.clock.arg) / 1000 + im->lifetime_s);
		char when[32];
		struct tm tm;

		gmtime_r(&exp, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		resp->status = im->creds_status;
		im->serial++;
		if (im->creds_override)
			snprintf(body, sizeof(body), "%s", im->creds_override);
		else
			snprintf(body, sizeof(body),
			         "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"x\",\n"
			         "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAKEY%d\",\n"
			         "  \"SecretAccessKey\" : \"secret%d\",\n  \"Token\" : \"tok%d\",\n"
			         "  \"Expiration\" : \"%s\"\n}",
			         im->serial, im->serial, im->serial, when);
	} else {
		resp->status = 404;
	}
	resp->body_len = strlen(body);
	memcpy(resp->body, body, resp->body_len);
	return MTK_OK;
}

static void setup(void)
{
	fake_init(&f);
	memset(&m, 0, sizeof(m));
	m.f = &f;
	m.put_status = 200;
	m.role_status = 200;
	m.creds_status = 200;
	m.lifetime_s = 6 * 3600;
	m.session = SESSION;
	m.sessions_valid = 1;
	transport = (struct mtk_transport){ .perform = perform, .arg = &m };
	unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	unsetenv("YC_METADATA_ADDR");
	unsetenv("GCE_METADATA_HOST");
}

static void teardown(void)
{
	fake_release_all(&f);
}

static struct mtk_client *client_with(int64_t session_ttl_s)
{
	struct mtk_client_options o = fake_options(&f);

	f.seams.transport = &transport;
	o.flavour = MTK_FLAVOUR_AWS;
	o.aws_session_ttl_s = session_ttl_s;
	return fake_client(&f, &o);
}

/* Gets a set; returns its access key id in a static buffer. */
static const char *get_key(struct mtk_client *c, enum mtk_status want)
{
	static char key[64];
	struct mtk_token *t = NULL;
	enum mtk_status st = mtk_client_get_token(c, &t);

	cr_assert_eq(st, want, "get: %s, want %s", mtk_status_name(st), mtk_status_name(want));
	if (st != MTK_OK)
		return NULL;
	snprintf(key, sizeof(key), "%s", mtk_token_aws_access_key_id(t));
	mtk_token_free(t);
	return key;
}

TestSuite(client_aws, .init = setup, .fini = teardown, .timeout = 10);

Test(client_aws, first_fetch_is_put_then_role_then_credentials)
{
	struct mtk_client *c = client_with(0);
	struct mtk_token *t;

	cr_assert_eq(mtk_client_flavour(c), MTK_FLAVOUR_AWS);
	cr_assert_eq(mtk_client_get_token(c, &t), MTK_OK);
	cr_assert_str_eq(mtk_token_aws_access_key_id(t), "ASIAKEY1");
	cr_assert_str_eq(mtk_token_aws_secret_access_key(t), "secret1");
	cr_assert_str_eq(mtk_token_aws_session_token(t), "tok1");
	cr_assert_str_eq(mtk_token_access_token(t), "tok1");
	/* The expiry comes from Expiration. */
	cr_assert_eq(mtk_token_expires_in_ms(t), 6 * 3600 * 1000LL);
	cr_assert_eq(mtk_token_expires_at_ms(t), f.clock.wall_ms(f.clock.arg) + 6 * 3600 * 1000LL);
	mtk_token_free(t);
	cr_assert_eq(m.n, 3);
	cr_assert_str_eq(m.log[0], "PUT /latest/api/token ttl=21600");
	cr_assert_str_eq(m.log[1],
	                 "GET /latest/meta-data/iam/security-credentials/ token=" SESSION);
	cr_assert_str_eq(m.log[2],
	                 "GET /latest/meta-data/iam/security-credentials/" ROLE " token=" SESSION);
	mtk_client_free(c);
}

Test(client_aws, the_set_is_cached_and_the_session_and_role_reused)
{
	struct mtk_client *c = client_with(0);

	cr_assert_str_eq(get_key(c, MTK_OK), "ASIAKEY1");
	cr_assert_str_eq(get_key(c, MTK_OK), "ASIAKEY1");
	cr_assert_eq(m.n, 3, "a cached set was fetched again");
	/* Inside the refresh window (5 min before expiry): one request, the
	 * credentials only, with the kept session. */
	fake_advance(&f, (6 * 3600 - 200) * 1000LL);
	cr_assert_str_eq(get_key(c, MTK_OK), "ASIAKEY2"); /* stale: this get refreshed */
	cr_assert_eq(m.n, 4);
	cr_assert_str_eq(m.log[3],
	                 "GET /latest/meta-data/iam/security-credentials/" ROLE " token=" SESSION);
	mtk_client_free(c);
}

Test(client_aws, the_session_is_renewed_before_its_ttl)
{
	struct mtk_client *c = client_with(600);

	get_key(c, MTK_OK);
	cr_assert_str_eq(m.log[0], "PUT /latest/api/token ttl=600");
	/* 540 s: a tenth of the TTL (60 s) is left: renewed on the next fetch. */
	fake_advance(&f, 539 * 1000);
	mtk_client_invalidate(c, NULL);
	get_key(c, MTK_OK);
	cr_assert_eq(m.n, 4, "a session with 61 s left was renewed");
	fake_advance(&f, 1000);
	fake_advance(&f, 30 * 1000); /* past min_refresh_interval */
	mtk_client_invalidate(c, NULL);
	get_key(c, MTK_OK);
	cr_assert_eq(m.n, 6);
	cr_assert_str_eq(m.log[4], "PUT /latest/api/token ttl=600");
	mtk_client_free(c);
}

Test(client_aws, a_401_to_a_forgotten_session_gets_a_new_one)
{
	struct mtk_client *c = client_with(0);

	get_key(c, MTK_OK);
	/* The server restarted: it knows only a new session now. */
	m.session = "SESSION-TOKEN-2";
	mtk_client_invalidate(c, NULL);
	cr_assert_str_eq(get_key(c, MTK_OK), "ASIAKEY2");
	cr_assert_eq(m.n, 6, "requests: %d", m.n);
	cr_assert_str_eq(m.log[3],
	                 "GET /latest/meta-data/iam/security-credentials/" ROLE " token=" SESSION);
	cr_assert_str_eq(m.log[4], "PUT /latest/api/token ttl=21600");
	cr_assert_str_eq(m.log[5], "GET /latest/meta-data/iam/security-credentials/" ROLE
	                           " token=SESSION-TOKEN-2");
	mtk_client_free(c);
}

Test(client_aws, sessions_refused_every_time_end_the_fetch_without_a_loop)
{
	struct mtk_client *c = client_with(0);

	m.sessions_valid = 0;
	cr_assert_null(get_key(c, MTK_ERR_HTTP_CLIENT));
	/* PUT, GET (401), PUT, GET (401): one retry with a new session. */
	cr_assert_eq(m.n, 4, "requests: %d", m.n);
	mtk_client_free(c);
}

Test(client_aws, put_refused_with_403_falls_back_to_v1)
{
	struct mtk_client *c = client_with(0);

	m.put_status = 403;
	cr_assert_str_eq(get_key(c, MTK_OK), "ASIAKEY1");
	cr_assert_eq(m.n, 3);
	cr_assert_str_eq(m.log[1], "GET /latest/meta-data/iam/security-credentials/");
	cr_assert_str_eq(m.log[2], "GET /latest/meta-data/iam/security-credentials/" ROLE);
	mtk_client_free(c);
}

Test(client_aws, put_answered_404_405_or_401_falls_back_to_v1)
{
	static const long statuses[] = { 404, 405, 401 };

	for (size_t i = 0; i < 3; i++) {
		struct mtk_client *c = client_with(0);

		m.n = 0;
		m.put_status = statuses[i];
		cr_assert_not_null(get_key(c, MTK_OK), "PUT %ld", statuses[i]);
		cr_assert_str_eq(m.log[m.n - 1],
		                 "GET /latest/meta-data/iam/security-credentials/" ROLE);
		mtk_client_free(c);
	}
}

Test(client_aws, put_answered_400_gives_no_credentials)
{
	struct mtk_client *c = client_with(0);
	char why[256];

	m.put_status = 400;
	cr_assert_null(get_key(c, MTK_ERR_HTTP_CLIENT));
	cr_assert_eq(m.n, 1, "went on after a 400");
	mtk_client_last_error(c, why, sizeof(why));
	cr_assert(strstr(why, "PUT http://127.0.0.1:1/latest/api/token: HTTP 400"), "%s", why);
	cr_assert(strstr(why, "no credentials"), "%s", why);
	/* Not remembered: the next fetch asks again. */
	fake_advance(&f, 30 * 1000);
	m.put_status = 200;
	cr_assert_str_eq(get_key(c, MTK_OK), "ASIAKEY1");
	cr_assert_str_eq(m.log[1], "PUT /latest/api/token ttl=21600");
	mtk_client_free(c);
}

/* Requests of the fetch that begins now; returns how long it took. */
static int64_t timed_fetch(struct mtk_client *c, const char *want_key)
{
	int64_t t0 = f.clock.monotonic_ms(f.clock.arg);

	mtk_client_invalidate(c, NULL);
	cr_assert_str_eq(get_key(c, MTK_OK), want_key);
	return f.clock.monotonic_ms(f.clock.arg) - t0;
}

/* The SDKs allow the PUT 1 s, once. A PUT that gets no answer is then not
 * tried again for 10 min_refresh_interval_ms (the Node SDK never tries
 * again): a stalled PUT would cost every fetch that second. */
Test(client_aws, a_put_without_answer_gets_one_second_once_then_is_skipped)
{
	static const enum mtk_status failures[] = { MTK_ERR_TIMEOUT, MTK_ERR_CONNECT };

	for (size_t i = 0; i < 2; i++) {
		struct mtk_client *c = client_with(0);
		struct mtk_client_stats s;
		char key[16];

		m.n = 0;
		m.serial = 0;
		m.put_st = failures[i];
		cr_assert_eq(timed_fetch(c, "ASIAKEY1"), i == 0 ? 1000 : 0);
		cr_assert_eq(m.n, 3, "%s: requests: %d", mtk_status_name(failures[i]), m.n);
		cr_assert_str_eq(m.log[0], "PUT /latest/api/token ttl=21600");
		cr_assert_str_eq(m.log[1], "GET /latest/meta-data/iam/security-credentials/");
		cr_assert_eq(m.put_timeout_ms, 1000);
		cr_assert_eq(m.put_connect_timeout_ms, 1000);
		/* Later fetches: no PUT, no time lost. */
		for (int k = 2; k <= 10; k++) {
			fake_advance(&f, 30 * 1000);
			snprintf(key, sizeof(key), "ASIAKEY%d", k);
			cr_assert_eq(timed_fetch(c, key), 0);
			cr_assert_eq(m.n, k + 2, "requests: %d", m.n);
			cr_assert_str_eq(m.log[m.n - 1],
			                 "GET /latest/meta-data/iam/security-credentials/" ROLE);
		}
		/* 10 x 30 s after the failure: the PUT is tried again. */
		fake_advance(&f, 30 * 1000);
		m.put_st = MTK_OK;
		cr_assert_eq(timed_fetch(c, "ASIAKEY11"), 0);
		cr_assert_eq(m.n, 14, "requests: %d", m.n);
		cr_assert_str_eq(m.log[12], "PUT /latest/api/token ttl=21600");
		cr_assert_str_eq(m.log[13], "GET /latest/meta-data/iam/security-credentials/" ROLE
		                            " token=" SESSION);
		mtk_client_get_stats(c, &s);
		cr_assert_eq(s.http_requests, 14);
		mtk_client_free(c);
	}
}

Test(client_aws, the_put_timeout_is_never_above_the_request_timeout)
{
	struct mtk_client_options o = fake_options(&f);
	struct mtk_client *c;

	f.seams.transport = &transport;
	o.flavour = MTK_FLAVOUR_AWS;
	o.request_timeout_ms = 400;
	o.connect_timeout_ms = 300;
	c = fake_client(&f, &o);
	m.put_st = MTK_ERR_TIMEOUT;
	cr_assert_eq(timed_fetch(c, "ASIAKEY1"), 400);
	cr_assert_eq(m.put_timeout_ms, 400);
	cr_assert_eq(m.put_connect_timeout_ms, 300);
	cr_assert_eq(m.n, 3);
	mtk_client_free(c);
}

/* 403, 404, 405: remembered like no answer; 401, 5xx: IMDSv1 for that
 * fetch only, the next one asks again. */
Test(client_aws, which_put_refusals_are_remembered)
{
	static const struct {
		long status;
		bool remembered;
	} cases[] = { { 403, true },  { 404, true },  { 405, true },
		      { 401, false }, { 500, false }, { 503, false } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mtk_client *c = client_with(0);

		m.n = 0;
		m.serial = 0;
		m.put_status = cases[i].status;
		timed_fetch(c, "ASIAKEY1");
		cr_assert_eq(m.n, 3, "PUT %ld: requests: %d", cases[i].status, m.n);
		fake_advance(&f, 30 * 1000);
		timed_fetch(c, "ASIAKEY2");
		cr_assert_eq(m.n, cases[i].remembered ? 4 : 5, "PUT %ld: requests: %d",
		             cases[i].status, m.n);
		cr_assert_str_eq(m.log[3],
		                 cases[i].remembered
		                     ? "GET /latest/meta-data/iam/security-credentials/" ROLE
		                     : "PUT /latest/api/token ttl=21600",
		                 "PUT %ld", cases[i].status);
		mtk_client_free(c);
	}
}

/* While the PUT is skipped, a 401 to a GET without a session says the
 * server wants one (IMDSv2 only): the fetch starts over with a PUT. */
Test(client_aws, a_401_without_a_session_ends_the_skipping)
{
	struct mtk_client *c = client_with(0);

	m.put_st = MTK_ERR_TIMEOUT;
	timed_fetch(c, "ASIAKEY1");
	cr_assert_eq(m.n, 3);
	/* The server now wants sessions, and answers the PUT. */
	m.put_st = MTK_OK;
	m.v2_only = true;
	fake_advance(&f, 30 * 1000);
	cr_assert_eq(timed_fetch(c, "ASIAKEY2"), 0);
	cr_assert_eq(m.n, 6, "requests: %d", m.n);
	cr_assert_str_eq(m.log[3], "GET /latest/meta-data/iam/security-credentials/" ROLE);
	cr_assert_str_eq(m.log[4], "PUT /latest/api/token ttl=21600");
	cr_assert_str_eq(m.log[5],
	                 "GET /latest/meta-data/iam/security-credentials/" ROLE " token=" SESSION);
	mtk_client_free(c);
}

/* A PUT that times out, then a 401 without a session: no credentials this
 * time, but the next fetch tries the PUT again rather than skipping it. */
Test(client_aws, a_401_after_a_failed_put_ends_the_fetch_but_not_the_next_put)
{
	struct mtk_client *c = client_with(0);

	m.put_st = MTK_ERR_TIMEOUT;
	m.v2_only = true;
	cr_assert_null(get_key(c, MTK_ERR_HTTP_CLIENT));
	cr_assert_eq(m.n, 2, "requests: %d", m.n); /* PUT, GET (401) */
	m.put_st = MTK_OK;
	fake_advance(&f, 30 * 1000);
	cr_assert_not_null(get_key(c, MTK_OK));
	cr_assert_str_eq(m.log[2], "PUT /latest/api/token ttl=21600");
	mtk_client_free(c);
}

Test(client_aws, malformed_credentials_are_refused_and_never_cached)
{
	static const struct {
		const char *body;
		enum mtk_status want;
	} cases[] = {
		{ "not json", MTK_ERR_BAD_JSON },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\"}",
		  MTK_ERR_MISSING_FIELD },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\","
		  "\"Expiration\":123}",
		  MTK_ERR_MISSING_FIELD },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\","
		  "\"Expiration\":\"2026-11-21 10:00:00\"}",
		  MTK_ERR_BAD_EXPIRATION },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\","
		  "\"Expiration\":\"2000-01-01T00:00:00Z\"}",
		  MTK_ERR_BAD_EXPIRATION },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"a b\","
		  "\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		  MTK_ERR_BAD_ACCESS_TOKEN },
		{ "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"no\"}",
		  MTK_ERR_MISSING_FIELD },
		/* A Code that is there must say Success, as a string. */
		{ "{\"Code\":0,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\","
		  "\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		  MTK_ERR_MISSING_FIELD },
		{ "{\"Code\":null,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\","
		  "\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		  MTK_ERR_MISSING_FIELD },
		{ "{\"Code\":[\"Success\"],\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
		  "\"Token\":\"t\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		  MTK_ERR_MISSING_FIELD },
		/* Which of two equal keys wins differs between parsers. */
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"SecretAccessKey\":\"t\","
		  "\"Token\":\"t\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		  MTK_ERR_BAD_JSON },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\","
		  "\"Expiration\":\"2030-01-01T00:00:00Z\",\"Token\":\"u\"}",
		  MTK_ERR_BAD_JSON },
		{ "{\"Code\":\"Success\",\"Code\":\"Failure\",\"AccessKeyId\":\"A\","
		  "\"SecretAccessKey\":\"s\",\"Token\":\"t\","
		  "\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		  MTK_ERR_BAD_JSON },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mtk_client *c = client_with(0);

		m.n = 0;
		m.creds_override = cases[i].body;
		get_key(c, cases[i].want);
		mtk_client_free(c);
	}
}

Test(client_aws, a_role_body_that_is_not_one_role_name_is_refused)
{
	static const struct {
		const char *body;
		size_t len; /* 0: strlen(body) */
	} cases[] = {
		{ "", 0 },
		{ "\n", 0 },
		{ "test-role\nother-role", 0 },
		{ "test/role", 0 },
		{ "test role", 0 },
		{ "../test-role", 0 },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 }, /* 65 */
		/* Path segments that a URL parser resolves (curl does). */
		{ ".", 0 },
		{ "..", 0 },
		{ "..\n", 0 },
		/* A NUL ends the name in C but not in the body. */
		{ "\0", 1 },
		{ "test-role\0", 10 },
		{ "test\0-role", 10 },
		{ "test-role\0\n", 11 },
	};
	struct mtk_client *c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = client_with(0);
		m.n = 0;
		m.role_body = cases[i].body;
		m.role_body_len = cases[i].len ? cases[i].len : strlen(cases[i].body);
		get_key(c, MTK_ERR_HTTP_UNEXPECTED);
		cr_assert_eq(m.n, 2, "case %zu: %d requests, the last \"%s\"", i, m.n,
		             m.log[m.n - 1]);
		mtk_client_free(c);
	}
	/* Trailing CR/LF is tolerated. */
	m.role_body = ROLE "\r\n";
	m.role_body_len = strlen(m.role_body);
	c = client_with(0);
	get_key(c, MTK_OK);
	mtk_client_free(c);
}

Test(client_aws, a_set_already_inside_the_window_is_not_refetched_on_every_call)
{
	struct mtk_client *c = client_with(0);

	m.lifetime_s = 120; /* less than the 4..5 min refresh window */
	get_key(c, MTK_OK);
	for (int i = 0; i < 10; i++)
		get_key(c, MTK_OK);
	cr_assert_eq(m.n, 3, "refetched in a loop: %d requests", m.n);
	mtk_client_free(c);
}

Test(client_aws, last_good_set_is_kept_when_a_refresh_fails)
{
	struct mtk_client *c = client_with(0);

	get_key(c, MTK_OK);
	fake_advance(&f, (6 * 3600 - 200) * 1000LL); /* stale */
	m.creds_status = 500;
	cr_assert_str_eq(get_key(c, MTK_OK), "ASIAKEY1");
	mtk_client_free(c);
}

Test(client_aws, authorization_header_is_for_bearer_flavours)
{
	struct mtk_client *c = client_with(0);
	char buf[MTK_AUTHORIZATION_HEADER_MAX];

	cr_assert_eq(mtk_client_authorization_header(c, buf, sizeof(buf)), MTK_ERR_WRONG_FLAVOUR);
	cr_assert_eq(mtk_client_copy_token(c, buf, sizeof(buf), NULL), MTK_ERR_WRONG_FLAVOUR);
	mtk_client_free(c);
}

Test(client_aws, the_environment_selects_the_flavour)
{
	struct mtk_client_options o = fake_options(&f);
	struct mtk_client *c;

	o.endpoint = NULL;
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/", 1);
	c = fake_client(&f, &o);
	cr_assert_eq(mtk_client_flavour(c), MTK_FLAVOUR_AWS);
	cr_assert_str_eq(mtk_client_token_url(c), "http://127.0.0.1:9"
	                                          "/latest/meta-data/iam/security-credentials/");
	mtk_client_free(c);
	/* metatokend's banner sets the GCE variables too: they win. */
	setenv("GCE_METADATA_HOST", "127.0.0.1:9", 1);
	c = fake_client(&f, &o);
	cr_assert_eq(mtk_client_flavour(c), MTK_FLAVOUR_GCE);
	mtk_client_free(c);
	/* An explicit flavour is never overridden. */
	unsetenv("GCE_METADATA_HOST");
	o.flavour = MTK_FLAVOUR_GCE;
	c = fake_client(&f, &o);
	cr_assert_eq(mtk_client_flavour(c), MTK_FLAVOUR_GCE);
	mtk_client_free(c);
	unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
}

Test(client_aws, bad_options_are_refused)
{
	struct mtk_client_options o = fake_options(&f);
	struct mtk_client *c;

	o.flavour = MTK_FLAVOUR_AWS;
	o.aws_session_ttl_s = 21601;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_INVALID_ARGUMENT);
	o.aws_session_ttl_s = 0;
	o.account = "bad/role";
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_ACCOUNT);
	o.account = NULL;
	o.flavour = (enum mtk_flavour)7;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_INVALID_ARGUMENT);
}
