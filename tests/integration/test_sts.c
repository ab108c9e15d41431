/*
 * The STS stand-in on the wire (issue 14, item 4): the real metatokend on an
 * ephemeral loopback port, GetCallerIdentity signed with the credentials it
 * hands out, in the query and JSON protocols, and each of AWS's answers:
 * success, ExpiredToken, InvalidClientTokenId, SignatureDoesNotMatch and the
 * refusals around them. Requests are signed here with server/sigv4.c, which
 * test_sigv4 holds to AWS's published examples (and sdk_botocore_sts signs
 * with botocore's own signer). Time moves through the control API.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "server_proc.h"
#include "sigv4.h"

#define CONTAINER  "/v1/credentials"
#define FORM_BODY  "Action=GetCallerIdentity&Version=2011-06-15"
#define TARGET     "AWSSecurityTokenServiceV20110615.GetCallerIdentity"
#define MSG_EXPIRE "The security token included in the request is expired"
#define MSG_INVAL  "The security token included in the request is invalid."
#define MSG_SIG                                                                                    \
	"The request signature we calculated does not match the signature you provided. "          \
	"Check your AWS Secret Access Key and signing method. Consult the service "                \
	"documentation for details."

static struct test_server srv;

struct creds {
	char id[64], secret[64], token[512], expiration[32];
};

/* How to spoil or vary one signed request. */
struct call {
	int json;
	const char *body;       /* NULL: the protocol's own */
	const char *sent_body;  /* sent instead of the body signed */
	const char *target;     /* JSON: X-Amz-Target (NULL: GetCallerIdentity) */
	const char *key_id;     /* instead of the set's */
	const char *secret;     /* signed with this instead */
	const char *token;      /* sent instead of the set's ("" none) */
	const char *service;    /* scope (NULL: sts) */
	long long date_shift_s; /* X-Amz-Date moved from the host's clock */
	const char *host;       /* Host sent and signed */
	const char *extra;      /* one more header, unsigned */
	const char *auth;       /* Authorization sent as is ("" none) */
};

#define CONTAINER_TOKEN "sts-test-container-token"

static void start(void)
{
	cr_assert_eq(test_server_start_config(
	                 &srv, "{\"aws\": {\"container_token\": \"" CONTAINER_TOKEN "\"}}"),
	             0, "metatokend did not start");
}

static void stop(void)
{
	test_server_stop(&srv);
}

static void control(const char *method, const char *path, const char *body, long want)
{
	struct test_response r;

	cr_assert_eq(test_control(srv.base_url, srv.admin_secret, method, path, body, &r), 0);
	cr_assert_eq(r.status, want, "control %s %s: %ld %s", method, path, r.status, r.body);
	test_response_free(&r);
}

static void copy_field(cJSON *o, const char *name, char *out, size_t cap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	cr_assert(cJSON_IsString(v), "no %s", name);
	snprintf(out, cap, "%s", v->valuestring);
}

/* The role's current credentials, from the container endpoint. */
static void get_creds(struct creds *c)
{
	char url[256], auth[300];
	const char *h[] = { auth, NULL };
	struct test_response r;
	cJSON *o;

	snprintf(url, sizeof(url), "%s" CONTAINER, srv.base_url);
	snprintf(auth, sizeof(auth), "Authorization: %s", CONTAINER_TOKEN);
	cr_assert_eq(test_http("GET", url, h, NULL, &r), 0);
	cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
	o = cJSON_Parse(r.body);
	cr_assert_not_null(o);
	copy_field(o, "AccessKeyId", c->id, sizeof(c->id));
	copy_field(o, "SecretAccessKey", c->secret, sizeof(c->secret));
	copy_field(o, "Token", c->token, sizeof(c->token));
	copy_field(o, "Expiration", c->expiration, sizeof(c->expiration));
	cJSON_Delete(o);
	test_response_free(&r);
}

static struct sigv4_span span(const char *s)
{
	return (struct sigv4_span){ s, strlen(s) };
}

