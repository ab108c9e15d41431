/*
 * The Yandex IAM exchange (POST /iam/v1/tokens) and authorized keys
 * created through the control API, in-process on the fake clocks: a good
 * JWT gets the account's own token, and each check refuses the JWT that
 * breaks it, with the status, the gRPC code and a message naming it.
 */
#include <cjson/cJSON.h>
#include "cr_shim.h"
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authkey.h"
#include "b64url.h"
#include "http.h"
#include "iam.h"
#include "inproc.h"
#include "jwt.h"

#define ACCOUNT  "ajeiamtestaccount001"
#define ACCOUNT2 "ajeiamtestaccount002"
#define KID      "ajekeytest0000000001"
#define AUD      "https://iam.api.cloud.yandex.net/iam/v1/tokens"

static struct test_inproc ip;
static EVP_PKEY *key; /* KID's pair; the configuration holds its public half */

static char *public_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	cr_assert(b && PEM_write_bio_PUBKEY(b, k) == 1);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

static void start(void)
{
	cJSON *cfg = cJSON_CreateObject(), *accounts, *a, *keys, *k;
	char *pem, *text;

	key = EVP_RSA_gen(2048);
	cr_assert_not_null(key);
	pem = public_pem(key);
	accounts = cJSON_AddArrayToObject(cfg, "service_accounts");
	a = cJSON_CreateObject();
	cJSON_AddItemToArray(accounts, a);
	cJSON_AddStringToObject(a, "id", ACCOUNT);
	cJSON_AddStringToObject(a, "email", "sa1@metatoken-local.iam.gserviceaccount.com");
	keys = cJSON_AddArrayToObject(a, "authorized_keys");
	k = cJSON_CreateObject();
	cJSON_AddItemToArray(keys, k);
	cJSON_AddStringToObject(k, "id", KID);
	cJSON_AddStringToObject(k, "public_key", pem);
	a = cJSON_CreateObject();
	cJSON_AddItemToArray(accounts, a);
	cJSON_AddStringToObject(a, "id", ACCOUNT2);
	cJSON_AddStringToObject(a, "email", "sa2@metatoken-local.iam.gserviceaccount.com");
	text = cJSON_PrintUnformatted(cfg);
	cr_assert_eq(test_inproc_start(&ip, text, NULL), 0);
	cJSON_free(text);
	cJSON_Delete(cfg);
	free(pem);
}

static void stop(void)
{
	if (ip.daemon)
		test_inproc_stop(&ip, 1000);
	EVP_PKEY_free(key);
}

TestSuite(iam, .init = start, .fini = stop, .timeout = 60);

static long long now_s(void)
{
	return (long long)(clock_now_ms(&ip.srv.clock) / 1000);
}

/* Claims with these values. */
static char *claims(const char *iss, const char *aud_json, long long iat, long long exp)
{
	char *s = malloc(512);

	snprintf(s, 512, "{\"iss\":\"%s\",\"aud\":%s,\"iat\":%lld,\"exp\":%lld}", iss, aud_json,
	         iat, exp);
	return s;
}

/* A JWT signed with k under kid. */
static char *sign_with(EVP_PKEY *k, const char *kid, const char *claims_json)
{
	char err[256];
	char *jwt = mtk__jwt_sign_ps256(k, kid, claims_json, err, sizeof(err));

	cr_assert_not_null(jwt, "%s", err);
	return jwt;
}

/* A good JWT for ACCOUNT, issued now, for an hour. */
static char *good_jwt(void)
{
	char *c = claims(ACCOUNT, "\"" AUD "\"", now_s(), now_s() + 3600);
	char *jwt = sign_with(key, KID, c);

	free(c);
	return jwt;
}

/* POSTs body to /iam/v1/tokens; the response is the caller's. */
static void post_body(const char *body, struct test_response *r)
{
	const char *const h[] = { "Content-Type: application/json", NULL };
	char url[256];

	snprintf(url, sizeof(url), "%s/iam/v1/tokens", ip.base);
	cr_assert_eq(test_http("POST", url, h, body, r), 0);
}

/* {"jwt": "<jwt>"}, malloc'd. */
static char *jwt_body(const char *jwt)
{
	size_t n = strlen(jwt) + 16;
	char *body = malloc(n);

	cr_assert_not_null(body);
	snprintf(body, n, "{\"jwt\":\"%s\"}", jwt);
	return body;
}

