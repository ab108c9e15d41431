/*
 * The control API and the validation stand-ins on the wire, against the
 * real metatokend: authorization, every operation, and what each does to the
 * tokens that metadata hands out and that /protected and /tokeninfo accept.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "server_proc.h"

static struct test_server srv;

static void start(void)
{
	cr_assert_eq(test_server_start(&srv, NULL), 0, "metatokend did not start");
	cr_assert(srv.admin_secret[0], "no admin secret in the banner");
}

static void stop(void)
{
	test_server_stop(&srv);
}

TestSuite(control, .init = start, .fini = stop, .timeout = 30);

/* Calls the control API; asserts the status; returns the parsed JSON body
 * (caller deletes). */
static cJSON *ctl(const char *method, const char *path, const char *body, long want)
{
	struct test_response r;
	cJSON *j;

	cr_assert_eq(test_control(srv.base_url, srv.admin_secret, method, path, body, &r), 0);
	cr_assert_eq(r.status, want, "%s %s: status %ld, body %s", method, path, r.status, r.body);
	j = cJSON_Parse(r.body);
	cr_assert_not_null(j, "%s %s: not JSON: %s", method, path, r.body);
	test_response_free(&r);
	return j;
}

static void ctl_ok(const char *method, const char *path, const char *body)
{
	cJSON_Delete(ctl(
	    method, path, body,
	    method[0] == 'P' && strcmp(path, "faults") == 0 && strcmp(method, "POST") == 0 ? 201
	                                                                                   : 200));
}

/* The error message of a 4xx control answer. */
static void expect_ctl_error(const char *method, const char *path, const char *body, long status,
                             const char *want)
{
	cJSON *j = ctl(method, path, body, status);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	cr_assert(cJSON_IsString(e));
	cr_assert_not_null(strstr(e->valuestring, want), "error \"%s\" lacks \"%s\"",
	                   e->valuestring, want);
	cJSON_Delete(j);
}

/* Fetches the default account's token from the metadata path. */
static void fetch_token(char *out, size_t cap, long long *expires_in)
{
	cr_assert_eq(test_gce_token(srv.base_url, out, cap, expires_in), 0);
}

/* Calls /protected/x with token; returns the status, and the
 * WWW-Authenticate header into challenge (if non-NULL). */
static long protected_call(const char *token, char *challenge, size_t cap)
{
	char url[256], auth[1024];
	const char *h[] = { auth, NULL };
	struct test_response r;
	long status;

	snprintf(url, sizeof(url), "%s/protected/storage/v1/b", srv.base_url);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	cr_assert_eq(test_http("GET", url, token ? h : NULL, NULL, &r), 0);
	status = r.status;
	if (challenge && !test_response_header(&r, "WWW-Authenticate", challenge, cap))
		challenge[0] = '\0';
	test_response_free(&r);
	return status;
}

Test(control, every_call_needs_the_admin_secret)
{
	const char *paths[] = { "stats", "clock", "faults", "accounts", "reset" };
	struct test_response r;
	char url[256], hdr[256];

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		snprintf(url, sizeof(url), "%s/metatoken/v1/%s", srv.base_url, paths[i]);
		cr_assert_eq(test_http("GET", url, NULL, NULL, &r), 0);
		cr_assert_eq(r.status, 401, "%s without a secret: %ld", paths[i], r.status);
		cr_assert_not_null(test_response_header(&r, "WWW-Authenticate", hdr, sizeof(hdr)));
		test_response_free(&r);
		cr_assert_eq(
		    test_control(srv.base_url, "not-the-secret-at-all", "GET", paths[i], NULL, &r),
		    0);
		cr_assert_eq(r.status, 401);
		test_response_free(&r);
	}
	/* A prefix of the secret is not the secret. */
	snprintf(hdr, sizeof(hdr), "%.*s", (int)strlen(srv.admin_secret) - 1, srv.admin_secret);
	cr_assert_eq(test_control(srv.base_url, hdr, "GET", "stats", NULL, &r), 0);
	cr_assert_eq(r.status, 401);
	test_response_free(&r);
	/* The metadata header is no key to it. */
	snprintf(url, sizeof(url), "%s/metatoken/v1/stats", srv.base_url);
	cr_assert_eq(test_http_gce(url, &r), 0);
	cr_assert_eq(r.status, 401);
	test_response_free(&r);
}

