/*
 * The AWS IMDS flavour on the wire: the real metatokend on an ephemeral
 * loopback port. Every status, header and body here is one botocore or an
 * AWS SDK depends on (PROTOCOL.md §2). Time moves through the control API.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "server_proc.h"

#define ROLE      "metatoken-role"
#define CREDS     "/latest/meta-data/iam/security-credentials/" ROLE
#define TTL_H     "X-aws-ec2-metadata-token-ttl-seconds"
#define LIFETIME  21600
#define MARGIN    300
#define TOKEN_LEN 76

static struct test_server srv;

static void start_with(const char *config_json)
{
	cr_assert_eq(test_server_start_config(&srv, config_json), 0, "metatokend did not start");
}

static void start(void)
{
	start_with(NULL);
}

static void start_v2_only(void)
{
	start_with("{\"aws\": {\"imdsv2_only\": true}}");
}

static void start_no_role(void)
{
	start_with("{\"service_accounts\": [{\"id\": \"ajenorole\", \"email\": \"a@b.c\"}]}");
}

static void stop(void)
{
	test_server_stop(&srv);
}

static void req(const char *method, const char *path, const char *const *headers, const char *body,
                struct test_response *r)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", srv.base_url, path);
	cr_assert_eq(test_http(method, url, headers, body, r), 0, "no response for %s %s", method,
	             path);
}

static char *header(const struct test_response *r, const char *name)
{
	static char buf[256];

	return (char *)test_response_header(r, name, buf, sizeof(buf));
}

/* Every IMDS answer: text/plain, EC2's Server header, never the GCE one. */
static void assert_imds_headers(const struct test_response *r)
{
	cr_assert_not_null(header(r, "Content-Type"));
	cr_assert_str_eq(header(r, "Content-Type"), "text/plain", "%s", r->headers);
	cr_assert_null(header(r, "Metadata-Flavor"), "an AWS answer says Metadata-Flavor:\n%s",
	               r->headers);
	cr_assert_not_null(header(r, "Server"));
	cr_assert_str_eq(header(r, "Server"), "EC2ws");
}

/* A new IMDSv2 session token with the given TTL header value. */
static void session(const char *ttl, char out[TOKEN_LEN + 1])
{
	char h[128];
	const char *hs[] = { h, NULL };
	struct test_response r;

	snprintf(h, sizeof(h), TTL_H ": %s", ttl);
	req("PUT", "/latest/api/token", hs, NULL, &r);
	cr_assert_eq(r.status, 200, "PUT token: %ld %s", r.status, r.body);
	cr_assert_eq(r.body_len, TOKEN_LEN, "token length %zu", r.body_len);
	memcpy(out, r.body, TOKEN_LEN + 1);
	test_response_free(&r);
}

/* GET with a session token (or none when token is NULL). */
static void get(const char *path, const char *token, struct test_response *r)
{
	char h[160];
	const char *hs[] = { h, NULL };

	/* curl drops "Name: " with no value; "Name;" sends it empty. */
	if (token && !*token)
		snprintf(h, sizeof(h), "X-aws-ec2-metadata-token;");
	else
		snprintf(h, sizeof(h), "X-aws-ec2-metadata-token: %s", token ? token : "");
	req("GET", path, token ? hs : NULL, NULL, r);
}

static void expect(const char *path, const char *token, long status, const char *body)
{
	struct test_response r;

	get(path, token, &r);
	cr_assert_eq(r.status, status, "%s: %ld %s", path, r.status, r.body);
	assert_imds_headers(&r);
	if (body)
		cr_assert_str_eq(r.body, body, "%s", path);
	test_response_free(&r);
}

static void control(const char *method, const char *path, const char *body)
{
	struct test_response r;

	cr_assert_eq(test_control(srv.base_url, srv.admin_secret, method, path, body, &r), 0);
	cr_assert_eq(r.status, 200, "control %s %s: %ld %s", method, path, r.status, r.body);
	test_response_free(&r);
}

static void advance(long long s)
{
	char body[64];

	snprintf(body, sizeof(body), "{\"advance_s\": %lld}", s);
	control("POST", "clock", body);
}

static time_t parse_time(const char *s)
{
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);

	cr_assert(end && *end == '\0', "not YYYY-MM-DDTHH:MM:SSZ: %s", s);
	return timegm(&tm);
}