static void post_jwt(const char *jwt, struct test_response *r)
{
	char *body = jwt_body(jwt);

	post_body(body, r);
	free(body);
}

/* Exchanges jwt, expecting 200; the token and expiresAt are copied out. */
static void exchange_ok(const char *jwt, char *token, size_t cap, char *expires, size_t ecap)
{
	struct test_response r;
	cJSON *j;
	const cJSON *t, *e;

	post_jwt(jwt, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = cJSON_Parse(r.body);
	t = cJSON_GetObjectItemCaseSensitive(j, "iamToken");
	e = cJSON_GetObjectItemCaseSensitive(j, "expiresAt");
	cr_assert(cJSON_IsString(t) && cJSON_IsString(e), "%s", r.body);
	cr_assert_eq(cJSON_GetArraySize(j), 2, "%s", r.body);
	snprintf(token, cap, "%s", t->valuestring);
	if (expires)
		snprintf(expires, ecap, "%s", e->valuestring);
	cJSON_Delete(j);
	test_response_free(&r);
}

/* Expects a refusal of the body: status, gRPC code, a message holding want
 * and the RequestInfo detail. */
static void expect_body_refused(const char *body, long status, int code, const char *want)
{
	struct test_response r;
	cJSON *j;
	const cJSON *c, *m, *d;

	post_body(body, &r);
	cr_assert_eq(r.status, status, "status %ld, body %s", r.status, r.body);
	j = cJSON_Parse(r.body);
	cr_assert_not_null(j, "not JSON: %s", r.body);
	c = cJSON_GetObjectItemCaseSensitive(j, "code");
	m = cJSON_GetObjectItemCaseSensitive(j, "message");
	d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "details"), 0);
	cr_assert(cJSON_IsNumber(c) && c->valueint == code, "code: %s", r.body);
	cr_assert(cJSON_IsString(m) && strstr(m->valuestring, want), "message lacks \"%s\": %s",
	          want, r.body);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(d, "@type")->valuestring,
	                 "type.googleapis.com/google.rpc.RequestInfo");
	cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "requestId")));
	cJSON_Delete(j);
	test_response_free(&r);
}

static void expect_refused(const char *jwt, long status, int code, const char *want)
{
	char *body = jwt_body(jwt);

	expect_body_refused(body, status, code, want);
	free(body);
}

/* The GCE token endpoint's access_token for the default account now. */
static void gce_token(char *out, size_t cap)
{
	cr_assert_eq(test_gce_token(ip.base, out, cap, NULL), 0);
}

