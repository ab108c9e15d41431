/*
 * The GCE/Yandex flavour on the wire: the real metatokend on an ephemeral
 * loopback port, called over HTTP. Every status, header and body here is one
 * a real SDK depends on (PROTOCOL.md §1).
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "server_proc.h"

#define DEFAULT_EMAIL "default@metatoken-local.iam.gserviceaccount.com"

static struct test_server srv;

static void start(void)
{
	cr_assert_eq(test_server_start(&srv, NULL), 0, "metatokend did not start");
}

static void stop(void)
{
	test_server_stop(&srv);
}

/* GETs base_url + path with the flavour header; asserts a response came. */
static void get(const char *path, struct test_response *r)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", srv.base_url, path);
	cr_assert_eq(test_http_gce(url, r), 0, "no response for %s", path);
}

static void get_with(const char *method, const char *path, const char *const *headers,
                     struct test_response *r)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", srv.base_url, path);
	cr_assert_eq(test_http(method, url, headers, NULL, r), 0, "no response for %s", path);
}

static void assert_header(const struct test_response *r, const char *name, const char *want)
{
	char buf[256];

	cr_assert_not_null(test_response_header(r, name, buf, sizeof(buf)), "no %s header in:\n%s",
	                   name, r->headers);
	cr_assert_str_eq(buf, want, "%s", name);
}

/* Asserts status, exact content type, exact body, and the flavour header. */
static void expect(const char *path, long status, const char *ctype, const char *body)
{
	struct test_response r;

	get(path, &r);
	cr_assert_eq(r.status, status, "%s: status %ld, body: %s", path, r.status, r.body);
	assert_header(&r, "Content-Type", ctype);
	assert_header(&r, "Metadata-Flavor", "Google");
	if (body)
		cr_assert_str_eq(r.body, body, "%s: got [%s]", path, r.body);
	test_response_free(&r);
}

TestSuite(gce, .init = start, .fini = stop, .timeout = 30);

Test(gce, root_answers_the_google_auth_ping)
{
	const char *const h[] = { "metadata-flavor: Google", NULL };
	struct test_response r;

	get_with("GET", "/", h, &r);
	cr_assert_eq(r.status, 200);
	assert_header(&r, "Metadata-Flavor", "Google");
	test_response_free(&r);
	/* The ping without the request header still answers. */
	get_with("GET", "/", NULL, &r);
	cr_assert_eq(r.status, 200);
	test_response_free(&r);
}

Test(gce, instance_without_slash_answers_200)
{
	expect("/computeMetadata/v1/instance", 200, "application/text", NULL);
}

Test(gce, missing_flavour_header_is_403_with_exact_body)
{
	struct test_response r;

	get_with("GET", "/computeMetadata/v1/instance/service-accounts/default/token", NULL, &r);
	cr_assert_eq(r.status, 403);
	cr_assert_str_eq(r.body, "Missing required header \"Metadata-Flavor\": \"Google\"");
	assert_header(&r, "Metadata-Flavor", "Google");
	cr_assert_eq(strstr(r.body, "access_token"), NULL);
	test_response_free(&r);
}

Test(gce, wrong_flavour_value_is_403)
{
	const char *const h[] = { "Metadata-Flavor: Amazon", NULL };
	struct test_response r;

	get_with("GET", "/computeMetadata/v1/project/project-id", h, &r);
	cr_assert_eq(r.status, 403);
	test_response_free(&r);
}

Test(gce, legacy_google_metadata_request_header_is_accepted)
{
	const char *const h[] = { "X-Google-Metadata-Request: True", NULL };
	struct test_response r;

	get_with("GET", "/computeMetadata/v1/project/project-id", h, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "metatoken-local");
	test_response_free(&r);
}

Test(gce, header_names_are_case_insensitive)
{
	const char *const h[] = { "METADATA-FLAVOR: Google", NULL };
	struct test_response r;

	get_with("GET", "/computeMetadata/v1/project/project-id", h, &r);
	cr_assert_eq(r.status, 200);
	test_response_free(&r);
}