Test(control, metadata_paths_never_reach_it)
{
	struct test_response r;
	char url[256];

	snprintf(url, sizeof(url), "%s/computeMetadata/v1/metatoken/v1/stats", srv.base_url);
	cr_assert_eq(test_http_gce(url, &r), 0);
	cr_assert_eq(r.status, 404);
	test_response_free(&r);
}

Test(control, the_secret_file_is_private_and_removed_at_exit)
{
	char path[1024], content[512];
	struct stat st;
	FILE *f;

	/* The harness gives each server a private XDG_RUNTIME_DIR. */
	snprintf(path, sizeof(path), "%s/metatoken/admin-%d.secret", srv.runtime_dir, srv.port);
	cr_assert_eq(stat(path, &st), 0, "no secret file at %s", path);
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(content, sizeof(content), f));
	fclose(f);
	content[strcspn(content, "\n")] = '\0';
	cr_assert_str_eq(content, srv.admin_secret);
	cr_assert_eq(test_server_stop(&srv), 0);
	cr_assert_neq(stat(path, &st), 0, "secret file left behind");
}

Test(control, no_control_turns_it_off)
{
	struct test_server off;
	struct test_response r;
	char url[256];

	cr_assert_eq(test_server_start(&off, (const char *const[]){ "--no-control", NULL }), 0);
	cr_assert_str_eq(off.admin_secret, "");
	snprintf(url, sizeof(url), "%s/metatoken/v1/stats", off.base_url);
	cr_assert_eq(test_http("GET", url, NULL, NULL, &r), 0);
	cr_assert_eq(r.status, 404);
	test_response_free(&r);
	test_server_stop(&off);
}

Test(control, unknown_endpoints_and_methods)
{
	struct test_response r;

	expect_ctl_error("GET", "nope", NULL, 404, "no such control endpoint");
	expect_ctl_error("POST", "accounts/nobody@x/expire", NULL, 404, "no service account");
	cr_assert_eq(test_control(srv.base_url, srv.admin_secret, "PUT", "clock", NULL, &r), 0);
	cr_assert_eq(r.status, 405);
	{
		char allow[64];

		cr_assert_not_null(test_response_header(&r, "Allow", allow, sizeof(allow)));
		cr_assert_str_eq(allow, "GET, POST");
	}
	test_response_free(&r);
}

Test(control, expire_makes_the_current_token_invalid_and_metadata_mints_anew)
{
	char t1[512], t2[512], challenge[256];
	cJSON *j;

	fetch_token(t1, sizeof(t1), NULL);
	cr_assert_eq(protected_call(t1, NULL, 0), 200);
	j = ctl("POST", "accounts/default/expire", NULL, 200);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "current")));
	cJSON_Delete(j);
	cr_assert_eq(protected_call(t1, challenge, sizeof(challenge)), 401);
	cr_assert_str_eq(
	    challenge,
	    "Bearer error=\"invalid_token\", error_description=\"The access token expired\"");
	fetch_token(t2, sizeof(t2), NULL);
	cr_assert_str_neq(t1, t2);
	cr_assert_eq(protected_call(t2, NULL, 0), 200);
	/* Nothing current to expire twice in a row without a fetch. */
	cJSON_Delete(ctl("POST", "accounts/default/expire", NULL, 200));
	expect_ctl_error("POST", "accounts/default/expire", NULL, 409, "no current token");
}