/* The status /protected/ answers for a Bearer token. */
static long protected_status(const char *token)
{
	struct test_response r;
	char url[256], auth[600];
	const char *h[] = { auth, NULL };
	long status;

	snprintf(url, sizeof(url), "%s/protected/storage/v1/b", ip.base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	cr_assert_eq(test_http("GET", url, h, NULL, &r), 0);
	status = r.status;
	test_response_free(&r);
	return status;
}

/* A JWT with this header JSON over good claims, its signature taken from a
 * real PS256 JWT so that it is well-formed. */
static char *with_header(const char *header_json)
{
	char *good = good_jwt();
	const char *dot1 = strchr(good, '.'), *dot2 = strchr(dot1 + 1, '.');
	size_t hlen = strlen(header_json);
	char *h = malloc(B64URL_LEN(hlen) + 1);
	char *out = malloc(strlen(good) + B64URL_LEN(hlen) + 2);

	mtk__b64url_encode((const uint8_t *)header_json, hlen, h);
	sprintf(out, "%s%s", h, dot1);
	(void)dot2;
	free(h);
	free(good);
	return out;
}

static long control(const char *method, const char *path, const char *body, char **out)
{
	struct test_response r;
	long status;

	cr_assert_eq(test_control(ip.base, ip.srv.admin_secret, method, path, body, &r), 0);
	status = r.status;
	if (out)
		*out = strdup(r.body);
	test_response_free(&r);
	return status;
}

/* ---- success ---- */

Test(iam, a_good_jwt_gets_the_accounts_gce_token_with_its_expiry)
{
	char *jwt = good_jwt();
	char token[600], expires[64], gce[600];

	exchange_ok(jwt, token, sizeof(token), expires, sizeof(expires));
	cr_assert_eq(strncmp(token, "t1.", 3), 0, "%s", token);
	/* The fake clock starts at 1795000000000 ms; the default lifetime is
	 * 12 h: RFC 3339 with nine digits of fraction and Z. */
	cr_assert_str_eq(expires, "2026-11-18T23:06:40.000000000Z");
	gce_token(gce, sizeof(gce));
	cr_assert_str_eq(token, gce, "not the token the GCE endpoint serves");
	cr_assert_eq(protected_status(token), 200);
	free(jwt);
}

Test(iam, expires_at_follows_the_server_clock_to_the_millisecond)
{
	char *jwt;
	char token[600], expires[64];

	fake_clock_advance(&ip.server_time, 1234);
	jwt = good_jwt();
	exchange_ok(jwt, token, sizeof(token), expires, sizeof(expires));
	cr_assert_str_eq(expires, "2026-11-18T23:06:41.234000000Z");
	free(jwt);
}

Test(iam, an_audience_array_holding_the_iam_api_is_accepted)
{
	char *c = claims(ACCOUNT, "[\"https://example.com\",\"" AUD "\"]", now_s(), now_s() + 60);
	char *jwt = sign_with(key, KID, c);
	char token[600];

	exchange_ok(jwt, token, sizeof(token), NULL, 0);
	free(c);
	free(jwt);
}

Test(iam, an_hour_exactly_and_iat_within_the_skew_are_accepted)
{
	char *c = claims(ACCOUNT, "\"" AUD "\"", now_s() + 59, now_s() + 59 + 3600);
	char *jwt = sign_with(key, KID, c);
	char token[600];

	exchange_ok(jwt, token, sizeof(token), NULL, 0);
	free(c);
	free(jwt);
}

Test(iam, expire_through_the_control_api_retires_the_exchanged_token)
{
	char *jwt = good_jwt(), *jwt2;
	char before[600], after[600], gce[600];

	exchange_ok(jwt, before, sizeof(before), NULL, 0);
	cr_assert_eq(control("POST", "accounts/" ACCOUNT "/expire", NULL, NULL), 200);
	cr_assert_eq(protected_status(before), 401, "an expired token still accepted");
	fake_clock_advance(&ip.server_time, 1000); /* another iat: another JWT */
	jwt2 = good_jwt();
	exchange_ok(jwt2, after, sizeof(after), NULL, 0);
	cr_assert_str_neq(after, before);
	gce_token(gce, sizeof(gce));
	cr_assert_str_eq(after, gce);
	cr_assert_eq(protected_status(after), 200);
	free(jwt);
	free(jwt2);
}

Test(iam, revoke_through_the_control_api_retires_the_exchanged_token)
{
	char *jwt = good_jwt(), *body;
	char token[600];
	size_t n;

	exchange_ok(jwt, token, sizeof(token), NULL, 0);
	cr_assert_eq(protected_status(token), 200);
	n = strlen(token) + 16;
	body = malloc(n);
	snprintf(body, n, "{\"token\":\"%s\"}", token);
	cr_assert_eq(control("POST", "accounts/" ACCOUNT "/revoke", body, NULL), 200);
	cr_assert_eq(protected_status(token), 401, "a revoked token still accepted");
	free(body);
	free(jwt);
}

/* ---- malformed: 400, INVALID_ARGUMENT ---- */

Test(iam, a_body_that_is_not_json_is_invalid_argument)
{
	expect_body_refused("{\"jwt\": ", 400, 3, "invalid JSON");
}

Test(iam, a_body_without_jwt_is_invalid_argument)
{
	expect_body_refused("{}", 400, 3, "jwt: is required");
	expect_body_refused("{\"jwt\": 5}", 400, 3, "jwt");
	expect_body_refused("{\"yandexPassportOauthToken\": \"x\"}", 400, 3,
	                    "yandexPassportOauthToken: unknown key");
}

Test(iam, a_jwt_without_three_parts_is_invalid_argument)
{
	char *jwt = good_jwt();
	char two[10000];

	*strrchr(jwt, '.') = '\0';
	snprintf(two, sizeof(two), "%s", jwt);
	expect_refused(two, 400, 3, "not a JWT");
	expect_refused("a.b.c.d", 400, 3, "not a JWT");
	free(jwt);
}

Test(iam, a_header_or_claims_that_are_not_json_objects_are_invalid_argument)
{
	char *bad_header = with_header("{\"alg\":\"PS256\",");
	char *arr_claims = sign_with(key, KID, "[1]");
	char *no_iat = sign_with(key, KID, "{\"iss\":\"" ACCOUNT "\",\"aud\":\"" AUD "\"}");

	expect_refused(bad_header, 400, 3, "jwt header");
	expect_refused(arr_claims, 400, 3, "jwt claims: must be a JSON object");
	expect_refused(no_iat, 400, 3, "jwt claims: iat: is required");
	free(bad_header);
	free(arr_claims);
	free(no_iat);
}

/* ---- refused: 401, UNAUTHENTICATED ---- */

Test(iam, a_typ_other_than_jwt_or_no_kid_is_invalid_argument)
{
	char *typ = with_header("{\"typ\":\"JWE\",\"alg\":\"PS256\",\"kid\":\"" KID "\"}");
	char *no_kid = with_header("{\"alg\":\"PS256\"}");

	expect_refused(typ, 400, 3, "typ: must be \"JWT\"");
	expect_refused(no_kid, 400, 3, "jwt header: kid: is required");
	free(typ);
	free(no_kid);
}

Test(iam, alg_other_than_ps256_is_refused)
{
	char *rs = with_header("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"" KID "\"}");
	char *none = with_header("{\"typ\":\"JWT\",\"alg\":\"none\",\"kid\":\"" KID "\"}");

	expect_refused(rs, 401, 16, "alg: must be PS256 (got \"RS256\")");
	expect_refused(none, 401, 16, "alg: must be PS256 (got \"none\")");
	free(rs);
	free(none);
}

Test(iam, an_unknown_kid_is_refused)
{
	char *c = claims(ACCOUNT, "\"" AUD "\"", now_s(), now_s() + 60);
	char *jwt = sign_with(key, "ajenosuchkey00000000", c);

	expect_refused(jwt, 401, 16, "kid: no authorized key \"ajenosuchkey00000000\"");
	free(c);
	free(jwt);
}

Test(iam, iss_of_another_account_is_refused)
{
	char *c = claims(ACCOUNT2, "\"" AUD "\"", now_s(), now_s() + 60);
	char *jwt = sign_with(key, KID, c);

	expect_refused(jwt, 401, 16, "iss: must be the service account id of key " KID);
	free(c);
	free(jwt);
}

Test(iam, a_wrong_audience_is_refused)
{
	char *c =
	    claims(ACCOUNT, "\"https://iam.example.com/iam/v1/tokens\"", now_s(), now_s() + 60);
	char *c2 = claims(ACCOUNT, "[\"https://example.com\"]", now_s(), now_s() + 60);
	char *jwt = sign_with(key, KID, c), *jwt2 = sign_with(key, KID, c2);

	expect_refused(jwt, 401, 16, "aud: must be " AUD);
	expect_refused(jwt2, 401, 16, "aud: must be " AUD);
	free(c);
	free(c2);
	free(jwt);
	free(jwt2);
}

Test(iam, a_tampered_signature_is_refused)
{
	char *jwt = good_jwt();
	char *sig = strrchr(jwt, '.') + 1;

	/* A middle character: the encoding stays canonical. */
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	expect_refused(jwt, 401, 16, "jwt signature: does not verify");
	free(jwt);
}

Test(iam, a_jwt_signed_with_another_key_is_refused)
{
	EVP_PKEY *other = EVP_RSA_gen(2048);
	char *c = claims(ACCOUNT, "\"" AUD "\"", now_s(), now_s() + 60);
	char *jwt = sign_with(other, KID, c);

	expect_refused(jwt, 401, 16, "jwt signature: does not verify with authorized key " KID);
	free(c);
	free(jwt);
	EVP_PKEY_free(other);
}

Test(iam, a_jwt_living_over_an_hour_is_refused)
{
	char *c = claims(ACCOUNT, "\"" AUD "\"", now_s(), now_s() + 3601);
	char *c2 = claims(ACCOUNT, "\"" AUD "\"", now_s(), now_s());
	char *jwt = sign_with(key, KID, c), *jwt2 = sign_with(key, KID, c2);

	expect_refused(jwt, 401, 16, "exp: must be after iat and at most 3600 s after it");
	expect_refused(jwt2, 401, 16, "exp: must be after iat");
	free(c);
	free(c2);
	free(jwt);
	free(jwt2);
}

Test(iam, an_expired_jwt_is_refused_on_the_server_clock)
{
	char *jwt = good_jwt();

	fake_clock_advance(&ip.server_time, 3600 * 1000);
	expect_refused(jwt, 401, 16, "exp: the JWT expired 0 s ago on the server clock");
	free(jwt);
}

Test(iam, an_iat_beyond_the_skew_is_refused)
{
	char *c = claims(ACCOUNT, "\"" AUD "\"", now_s() + 61, now_s() + 600);
	char *jwt = sign_with(key, KID, c);

	expect_refused(jwt, 401, 16, "iat: 61 s in the future on the server clock");
	/* Once the server clock catches up, the same JWT is good. */
	fake_clock_advance(&ip.server_time, 2000);
	{
		char token[600];

		exchange_ok(jwt, token, sizeof(token), NULL, 0);
	}
	free(c);
	free(jwt);
}

Test(iam, a_replayed_jwt_is_refused)
{
	char *jwt = good_jwt();
	char token[600];

	exchange_ok(jwt, token, sizeof(token), NULL, 0);
	expect_refused(jwt, 401, 16, "replayed");
	/* A reset of the server does not make it new again. */
	cr_assert_eq(control("POST", "reset", NULL, NULL), 200);
	fake_clock_advance(&ip.server_time, 0);
	expect_refused(jwt, 401, 16, "replayed");
	free(jwt);
}

struct racer {
	pthread_t thread;
	const char *jwt;
	long status;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct test_response resp;

	post_jwt(r->jwt, &resp);
	r->status = resp.status;
	test_response_free(&resp);
	return NULL;
}

/* The replay check and the remembering are one step: of requests racing
 * with one JWT, exactly one gets a token. */
Test(iam, of_concurrent_exchanges_of_one_jwt_exactly_one_succeeds)
{
	struct racer r[8];
	char *jwt = good_jwt();
	int ok = 0, replayed = 0;

	for (size_t i = 0; i < 8; i++) {
		r[i].jwt = jwt;
		cr_assert_eq(pthread_create(&r[i].thread, NULL, race, &r[i]), 0);
	}
	for (size_t i = 0; i < 8; i++) {
		pthread_join(r[i].thread, NULL);
		ok += r[i].status == 200;
		replayed += r[i].status == 401;
	}
	cr_assert_eq(ok, 1, "%d exchanges succeeded", ok);
	cr_assert_eq(replayed, 7);
	free(jwt);
}

Test(iam, other_methods_and_paths_answer_in_the_iam_shape)
{
	struct test_response r;
	char url[256], allow[64];

	snprintf(url, sizeof(url), "%s/iam/v1/tokens", ip.base);
	cr_assert_eq(test_http("GET", url, NULL, NULL, &r), 0);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(test_response_header(&r, "Allow", allow, sizeof(allow)), "POST");
	cr_assert_not_null(strstr(r.body, "\"code\":12"), "%s", r.body);
	test_response_free(&r);
	snprintf(url, sizeof(url), "%s/iam/v1/nothing", ip.base);
	cr_assert_eq(test_http("POST", url, NULL, "{}", &r), 0);
	cr_assert_eq(r.status, 404);
	cr_assert_not_null(strstr(r.body, "\"code\":5"), "%s", r.body);
	test_response_free(&r);
}

Test(iam, a_foreign_host_or_a_forwarded_request_gets_no_token)
{
	char *jwt = good_jwt(), *body = jwt_body(jwt);
	char url[256];
	const char *const evil[] = { "Host: evil.example", NULL };
	const char *const xff[] = { "X-Forwarded-For: 10.0.0.1", NULL };
	struct test_response r;

	snprintf(url, sizeof(url), "%s/iam/v1/tokens", ip.base);
	cr_assert_eq(test_http("POST", url, evil, body, &r), 0);
	cr_assert_eq(r.status, 403, "%s", r.body);
	cr_assert_not_null(strstr(r.body, "\"code\":7"), "%s", r.body);
	test_response_free(&r);
	cr_assert_eq(test_http("POST", url, xff, body, &r), 0);
	cr_assert_eq(r.status, 403, "%s", r.body);
	test_response_free(&r);
	free(body);
	free(jwt);
}

/* ---- keys created through the control API ---- */

Test(iam, a_key_created_through_the_control_api_exchanges_until_reset)
{
	struct mtk__authkey ak;
	char *answer = NULL, *list = NULL, *c, *jwt;
	char err[256], token[600], gce[600];
	cJSON *j;
	int status;

	/* The call first: the arguments' order of evaluation is unspecified. */
	status = control("POST", "accounts/default/keys", NULL, &answer);
	cr_assert_eq(status, 201, "%s", answer ? answer : "(no body)");
	j = cJSON_Parse(answer);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "service_account_id")->valuestring,
	                 ACCOUNT);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "key_algorithm")->valuestring,
	                 "RSA_2048");
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "created_at")->valuestring,
	                 "2026-11-18T11:06:40.000000000Z");
	cr_assert_not_null(strstr(cJSON_GetObjectItemCaseSensitive(j, "public_key")->valuestring,
	                          "-----BEGIN PUBLIC KEY-----"));
	cJSON_Delete(j);
	/* What a client reads from the file is what the answer holds. */
	cr_assert_eq(mtk__authkey_parse(answer, strlen(answer), "answer", &ak, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_eq(strlen(ak.id), 20);
	cr_assert_eq(strncmp(ak.id, "aje", 3), 0);
	cr_assert_eq(strspn(ak.id, "abcdefghijklmnopqrstuvwxyz0123456789"), 20, "%s", ak.id);

	cr_assert_eq(control("GET", "accounts/" ACCOUNT "/keys", NULL, &list), 200);
	cr_assert_not_null(strstr(list, ak.id), "%s", list);
	cr_assert_not_null(strstr(list, KID), "%s", list);
	cr_assert_null(strstr(list, "PRIVATE"), "%s", list);
	free(list);

	c = claims(ACCOUNT, "\"" AUD "\"", now_s(), now_s() + 3600);
	jwt = sign_with(ak.private_key, ak.id, c);
	exchange_ok(jwt, token, sizeof(token), NULL, 0);
	gce_token(gce, sizeof(gce));
	cr_assert_str_eq(token, gce);
	free(jwt);

	/* A reset keeps the configured key and forgets the created one. */
	cr_assert_eq(control("POST", "reset", NULL, NULL), 200);
	fake_clock_advance(&ip.server_time, 1000);
	free(c);
	c = claims(ACCOUNT, "\"" AUD "\"", now_s(), now_s() + 3600);
	jwt = sign_with(ak.private_key, ak.id, c);
	expect_refused(jwt, 401, 16, "kid: no authorized key");
	free(jwt);
	jwt = good_jwt();
	exchange_ok(jwt, token, sizeof(token), NULL, 0);
	free(jwt);
	free(c);
	free(answer);
	mtk__authkey_release(&ak);
}

Test(iam, a_key_for_the_second_account_gets_its_token_not_the_firsts)
{
	struct mtk__authkey ak;
	char *answer = NULL, *c, *jwt, *wrong;
	char err[256], token[600];
	struct test_response r;
	char url[1024];
	int status;

	status = control("POST", "accounts/sa2@metatoken-local.iam.gserviceaccount.com/keys", "{}",
	                 &answer);
	cr_assert_eq(status, 201, "%s", answer ? answer : "(no body)");
	cr_assert_eq(mtk__authkey_parse(answer, strlen(answer), "answer", &ak, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_str_eq(ak.service_account_id, ACCOUNT2);
	c = claims(ACCOUNT2, "\"" AUD "\"", now_s(), now_s() + 60);
	jwt = sign_with(ak.private_key, ak.id, c);
	exchange_ok(jwt, token, sizeof(token), NULL, 0);
	snprintf(url, sizeof(url), "%s/tokeninfo?access_token=%s", ip.base, token);
	cr_assert_eq(test_http("GET", url, NULL, NULL, &r), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_not_null(strstr(r.body, ACCOUNT2), "%s", r.body);
	test_response_free(&r);
	/* Its key cannot claim the first account. */
	free(c);
	c = claims(ACCOUNT, "\"" AUD "\"", now_s(), now_s() + 60);
	wrong = sign_with(ak.private_key, ak.id, c);
	expect_refused(wrong, 401, 16, "iss");
	free(wrong);
	free(jwt);
	free(c);
	free(answer);
	mtk__authkey_release(&ak);
}

Test(iam, key_creation_refuses_an_unknown_account_and_a_body)
{
	char *answer = NULL;

	cr_assert_eq(control("POST", "accounts/nobody/keys", NULL, &answer), 404);
	cr_assert_not_null(strstr(answer, "no service account nobody"), "%s", answer);
	free(answer);
	cr_assert_eq(control("POST", "accounts/default/keys", "{\"bits\":4096}", &answer), 400);
	cr_assert_not_null(strstr(answer, "bits: unknown key"), "%s", answer);
	free(answer);
}
