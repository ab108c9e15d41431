/*
 * common/jwt.c and common/authkey.c on their own: the PS256 codec signs
 * what verifies and refuses every tampered, mis-keyed or malformed token;
 * the key-file reader names the field at fault and skips the marker line
 * of newer files. Keys are generated at test time.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "authkey.h"
#include "b64url.h"
#include "jwt.h"
#include "test_iam_key.h"

#define CLAIMS "{\"iss\":\"sa\",\"aud\":\"a\",\"iat\":1,\"exp\":2}"

static EVP_PKEY *key;

static void setup(void)
{
	key = EVP_RSA_gen(2048);
	cr_assert_not_null(key);
}

static void teardown(void)
{
	EVP_PKEY_free(key);
}

TestSuite(jwt, .init = setup, .fini = teardown);
TestSuite(authkey);

static char *sign(const char *claims)
{
	char err[160] = "";
	char *jwt = mtk__jwt_sign_ps256(key, "kid-1", claims, err, sizeof(err));

	cr_assert_not_null(jwt, "%s", err);
	return jwt;
}

/* 1: verifies, 0: does not, -2: does not split. */
static int check(const char *jwt, EVP_PKEY *pub)
{
	struct mtk__jwt j;
	char err[160];
	int rc;

	if (mtk__jwt_split(jwt, strlen(jwt), &j, err, sizeof(err)) != 0)
		return -2;
	rc = mtk__jwt_verify_ps256(pub, &j);
	mtk__jwt_release(&j);
	return rc;
}