Test(control, revoke_the_current_or_a_given_token)
{
	char t1[512], t2[512], t3[512], body[700], challenge[256];

	fetch_token(t1, sizeof(t1), NULL);
	cJSON_Delete(ctl("POST", "accounts/default/revoke", NULL, 200));
	cr_assert_eq(protected_call(t1, challenge, sizeof(challenge)), 401);
	cr_assert_not_null(strstr(challenge, "The access token was revoked"), "%s", challenge);
	fetch_token(t2, sizeof(t2), NULL);
	cr_assert_str_neq(t1, t2);

	/* Rotate, then revoke the old (no longer current) token by value. */
	cJSON_Delete(ctl("POST", "accounts/default/rotate", NULL, 200));
	fetch_token(t3, sizeof(t3), NULL);
	cr_assert_str_neq(t3, t2);
	cr_assert_eq(protected_call(t2, NULL, 0), 200, "rotation keeps the old token valid");
	snprintf(body, sizeof(body), "{\"token\":\"%s\"}", t2);
	cJSON_Delete(ctl("POST", "accounts/default/revoke", body, 200));
	cr_assert_eq(protected_call(t2, NULL, 0), 401);
	cr_assert_eq(protected_call(t3, NULL, 0), 200, "the current token is untouched");
	fetch_token(t1, sizeof(t1), NULL);
	cr_assert_str_eq(t1, t3);

	expect_ctl_error("POST", "accounts/default/revoke", "{\"token\":\"t1.garbage.x\"}", 400,
	                 "not a token of this server");
	expect_ctl_error("POST", "accounts/default/revoke", "{\"token\":42}", 400,
	                 "token: must be a string");
	expect_ctl_error("POST", "accounts/default/revoke", "{\"tokne\":\"x\"}", 400,
	                 "tokne: unknown key");
	expect_ctl_error("POST", "accounts/default/revoke", "not json", 400,
	                 "body:1:1: invalid JSON");
	expect_ctl_error("POST", "accounts/default/revoke", "[1]", 400,
	                 "body: must be a JSON object (got [1])");
}

Test(control, patch_changes_lifetime_and_margin_at_run_time)
{
	char t[512];
	long long expires_in;
	cJSON *j;

	j = ctl("PATCH", "accounts/default", "{\"lifetime_s\": 600, \"reissue_margin_s\": 60}",
	        200);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(j, "lifetime_s")->valuedouble, 600);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(j, "reissue_margin_s")->valuedouble, 60);
	cJSON_Delete(j);
	cJSON_Delete(ctl("POST", "accounts/default/rotate", NULL, 200));
	fetch_token(t, sizeof(t), &expires_in);
	cr_assert(expires_in <= 600 && expires_in > 590, "expires_in %lld", expires_in);

	expect_ctl_error("PATCH", "accounts/default", "{\"lifetime_s\": 0}", 400,
	                 "lifetime_s: must be a positive integer (got 0)");
	expect_ctl_error("PATCH", "accounts/default", "{\"lifetime_s\": \"ten\"}", 400,
	                 "lifetime_s: must be a positive integer (got \"ten\")");
	expect_ctl_error("PATCH", "accounts/default", "{}", 400, "give lifetime_s");
	expect_ctl_error("PATCH", "accounts/default", "{\"lifetime\": 5}", 400,
	                 "lifetime: unknown key");
}

Test(control, the_clock_moves_every_expiry)
{
	char t1[512], t2[512];
	long long e1, e2;
	cJSON *j;

	fetch_token(t1, sizeof(t1), &e1);
	j = ctl("POST", "clock", "{\"advance_s\": 3600}", 200);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(j, "offset_ms")->valuedouble, 3600000);
	cJSON_Delete(j);
	fetch_token(t2, sizeof(t2), &e2);
	cr_assert_str_eq(t1, t2);
	cr_assert(e1 - e2 >= 3600 && e1 - e2 <= 3602, "%lld -> %lld", e1, e2);

	/* Past its expiry: validation refuses it, metadata has a new one. */
	cJSON_Delete(ctl("POST", "clock", "{\"advance_s\": 43200}", 200));
	cr_assert_eq(protected_call(t1, NULL, 0), 401);
	fetch_token(t2, sizeof(t2), &e2);
	cr_assert_str_neq(t1, t2);
	cr_assert_eq(e2, 43200);

	j = ctl("POST", "clock", "{\"offset_s\": 0}", 200);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(j, "offset_ms")->valuedouble, 0);
	cJSON_Delete(j);
	j = ctl("GET", "clock", NULL, 200);
	cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "now")));
	cr_assert(cJSON_GetObjectItemCaseSensitive(j, "now_ms")->valuedouble > 1.7e12);
	cJSON_Delete(j);
	expect_ctl_error("POST", "clock", "{\"advance_s\": 1, \"offset_s\": 2}", 400,
	                 "exactly one");
	expect_ctl_error("POST", "clock", "{}", 400, "exactly one");
	expect_ctl_error("POST", "clock", "{\"advance_s\": 1.5}", 400,
	                 "advance_s: must be an integer");
}

