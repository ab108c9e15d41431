#include "test_iam_key.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

static char *bio_text(BIO *b)
{
	char *data, *out;
	long n = BIO_get_mem_data(b, &data);

	cr_assert_gt(n, 0);
	out = malloc((size_t)n + 1);
	cr_assert_not_null(out);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	return out;
}

char *test_key_pem(EVP_PKEY *pkey)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s;

	cr_assert(PEM_write_bio_PKCS8PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL) == 1);
	s = bio_text(b);
	BIO_free(b);
	return s;
}

static char *public_pem(EVP_PKEY *pkey)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s;

	cr_assert(PEM_write_bio_PUBKEY(b, pkey) == 1);
	s = bio_text(b);
	BIO_free(b);
	return s;
}

const char *test_key_write(struct test_key *k, const char *name, const char *text, mode_t mode)
{
	static char path[192];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", k->dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

void test_key_make(struct test_key *k, mode_t mode, bool newer)
{
	char *priv, *pub, *text, *full;
	cJSON *o = cJSON_CreateObject();

	memset(k, 0, sizeof(*k));
	snprintf(k->dir, sizeof(k->dir), "/tmp/mtk-iam-XXXXXX");
	cr_assert_not_null(mkdtemp(k->dir));
	k->pkey = EVP_RSA_gen(2048);
	cr_assert_not_null(k->pkey);
	priv = test_key_pem(k->pkey);
	pub = public_pem(k->pkey);
	full = malloc(strlen(priv) + 128);
	sprintf(full, "%s%s",
	        newer ? "PLEASE DO NOT REMOVE THIS LINE! Yandex.Cloud SA Key ID " TEST_KEY_ID "\n"
	              : "",
	        priv);
	cJSON_AddStringToObject(o, "id", TEST_KEY_ID);
	cJSON_AddStringToObject(o, "service_account_id", TEST_SA_ID);
	cJSON_AddStringToObject(o, "created_at", "2026-11-30T12:00:00.000000Z");
	cJSON_AddStringToObject(o, "key_algorithm", "RSA_2048");
	cJSON_AddStringToObject(o, "public_key", pub);
	cJSON_AddStringToObject(o, "private_key", full);
	text = cJSON_Print(o);
	snprintf(k->path, sizeof(k->path), "%s", test_key_write(k, "key.json", text, mode));
	cJSON_free(text);
	cJSON_Delete(o);
	free(full);
	free(pub);
	free(priv);
}

void test_key_free(struct test_key *k)
{
	char cmd[128];

	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
	if (k->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->dir);
		(void)!system(cmd);
	}
}