Test(gce, x_forwarded_for_is_refused)
{
	const char *const h[] = { "Metadata-Flavor: Google", "X-Forwarded-For: 10.0.0.1", NULL };
	struct test_response r;

	get_with("GET", "/computeMetadata/v1/instance/service-accounts/default/token", h, &r);
	cr_assert_eq(r.status, 403);
	assert_header(&r, "Metadata-Flavor", "Google");
	cr_assert_eq(strstr(r.body, "access_token"), NULL);
	test_response_free(&r);
}

Test(gce, unknown_paths_are_404_with_the_flavour_header)
{
	expect("/computeMetadata/v1/instance/nope", 404, "application/text", NULL);
	expect("/computeMetadata/v2/instance/id", 404, "application/text", NULL);
	expect("/computeMetadata/v1/instance//id", 404, "application/text", NULL);
	expect("/computeMetadata/v1/project/project-id/", 404, "application/text", NULL);
	expect("/computeMetadata/v1/instance/service-accounts/nobody@x/token", 404,
	       "application/text", NULL);
	expect("/elsewhere", 404, "application/text", NULL);
}

Test(gce, errors_carry_an_etag_too)
{
	const char *const h[] = { "Metadata-Flavor: Google", "X-Forwarded-For: 10.0.0.1", NULL };
	struct test_response r;
	char etag[64];

	get("/computeMetadata/v1/nope", &r);
	cr_assert_eq(r.status, 404);
	cr_assert_not_null(test_response_header(&r, "ETag", etag, sizeof(etag)));
	test_response_free(&r);
	get_with("GET", "/computeMetadata/v1/project/project-id", h, &r);
	cr_assert_eq(r.status, 403);
	cr_assert_not_null(test_response_header(&r, "ETag", etag, sizeof(etag)));
	test_response_free(&r);
}

Test(gce, wrong_method_is_405_with_allow)
{
	const char *const h[] = { "Metadata-Flavor: Google", NULL };
	struct test_response r;

	get_with("POST", "/computeMetadata/v1/instance/service-accounts/default/token", h, &r);
	cr_assert_eq(r.status, 405);
	assert_header(&r, "Allow", "GET, HEAD");
	assert_header(&r, "Metadata-Flavor", "Google");
	test_response_free(&r);
	/* / is also STS's (POST). */
	get_with("DELETE", "/", h, &r);
	cr_assert_eq(r.status, 405);
	assert_header(&r, "Allow", "GET, HEAD, POST");
	test_response_free(&r);
}

Test(gce, head_works_where_get_does)
{
	const char *const h[] = { "Metadata-Flavor: Google", NULL };
	struct test_response r;

	get_with("HEAD", "/computeMetadata/v1/project/project-id", h, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, 0);
	assert_header(&r, "Content-Length", "15");
	test_response_free(&r);
}

Test(gce, listings_mark_directories_with_a_slash)
{
	expect("/computeMetadata/", 200, "application/text", "v1/\n");
	expect("/computeMetadata/v1/", 200, "application/text", "instance/\nproject/\nyandex/\n");
	expect("/computeMetadata/v1/instance/", 200, "application/text",
	       "attributes/\nhostname\nid\nname\nservice-accounts/\nvendor/\nzone\n");
	expect("/computeMetadata/v1/instance/service-accounts/", 200, "application/text",
	       "default/\n" DEFAULT_EMAIL "/\n");
	expect("/computeMetadata/v1/instance/service-accounts/default/", 200, "application/text",
	       "aliases\nemail\nidentity\nscopes\ntoken\n");
	expect("/computeMetadata/v1/project/", 200, "application/text",
	       "attributes/\nnumeric-project-id\nproject-id\n");
}