/*
 * Sends a control request over a raw connection, with the body's length
 * given, so that the body may hold a NUL. Returns the status; the answer's
 * body goes to body_out.
 */
static long raw_control(const char *method, const char *path, const char *body, size_t len,
                        char *body_out, size_t cap)
{
	char req[2048], out[4096];
	const char *sep;
	long status = 0;
	int n;

	n = snprintf(req, sizeof(req),
	             "%s /metatoken/v1/%s HTTP/1.1\r\nHost: %s\r\n"
	             "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
	             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	             method, path, srv.host_port, srv.admin_secret, len);
	cr_assert(n > 0 && (size_t)n + len < sizeof(req));
	memcpy(req + n, body, len);
	cr_assert(test_raw(srv.port, req, (size_t)n + len, out, sizeof(out)) > 0);
	cr_assert_eq(sscanf(out, "HTTP/1.1 %ld", &status), 1, "%s", out);
	sep = strstr(out, "\r\n\r\n");
	snprintf(body_out, cap, "%s", sep ? sep + 4 : "");
	return status;
}

/* The clock's offset now, in ms. */
static double clock_offset_ms(void)
{
	cJSON *j = ctl("GET", "clock", NULL, 200);
	double offset = cJSON_GetObjectItemCaseSensitive(j, "offset_ms")->valuedouble;

	cJSON_Delete(j);
	return offset;
}

/* A body means one thing to every reader: a repeated key, text after the
 * object or a NUL inside the body is refused, and nothing changes. */
Test(control, bodies_are_read_strictly)
{
	static const char nul_after[] = "{\"advance_s\":1}\0{\"advance_s\":99}";
	char body[1024];
	cJSON *j;

	expect_ctl_error("POST", "clock", "{\"advance_s\":1,\"advance_s\":2}", 400,
	                 "advance_s: duplicate key");
	expect_ctl_error("POST", "clock", "{\"advance_s\":1} x", 400,
	                 "body:1:17: invalid JSON: unexpected text after the top-level value");
	cr_assert_eq(
	    raw_control("POST", "clock", nul_after, sizeof(nul_after) - 1, body, sizeof(body)), 400,
	    "%s", body);
	cr_assert_not_null(strstr(body, "body:1:16: NUL byte in body"), "%s", body);
	cr_assert_eq(clock_offset_ms(), 0, "a refused body moved the clock");

	expect_ctl_error("PATCH", "accounts/default", "{\"lifetime_s\":600,\"lifetime_s\":1}", 400,
	                 "lifetime_s: duplicate key");
	j = ctl("GET", "accounts/default", NULL, 200);
	cr_assert_neq(cJSON_GetObjectItemCaseSensitive(j, "lifetime_s")->valuedouble, 1);
	cJSON_Delete(j);
	expect_ctl_error("POST", "accounts/default/revoke", "{\"token\":\"a\",\"token\":\"b\"}",
	                 400, "token: duplicate key");

	expect_ctl_error("POST", "faults", "{\"path\":\"/a\",\"status\":500,\"status\":200}", 400,
	                 "status: duplicate key");
	j = ctl("GET", "faults", NULL, 200);
	cr_assert_eq(cJSON_GetArraySize(j), 0);
	cJSON_Delete(j);

	/* An empty body is {}, as before. */
	expect_ctl_error("POST", "clock", "", 400, "exactly one");
}

