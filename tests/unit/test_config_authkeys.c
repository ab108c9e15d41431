/*
 * service_accounts[].authorized_keys in the configuration (config.h): an
 * id and an RSA public key (2048 bits or more, PEM inline or in a file
 * beside the configuration), ids unique across accounts, and every
 * refusal naming the field. Then the registry built from it at start.
 */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authkeys.h"
#include "config.h"
#include "test_config_expect.h"

/* A PEM public key of k, JSON-escaped (newlines as \n), malloc'd. */
static char *pem_json(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out, *o;
	long n;

	cr_assert(b && PEM_write_bio_PUBKEY(b, k) == 1);
	n = BIO_get_mem_data(b, &data);
	out = o = malloc((size_t)n * 2 + 1);
	for (long i = 0; i < n; i++) {
		if (data[i] == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else {
			*o++ = data[i];
		}
	}
	*o = '\0';
	BIO_free(b);
	return out;
}

static char *rsa_pem(int bits)
{
	EVP_PKEY *k = EVP_RSA_gen((unsigned)bits);
	char *s;

	cr_assert_not_null(k);
	s = pem_json(k);
	EVP_PKEY_free(k);
	return s;
}

/* A configuration of two accounts whose authorized_keys are keys1 and
 * keys2 (JSON array text). */
static char *doc(const char *keys1, const char *keys2)
{
	size_t n = strlen(keys1) + strlen(keys2) + 512;
	char *s = malloc(n);

	snprintf(s, n,
	         "{\"service_accounts\": ["
	         "{\"id\": \"ajeone\", \"email\": \"one@p.iam\", \"authorized_keys\": %s},"
	         "{\"id\": \"ajetwo\", \"email\": \"two@p.iam\", \"authorized_keys\": %s}]}",
	         keys1, keys2);
	return s;
}

static char *one_key(const char *id, const char *pem)
{
	size_t n = strlen(pem) + 128;
	char *s = malloc(n);

	snprintf(s, n, "[{\"id\": \"%s\", \"public_key\": \"%s\"}]", id, pem);
	return s;
}

Test(config_authkeys, an_rsa_public_key_is_accepted_and_registered)
{
	char *pem = rsa_pem(2048), *k1 = one_key("ajekey1", pem), *text = doc(k1, "[]");
	struct config c;
	struct authkeys *reg = authkeys_new();
	char err[ERRLEN] = "";
	size_t account = 99;
	EVP_PKEY *found;

	expect_ok(text, &c);
	cr_assert_eq(c.accounts[0].n_authorized_keys, 1);
	cr_assert_str_eq(c.accounts[0].authorized_keys[0].id, "ajekey1");
	cr_assert_eq(c.accounts[1].n_authorized_keys, 0);
	cr_assert_eq(authkeys_load_config(reg, &c, 0, err, sizeof(err)), 0, "%s", err);
	found = authkeys_find(reg, "ajekey1", 7, &account);
	cr_assert_not_null(found);
	cr_assert_eq(account, 0);
	cr_assert_null(authkeys_find(reg, "ajekey", 6, &account));
	EVP_PKEY_free(found);
	authkeys_free(reg);
	config_release(&c);
	free(pem);
	free(k1);
	free(text);
}

Test(config_authkeys, a_bad_pem_is_refused_naming_the_field)
{
	char *text = doc("[{\"id\": \"ajekey1\", \"public_key\": \"hello\"}]", "[]");

	expect_error(text, "cfg.json: service_accounts[0].authorized_keys[0].public_key: not a PEM "
	                   "public key (expected \"-----BEGIN PUBLIC KEY-----\", SPKI) (got "
	                   "\"hello\")");
	free(text);
	text = doc("[]", "[{\"id\": \"ajekey1\", \"public_key\": \"-----BEGIN PUBLIC "
	                 "KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n\"}]");
	expect_error(text, "cfg.json: service_accounts[1].authorized_keys[0].public_key: not a "
	                   "valid PEM public key (OpenSSL cannot read it) (got \"-----BEGIN "
	                   "PUBLIC KEY-----\\nAAAA\\n--...)");
	free(text);
}

Test(config_authkeys, a_key_that_is_not_rsa_or_too_short_is_refused)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	char *ec_pem = pem_json(ec), *short_pem = rsa_pem(1024);
	char *k1 = one_key("ajekey1", ec_pem), *k2 = one_key("ajekey2", short_pem);
	char *t1 = doc(k1, "[]"), *t2 = doc("[]", k2);
	struct config c;
	char err[ERRLEN] = "";

	cr_assert_eq(config_parse(t1, strlen(t1), "cfg.json", &c, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "service_accounts[0].authorized_keys[0].public_key: EC key, "
	                               "not RSA"),
	                   "%s", err);
	cr_assert_eq(config_parse(t2, strlen(t2), "cfg.json", &c, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "service_accounts[1].authorized_keys[0].public_key: RSA "
	                               "key of 1024 bits; must be 2048 to 8192"),
	                   "%s", err);
	EVP_PKEY_free(ec);
	free(ec_pem);
	free(short_pem);
	free(k1);
	free(k2);
	free(t1);
	free(t2);
}