/* Signs and sends GetCallerIdentity with c as the call says. */
static void sts(const struct creds *c, const struct call *k, struct test_response *r)
{
	const char *body = k->body ? k->body : k->json ? "{}" : FORM_BODY;
	const char *ctype = k->json ? "application/x-amz-json-1.0"
	                            : "application/x-www-form-urlencoded; charset=utf-8";
	const char *token = k->token ? k->token : c->token;
	const char *host = k->host ? k->host : srv.host_port;
	const char *target = k->target ? k->target : TARGET;
	char date[SIGV4_DATE_LEN + 1], hash[SIGV4_HEX_LEN + 1], sig[SIGV4_HEX_LEN + 1], *canonical;
	char url[256], h_auth[1024], h_date[64], h_token[600], h_host[300], h_ct[128],
	    h_target[300];
	struct sigv4_header sh[5];
	size_t n = 0, nh = 0;
	const char *headers[10];
	time_t t = time(NULL) + (time_t)k->date_shift_s;
	struct tm tm;
	struct sigv4_span d, region = span("us-east-1"),
	                     svc = span(k->service ? k->service : "sts");
	long len;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	d = (struct sigv4_span){ date, 8 };
	sh[n++] = (struct sigv4_header){ span("content-type"), ctype };
	sh[n++] = (struct sigv4_header){ span("host"), host };
	sh[n++] = (struct sigv4_header){ span("x-amz-date"), date };
	if (*token)
		sh[n++] = (struct sigv4_header){ span("x-amz-security-token"), token };
	if (k->json)
		sh[n++] = (struct sigv4_header){ span("x-amz-target"), target };
	sigv4_sha256_hex(body, strlen(body), hash);
	len = sigv4_canonical_request(&(struct sigv4_request){ .method = "POST",
	                                                       .path = "/",
	                                                       .headers = sh,
	                                                       .n_headers = n,
	                                                       .payload_hash = hash },
	                              &canonical);
	cr_assert_geq(len, 0);
	cr_assert_eq(sigv4_signature(k->secret ? k->secret : c->secret, date, &d, &region, &svc,
	                             canonical, (size_t)len, NULL, 0, sig),
	             0);
	free(canonical);
	snprintf(h_auth, sizeof(h_auth),
	         "Authorization: AWS4-HMAC-SHA256 Credential=%s/%.8s/us-east-1/%s/aws4_request, "
	         "SignedHeaders=content-type;host;x-amz-date%s%s, Signature=%s",
	         k->key_id ? k->key_id : c->id, date, k->service ? k->service : "sts",
	         *token ? ";x-amz-security-token" : "", k->json ? ";x-amz-target" : "", sig);
	snprintf(h_date, sizeof(h_date), "X-Amz-Date: %s", date);
	snprintf(h_token, sizeof(h_token), "X-Amz-Security-Token: %s", token);
	snprintf(h_host, sizeof(h_host), "Host: %s", host);
	snprintf(h_ct, sizeof(h_ct), "Content-Type: %s", ctype);
	snprintf(h_target, sizeof(h_target), "X-Amz-Target: %s", target);
	if (!k->auth)
		headers[nh++] = h_auth;
	else if (*k->auth)
		headers[nh++] = k->auth;
	headers[nh++] = h_date;
	if (*token)
		headers[nh++] = h_token;
	headers[nh++] = h_host;
	headers[nh++] = h_ct;
	if (k->json)
		headers[nh++] = h_target;
	if (k->extra)
		headers[nh++] = k->extra;
	headers[nh] = NULL;
	snprintf(url, sizeof(url), "%s/", srv.base_url);
	cr_assert_eq(test_http("POST", url, headers, k->sent_body ? k->sent_body : body, r), 0);
}