Test(control, tokeninfo_in_googles_shape)
{
	char t[512], url[1024];
	struct test_response r;
	cJSON *j;

	fetch_token(t, sizeof(t), NULL);
	snprintf(url, sizeof(url), "%s/tokeninfo?access_token=%s", srv.base_url, t);
	cr_assert_eq(test_http("GET", url, NULL, NULL, &r), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = cJSON_Parse(r.body);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "email")->valuestring,
	                 "default@metatoken-local.iam.gserviceaccount.com");
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "azp")->valuestring,
	                 "ajemetatokendefault1");
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "scope")->valuestring,
	                 "https://www.googleapis.com/auth/cloud-platform");
	/* exp is epoch seconds on the wall clock: twelve hours from now. */
	cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "exp")));
	cr_assert(llabs(atoll(cJSON_GetObjectItemCaseSensitive(j, "exp")->valuestring) -
	                ((long long)time(NULL) + 43200)) < 60,
	          "exp %s", cJSON_GetObjectItemCaseSensitive(j, "exp")->valuestring);
	cr_assert(atoll(cJSON_GetObjectItemCaseSensitive(j, "expires_in")->valuestring) > 43000);
	cJSON_Delete(j);
	test_response_free(&r);

	/* Tampered: the last signature character changed. */
	t[strlen(t) - 1] = t[strlen(t) - 1] == 'A' ? 'B' : 'A';
	snprintf(url, sizeof(url), "%s/tokeninfo?access_token=%s", srv.base_url, t);
	cr_assert_eq(test_http("GET", url, NULL, NULL, &r), 0);
	cr_assert_eq(r.status, 400);
	cr_assert_not_null(strstr(r.body, "invalid_token"), "%s", r.body);
	test_response_free(&r);
	snprintf(url, sizeof(url), "%s/tokeninfo", srv.base_url);
	cr_assert_eq(test_http("GET", url, NULL, NULL, &r), 0);
	cr_assert_eq(r.status, 400);
	test_response_free(&r);
}

Test(control, protected_says_what_is_wrong)
{
	char t[512], challenge[256];

	cr_assert_eq(protected_call(NULL, challenge, sizeof(challenge)), 401);
	cr_assert_str_eq(challenge, "Bearer realm=\"metatoken\"");
	cr_assert_eq(protected_call("t1.AAAA.BBBB", challenge, sizeof(challenge)), 401);
	cr_assert_not_null(strstr(challenge, "malformed"), "%s", challenge);
	fetch_token(t, sizeof(t), NULL);
	/* A payload character flipped: the signature no longer matches. */
	t[5] = t[5] == 'A' ? 'B' : 'A';
	cr_assert_eq(protected_call(t, challenge, sizeof(challenge)), 401);
	cr_assert(strstr(challenge, "signature is invalid") || strstr(challenge, "malformed"), "%s",
	          challenge);
}

Test(control, faults_status_with_retry_after_then_recovery)
{
	struct test_response r;
	char url[256], v[64];
	cJSON *j;

	j = ctl(
	    "POST", "faults",
	    "{\"path\": \"/computeMetadata/v1/instance/service-accounts/\", \"method\": \"GET\","
	    " \"status\": 503, \"retry_after_s\": 2, \"count\": 2}",
	    201);
	cr_assert(cJSON_GetObjectItemCaseSensitive(j, "id")->valuedouble >= 1);
	cJSON_Delete(j);
	snprintf(url, sizeof(url), "%s/computeMetadata/v1/instance/service-accounts/default/token",
	         srv.base_url);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(test_http_gce(url, &r), 0);
		cr_assert_eq(r.status, 503);
		cr_assert_str_eq(test_response_header(&r, "Retry-After", v, sizeof(v)), "2");
		cr_assert_str_eq(test_response_header(&r, "Metadata-Flavor", v, sizeof(v)),
		                 "Google");
		test_response_free(&r);
	}
	cr_assert_eq(test_http_gce(url, &r), 0);
	cr_assert_eq(r.status, 200);
	test_response_free(&r);
	/* A used-up rule is gone. */
	j = ctl("GET", "faults", NULL, 200);
	cr_assert_eq(cJSON_GetArraySize(j), 0);
	cJSON_Delete(j);
	/* Other paths were never affected. */
	snprintf(url, sizeof(url), "%s/computeMetadata/v1/project/project-id", srv.base_url);
	cr_assert_eq(test_http_gce(url, &r), 0);
	cr_assert_eq(r.status, 200);
	test_response_free(&r);
}