Test(jwt, a_signed_token_splits_into_what_was_signed_and_verifies)
{
	char *jwt = sign(CLAIMS), err[160];
	struct mtk__jwt j;

	cr_assert_eq(mtk__jwt_split(jwt, strlen(jwt), &j, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(j.header, "{\"typ\":\"JWT\",\"alg\":\"PS256\",\"kid\":\"kid-1\"}");
	cr_assert_str_eq(j.claims, CLAIMS);
	cr_assert_eq(j.sig_len, 256);
	cr_assert_eq(j.signed_part, jwt);
	cr_assert_eq(j.signed_len, (size_t)(strrchr(jwt, '.') - jwt));
	cr_assert_eq(mtk__jwt_verify_ps256(key, &j), 1);
	mtk__jwt_release(&j);
	mtk__jwt_release(NULL);
	free(jwt);
}

Test(jwt, pss_is_randomised_so_two_signatures_differ_and_both_verify)
{
	char *a = sign(CLAIMS), *b = sign(CLAIMS);

	cr_assert_str_neq(a, b);
	cr_assert_eq(check(a, key), 1);
	cr_assert_eq(check(b, key), 1);
	free(a);
	free(b);
}

Test(jwt, another_key_does_not_verify)
{
	EVP_PKEY *other = EVP_RSA_gen(2048);
	char *jwt = sign(CLAIMS);

	cr_assert_eq(check(jwt, other), 0);
	EVP_PKEY_free(other);
	free(jwt);
}

/* Flips one base64url character of segment seg (0, 1, 2) to another of
 * the alphabet that keeps the encoding canonical. */
static void tamper(char *jwt, int seg)
{
	char *p = jwt;

	for (int i = 0; i < seg; i++)
		p = strchr(p, '.') + 1;
	/* The segment's first char: its 6 bits are all used. */
	*p = *p == 'A' ? 'B' : 'A';
}

Test(jwt, tampering_with_any_segment_fails_verification)
{
	for (int seg = 0; seg < 3; seg++) {
		char *jwt = sign(CLAIMS);
		int rc;

		tamper(jwt, seg);
		rc = check(jwt, key);
		/* A tampered header or claims may no longer be text: refused
		 * when split, or when verified; never accepted. */
		cr_assert(rc == 0 || rc == -2, "segment %d: %d", seg, rc);
		free(jwt);
	}
}

Test(jwt, a_swapped_claims_segment_does_not_verify)
{
	char *a = sign(CLAIMS), *b = sign("{\"iss\":\"other\"}"), *mixed;
	const char *a1 = strchr(a, '.'), *a2 = strrchr(a, '.');
	const char *b1 = strchr(b, '.'), *b2 = strrchr(b, '.');

	cr_assert(asprintf(&mixed, "%.*s%.*s%s", (int)(a1 - a), a, (int)(b2 - b1), b1, a2) > 0);
	cr_assert_eq(check(mixed, key), 0);
	free(mixed);
	free(a);
	free(b);
}

Test(jwt, a_pkcs1_v1_5_or_other_salt_signature_does_not_verify)
{
	char *jwt = sign(CLAIMS), *forged;
	const char *d2 = strrchr(jwt, '.');
	unsigned char sig[512];
	size_t siglen = sizeof(sig);
	char b64[1024];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;

	/* RS256 over the same signed part. */
	cr_assert_eq(EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key), 1);
	cr_assert_eq(
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
	mtk__b64url_encode(sig, siglen, b64);
	cr_assert(asprintf(&forged, "%.*s.%s", (int)(d2 - jwt), jwt, b64) > 0);
	cr_assert_eq(check(forged, key), 0, "RS256 is not PS256");
	free(forged);

	/* PSS with a salt of 0 bytes. */
	EVP_MD_CTX_reset(md);
	siglen = sizeof(sig);
	cr_assert_eq(EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key), 1);
	cr_assert_eq(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
	cr_assert_eq(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 0), 1);
	cr_assert_eq(
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
	mtk__b64url_encode(sig, siglen, b64);
	cr_assert(asprintf(&forged, "%.*s.%s", (int)(d2 - jwt), jwt, b64) > 0);
	cr_assert_eq(check(forged, key), 0, "salt 0 is not the digest length");
	free(forged);
	EVP_MD_CTX_free(md);
	free(jwt);
}

Test(jwt, two_or_four_dots_or_empty_segments_do_not_split)
{
	char *jwt = sign(CLAIMS), *s;
	const char *d2 = strrchr(jwt, '.');
	char err[160];
	struct mtk__jwt j;

#define SPLITS(text) (mtk__jwt_split(text, strlen(text), &j, err, sizeof(err)) == 0)
	/* Two segments (one dot). */
	cr_assert(asprintf(&s, "%.*s", (int)(d2 - jwt), jwt) > 0);
	cr_assert_not(SPLITS(s));
	cr_assert_not_null(strstr(err, "three"), "%s", err);
	free(s);
	/* Four segments. */
	cr_assert(asprintf(&s, "%s.AAAA", jwt) > 0);
	cr_assert_not(SPLITS(s));
	cr_assert_not_null(strstr(err, "three"), "%s", err);
	free(s);
	/* Empty signature, empty header, nothing. */
	cr_assert(asprintf(&s, "%.*s.", (int)(d2 - jwt), jwt) > 0);
	cr_assert_not(SPLITS(s));
	free(s);
	cr_assert(asprintf(&s, "%s", strchr(jwt, '.')) > 0);
	cr_assert_not(SPLITS(s));
	free(s);
	cr_assert_not(SPLITS(".."));
	cr_assert_not(mtk__jwt_split("", 0, &j, err, sizeof(err)) == 0);
	free(jwt);
#undef SPLITS
}

Test(jwt, non_canonical_base64url_is_refused)
{
	char err[160];
	struct mtk__jwt j;
	/* "eyJ9" is "{\"}"-ish text; each variant below spells a segment in a
	 * way no encoder produces. */
	static const char *const bad[] = {
		"eyJhIjoxfQ==.eyJhIjoxfQ.AAAA", /* padding */
		"eyJhIjoxfQ.eyJhIjoxfQ.AA+A",   /* '+' is base64, not base64url */
		"eyJhIjoxfR.eyJhIjoxfQ.AAAA",   /* non-zero unused bits ("fR" vs "fQ") */
		"eyJhIjoxfQ.eyJhIjoxfQ.A",      /* a length no encoder makes */
		"eyJhIjox fQ.eyJhIjoxfQ.AAAA",  /* a space */
	};

	/* The same with canonical segments splits. */
	cr_assert_eq(mtk__jwt_split("eyJhIjoxfQ.eyJhIjoxfQ.AAAA", 26, &j, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_str_eq(j.header, "{\"a\":1}");
	mtk__jwt_release(&j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_neq(mtk__jwt_split(bad[i], strlen(bad[i]), &j, err, sizeof(err)), 0, "%s",
		              bad[i]);
}

Test(jwt, control_bytes_in_header_or_claims_are_refused)
{
	char err[160], seg[16], *s;
	struct mtk__jwt j;

	mtk__b64url_encode((const uint8_t *)"{\"a\":\0}", 7, seg);
	cr_assert(asprintf(&s, "%s.eyJhIjoxfQ.AAAA", seg) > 0);
	cr_assert_neq(mtk__jwt_split(s, strlen(s), &j, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "header"), "%s", err);
	free(s);
	cr_assert(asprintf(&s, "eyJhIjoxfQ.%s.AAAA", seg) > 0);
	cr_assert_neq(mtk__jwt_split(s, strlen(s), &j, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "claims"), "%s", err);
	free(s);
}

/* A JWT whose claims segment encodes the n bytes at claims (header and
 * signature canonical). 0 when it splits. */
static int split_claims(const char *claims, size_t n)
{
	char seg[64], *s, err[160];
	struct mtk__jwt j;
	int rc;

	mtk__b64url_encode((const uint8_t *)claims, n, seg);
	cr_assert(asprintf(&s, "eyJhIjoxfQ.%s.AAAA", seg) > 0);
	rc = mtk__jwt_split(s, strlen(s), &j, err, sizeof(err));
	if (rc == 0)
		mtk__jwt_release(&j);
	free(s);
	return rc;
}

Test(jwt, header_and_claims_must_be_well_formed_utf8)
{
	cr_assert_eq(split_claims("{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", 16), 0,
	             "é, € and an emoji are UTF-8");
	cr_assert_neq(split_claims("{\"a\":\"\xff\"}", 9), 0, "0xff");
	cr_assert_neq(split_claims("{\"a\":\"\xc3\"}", 9), 0, "a cut sequence");
	cr_assert_neq(split_claims("{\"a\":\"\xc0\xaf\"}", 10), 0, "overlong '/'");
	cr_assert_neq(split_claims("{\"a\":\"\xed\xa0\x80\"}", 11), 0, "a surrogate");
	cr_assert_neq(split_claims("{\"a\":\"\xf4\x90\x80\x80\"}", 12), 0, "past U+10FFFF");
	cr_assert_neq(split_claims("\xc3\xa9", 1), 0, "a sequence cut by the end");
}

Test(jwt, oversize_is_refused_both_ways)
{
	size_t n = MTK__JWT_MAX + 1;
	char *big = malloc(n + 1), *claims, err[160];
	struct mtk__jwt j;

	memset(big, 'A', n);
	big[n] = '\0';
	big[10] = '.';
	big[20] = '.';
	cr_assert_neq(mtk__jwt_split(big, n, &j, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "longer than"), "%s", err);
	free(big);

	/* Claims that would make the token too long are not signed. */
	claims = malloc(MTK__JWT_MAX);
	memset(claims, 'x', MTK__JWT_MAX - 1);
	claims[MTK__JWT_MAX - 1] = '\0';
	cr_assert_null(mtk__jwt_sign_ps256(key, "kid", claims, err, sizeof(err)));
	cr_assert_not_null(strstr(err, "longer than"), "%s", err);
	free(claims);
}

Test(jwt, a_kid_that_would_break_the_header_is_refused)
{
	char err[160];

	cr_assert_null(mtk__jwt_sign_ps256(key, "a\"b", CLAIMS, err, sizeof(err)));
	cr_assert_not_null(strstr(err, "key id"), "%s", err);
	cr_assert_null(mtk__jwt_sign_ps256(key, "a\\b", CLAIMS, err, sizeof(err)));
}

Test(jwt, a_key_that_is_not_rsa_neither_signs_nor_verifies)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	char err[160], *jwt = sign(CLAIMS);

	cr_assert_null(mtk__jwt_sign_ps256(ec, "kid", CLAIMS, err, sizeof(err)));
	cr_assert_not_null(strstr(err, "not an RSA key"), "%s", err);
	cr_assert_eq(check(jwt, ec), -1);
	EVP_PKEY_free(ec);
	free(jwt);
}

/* ---- authorized-key files ---- */

/* A key document with field name set to value (raw JSON), or removed when
 * value is NULL. */
static char *key_doc(EVP_PKEY *pk, const char *pem_prefix, const char *name, const char *value)
{
	cJSON *o = cJSON_CreateObject();
	char *pem = test_key_pem(pk), *full, *text;

	cr_assert(asprintf(&full, "%s%s", pem_prefix, pem) > 0);
	cJSON_AddStringToObject(o, "id", "kid-1");
	cJSON_AddStringToObject(o, "service_account_id", "sa-1");
	cJSON_AddStringToObject(o, "key_algorithm", "RSA_2048");
	cJSON_AddStringToObject(o, "private_key", full);
	if (name) {
		cJSON_DeleteItemFromObjectCaseSensitive(o, name);
		if (value)
			cJSON_AddItemToObject(o, name, cJSON_Parse(value));
	}
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	free(full);
	free(pem);
	return text;
}

static int parse(const char *text, struct mtk__authkey *k, char *err, size_t errlen)
{
	return mtk__authkey_parse(text, strlen(text), "key.json", k, err, errlen);
}

Test(authkey, the_pem_marker_line_of_newer_files_is_skipped)
{
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	struct mtk__authkey k;
	char err[256], *text;

	cr_assert_str_eq(mtk__authkey_pem_start("PLEASE DO NOT REMOVE THIS LINE! Yandex.Cloud SA "
	                                        "Key ID x\n-----BEGIN "
	                                        "PRIVATE KEY-----\n"),
	                 "-----BEGIN "
	                 "PRIVATE KEY-----\n");
	cr_assert_null(mtk__authkey_pem_start("no pem here"));
	cr_assert_null(mtk__authkey_pem_start(NULL));

	text = key_doc(pk, "PLEASE DO NOT REMOVE THIS LINE! Yandex.Cloud SA Key ID kid-1\n", NULL,
	               NULL);
	cr_assert_eq(parse(text, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(k.id, "kid-1");
	cr_assert_str_eq(k.service_account_id, "sa-1");
	cr_assert_eq(EVP_PKEY_eq(k.private_key, pk), 1);
	mtk__authkey_release(&k);
	cr_assert_null(k.private_key);
	mtk__authkey_release(NULL);
	free(text);
	EVP_PKEY_free(pk);
}

Test(authkey, each_error_names_the_file_and_the_field)
{
	static const struct {
		const char *name, *value, *want;
	} cases[] = {
		{ "id", NULL, "key.json: id: must be a string" },
		{ "id", "\"\"", "key.json: id: must be a string" },
		{ "id", "7", "key.json: id: must be a string" },
		{ "id", "\"a b\"", "key.json: id: must be printable ASCII" },
		{ "id", "\"a\\\"b\"", "key.json: id: must be printable ASCII" },
		{ "service_account_id", NULL, "key.json: service_account_id: must be a string" },
		{ "key_algorithm", "\"RSA_1024\"", "key.json: key_algorithm: must be" },
		{ "key_algorithm", "1", "key.json: key_algorithm: must be" },
		{ "private_key", NULL, "key.json: private_key: must be a string holding a PEM" },
		{ "private_key", "\"MIIE...\"", "key.json: private_key: must be a string holding" },
		{ "private_key",
		  "\"-----BEGIN "
		  "PRIVATE KEY-----\\nnope\\n-----END PRIVATE KEY-----\\n\"",
		  "key.json: private_key: not a PEM private key" },
	};
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	struct mtk__authkey k = { 0 };
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = key_doc(pk, "", cases[i].name, cases[i].value);

		err[0] = '\0';
		cr_assert_neq(parse(text, &k, err, sizeof(err)), 0, "%s", text);
		cr_assert_not_null(strstr(err, cases[i].want), "%s=%s: %s", cases[i].name,
		                   cases[i].value ? cases[i].value : "(none)", err);
		cr_assert_null(strstr(err, "BEGIN"), "no key material: %s", err);
		free(text);
	}
	cr_assert_neq(parse("[1]", &k, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "key.json: not a JSON object"), "%s", err);
	cr_assert_neq(parse("{\"id\":", &k, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "key.json: not a JSON object"), "%s", err);
	EVP_PKEY_free(pk);
}

Test(authkey, a_key_that_is_not_rsa_or_too_small_is_refused)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256"), *small = EVP_RSA_gen(1024);
	struct mtk__authkey k;
	char err[256], *text;

	text = key_doc(ec, "", NULL, NULL);
	cr_assert_neq(parse(text, &k, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "private_key: must be an RSA key"), "%s", err);
	free(text);
	text = key_doc(small, "", NULL, NULL);
	cr_assert_neq(parse(text, &k, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "2048 to 8192 bits"), "%s", err);
	free(text);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(small);
}

Test(authkey, an_encrypted_key_is_refused_without_asking_for_a_passphrase, .timeout = 10)
{
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	BIO *b = BIO_new(BIO_s_mem());
	struct mtk__authkey k;
	char err[256], *pem, *text, *data;
	cJSON *o = cJSON_CreateObject();
	long n;

	cr_assert_eq(PEM_write_bio_PKCS8PrivateKey(b, pk, EVP_aes_128_cbc(), NULL, 0, NULL,
	                                           (void *)"secret"),
	             1);
	n = BIO_get_mem_data(b, &data);
	pem = strndup(data, (size_t)n);
	cJSON_AddStringToObject(o, "id", "kid-1");
	cJSON_AddStringToObject(o, "service_account_id", "sa-1");
	cJSON_AddStringToObject(o, "private_key", pem);
	text = cJSON_PrintUnformatted(o);
	cr_assert_neq(parse(text, &k, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "unencrypted PKCS#8"), "%s", err);
	cJSON_free(text);
	cJSON_Delete(o);
	free(pem);
	BIO_free(b);
	EVP_PKEY_free(pk);
}

Test(authkey, load_refuses_what_others_may_read_and_what_is_not_a_file)
{
	struct test_key tk;
	struct mtk__authkey k;
	char err[512], want[256];

	test_key_make(&tk, 0640, true);
	cr_assert_neq(mtk__authkey_load(tk.path, &k, err, sizeof(err)), 0);
	snprintf(want, sizeof(want),
	         "%s: holds the authorized key (a private key) but its mode is 640", tk.path);
	cr_assert_not_null(strstr(err, want), "%s", err);
	snprintf(want, sizeof(want), "run `chmod 600 %s`", tk.path);
	cr_assert_not_null(strstr(err, want), "%s", err);

	cr_assert_eq(chmod(tk.path, 0600), 0);
	cr_assert_eq(mtk__authkey_load(tk.path, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(k.id, TEST_KEY_ID);
	cr_assert_eq(EVP_PKEY_eq(k.private_key, tk.pkey), 1);
	mtk__authkey_release(&k);

	cr_assert_neq(mtk__authkey_load(tk.dir, &k, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "not a regular file"), "%s", err);
	test_key_write(&tk, "empty.json", "", 0600);
	snprintf(want, sizeof(want), "%s/empty.json", tk.dir);
	cr_assert_neq(mtk__authkey_load(want, &k, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "authorized key (a private key) is empty"), "%s", err);
	test_key_free(&tk);
}

Test(authkey, load_does_not_hang_on_a_fifo, .timeout = 10)
{
	struct test_key tk;
	struct mtk__authkey k;
	char err[512], path[192];

	test_key_make(&tk, 0600, true);
	snprintf(path, sizeof(path), "%s/fifo", tk.dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	/* Without a writer, a blocking open() of a FIFO never returns. */
	cr_assert_neq(mtk__authkey_load(path, &k, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "not a regular file"), "%s", err);
	test_key_free(&tk);
}
