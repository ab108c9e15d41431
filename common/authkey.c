#include "authkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "readfile.h"

/* The passphrase callback: there is none. Without it OpenSSL's default
 * would prompt on the terminal for an encrypted key, and wait. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

const char *mtk__authkey_pem_start(const char *s)
{
	return s ? strstr(s, "-----BEGIN") : NULL;
}

/* Copies the id field name of doc into out; -1 with err when missing or
 * not a plain id. */
static int read_id(const cJSON *doc, const char *name, const char *where, char *out, char *err,
                   size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
	size_t n;

	if (!cJSON_IsString(v) || !(n = strlen(v->valuestring)) || n > MTK__AUTHKEY_MAX_ID) {
		snprintf(err, errlen, "%s: %s: must be a string of 1 to %d characters", where, name,
		         MTK__AUTHKEY_MAX_ID);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v->valuestring[i];

		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			snprintf(err, errlen,
			         "%s: %s: must be printable ASCII without spaces or quotes", where,
			         name);
			return -1;
		}
	}
	memcpy(out, v->valuestring, n + 1);
	return 0;
}

int mtk__authkey_parse(const char *text, size_t len, const char *where, struct mtk__authkey *out,
                       char *err, size_t errlen)
{
	struct mtk__authkey k = { 0 };
	cJSON *doc = cJSON_ParseWithLength(text, len);
	const cJSON *alg, *pk;
	const char *pem;
	BIO *bio = NULL;
	int bits, rc = -1;

	if (!cJSON_IsObject(doc)) {
		snprintf(err, errlen,
		         "%s: not a JSON object (an authorized-key file is what "
		         "`yc iam key create --output key.json` writes)",
		         where);
		goto out;
	}
	if (read_id(doc, "id", where, k.id, err, errlen) ||
	    read_id(doc, "service_account_id", where, k.service_account_id, err, errlen))
		goto out;
	alg = cJSON_GetObjectItemCaseSensitive(doc, "key_algorithm");
	if (alg && (!cJSON_IsString(alg) || (strcmp(alg->valuestring, "RSA_2048") &&
	                                     strcmp(alg->valuestring, "RSA_4096")))) {
		snprintf(err, errlen, "%s: key_algorithm: must be \"RSA_2048\" or \"RSA_4096\"",
		         where);
		goto out;
	}
	pk = cJSON_GetObjectItemCaseSensitive(doc, "private_key");
	pem = cJSON_IsString(pk) ? mtk__authkey_pem_start(pk->valuestring) : NULL;
	if (!pem) {
		snprintf(err, errlen, "%s: private_key: must be a string holding a PEM private key",
		         where);
		goto out;
	}
	bio = BIO_new_mem_buf(pem, -1);
	k.private_key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	if (!k.private_key) {
		snprintf(err, errlen,
		         "%s: private_key: not a PEM private key OpenSSL can read "
		         "(unencrypted PKCS#8 expected)",
		         where);
		goto out;
	}
	bits = EVP_PKEY_get_bits(k.private_key);
	if (EVP_PKEY_get_base_id(k.private_key) != EVP_PKEY_RSA || bits < 2048 || bits > 8192) {
		snprintf(err, errlen, "%s: private_key: must be an RSA key of 2048 to 8192 bits",
		         where);
		goto out;
	}
	*out = k;
	memset(&k, 0, sizeof(k));
	rc = 0;
out:
	BIO_free(bio);
	mtk__authkey_release(&k);
	/* The document holds the private key's PEM: wipe it before freeing. */
	if (cJSON_IsObject(doc)) {
		cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "private_key");

		if (cJSON_IsString(p))
			OPENSSL_cleanse(p->valuestring, strlen(p->valuestring));
	}
	cJSON_Delete(doc);
	return rc;
}

int mtk__authkey_load(const char *path, struct mtk__authkey *out, char *err, size_t errlen)
{
	size_t len = 0;
	char *buf = mtk__read_whole_file(path, "authorized key (a private key)", 1,
	                                 MTK__AUTHKEY_MAX_FILE, &len, err, errlen);
	int rc;

	if (!buf)
		return -1;
	rc = mtk__authkey_parse(buf, len, path, out, err, errlen);
	OPENSSL_cleanse(buf, len + 1);
	free(buf);
	return rc;
}

void mtk__authkey_release(struct mtk__authkey *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->private_key);
	OPENSSL_cleanse(k, sizeof(*k));
}