Test(gce, text_leaves)
{
	expect("/computeMetadata/v1/project/project-id", 200, "application/text",
	       "metatoken-local");
	expect("/computeMetadata/v1/project/numeric-project-id", 200, "application/text",
	       "123456789012");
	expect("/computeMetadata/v1/instance/id", 200, "application/text", "fhm0metatoken0local01");
	expect("/computeMetadata/v1/instance/name", 200, "application/text", "metatoken-local");
	expect("/computeMetadata/v1/instance/hostname", 200, "application/text",
	       "metatoken-local.ru-central1.internal");
	expect("/computeMetadata/v1/instance/zone", 200, "application/text",
	       "projects/123456789012/zones/ru-central1-a");
	expect("/computeMetadata/v1/instance/service-accounts/default/email", 200,
	       "application/text", DEFAULT_EMAIL);
	expect("/computeMetadata/v1/instance/service-accounts/default/scopes", 200,
	       "application/text", "https://www.googleapis.com/auth/cloud-platform\n");
	expect("/computeMetadata/v1/instance/service-accounts/default/aliases", 200,
	       "application/text", "default\n");
}

Test(gce, yandex_vendor_paths)
{
	expect("/computeMetadata/v1/instance/vendor/folder-id", 200, "application/text",
	       "b1gmetatokenfolder01");
	expect("/computeMetadata/v1/instance/vendor/cloud-id", 200, "application/text",
	       "b1gmetatokencloud001");
	expect("/computeMetadata/v1/yandex/folder-id", 200, "application/text",
	       "b1gmetatokenfolder01");
	expect("/computeMetadata/v1/instance/vendor/labels/", 200, "application/text", NULL);
}

Test(gce, alt_json_on_a_text_leaf_is_a_json_string)
{
	expect("/computeMetadata/v1/project/project-id?alt=json", 200, "application/json",
	       "\"metatoken-local\"");
	expect("/computeMetadata/v1/project/numeric-project-id?alt=json", 200, "application/json",
	       "123456789012");
	expect("/computeMetadata/v1/instance/service-accounts/default/scopes?alt=json", 200,
	       "application/json", "[\"https://www.googleapis.com/auth/cloud-platform\"]");
	expect("/computeMetadata/v1/project/project-id?alt=text", 200, "application/text",
	       "metatoken-local");
	expect("/computeMetadata/v1/project/project-id?alt=xml", 400, "application/text", NULL);
}

Test(gce, recursive_account_view_is_what_google_auth_reads)
{
	expect("/computeMetadata/v1/instance/service-accounts/default/?recursive=true", 200,
	       "application/json",
	       "{\"aliases\":[\"default\"],\"email\":\"" DEFAULT_EMAIL
	       "\",\"scopes\":[\"https://www.googleapis.com/auth/cloud-platform\"]}");
	/* The email path serves the same account. */
	expect("/computeMetadata/v1/instance/service-accounts/" DEFAULT_EMAIL "/?recursive=true",
	       200, "application/json",
	       "{\"aliases\":[\"default\"],\"email\":\"" DEFAULT_EMAIL
	       "\",\"scopes\":[\"https://www.googleapis.com/auth/cloud-platform\"]}");
}

Test(gce, recursive_views_use_camel_case_keys_and_leave_tokens_out)
{
	struct test_response r;
	cJSON *root, *accounts;

	get("/computeMetadata/v1/?recursive=true", &r);
	cr_assert_eq(r.status, 200);
	assert_header(&r, "Content-Type", "application/json");
	cr_assert_eq(strstr(r.body, "access_token"), NULL);
	cr_assert_eq(strstr(r.body, "t1."), NULL);
	root = cJSON_Parse(r.body);
	cr_assert_not_null(root, "not JSON: %s", r.body);
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "project"), "numericProjectId")));
	accounts = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "instance"), "serviceAccounts");
	cr_assert_not_null(accounts, "%s", r.body);
	/* Account keys are names, not converted to camelCase. */
	cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(accounts, DEFAULT_EMAIL));
	cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(accounts, "default"));
	cr_assert_null(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(accounts, "default"), "token"));
	cJSON_Delete(root);
	test_response_free(&r);
}

Test(gce, recursive_alt_text_flattens_to_path_value_lines)
{
	expect("/computeMetadata/v1/project/?recursive=true&alt=text", 200, "application/text",
	       "attributes/enable-oslogin FALSE\nnumeric-project-id 123456789012\n"
	       "project-id metatoken-local\n");
}

