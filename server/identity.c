#include "identity.h"

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "server.h"

#define RSA_BITS        2048
#define ID_TOKEN_LIFE_S 3600
#define KID_BYTES       20 /* kid: hex of the first 20 bytes of SHA-256(public key DER) */

struct identity {
	pthread_mutex_t lock;
	EVP_PKEY *pkey; /* made on first use, under lock */
	char kid[2 * KID_BYTES + 1];
};

struct identity *identity_new(void)
{
	struct identity *id = calloc(1, sizeof(*id));

	if (id)
		pthread_mutex_init(&id->lock, NULL);
	return id;
}

void identity_free(struct identity *id)
{
	if (!id)
		return;
	EVP_PKEY_free(id->pkey);
	pthread_mutex_destroy(&id->lock);
	free(id);
}

/* Returns the key, making it on first use. */
static EVP_PKEY *key_of(struct identity *id)
{
	static const char hex[] = "0123456789abcdef";
	EVP_PKEY *k;

	pthread_mutex_lock(&id->lock);
	if (!id->pkey) {
		unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
		int len;

		id->pkey = EVP_RSA_gen(RSA_BITS);
		len = id->pkey ? i2d_PUBKEY(id->pkey, &der) : -1;
		if (len > 0) {
			SHA256(der, (size_t)len, md);
			for (int i = 0; i < KID_BYTES; i++) {
				id->kid[2 * i] = hex[md[i] >> 4];
				id->kid[2 * i + 1] = hex[md[i] & 15];
			}
			id->kid[2 * KID_BYTES] = '\0';
		} else {
			EVP_PKEY_free(id->pkey);
			id->pkey = NULL;
			ERR_clear_error();
		}
		OPENSSL_free(der);
	}
	k = id->pkey;
	pthread_mutex_unlock(&id->lock);
	return k;
}

/* base64url of a JSON object's compact text; malloc'd. */
static char *encode_json(cJSON *o)
{
	char *text = o ? cJSON_PrintUnformatted(o) : NULL, *out = NULL;
	size_t len;

	if (!text)
		return NULL;
	len = strlen(text);
	out = malloc(B64URL_LEN(len) + 1);
	if (out)
		mtk__b64url_encode((const uint8_t *)text, len, out);
	cJSON_free(text);
	return out;
}

char *identity_mint(struct identity *id, const char *account_id, const char *email, const char *aud,
                    int full, const struct identity_instance *inst, int64_t now_ms)
{
	EVP_PKEY *k = key_of(id);
	cJSON *header = cJSON_CreateObject(), *claims = cJSON_CreateObject();
	char *h = NULL, *c = NULL, *jwt = NULL;
	unsigned char sig[RSA_BITS / 8];
	size_t siglen = sizeof(sig), hlen, clen;
	int64_t iat = now_ms / 1000;
	EVP_MD_CTX *md = NULL;

	if (!k || !header || !claims)
		goto out;
	cJSON_AddStringToObject(header, "alg", "RS256");
	cJSON_AddStringToObject(header, "kid", id->kid);
	cJSON_AddStringToObject(header, "typ", "JWT");
	cJSON_AddStringToObject(claims, "aud", aud);
	cJSON_AddStringToObject(claims, "azp", account_id);
	if (full) {
		cJSON *g = cJSON_AddObjectToObject(claims, "google"),
		      *ce = g ? cJSON_AddObjectToObject(g, "compute_engine") : NULL;

		cJSON_AddStringToObject(claims, "email", email);
		cJSON_AddTrueToObject(claims, "email_verified");
		if (ce) {
			cJSON_AddNumberToObject(ce, "instance_creation_timestamp",
			                        (double)inst->created_s);
			cJSON_AddStringToObject(ce, "instance_id", inst->instance_id);
			cJSON_AddStringToObject(ce, "instance_name", inst->instance_name);
			cJSON_AddStringToObject(ce, "project_id", inst->project_id);
			cJSON_AddNumberToObject(ce, "project_number", (double)inst->project_number);
			cJSON_AddStringToObject(ce, "zone", inst->zone);
		}
	}
	cJSON_AddNumberToObject(claims, "exp", (double)(iat + ID_TOKEN_LIFE_S));
	cJSON_AddNumberToObject(claims, "iat", (double)iat);
	cJSON_AddStringToObject(claims, "iss", "https://accounts.google.com");
	cJSON_AddStringToObject(claims, "sub", account_id);
	h = encode_json(header);
	c = encode_json(claims);
	if (!h || !c)
		goto out;
	hlen = strlen(h);
	clen = strlen(c);
	jwt = malloc(hlen + 1 + clen + 1 + B64URL_LEN(sizeof(sig)) + 1);
	if (!jwt)
		goto out;
	memcpy(jwt, h, hlen);
	jwt[hlen] = '.';
	memcpy(jwt + hlen + 1, c, clen + 1);
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)jwt, hlen + 1 + clen) != 1) {
		free(jwt);
		jwt = NULL;
		ERR_clear_error();
		goto out;
	}
	jwt[hlen + 1 + clen] = '.';
	mtk__b64url_encode(sig, siglen, jwt + hlen + 1 + clen + 1);
out:
	EVP_MD_CTX_free(md);
	free(h);
	free(c);
	cJSON_Delete(header);
	cJSON_Delete(claims);
	return jwt;
}

/* base64url of a big number's big-endian bytes; malloc'd. */
static char *encode_bn(EVP_PKEY *k, const char *param)
{
	BIGNUM *bn = NULL;
	unsigned char *bytes;
	char *out = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(k, param, &bn) != 1)
		return NULL;
	n = BN_num_bytes(bn);
	bytes = malloc((size_t)n);
	if (bytes && BN_bn2bin(bn, bytes) == n) {
		out = malloc(B64URL_LEN((size_t)n) + 1);
		if (out)
			mtk__b64url_encode(bytes, (size_t)n, out);
	}
	free(bytes);
	BN_free(bn);
	return out;
}

void identity_handle_certs(struct request *rq)
{
	struct identity *id = rq->srv->identity;
	EVP_PKEY *k = key_of(id);
	char *n = k ? encode_bn(k, OSSL_PKEY_PARAM_RSA_N) : NULL;
	char *e = k ? encode_bn(k, OSSL_PKEY_PARAM_RSA_E) : NULL;

	if (!n || !e) {
		reply_static(rq, 500, CT_JSON, "{\"error\":\"no identity key\"}");
	} else {
		reply_printf(rq, 200, CT_JSON,
		             "{\"keys\":[{\"kty\":\"RSA\",\"alg\":\"RS256\",\"use\":\"sig\","
		             "\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}]}",
		             id->kid, n, e);
	}
	free(n);
	free(e);
}

void identity_handle_certs_v1(struct request *rq)
{
	struct identity *id = rq->srv->identity;
	EVP_PKEY *k = key_of(id);
	BIO *bio = BIO_new(BIO_s_mem());
	cJSON *o = cJSON_CreateObject();
	char *pem = NULL, *s = NULL;
	long len;

	if (k && bio && o && PEM_write_bio_PUBKEY(bio, k) == 1 &&
	    (len = BIO_get_mem_data(bio, &pem)) > 0) {
		char *copy = strndup(pem, (size_t)len);

		if (copy && cJSON_AddStringToObject(o, id->kid, copy))
			s = cJSON_PrintUnformatted(o);
		free(copy);
	}
	BIO_free(bio);
	cJSON_Delete(o);
	if (!s) {
		reply_static(rq, 500, CT_JSON, "{\"error\":\"no identity key\"}");
		return;
	}
	reply_owned(rq, 200, CT_JSON, s, strlen(s));
}