Test(control, faults_list_delete_and_validation)
{
	cJSON *j;

	ctl_ok("POST", "faults", "{\"path\": \"/a\", \"status\": 500}");
	ctl_ok("POST", "faults", "{\"path\": \"/b\", \"drop\": true, \"probability\": 0.5}");
	j = ctl("GET", "faults", NULL, 200);
	cr_assert_eq(cJSON_GetArraySize(j), 2);
	cJSON_Delete(j);
	cJSON_Delete(ctl("DELETE", "faults/1", NULL, 200));
	j = ctl("GET", "faults", NULL, 200);
	cr_assert_eq(cJSON_GetArraySize(j), 1);
	cr_assert_str_eq(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, 0), "path")->valuestring, "/b");
	cJSON_Delete(j);
	expect_ctl_error("DELETE", "faults/1", NULL, 404, "no fault rule 1");
	cJSON_Delete(ctl("DELETE", "faults", NULL, 200));
	j = ctl("GET", "faults", NULL, 200);
	cr_assert_eq(cJSON_GetArraySize(j), 0);
	cJSON_Delete(j);

	expect_ctl_error("POST", "faults", "{\"status\": 500}", 400, "path: is required");
	expect_ctl_error("POST", "faults", "{\"path\": \"/x\"}", 400, "needs an action");
	expect_ctl_error("POST", "faults", "{\"path\": \"/x\", \"latency_ms\": 0}", 400,
	                 "needs an action");
	expect_ctl_error("POST", "faults", "{\"path\": \"/x\", \"status\": 101}", 400,
	                 "status: must be an integer from 200 to 599 (got 101)");
	expect_ctl_error("POST", "faults", "{\"path\": \"/x\", \"status\": 42}", 400,
	                 "status: must be an integer from 200 to 599 (got 42)");
	expect_ctl_error("POST", "faults", "{\"path\": \"/x\", \"body\": \"weird\"}", 400,
	                 "body: must be \"malformed\" or \"truncated\"");
	expect_ctl_error("POST", "faults",
	                 "{\"path\": \"/x\", \"status\": 500, \"probability\": 0}", 400,
	                 "probability");
	expect_ctl_error("POST", "faults", "{\"path\": \"/x\", \"latency_ms\": 100000}", 400,
	                 "latency_ms");
	expect_ctl_error("POST", "faults", "{\"path\": \"x\", \"status\": 500}", 400,
	                 "path: must be a string starting with /");
	expect_ctl_error("POST", "faults", "{\"path\": \"/x\", \"stauts\": 500}", 400,
	                 "stauts: unknown key");
	expect_ctl_error("POST", "faults", "[1]", 400, "must be a JSON object");
}