static int matches(const char *s, const char *pattern)
{
	regex_t re;
	int ok;

	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	ok = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

/* A credential set as IMDS serves it, checked field by field. */
struct creds {
	char key_id[32], secret[64], token[512];
	time_t updated, expires;
};

static void parse_creds(const char *body, struct creds *c, int container)
{
	static const char *const fields[] = {
		"Code",  "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey",
		"Token", "Expiration",
	};
	cJSON *o = cJSON_Parse(body);

	cr_assert(cJSON_IsObject(o), "not JSON: %s", body);
	for (size_t i = container ? 3 : 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, fields[i])),
		          "%s is not a string in %s", fields[i], body);
	if (!container) {
		cr_assert_str_eq(cJSON_GetObjectItem(o, "Code")->valuestring, "Success");
		cr_assert_str_eq(cJSON_GetObjectItem(o, "Type")->valuestring, "AWS-HMAC");
		c->updated = parse_time(cJSON_GetObjectItem(o, "LastUpdated")->valuestring);
	}
	snprintf(c->key_id, sizeof(c->key_id), "%s",
	         cJSON_GetObjectItem(o, "AccessKeyId")->valuestring);
	snprintf(c->secret, sizeof(c->secret), "%s",
	         cJSON_GetObjectItem(o, "SecretAccessKey")->valuestring);
	snprintf(c->token, sizeof(c->token), "%s", cJSON_GetObjectItem(o, "Token")->valuestring);
	c->expires = parse_time(cJSON_GetObjectItem(o, "Expiration")->valuestring);
	cr_assert(matches(c->key_id, "^ASIA[A-Z2-7]{16}$"), "AccessKeyId %s", c->key_id);
	cr_assert(matches(c->secret, "^[A-Za-z0-9+/]{40}$"), "SecretAccessKey shape");
	cr_assert(matches(c->token, "^t1\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{86}$"), "Token shape");
	cJSON_Delete(o);
}

static void get_creds(const char *token, struct creds *c)
{
	struct test_response r;

	get(CREDS, token, &r);
	cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
	assert_imds_headers(&r);
	parse_creds(r.body, c, 0);
	test_response_free(&r);
}

TestSuite(aws, .init = start, .fini = stop, .timeout = 30);

Test(aws, put_token_answers_the_token_without_newline_and_echoes_the_ttl)
{
	const char *hs[] = { TTL_H ": 21600", NULL };
	struct test_response r;

	req("PUT", "/latest/api/token", hs, NULL, &r);
	cr_assert_eq(r.status, 200);
	assert_imds_headers(&r);
	cr_assert_str_eq(header(&r, "X-aws-ec2-metadata-token-ttl-seconds"), "21600");
	cr_assert_eq(r.body_len, TOKEN_LEN);
	cr_assert(matches(r.body, "^[A-Za-z0-9_-]{76}$"), "token %s", r.body);
	cr_assert_null(strpbrk(r.body, "\r\n"), "a newline in the token");
	test_response_free(&r);
}

Test(aws, put_token_with_content_length_zero_as_sdks_send_it)
{
	const char *hs[] = { TTL_H ": 60", NULL };
	struct test_response r;

	/* A body of "" makes curl send Content-Length: 0; NULL sends none. */
	req("PUT", "/latest/api/token", hs, "", &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, TOKEN_LEN);
	cr_assert_str_eq(header(&r, "X-aws-ec2-metadata-token-ttl-seconds"), "60");
	test_response_free(&r);
}