static bool has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/* Asserts an error answer in the query protocol's shape. */
static void expect_xml_error(struct test_response *r, long status, const char *code,
                             const char *message)
{
	char buf[128], want[1024];

	cr_expect_eq(r->status, status, "%ld %s", r->status, r->body);
	cr_expect(has(test_response_header(r, "Content-Type", buf, sizeof(buf)), "text/xml"));
	cr_expect(test_response_header(r, "x-amzn-RequestId", buf, sizeof(buf)) != NULL);
	cr_expect(
	    has(r->body, "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
	    "%s", r->body);
	cr_expect(has(r->body, "<Type>Sender</Type>"), "%s", r->body);
	snprintf(want, sizeof(want), "<Code>%s</Code>", code);
	cr_expect(has(r->body, want), "want %s: %s", code, r->body);
	if (message) {
		snprintf(want, sizeof(want), "<Message>%s</Message>", message);
		cr_expect(has(r->body, want), "want %s: %s", message, r->body);
	}
	cr_expect(has(r->body, "<RequestId>"), "%s", r->body);
}

/* Asserts an error answer in the JSON protocol's shape. */
static void expect_json_error(struct test_response *r, long status, const char *code,
                              const char *type, const char *message)
{
	char buf[128], want[128];
	cJSON *o;

	cr_expect_eq(r->status, status, "%ld %s", r->status, r->body);
	cr_expect(has(test_response_header(r, "Content-Type", buf, sizeof(buf)),
	              "application/x-amz-json-1.0"));
	snprintf(want, sizeof(want), "%s;Sender", code);
	cr_expect(has(test_response_header(r, "x-amzn-query-error", buf, sizeof(buf)), want),
	          "x-amzn-query-error: %s", buf);
	o = cJSON_Parse(r->body);
	cr_assert_not_null(o, "%s", r->body);
	cr_expect(has(cJSON_GetStringValue(cJSON_GetObjectItem(o, "__type")), type), "%s", r->body);
	if (message)
		cr_expect(has(cJSON_GetStringValue(cJSON_GetObjectItem(o, "message")), message),
		          "%s", r->body);
	cJSON_Delete(o);
}

static void expect_identity(struct test_response *r, int json)
{
	cr_expect_eq(r->status, 200, "%ld %s", r->status, r->body);
	if (json) {
		cJSON *o = cJSON_Parse(r->body);

		cr_assert_not_null(o, "%s", r->body);
		cr_expect(has(cJSON_GetStringValue(cJSON_GetObjectItem(o, "Arn")),
		              "arn:aws:sts::123456789012:assumed-role/metatoken-role/"),
		          "%s", r->body);
		cr_expect(
		    has(cJSON_GetStringValue(cJSON_GetObjectItem(o, "Account")), "123456789012"));
		cr_expect(has(cJSON_GetStringValue(cJSON_GetObjectItem(o, "UserId")), "AROA"));
		cJSON_Delete(o);
		return;
	}
	cr_expect(
	    has(r->body,
	        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
	    "%s", r->body);
	cr_expect(has(r->body, "<Arn>arn:aws:sts::123456789012:assumed-role/metatoken-role/"), "%s",
	          r->body);
	cr_expect(has(r->body, "<Account>123456789012</Account>"), "%s", r->body);
	cr_expect(has(r->body, "<UserId>AROA"), "%s", r->body);
}

TestSuite(sts, .init = start, .fini = stop);

Test(sts, query_protocol_answers_who_the_caller_is)
{
	struct creds c;
	struct test_response r;

	get_creds(&c);
	sts(&c, &(struct call){ 0 }, &r);
	expect_identity(&r, 0);
	test_response_free(&r);
}

Test(sts, json_protocol_answers_who_the_caller_is)
{
	struct creds c;
	struct test_response r;

	get_creds(&c);
	sts(&c, &(struct call){ .json = 1 }, &r);
	expect_identity(&r, 1);
	test_response_free(&r);
}

Test(sts, cached_credentials_expire_with_the_server_clock_and_new_ones_work)
{
	struct creds old, fresh;
	struct test_response r;

	get_creds(&old);
	control("POST", "clock", "{\"advance_s\": 21601}", 200);
	sts(&old, &(struct call){ 0 }, &r);
	expect_xml_error(&r, 403, "ExpiredToken", MSG_EXPIRE);
	test_response_free(&r);
	sts(&old, &(struct call){ .json = 1 }, &r);
	expect_json_error(&r, 403, "ExpiredToken", "ExpiredTokenException", MSG_EXPIRE);
	test_response_free(&r);
	/* The SDK signs with the host's clock, six hours behind the server's:
	 * fresh credentials work. */
	get_creds(&fresh);
	cr_expect(strcmp(fresh.id, old.id) != 0);
	sts(&fresh, &(struct call){ 0 }, &r);
	expect_identity(&r, 0);
	test_response_free(&r);
}

Test(sts, expire_and_revoke_through_the_control_api)
{
	struct creds a, b;
	struct test_response r;

	get_creds(&a);
	control("POST", "accounts/default/expire", NULL, 200);
	sts(&a, &(struct call){ 0 }, &r);
	expect_xml_error(&r, 403, "ExpiredToken", MSG_EXPIRE);
	test_response_free(&r);
	get_creds(&b);
	sts(&b, &(struct call){ 0 }, &r);
	expect_identity(&r, 0);
	test_response_free(&r);
	control("POST", "accounts/default/revoke", NULL, 200);
	sts(&b, &(struct call){ .json = 1 }, &r);
	expect_json_error(&r, 403, "InvalidClientTokenId", "UnrecognizedClientException",
	                  MSG_INVAL);
	test_response_free(&r);
}

Test(sts, aws_lifetime_s_is_patched_through_the_control_api)
{
	struct creds c;
	struct test_response r;
	cJSON *o;

	cr_assert_eq(test_control(srv.base_url, srv.admin_secret, "PATCH", "accounts/default",
	                          "{\"aws_lifetime_s\": 600}", &r),
	             0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	o = cJSON_Parse(r.body);
	cr_expect_eq(
	    cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "aws"), "lifetime_s")),
	    600, "%s", r.body);
	cJSON_Delete(o);
	test_response_free(&r);
	control("POST", "accounts/default/rotate", NULL, 200);
	get_creds(&c);
	control("POST", "clock", "{\"advance_s\": 599}", 200);
	sts(&c, &(struct call){ 0 }, &r);
	expect_identity(&r, 0);
	test_response_free(&r);
	control("POST", "clock", "{\"advance_s\": 2}", 200);
	sts(&c, &(struct call){ 0 }, &r);
	expect_xml_error(&r, 403, "ExpiredToken", MSG_EXPIRE);
	test_response_free(&r);
	control("PATCH", "accounts/default", "{\"aws_lifetime_s\": 0}", 400);
	control("PATCH", "accounts/default", "{\"aws_lifetime_s\": \"ten\"}", 400);
}