/* Parses a token response; asserts its exact shape. */
static void parse_token(const struct test_response *r, char *tok, size_t cap, long long *expires_in)
{
	cJSON *j = cJSON_Parse(r->body), *at, *ei, *tt;

	cr_assert_not_null(j, "not JSON: %s", r->body);
	cr_assert_eq(cJSON_GetArraySize(j), 3, "exactly three fields: %s", r->body);
	at = cJSON_GetObjectItemCaseSensitive(j, "access_token");
	ei = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
	tt = cJSON_GetObjectItemCaseSensitive(j, "token_type");
	cr_assert(cJSON_IsString(at));
	cr_assert(cJSON_IsNumber(ei), "expires_in must be a JSON number: %s", r->body);
	cr_assert(cJSON_IsString(tt));
	cr_assert_str_eq(tt->valuestring, "Bearer");
	cr_assert_eq(strncmp(at->valuestring, "t1.", 3), 0);
	cr_assert_eq(strchr(strrchr(at->valuestring, '.') + 1, '='), NULL);
	cr_assert_eq(strlen(strrchr(at->valuestring, '.') + 1), 86, "64-byte signature");
	cr_assert_eq(ei->valuedouble, (double)(long long)ei->valuedouble, "integer expires_in");
	*expires_in = (long long)ei->valuedouble;
	snprintf(tok, cap, "%s", at->valuestring);
	cJSON_Delete(j);
}

Test(gce, token_is_json_with_falling_remaining_life)
{
	char t1[512], t2[512];
	long long e1, e2;
	struct test_response r;

	get("/computeMetadata/v1/instance/service-accounts/default/token", &r);
	cr_assert_eq(r.status, 200);
	assert_header(&r, "Content-Type", "application/json");
	assert_header(&r, "Metadata-Flavor", "Google");
	parse_token(&r, t1, sizeof(t1), &e1);
	cr_assert(e1 > 43000 && e1 <= 43200, "expires_in %lld", e1);
	test_response_free(&r);

	/* The email path, with the scopes google-auth-library appends: same token. */
	get("/computeMetadata/v1/instance/service-accounts/" DEFAULT_EMAIL
	    "/token?scopes=a,b&unknown=1",
	    &r);
	cr_assert_eq(r.status, 200);
	parse_token(&r, t2, sizeof(t2), &e2);
	cr_assert_str_eq(t1, t2);
	cr_assert(e2 <= e1 && e2 >= 1);
	test_response_free(&r);
}

Test(gce, every_response_has_a_16_hex_etag)
{
	struct test_response r;
	char etag[64];

	get("/computeMetadata/v1/project/project-id", &r);
	cr_assert_not_null(test_response_header(&r, "ETag", etag, sizeof(etag)));
	cr_assert_eq(strlen(etag), 16);
	cr_assert_eq(strspn(etag, "0123456789abcdef"), 16);
	test_response_free(&r);
}

Test(gce, hostile_requests_get_errors_and_the_server_lives_on)
{
	static const char injected[] =
	    "GET /computeMetadata/v1/%0a%0dinjected?alt=json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Metadata-Flavor: Google\r\nConnection: close\r\n\r\n";
	char big[70000], out[4096];
	long n;

	/* An oversized header: refused, not a crash. */
	memset(big, 0, sizeof(big));
	n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ");
	memset(big + n, 'a', 65000);
	memcpy(big + n + 65000, "\r\n\r\n", 4);
	n = test_raw(srv.port, big, strlen(big), out, sizeof(out));
	cr_assert(n >= 0);
	cr_assert(n == 0 || strstr(out, " 200 ") == NULL, "oversized header accepted: %s", out);

	/* Garbage instead of HTTP. */
	n = test_raw(srv.port, "\x01\x02 nonsense\r\n\r\n", 15, out, sizeof(out));
	cr_assert(n >= 0);
	cr_assert(n == 0 || strstr(out, "HTTP/1.1 400") == out, "got: %s", out);

	/* A path with control characters and a huge query. */
	n = test_raw(srv.port, injected, strlen(injected), out, sizeof(out));
	cr_assert(strstr(out, "HTTP/1.1 404") == out, "got: %s", out);

	expect("/computeMetadata/v1/project/project-id", 200, "application/text",
	       "metatoken-local");
}