Test(aws, put_token_without_content_length_keeps_the_connection)
{
	/* curl's PUT carries no Content-Length at all; the next request on the
	 * same connection must be answered too. */
	static const char two[] =
	    "PUT /latest/api/token HTTP/1.1\r\nHost: 127.0.0.1\r\n" TTL_H ": 5\r\n\r\n"
	    "GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Connection: close\r\n\r\n";
	char out[4096];
	const char *second;

	cr_assert(test_raw(srv.port, two, strlen(two), out, sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 200", 12) == 0, "%s", out);
	second = strstr(out + 12, "HTTP/1.1 ");
	cr_assert_not_null(second, "no second response:\n%s", out);
	cr_assert(strncmp(second, "HTTP/1.1 200", 12) == 0, "%s", second);
	cr_assert_not_null(strstr(second, "i-0123456789abcdef0"));
}

Test(aws, put_token_ttl_bounds)
{
	static const char *const bad[] = { "0", "21601", "-1", "abc", "", "1.5", "99999999" };
	char tok[TOKEN_LEN + 1];

	session("1", tok);
	session("21600", tok);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char h[96];
		const char *hs[] = { h, NULL };
		struct test_response r;

		snprintf(h, sizeof(h), TTL_H ": %s", bad[i]);
		req("PUT", "/latest/api/token", hs, NULL, &r);
		cr_assert_eq(r.status, 400, "TTL \"%s\": %ld", bad[i], r.status);
		assert_imds_headers(&r);
		test_response_free(&r);
	}
}

Test(aws, put_token_without_ttl_is_400)
{
	struct test_response r;

	req("PUT", "/latest/api/token", NULL, NULL, &r);
	cr_assert_eq(r.status, 400);
	assert_imds_headers(&r);
	test_response_free(&r);
}

Test(aws, put_token_with_x_forwarded_for_is_403)
{
	const char *hs[] = { TTL_H ": 21600", "X-Forwarded-For: 10.1.2.3", NULL };
	struct test_response r;

	req("PUT", "/latest/api/token", hs, NULL, &r);
	cr_assert_eq(r.status, 403);
	assert_imds_headers(&r);
	cr_assert_eq(strlen(r.body) > 0 && !matches(r.body, "^[A-Za-z0-9_-]{76}$"), 1);
	test_response_free(&r);
}

Test(aws, token_path_takes_only_put)
{
	struct test_response r;

	req("GET", "/latest/api/token", NULL, NULL, &r);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(header(&r, "Allow"), "PUT");
	test_response_free(&r);
	req("POST", "/latest/api/token", NULL, "", &r);
	cr_assert_eq(r.status, 405);
	cr_assert_null(header(&r, "Metadata-Flavor"));
	test_response_free(&r);
}

Test(aws, invalid_session_tokens_are_401)
{
	char tok[TOKEN_LEN + 1];

	session("60", tok);
	expect("/latest/meta-data/instance-id", tok, 200, "i-0123456789abcdef0");
	expect("/latest/meta-data/instance-id", "", 401, NULL);
	expect("/latest/meta-data/instance-id", "garbage", 401, NULL);
	/* One character changed: the MAC no longer matches. */
	tok[10] = tok[10] == 'A' ? 'B' : 'A';
	expect("/latest/meta-data/instance-id", tok, 401, NULL);
	/* A token of the right length but cut short is refused too. */
	tok[TOKEN_LEN - 1] = '\0';
	expect("/latest/meta-data/instance-id", tok, 401, NULL);
}

Test(aws, sessions_expire_on_the_server_clock)
{
	char tok[TOKEN_LEN + 1];

	session("60", tok);
	advance(59);
	expect(CREDS, tok, 200, NULL);
	advance(1);
	expect(CREDS, tok, 401, NULL);
	expect(CREDS, NULL, 200, NULL); /* IMDSv1 still works here */
}

Test(aws, v1_requests_are_allowed_by_default)
{
	expect("/latest/meta-data/iam/security-credentials/", NULL, 200, ROLE);
}

Test(aws, head_works_where_get_does)
{
	struct test_response r;

	req("HEAD", "/latest/meta-data/local-ipv4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	assert_imds_headers(&r);
	cr_assert_str_eq(header(&r, "Content-Length"), "8");
	cr_assert_eq(r.body_len, 0);
	test_response_free(&r);
	req("HEAD", CREDS, NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	test_response_free(&r);
}

Test(aws, the_tree)
{
	char tok[TOKEN_LEN + 1];

	session("600", tok);
	expect("/latest", tok, 200, "dynamic\nmeta-data");
	expect("/latest/", tok, 200, "dynamic\nmeta-data");
	expect("/latest/meta-data/", tok, 200,
	       "hostname\niam/\ninstance-id\nlocal-hostname\nlocal-ipv4\nplacement/");
	expect("/latest/meta-data/instance-id", tok, 200, "i-0123456789abcdef0");
	expect("/latest/meta-data/hostname", tok, 200, "ip-10-0-0-1.ec2.internal");
	expect("/latest/meta-data/local-hostname", tok, 200, "ip-10-0-0-1.ec2.internal");
	expect("/latest/meta-data/local-ipv4", tok, 200, "10.0.0.1");
	expect("/latest/meta-data/placement/", tok, 200, "availability-zone\nregion");
	expect("/latest/meta-data/placement/availability-zone", tok, 200, "us-east-1a");
	/* botocore's region fetcher asks with a trailing slash. */
	expect("/latest/meta-data/placement/availability-zone/", tok, 200, "us-east-1a");
	expect("/latest/meta-data/placement/region", tok, 200, "us-east-1");
	expect("/latest/meta-data/iam/", tok, 200, "info\nsecurity-credentials/");
	/* The role name goes into the next URL verbatim: no newline. */
	expect("/latest/meta-data/iam/security-credentials/", tok, 200, ROLE);
	expect("/latest/meta-data/iam/security-credentials", tok, 200, ROLE);
	expect("/latest/dynamic/", tok, 200, "instance-identity/");
	expect("/latest/dynamic/instance-identity/", tok, 200, "document");
	expect("/latest/meta-data/nope", tok, 404, NULL);
	expect("/latest/meta-data/iam/security-credentials/other-role", tok, 404, NULL);
	expect("/latest/meta-data/instance-id/x", tok, 404, NULL);
}

Test(aws, iam_info)
{
	struct test_response r;
	cJSON *o;

	get("/latest/meta-data/iam/info", NULL, &r);
	cr_assert_eq(r.status, 200);
	assert_imds_headers(&r);
	o = cJSON_Parse(r.body);
	cr_assert(cJSON_IsObject(o), "%s", r.body);
	cr_assert_str_eq(cJSON_GetObjectItem(o, "Code")->valuestring, "Success");
	parse_time(cJSON_GetObjectItem(o, "LastUpdated")->valuestring);
	cr_assert_str_eq(cJSON_GetObjectItem(o, "InstanceProfileArn")->valuestring,
	                 "arn:aws:iam::123456789012:instance-profile/" ROLE);
	cr_assert(matches(cJSON_GetObjectItem(o, "InstanceProfileId")->valuestring,
	                  "^AIPA[A-Z2-7]{17}$"));
	cJSON_Delete(o);
	test_response_free(&r);
}

Test(aws, instance_identity_document)
{
	struct test_response r;
	cJSON *o;

	get("/latest/dynamic/instance-identity/document", NULL, &r);
	cr_assert_eq(r.status, 200);
	assert_imds_headers(&r);
	o = cJSON_Parse(r.body);
	cr_assert(cJSON_IsObject(o), "%s", r.body);
	cr_assert_str_eq(cJSON_GetObjectItem(o, "instanceId")->valuestring, "i-0123456789abcdef0");
	cr_assert_str_eq(cJSON_GetObjectItem(o, "accountId")->valuestring, "123456789012");
	cr_assert_str_eq(cJSON_GetObjectItem(o, "region")->valuestring, "us-east-1");
	cr_assert_str_eq(cJSON_GetObjectItem(o, "availabilityZone")->valuestring, "us-east-1a");
	cr_assert_str_eq(cJSON_GetObjectItem(o, "privateIp")->valuestring, "10.0.0.1");
	cJSON_Delete(o);
	test_response_free(&r);
}

Test(aws, credentials_shape_and_six_hour_life)
{
	struct creds c;

	get_creds(NULL, &c);
	cr_assert_eq(c.expires - c.updated, LIFETIME, "lifetime %lld",
	             (long long)(c.expires - c.updated));
}

Test(aws, same_set_until_the_margin_then_a_new_one_five_minutes_early)
{
	struct creds a, b, c;

	get_creds(NULL, &a);
	advance(LIFETIME - MARGIN - 2);
	get_creds(NULL, &b);
	cr_assert_str_eq(b.key_id, a.key_id, "reissued before the margin");
	cr_assert_str_eq(b.token, a.token);
	advance(2);
	get_creds(NULL, &c);
	cr_assert_str_neq(c.key_id, a.key_id, "not reissued at 5 minutes before expiry");
	cr_assert_str_neq(c.secret, a.secret);
	cr_assert_str_neq(c.token, a.token);
	/* The set is reissued once its remaining life is below the margin
	 * (slot.h), here a few real milliseconds after the advance; the wire
	 * carries whole seconds, so the difference may read one second short. */
	cr_assert_geq(a.expires - c.updated, MARGIN - 1, "the new set came less than 5 min early");
	cr_assert_eq(c.expires - c.updated, LIFETIME);
}

Test(aws, control_expire_rotate_and_reset_apply_to_credentials_and_sessions)
{
	struct creds a, b, c;
	char tok[TOKEN_LEN + 1];

	get_creds(NULL, &a);
	control("POST", "accounts/default/expire", NULL);
	get_creds(NULL, &b);
	cr_assert_str_neq(b.key_id, a.key_id, "expire left the credentials in place");
	control("POST", "accounts/default/rotate", NULL);
	get_creds(NULL, &c);
	cr_assert_str_neq(c.key_id, b.key_id, "rotate left the credentials in place");

	session("600", tok);
	expect(CREDS, tok, 200, NULL);
	control("POST", "reset", NULL);
	expect(CREDS, tok, 401, NULL);
}

Test(aws, faults_answer_without_the_gce_header)
{
	struct test_response r;

	cr_assert_eq(test_control(srv.base_url, srv.admin_secret, "POST", "faults",
	                          "{\"path\": \"/latest/meta-data/\", \"status\": 503}", &r),
	             0);
	cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
	test_response_free(&r);
	get("/latest/meta-data/instance-id", NULL, &r);
	cr_assert_eq(r.status, 503);
	cr_assert_null(header(&r, "Metadata-Flavor"));
	cr_assert_str_eq(header(&r, "Content-Type"), "text/plain", "IMDS errors are text/plain");
	test_response_free(&r);
}

/* ---- one connection: what each pool thread keeps ---- */

/*
 * A pool thread keeps the credentials answer it built and the last session
 * token it verified. Requests pipelined on one keep-alive connection are
 * all served by the thread that accepted it, so a control request in
 * between must change the very next answer on the same thread.
 */

#define PIPE_MAX 12

struct piped {
	long status;
	char content_type[64];
	char body[2048];
};

static size_t pipe_n;
static char pipe_buf[16384];

/* Queues one request with one extra header line ("Name: value") or none. */
static void pipe_add(const char *method, const char *path, const char *header, const char *body)
{
	size_t used = strlen(pipe_buf);
	int n;

	cr_assert_lt(pipe_n, PIPE_MAX, "too many requests for one pipeline");
	n = snprintf(pipe_buf + used, sizeof(pipe_buf) - used,
	             "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%sContent-Length: %zu\r\n\r\n%s",
	             method, path, header ? header : "", header ? "\r\n" : "",
	             body ? strlen(body) : 0, body ? body : "");
	cr_assert(n > 0 && (size_t)n < sizeof(pipe_buf) - used, "the pipeline is too long");
	pipe_n++;
}

/* GET with a session token, or none when token is NULL. */
static void pipe_get(const char *path, const char *token)
{
	char h[160];

	snprintf(h, sizeof(h), "X-aws-ec2-metadata-token: %s", token ? token : "");
	pipe_add("GET", path, token ? h : NULL, NULL);
}

/* A control request: path under /metatoken/v1/, a JSON body or NULL. */
static void pipe_control(const char *method, const char *path, const char *body)
{
	char url[256], h[512];

	snprintf(url, sizeof(url), "/metatoken/v1/%s", path);
	snprintf(h, sizeof(h), "Authorization: Bearer %s", srv.admin_secret);
	pipe_add(method, url, h, body);
}

/* Sends what pipe_add queued over one connection, then a last request that
 * closes it, and splits the answers to the queued ones into out[]. */
static void pipe_run(struct piped *out)
{
	static const char last[] =
	    "GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Connection: close\r\n\r\n";
	static char got[65536];
	const char *p = got;
	size_t used = strlen(pipe_buf);

	cr_assert_lt(used + sizeof(last), sizeof(pipe_buf));
	memcpy(pipe_buf + used, last, sizeof(last));
	cr_assert(test_raw(srv.port, pipe_buf, strlen(pipe_buf), got, sizeof(got)) > 0);
	for (size_t i = 0; i < pipe_n; i++) {
		const char *end, *cl, *ct;
		size_t len;

		cr_assert(strncmp(p, "HTTP/1.1 ", 9) == 0, "answer %zu missing:\n%s", i, got);
		out[i].status = strtol(p + 9, NULL, 10);
		end = strstr(p, "\r\n\r\n");
		cr_assert_not_null(end);
		cl = strcasestr(p, "\r\nContent-Length: ");
		cr_assert(cl && cl < end, "answer %zu has no Content-Length", i);
		len = strtoul(cl + 18, NULL, 10);
		cr_assert_lt(len, sizeof(out[i].body));
		ct = strcasestr(p, "\r\nContent-Type: ");
		out[i].content_type[0] = '\0';
		if (ct && ct < end)
			sscanf(ct + 16, "%63[^\r]", out[i].content_type);
		memcpy(out[i].body, end + 4, len);
		out[i].body[len] = '\0';
		p = end + 4 + len;
	}
	pipe_n = 0;
	pipe_buf[0] = '\0';
}

/* The access key id a control answer (an account's view) names. */
static void control_key_id(const char *body, char out[32])
{
	cJSON *o = cJSON_Parse(body), *aws = cJSON_GetObjectItem(o, "aws");
	cJSON *id = cJSON_GetObjectItem(aws, "access_key_id");

	cr_assert(cJSON_IsString(id), "no aws.access_key_id in %s", body);
	snprintf(out, 32, "%s", id->valuestring);
	cJSON_Delete(o);
}

Test(aws, control_changes_the_very_next_credentials_on_the_same_connection)
{
	static const char *const ops[] = { "accounts/default/rotate", "accounts/default/expire",
		                           "accounts/default/revoke", "reset" };
	struct piped r[PIPE_MAX];
	struct creds c[2 + 4];
	char rotated[32];

	pipe_get(CREDS, NULL);
	pipe_get(CREDS, NULL);
	for (size_t i = 0; i < 4; i++) {
		pipe_control("POST", ops[i], i == 2 ? "{}" : NULL);
		pipe_get(CREDS, NULL);
	}
	pipe_run(r);
	for (size_t i = 0; i < 10; i++)
		cr_assert_eq(r[i].status, 200, "answer %zu: %ld %s", i, r[i].status, r[i].body);
	parse_creds(r[0].body, &c[0], 0);
	parse_creds(r[1].body, &c[1], 0);
	cr_assert_str_eq(r[1].body, r[0].body, "the same set answered differently");
	for (size_t i = 0; i < 4; i++) {
		cr_assert_str_eq(r[3 + 2 * i].content_type, "text/plain");
		parse_creds(r[3 + 2 * i].body, &c[2 + i], 0);
		cr_assert_str_neq(c[2 + i].key_id, c[1 + i].key_id,
		                  "the answer after %s still carries the old set", ops[i]);
		cr_assert_str_neq(c[2 + i].secret, c[1 + i].secret);
		cr_assert_str_neq(c[2 + i].token, c[1 + i].token);
	}
	/* The set the rotate answer names is the one served next. */
	control_key_id(r[2].body, rotated);
	cr_assert_str_eq(c[2].key_id, rotated);
}

Test(aws, a_new_set_minted_at_the_margin_reaches_a_thread_that_kept_the_old_one)
{
	struct piped r[PIPE_MAX];
	struct creds a, b, c;
	char advance_body[64];

	snprintf(advance_body, sizeof(advance_body), "{\"advance_s\": %d}", LIFETIME - MARGIN);
	pipe_get(CREDS, NULL);
	pipe_control("POST", "clock", "{\"advance_s\": 1}");
	pipe_get(CREDS, NULL);
	pipe_control("POST", "clock", advance_body);
	pipe_get(CREDS, NULL);
	pipe_run(r);
	parse_creds(r[0].body, &a, 0);
	parse_creds(r[2].body, &b, 0);
	parse_creds(r[4].body, &c, 0);
	cr_assert_str_eq(b.key_id, a.key_id, "reissued before the margin");
	cr_assert_str_neq(c.key_id, a.key_id, "the kept answer outlived its set");
	cr_assert_eq(c.expires - c.updated, LIFETIME);
}

Test(aws, sessions_are_refused_right_after_they_verified_on_the_same_connection)
{
	struct piped r[PIPE_MAX];
	char tok[TOKEN_LEN + 1], bad[TOKEN_LEN + 1];

	session("60", tok);
	memcpy(bad, tok, sizeof(bad));
	bad[TOKEN_LEN - 5] = bad[TOKEN_LEN - 5] == 'A' ? 'B' : 'A';
	pipe_get(CREDS, tok);
	pipe_get(CREDS, bad); /* one char off the last verified */
	pipe_control("POST", "clock", "{\"advance_s\": 59}");
	pipe_get(CREDS, tok);
	pipe_control("POST", "clock", "{\"advance_s\": 1}");
	pipe_get(CREDS, tok);  /* expired at 60 s */
	pipe_get(CREDS, NULL); /* IMDSv1 still works */
	pipe_get(CREDS, tok);
	pipe_run(r);
	cr_assert_eq(r[0].status, 200, "%ld %s", r[0].status, r[0].body);
	cr_assert_eq(r[1].status, 401, "a tampered token passed after a good one");
	cr_assert_eq(r[3].status, 200, "refused before its expiry");
	cr_assert_eq(r[5].status, 401, "an expired session was accepted");
	cr_assert_str_eq(r[5].body, "Unauthorized\n");
	cr_assert_eq(r[6].status, 200);
	cr_assert_eq(r[7].status, 401);
}

Test(aws, a_reset_ends_a_session_verified_just_before_on_the_same_connection)
{
	struct piped r[PIPE_MAX];
	char tok[TOKEN_LEN + 1], fresh[TOKEN_LEN + 1];

	session("21600", tok);
	pipe_get(CREDS, tok);
	pipe_get("/latest/meta-data/instance-id", tok);
	pipe_control("POST", "reset", NULL);
	pipe_get(CREDS, tok);
	pipe_get("/latest/meta-data/instance-id", tok);
	pipe_run(r);
	cr_assert_eq(r[0].status, 200);
	cr_assert_eq(r[1].status, 200);
	cr_assert_eq(r[2].status, 200, "reset: %ld %s", r[2].status, r[2].body);
	cr_assert_eq(r[3].status, 401, "a session outlived the reset");
	cr_assert_eq(r[4].status, 401);
	/* And a session opened after the reset works. */
	session("21600", fresh);
	expect(CREDS, fresh, 200, NULL);
}

/* The GCE flavour's token answer is kept per thread the same way. */
#define GCE_TOKEN "/computeMetadata/v1/instance/service-accounts/default/token"

static void gce_answer(const struct piped *r, char *token, size_t cap, long *expires_in)
{
	cJSON *o = cJSON_Parse(r->body);
	cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "access_token");
	cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "expires_in");

	cr_assert_eq(r->status, 200, "%ld %s", r->status, r->body);
	cr_assert(cJSON_IsString(t) && cJSON_IsNumber(e), "not a token answer: %s", r->body);
	snprintf(token, cap, "%s", t->valuestring);
	*expires_in = (long)e->valuedouble;
	cJSON_Delete(o);
}

Test(aws, gce_token_answers_follow_control_and_clock_on_the_same_connection)
{
	static const char *const ops[] = { "accounts/default/revoke", "accounts/default/rotate",
		                           "accounts/default/expire", "reset" };
	struct piped r[PIPE_MAX];
	char tok[7][600];
	long in[7];

	pipe_add("GET", GCE_TOKEN, "Metadata-Flavor: Google", NULL);
	pipe_add("GET", GCE_TOKEN, "Metadata-Flavor: Google", NULL);
	pipe_control("POST", "clock", "{\"advance_s\": 10}");
	pipe_add("GET", GCE_TOKEN, "Metadata-Flavor: Google", NULL);
	for (size_t i = 0; i < 4; i++) {
		pipe_control("POST", ops[i], i == 0 ? "{}" : NULL);
		pipe_add("GET", GCE_TOKEN, "Metadata-Flavor: Google", NULL);
	}
	pipe_run(r);
	gce_answer(&r[0], tok[0], sizeof(tok[0]), &in[0]);
	gce_answer(&r[1], tok[1], sizeof(tok[1]), &in[1]);
	gce_answer(&r[3], tok[2], sizeof(tok[2]), &in[2]);
	cr_assert_str_eq(tok[1], tok[0]);
	cr_assert_str_eq(tok[2], tok[0], "the same token, 10 s later");
	cr_assert_leq(in[2], in[1] - 10, "expires_in did not fall with the clock: %ld, %ld", in[1],
	              in[2]);
	for (size_t i = 0; i < 4; i++) {
		cr_assert_lt(r[4 + 2 * i].status, 300, "%s: %ld %s", ops[i], r[4 + 2 * i].status,
		             r[4 + 2 * i].body);
		gce_answer(&r[5 + 2 * i], tok[3 + i], sizeof(tok[3 + i]), &in[3 + i]);
		cr_assert_str_neq(tok[3 + i], tok[2 + i], "the answer after %s kept the old token",
		                  ops[i]);
	}
}

/* ---- the container endpoint ---- */

static void container(const char *auth, struct test_response *r)
{
	char h[400];
	const char *hs[] = { h, NULL };

	snprintf(h, sizeof(h), "Authorization: %s", auth ? auth : "");
	req("GET", "/v1/credentials", auth ? hs : NULL, NULL, r);
}

#define CONTAINER_TOKEN "0123456789abcdef-container"

TestSuite(aws_container, .timeout = 30);

Test(aws_container, authorization_is_checked)
{
	struct test_response r;
	struct creds c, imds;

	start_with("{\"aws\": {\"container_token\": \"" CONTAINER_TOKEN "\"}}");
	container(NULL, &r);
	cr_assert_eq(r.status, 401);
	cr_assert_str_eq(header(&r, "Content-Type"), "text/plain");
	test_response_free(&r);
	container("0123456789abcdef-containe", &r);
	cr_assert_eq(r.status, 403);
	test_response_free(&r);
	container("Bearer " CONTAINER_TOKEN, &r);
	cr_assert_eq(r.status, 403);
	test_response_free(&r);
	container(CONTAINER_TOKEN, &r);
	cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
	cr_assert_str_eq(header(&r, "Content-Type"), "application/json");
	cr_assert_null(header(&r, "Metadata-Flavor"));
	parse_creds(r.body, &c, 1);
	test_response_free(&r);
	get_creds(NULL, &imds);
	cr_assert_str_eq(c.key_id, imds.key_id, "container and IMDS serve different sets");
	stop();
}

Test(aws_container, container_and_imds_shapes_follow_a_rotate_on_the_same_connection)
{
	struct piped r[PIPE_MAX];
	struct creds c[6];

	start_with("{\"aws\": {\"container_token\": \"" CONTAINER_TOKEN "\"}}");
	for (int round = 0; round < 2; round++) {
		pipe_add("GET", "/v1/credentials", "Authorization: " CONTAINER_TOKEN, NULL);
		pipe_get(CREDS, NULL);
		pipe_add("GET", "/v1/credentials", "Authorization: " CONTAINER_TOKEN, NULL);
		if (round == 0)
			pipe_control("POST", "accounts/default/rotate", NULL);
	}
	pipe_run(r);
	for (size_t i = 0; i < 7; i++)
		cr_assert_eq(r[i].status, 200, "answer %zu: %ld %s", i, r[i].status, r[i].body);
	for (size_t i = 0, k = 0; i < 7; i++) {
		if (i == 3)
			continue;
		cr_assert_str_eq(r[i].content_type, i % 4 == 1 ? "text/plain" : "application/json",
		                 "answer %zu", i);
		parse_creds(r[i].body, &c[k++], i % 4 != 1);
	}
	cr_assert_str_eq(c[1].key_id, c[0].key_id);
	cr_assert_str_eq(c[2].key_id, c[0].key_id);
	cr_assert_str_eq(r[2].body, r[0].body);
	for (size_t k = 3; k < 6; k++)
		cr_assert_str_neq(c[k].key_id, c[0].key_id, "answer after the rotate: old set");
	cr_assert_str_eq(c[4].key_id, c[3].key_id);
	cr_assert_str_eq(c[5].key_id, c[3].key_id);
	stop();
}

/* ---- v2-only ---- */

TestSuite(aws_v2_only, .init = start_v2_only, .fini = stop, .timeout = 30);

Test(aws_v2_only, tokenless_requests_are_401)
{
	expect("/latest/meta-data/iam/security-credentials/", NULL, 401, NULL);
	expect(CREDS, NULL, 401, NULL);
	expect("/latest/meta-data/instance-id", NULL, 401, NULL);
}

Test(aws_v2_only, sessions_open_every_path)
{
	char tok[TOKEN_LEN + 1];
	struct creds c;

	session("21600", tok);
	expect("/latest/meta-data/iam/security-credentials/", tok, 200, ROLE);
	get_creds(tok, &c);
	expect(CREDS, "bogus", 401, NULL);
}

/* ---- no role configured ---- */

TestSuite(aws_no_role, .init = start_no_role, .fini = stop, .timeout = 30);

Test(aws_no_role, no_iam_tree_and_no_container_credentials)
{
	struct test_response r;

	expect("/latest/meta-data/", NULL, 200,
	       "hostname\ninstance-id\nlocal-hostname\nlocal-ipv4\nplacement/");
	expect("/latest/meta-data/iam/security-credentials/", NULL, 404, NULL);
	expect("/latest/meta-data/iam/info", NULL, 404, NULL);
	container("whatever-does-not-matter", &r);
	cr_assert_eq(r.status, 403);
	test_response_free(&r);
}