Test(sts, unknown_credentials_are_invalid_client_token_id)
{
	struct creds a, b;
	struct test_response r;
	char tampered[512];

	get_creds(&a);
	control("POST", "accounts/default/rotate", NULL, 200);
	get_creds(&b);
	/* Both sets are recognised: the old one is no table's entry. */
	sts(&a, &(struct call){ 0 }, &r);
	expect_identity(&r, 0);
	test_response_free(&r);
	/* a's key id with b's token (and secret). */
	sts(&b, &(struct call){ .key_id = a.id }, &r);
	expect_xml_error(&r, 403, "InvalidClientTokenId", MSG_INVAL);
	test_response_free(&r);
	sts(&a, &(struct call){ .key_id = "AKIAIOSFODNN7EXAMPLE" }, &r);
	expect_xml_error(&r, 403, "InvalidClientTokenId", MSG_INVAL);
	test_response_free(&r);
	sts(&a, &(struct call){ .token = "" }, &r);
	expect_xml_error(&r, 403, "InvalidClientTokenId", MSG_INVAL);
	test_response_free(&r);
	snprintf(tampered, sizeof(tampered), "%s", a.token);
	tampered[20] = tampered[20] == 'A' ? 'B' : 'A';
	sts(&a, &(struct call){ .token = tampered, .json = 1 }, &r);
	expect_json_error(&r, 403, "InvalidClientTokenId", "UnrecognizedClientException",
	                  MSG_INVAL);
	test_response_free(&r);
}