Test(control, faults_drop_malformed_truncated_and_expires_in)
{
	struct test_response r;
	cJSON *doc;
	char url[256];

	snprintf(url, sizeof(url), "%s/computeMetadata/v1/instance/service-accounts/default/token",
	         srv.base_url);

	ctl_ok("POST", "faults", "{\"path\": \"/computeMetadata/\", \"drop\": true, \"count\": 1}");
	cr_assert_eq(test_http_gce(url, &r), -1, "a dropped connection gives no response");

	ctl_ok("POST", "faults",
	       "{\"path\": \"/computeMetadata/\", \"body\": \"malformed\", \"count\": 1}");
	cr_assert_eq(test_http_gce(url, &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_null(cJSON_Parse(r.body), "malformed body parsed as JSON: %s", r.body);
	test_response_free(&r);

	ctl_ok("POST", "faults",
	       "{\"path\": \"/computeMetadata/\", \"body\": \"truncated\", \"count\": 1}");
	cr_assert_eq(test_http_gce(url, &r), -1, "a truncated body is a transfer error");

	ctl_ok("POST", "faults",
	       "{\"path\": \"/computeMetadata/\", \"expires_in\": 0, \"count\": 1}");
	cr_assert_eq(test_http_gce(url, &r), 0);
	cr_assert_not_null(strstr(r.body, "\"expires_in\":0,"), "%s", r.body);
	test_response_free(&r);

	/* All rules used up: the real answer again. */
	cr_assert_eq(test_http_gce(url, &r), 0);
	cr_assert_eq(r.status, 200);
	doc = cJSON_Parse(r.body);
	cr_assert_not_null(doc, "%s", r.body);
	cJSON_Delete(doc);
	test_response_free(&r);
}

Test(control, stats_count_requests_and_tokens)
{
	char t[512];
	struct test_response r;
	char url[256];
	cJSON *j, *acct, *paths;

	fetch_token(t, sizeof(t), NULL);
	fetch_token(t, sizeof(t), NULL);
	snprintf(url, sizeof(url), "%s/computeMetadata/v1/nope", srv.base_url);
	cr_assert_eq(test_http_gce(url, &r), 0);
	test_response_free(&r);
	cJSON_Delete(ctl("POST", "accounts/default/revoke", NULL, 200));

	j = ctl("GET", "stats", NULL, 200);
	acct = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "accounts"),
	                                        "ajemetatokendefault1");
	cr_assert_not_null(acct, "%s", cJSON_PrintUnformatted(j));
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(acct, "minted")->valuedouble, 1);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(acct, "served")->valuedouble, 2);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(acct, "revoked")->valuedouble, 1);
	paths = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "requests"),
	                                         "paths");
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(
	                 cJSON_GetObjectItemCaseSensitive(
	                     paths, "/computeMetadata/v1/instance/service-accounts/default/token"),
	                 "200")
	                 ->valuedouble,
	             2);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(
	                 cJSON_GetObjectItemCaseSensitive(paths, "/computeMetadata/v1/nope"), "404")
	                 ->valuedouble,
	             1);
	cJSON_Delete(j);
}

Test(control, reset_returns_to_the_start_up_state_but_keeps_revocations)
{
	char t1[512], t2[512];
	long long e;
	cJSON *j;

	fetch_token(t1, sizeof(t1), NULL);
	cJSON_Delete(ctl("POST", "accounts/default/revoke", NULL, 200));
	cJSON_Delete(ctl("POST", "clock", "{\"advance_s\": 100}", 200));
	ctl_ok("POST", "faults", "{\"path\": \"/x\", \"status\": 500}");
	cJSON_Delete(ctl("PATCH", "accounts/default", "{\"lifetime_s\": 60}", 200));
	fetch_token(t2, sizeof(t2), NULL);

	cJSON_Delete(ctl("POST", "reset", NULL, 200));
	j = ctl("GET", "clock", NULL, 200);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(j, "offset_ms")->valuedouble, 0);
	cJSON_Delete(j);
	j = ctl("GET", "faults", NULL, 200);
	cr_assert_eq(cJSON_GetArraySize(j), 0);
	cJSON_Delete(j);
	j = ctl("GET", "accounts/default", NULL, 200);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(j, "lifetime_s")->valuedouble, 43200);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(j, "minted")->valuedouble, 0);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "current")));
	cJSON_Delete(j);
	fetch_token(t2, sizeof(t2), &e);
	cr_assert_eq(e, 43200);
	cr_assert_eq(protected_call(t1, NULL, 0), 401, "a revoked token stays revoked");
	cr_assert_eq(protected_call(t2, NULL, 0), 200);
}