Test(gce, keep_alive_serves_many_requests_on_one_connection)
{
	char req[] = "GET /computeMetadata/v1/project/project-id HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	             "Metadata-Flavor: Google\r\n\r\n";
	char last[] = "GET /computeMetadata/v1/project/project-id HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	              "Metadata-Flavor: Google\r\nConnection: close\r\n\r\n";
	char all[1024], out[8192];
	const char *p = out;
	int count = 0;

	snprintf(all, sizeof(all), "%s%s%s", req, req, last);
	cr_assert(test_raw(srv.port, all, strlen(all), out, sizeof(out)) > 0);
	while ((p = strstr(p, "HTTP/1.1 200"))) {
		count++;
		p++;
	}
	cr_assert_eq(count, 3, "pipelined keep-alive requests: %s", out);
}

Test(gce, oversized_request_bodies_get_413)
{
	const char *const h[] = { "Metadata-Flavor: Google", NULL };
	static char body[200 * 1024];
	struct test_response r;
	char url[256];

	memset(body, 'x', sizeof(body) - 1);
	snprintf(url, sizeof(url), "%s/computeMetadata/v1/", srv.base_url);
	cr_assert_eq(test_http("POST", url, h, body, &r), 0);
	cr_assert_eq(r.status, 413);
	test_response_free(&r);
	expect("/computeMetadata/v1/project/project-id", 200, "application/text",
	       "metatoken-local");
}

Test(gce, identity_needs_an_audience_and_answers_a_jwt)
{
	struct test_response r;
	const char *dot1, *dot2;

	expect("/computeMetadata/v1/instance/service-accounts/default/identity", 400,
	       "application/text", "non-empty audience parameter required");
	expect("/computeMetadata/v1/instance/service-accounts/default/identity?audience=", 400,
	       "application/text", "non-empty audience parameter required");
	get("/computeMetadata/v1/instance/service-accounts/default/identity?audience=https://a.example",
	    &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	assert_header(&r, "Content-Type", "application/text");
	/* header.claims.signature, base64url, no padding; RS256 with a 2048-bit
	 * key signs 256 bytes: 342 chars. */
	dot1 = strchr(r.body, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	cr_assert_not_null(dot2, "not a JWT: %s", r.body);
	cr_assert_null(strchr(dot2 + 1, '.'));
	cr_assert_eq(strlen(dot2 + 1), 342);
	cr_assert_eq(
	    strspn(r.body, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
	    r.body_len);
	test_response_free(&r);
	/* Not in recursive views, as GCE does. */
	get("/computeMetadata/v1/instance/service-accounts/default/?recursive=true", &r);
	cr_assert_null(strstr(r.body, "identity"), "%s", r.body);
	test_response_free(&r);
}

/* How a watch is held is test_waits.c's; here, its bad parameter. */
Test(gce, wait_for_change_refuses_a_bad_timeout)
{
	expect("/computeMetadata/v1/instance/id?wait_for_change=true&timeout_sec=x", 400,
	       "application/text", NULL);
}

/* A chunked upload past the cap: no Content-Length to refuse up front, so
 * the 413 comes when the upload ends, and says the connection closes. */
Test(gce, oversized_chunked_bodies_get_413_too)
{
	char out[4096], req[40000];
	size_t n;
	long got;

	n = (size_t)snprintf(req, sizeof(req),
	                     "POST /metatoken/v1/faults HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                     "Transfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 5; i++) { /* 5 chunks of 0x1000 bytes: 20 KiB */
		n += (size_t)snprintf(req + n, sizeof(req) - n, "1000\r\n");
		memset(req + n, 'x', 0x1000);
		n += 0x1000;
		n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
	}
	n += (size_t)snprintf(req + n, sizeof(req) - n, "0\r\n\r\n");
	got = test_raw(srv.port, req, n, out, sizeof(out));
	cr_assert(got > 0, "no answer");
	cr_assert(strstr(out, "HTTP/1.1 413") == out, "got: %s", out);
	cr_assert_not_null(strcasestr(out, "Connection: close"), "got: %s", out);
}