Test(sts, a_signature_that_differs_is_signature_does_not_match)
{
	struct creds c;
	struct test_response r;

	get_creds(&c);
	sts(&c, &(struct call){ .secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" }, &r);
	expect_xml_error(&r, 403, "SignatureDoesNotMatch", MSG_SIG);
	test_response_free(&r);
	/* The body is signed. */
	sts(&c, &(struct call){ .sent_body = FORM_BODY "&X=1" }, &r);
	expect_xml_error(&r, 403, "SignatureDoesNotMatch", MSG_SIG);
	test_response_free(&r);
	sts(&c, &(struct call){ .json = 1, .sent_body = "{ }" }, &r);
	expect_json_error(&r, 403, "SignatureDoesNotMatch", "InvalidSignatureException", MSG_SIG);
	test_response_free(&r);
	/* Host is signed: the name sent must be the one signed. */
	sts(&c, &(struct call){ .host = "localhost" }, &r);
	expect_identity(&r, 0);
	test_response_free(&r);
	sts(&c, &(struct call){ .service = "iam" }, &r);
	expect_xml_error(&r, 403, "SignatureDoesNotMatch",
	                 "Credential should be scoped to correct service: 'sts'. ");
	test_response_free(&r);
}

Test(sts, the_request_date_must_be_within_15_minutes)
{
	struct creds c;
	struct test_response r;

	get_creds(&c);
	sts(&c, &(struct call){ .date_shift_s = -14 * 60 }, &r);
	expect_identity(&r, 0);
	test_response_free(&r);
	sts(&c, &(struct call){ .date_shift_s = -16 * 60 }, &r);
	expect_xml_error(&r, 403, "SignatureDoesNotMatch", NULL);
	cr_expect(has(r.body, "<Message>Signature expired: "), "%s", r.body);
	cr_expect(has(r.body, " - 15 min.)</Message>"), "%s", r.body);
	test_response_free(&r);
	sts(&c, &(struct call){ .date_shift_s = 16 * 60 }, &r);
	expect_xml_error(&r, 403, "SignatureDoesNotMatch", NULL);
	cr_expect(has(r.body, "<Message>Signature not yet current: "), "%s", r.body);
	test_response_free(&r);
	/* Shifted, the server takes its own clock too (a test may sign with
	 * the server's time). */
	control("POST", "clock", "{\"advance_s\": 3600}", 200);
	sts(&c, &(struct call){ .date_shift_s = 3600 }, &r);
	expect_identity(&r, 0);
	test_response_free(&r);
	sts(&c, &(struct call){ 0 }, &r);
	expect_identity(&r, 0);
	test_response_free(&r);
	sts(&c, &(struct call){ .date_shift_s = 1800 }, &r);
	expect_xml_error(&r, 403, "SignatureDoesNotMatch", NULL);
	test_response_free(&r);
}

Test(sts, missing_or_malformed_authorization)
{
	struct creds c;
	struct test_response r;

	get_creds(&c);
	sts(&c, &(struct call){ .auth = "" }, &r);
	expect_xml_error(&r, 403, "MissingAuthenticationToken",
	                 "Request is missing Authentication Token");
	test_response_free(&r);
	sts(&c, &(struct call){ .auth = "Authorization: AWS4-HMAC-SHA256 Credential=x" }, &r);
	expect_xml_error(&r, 400, "IncompleteSignature", NULL);
	test_response_free(&r);
	sts(&c, &(struct call){ .json = 1, .auth = "Authorization: Bearer abc" }, &r);
	expect_json_error(&r, 400, "IncompleteSignature", "IncompleteSignatureException", NULL);
	test_response_free(&r);
}

Test(sts, other_operations_and_bad_bodies)
{
	struct creds c;
	struct test_response r;

	get_creds(&c);
	sts(&c, &(struct call){ .body = "Action=AssumeRole&Version=2011-06-15" }, &r);
	expect_xml_error(&r, 400, "InvalidAction",
	                 "Could not find operation AssumeRole for version 2011-06-15");
	test_response_free(&r);
	sts(&c, &(struct call){ .body = "Action=GetCallerIdentity&Version=2010-05-08" }, &r);
	expect_xml_error(&r, 400, "InvalidAction", NULL);
	test_response_free(&r);
	sts(&c, &(struct call){ .body = "Version=2011-06-15" }, &r);
	expect_xml_error(&r, 400, "MissingAction", NULL);
	test_response_free(&r);
	sts(&c, &(struct call){ .body = "Action=Get%ZZCallerIdentity&Version=2011-06-15" }, &r);
	expect_xml_error(&r, 400, "MalformedInput", NULL);
	test_response_free(&r);
	/* Escapes and a field of any length decode as a form does. */
	sts(&c,
	    &(struct call){
	        .body =
	            "X="
	            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	            "&A%63tion=GetCallerIdentity&Version=2011-06-15&" },
	    &r);
	expect_identity(&r, 0);
	test_response_free(&r);
	sts(&c,
	    &(struct call){ .json = 1, .target = "AWSSecurityTokenServiceV20110615.AssumeRole" },
	    &r);
	expect_json_error(&r, 400, "InvalidAction", "UnknownOperationException", NULL);
	test_response_free(&r);
	sts(&c, &(struct call){ .json = 1, .body = "[" }, &r);
	expect_json_error(&r, 400, "MalformedInput", "SerializationException", NULL);
	test_response_free(&r);
}

Test(sts, host_rules_and_limits_apply)
{
	struct creds c;
	struct test_response r;
	char *big;

	get_creds(&c);
	sts(&c, &(struct call){ .host = "sts.evil.example" }, &r);
	expect_xml_error(&r, 403, "AccessDenied", NULL);
	test_response_free(&r);
	/* A cloud API behind proxies: X-Forwarded-For is fine. */
	sts(&c, &(struct call){ .extra = "X-Forwarded-For: 10.0.0.1" }, &r);
	expect_identity(&r, 0);
	test_response_free(&r);
	big = malloc(64 * 1024 + 1);
	cr_assert_not_null(big);
	memset(big, 'a', 64 * 1024);
	big[64 * 1024] = '\0';
	sts(&c, &(struct call){ .body = big }, &r);
	expect_xml_error(&r, 413, "RequestEntityTooLarge", NULL);
	test_response_free(&r);
	free(big);
}

Test(sts, get_and_other_methods_at_the_root_are_not_sts)
{
	struct test_response r;
	char url[256], buf[64];

	snprintf(url, sizeof(url), "%s/", srv.base_url);
	cr_assert_eq(test_http("GET", url, NULL, NULL, &r), 0);
	cr_expect_eq(r.status, 200, "the GCE ping stays");
	test_response_free(&r);
	cr_assert_eq(test_http("PUT", url, NULL, "x", &r), 0);
	cr_expect_eq(r.status, 405);
	cr_expect(has(test_response_header(&r, "Allow", buf, sizeof(buf)), "GET, HEAD, POST"));
	test_response_free(&r);
}

Test(sts, a_server_with_no_role_knows_no_credentials)
{
	struct creds c;
	struct test_response r;

	get_creds(&c);
	stop();
	cr_assert_eq(
	    test_server_start_config(
	        &srv, "{\"service_accounts\": [{\"id\": \"norole\", \"email\": \"a@b.c\"}]}"),
	    0);
	sts(&c, &(struct call){ 0 }, &r);
	expect_xml_error(&r, 403, "InvalidClientTokenId", MSG_INVAL);
	test_response_free(&r);
	control("PATCH", "accounts/default", "{\"aws_lifetime_s\": 600}", 400);
}

Test(sts, huge_or_odd_headers_get_an_answer)
{
	struct creds c;
	struct test_response r;
	size_t n = 60 * 1024;
	char *auth = malloc(n + 1), *names = malloc(4096);

	cr_assert(auth && names);
	get_creds(&c);
	/* More than libmicrohttpd holds: refused before STS sees it. */
	snprintf(auth, n + 1, "Authorization: AWS4-HMAC-SHA256 Credential=");
	memset(auth + strlen(auth), 'A', n - strlen(auth));
	auth[n] = '\0';
	sts(&c, &(struct call){ .auth = auth }, &r);
	cr_expect(r.status >= 400 && r.status < 500, "%ld", r.status);
	test_response_free(&r);
	/* Thirty-three signed headers, one more than SignedHeaders may name. */
	snprintf(names, 4096,
	         "Authorization: AWS4-HMAC-SHA256 Credential=%s/20150830/us-east-1/sts/"
	         "aws4_request, SignedHeaders=host",
	         c.id);
	for (int i = 0; i < 32; i++)
		snprintf(names + strlen(names), 4096 - strlen(names), ";x-h%d", i);
	snprintf(names + strlen(names), 4096 - strlen(names),
	         ", Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
	sts(&c, &(struct call){ .auth = names }, &r);
	expect_xml_error(&r, 400, "IncompleteSignature", NULL);
	test_response_free(&r);
	/* A signed header the request does not carry. */
	{
		time_t t = time(NULL);
		struct tm tm;
		char today[9];

		gmtime_r(&t, &tm);
		strftime(today, sizeof(today), "%Y%m%d", &tm);
		snprintf(names, 4096,
		         "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/us-east-1/sts/"
		         "aws4_request, SignedHeaders=host;x-missing, Signature=5d672d79c15b131"
		         "62d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		         c.id, today);
	}
	sts(&c, &(struct call){ .auth = names }, &r);
	expect_xml_error(&r, 403, "SignatureDoesNotMatch",
	                 "SignedHeaders names x-missing, which the request does not carry");
	test_response_free(&r);
	/* Still serving. */
	sts(&c, &(struct call){ 0 }, &r);
	expect_identity(&r, 0);
	test_response_free(&r);
	free(auth);
	free(names);
}