/* Two servers with one signing key accept each other's tokens; a server
 * that does not know the account refuses them. */
Test(control, replicas_sharing_a_key_accept_each_others_tokens)
{
	char dir[] = "/tmp/metatoken-replica-XXXXXX", key[128], cfg_same[160], cfg_other[160];
	char cmd[400], t[512], challenge[256];
	struct test_server b, c;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm ed25519 -out %s 2>/dev/null", key);
	cr_assert_eq(system(cmd), 0);
	snprintf(cfg_same, sizeof(cfg_same), "%s/same.json", dir);
	f = fopen(cfg_same, "w");
	fprintf(f, "{\"signing_key\": \"%s\"}", key);
	fclose(f);
	snprintf(cfg_other, sizeof(cfg_other), "%s/other.json", dir);
	f = fopen(cfg_other, "w");
	fprintf(f,
	        "{\"signing_key\": \"%s\", \"service_accounts\": [{\"id\": \"ajeother\","
	        " \"email\": \"other@p.iam\"}]}",
	        key);
	fclose(f);

	/* Replace the suite's server with one on the shared key. */
	test_server_stop(&srv);
	cr_assert_eq(test_server_start(&srv, (const char *const[]){ "--config", cfg_same, NULL }),
	             0);
	cr_assert_eq(test_server_start(&b, (const char *const[]){ "--config", cfg_same, NULL }), 0);
	cr_assert_eq(test_server_start(&c, (const char *const[]){ "--config", cfg_other, NULL }),
	             0);
	fetch_token(t, sizeof(t), NULL);
	{
		struct test_server a = srv;

		srv = b;
		cr_assert_eq(protected_call(t, NULL, 0), 200, "replica B refused A's token");
		srv = c;
		cr_assert_eq(protected_call(t, challenge, sizeof(challenge)), 401);
		cr_assert_not_null(strstr(challenge, "unknown service account"), "%s", challenge);
		srv = a;
	}
	test_server_stop(&b);
	test_server_stop(&c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* The AWS credentials' Token is a bearer token of the same account: taking
 * the account's token out of service takes it out too. */
Test(control, revoking_an_account_revokes_its_aws_credentials_token)
{
	char url[256], tok[512];
	struct test_response r;
	cJSON *j;

	snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/metatoken-role",
	         srv.base_url);
	cr_assert_eq(test_http("GET", url, NULL, NULL, &r), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = cJSON_Parse(r.body);
	snprintf(tok, sizeof(tok), "%s", cJSON_GetObjectItemCaseSensitive(j, "Token")->valuestring);
	cJSON_Delete(j);
	test_response_free(&r);
	cr_assert_eq(protected_call(tok, NULL, 0), 200);
	cJSON_Delete(ctl("POST", "accounts/default/revoke", NULL, 200));
	cr_assert_eq(protected_call(tok, NULL, 0), 401, "the AWS Token outlived the revocation");
}

/* A path longer than a stats slot holds must not take a new slot each time. */
Test(control, long_paths_do_not_fill_the_stats)
{
	char url[400], path[260];
	struct test_response r;
	cJSON *j, *paths, *p;

	memset(path, 'a', 250);
	path[250] = '\0';
	snprintf(url, sizeof(url), "%s/%s", srv.base_url, path);
	for (int i = 0; i < 400; i++) {
		cr_assert_eq(test_http("GET", url, NULL, NULL, &r), 0);
		test_response_free(&r);
	}
	j = ctl("GET", "stats", NULL, 200);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(
	                 cJSON_GetObjectItemCaseSensitive(j, "requests"), "other")
	                 ->valuedouble,
	             0);
	paths = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "requests"),
	                                         "paths");
	cr_assert_eq(cJSON_GetArraySize(paths), 1, "%d paths", cJSON_GetArraySize(paths));
	p = cJSON_GetArrayItem(paths, 0);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(p, "404")->valuedouble, 400);
	cJSON_Delete(j);
}