Test(config_authkeys, a_key_id_repeated_in_another_account_is_refused)
{
	char *pem = rsa_pem(2048), *k = one_key("ajesame", pem), *text = doc(k, k);

	expect_error(text, "cfg.json: service_accounts[1].authorized_keys[0].id: duplicates "
	                   "service_accounts[0].authorized_keys[0].id (key ids are unique across "
	                   "accounts) (got \"ajesame\")");
	free(pem);
	free(k);
	free(text);
}

Test(config_authkeys, exactly_one_source_of_the_key_and_known_fields_only)
{
	char *t1 = doc("[{\"id\": \"ajekey1\"}]", "[]");
	char *t2 =
	    doc("[{\"id\": \"ajekey1\", \"public_key\": \"x\", \"public_key_file\": \"f\"}]", "[]");
	char *t3 = doc("[{\"public_key_file\": \"f\"}]", "[]");
	char *t4 = doc("[{\"id\": \"ajekey1\", \"public_key_file\": \"f\", \"kind\": 1}]", "[]");
	char *t5 = doc("{}", "[]");

	expect_error(t1, "cfg.json: service_accounts[0].authorized_keys[0]: give exactly one of "
	                 "public_key and public_key_file");
	expect_error(t2, "cfg.json: service_accounts[0].authorized_keys[0]: give exactly one of "
	                 "public_key and public_key_file");
	expect_error(t3, "cfg.json: service_accounts[0].authorized_keys[0].id: is required");
	expect_error(t4, "cfg.json: service_accounts[0].authorized_keys[0].kind: unknown key");
	expect_error(t5, "cfg.json: service_accounts[0].authorized_keys: must be an array of "
	                 "{\"id\", \"public_key\"} objects (got {})");
	free(t1);
	free(t2);
	free(t3);
	free(t4);
	free(t5);
}

/* public_key_file is relative to the configuration's folder, read at start,
 * and a bad one stops the start naming the field. */
Test(config_authkeys, a_public_key_file_is_read_beside_the_configuration)
{
	char dir[] = "/tmp/mtk-authkeys-XXXXXX", path[256], pubpath[256];
	EVP_PKEY *k = EVP_RSA_gen(2048);
	const char *cfg = "{\"service_accounts\": [{\"id\": \"ajeone\", \"email\": \"one@p.iam\", "
	                  "\"authorized_keys\": [{\"id\": \"ajefile\", \"public_key_file\": "
	                  "\"sa.pub\"}]}]}";
	struct config c;
	struct authkeys *reg = authkeys_new();
	char err[ERRLEN] = "";
	size_t account;
	EVP_PKEY *found;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cfg.json", dir);
	snprintf(pubpath, sizeof(pubpath), "%s/sa.pub", dir);
	f = fopen(path, "w");
	fputs(cfg, f);
	fclose(f);
	cr_assert_eq(config_load(path, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.accounts[0].authorized_keys[0].public_key_file, pubpath);
	/* Not there yet: start-up says which key and why. */
	cr_assert_eq(authkeys_load_config(reg, &c, 0, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "service_accounts[0].authorized_keys[0].public_key_file: "
	                               "cannot open"),
	                   "%s", err);
	f = fopen(pubpath, "w");
	PEM_write_PUBKEY(f, k);
	fclose(f);
	cr_assert_eq(authkeys_load_config(reg, &c, 0, err, sizeof(err)), 0, "%s", err);
	found = authkeys_find(reg, "ajefile", 7, &account);
	cr_assert_not_null(found);
	cr_assert_eq(EVP_PKEY_eq(found, k), 1);
	EVP_PKEY_free(found);
	authkeys_free(reg);
	config_release(&c);
	EVP_PKEY_free(k);
	unlink(pubpath);
	unlink(path);
	rmdir(dir);
}

Test(config_authkeys, new_key_ids_look_like_yandex_ids)
{
	char a[AUTHKEYS_NEW_ID_LEN + 1], b[AUTHKEYS_NEW_ID_LEN + 1];

	cr_assert_eq(authkeys_new_id(a), 0);
	cr_assert_eq(authkeys_new_id(b), 0);
	cr_assert_eq(strlen(a), 20);
	cr_assert_eq(strncmp(a, "aje", 3), 0);
	cr_assert_eq(strspn(a + 3, "abcdefghijklmnopqrstuvwxyz0123456789"), 17, "%s", a);
	cr_assert_str_neq(a, b);
}
