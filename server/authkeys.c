/*
 * The authorized-key registry. See authkeys.h.
 */
#include "authkeys.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define PUBLIC_KEY_FILE_MAX 65536 /* longest public_key_file read, bytes */

struct authkey {
	struct authkeys_entry e;
	EVP_PKEY *pub;
};

struct authkeys {
	pthread_mutex_t lock;
	struct authkey *keys; /* guarded by lock */
	size_t n, cap;
};

struct authkeys *authkeys_new(void)
{
	struct authkeys *k = calloc(1, sizeof(*k));

	if (k && pthread_mutex_init(&k->lock, NULL) != 0) {
		free(k);
		k = NULL;
	}
	return k;
}

void authkeys_free(struct authkeys *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++)
		EVP_PKEY_free(k->keys[i].pub);
	free(k->keys);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

EVP_PKEY *authkeys_parse_public_pem(const char *pem, size_t len, char *err, size_t errlen)
{
	BIO *b;
	EVP_PKEY *key;
	int bits;

	if (len > PUBLIC_KEY_FILE_MAX || len > (size_t)INT32_MAX) {
		snprintf(err, errlen, "too long for a public key (%zu bytes)", len);
		return NULL;
	}
	if (!memmem(pem, len, "-----BEGIN PUBLIC KEY-----", 26)) {
		snprintf(err, errlen,
		         "not a PEM public key (expected \"-----BEGIN PUBLIC KEY-----\", SPKI)");
		return NULL;
	}
	b = BIO_new_mem_buf(pem, (int)len);
	key = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!key) {
		snprintf(err, errlen, "not a valid PEM public key (OpenSSL cannot read it)");
		return NULL;
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		const char *type = EVP_PKEY_get0_type_name(key);

		snprintf(err, errlen, "%s key, not RSA (authorized keys are RSA_2048 or RSA_4096)",
		         type ? type : "another");
		EVP_PKEY_free(key);
		return NULL;
	}
	bits = EVP_PKEY_get_bits(key);
	if (bits < AUTHKEYS_MIN_BITS || bits > AUTHKEYS_MAX_BITS) {
		snprintf(err, errlen, "RSA key of %d bits; must be %d to %d", bits,
		         AUTHKEYS_MIN_BITS, AUTHKEYS_MAX_BITS);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

int authkeys_add(struct authkeys *k, const char *kid, size_t account, EVP_PKEY *pub,
                 int64_t created_ms, int configured, char *err, size_t errlen)
{
	size_t len = strlen(kid);
	int rc = -1;

	if (len == 0 || len > AUTHKEYS_ID_MAX) {
		snprintf(err, errlen, "key id must be 1..%d bytes", AUTHKEYS_ID_MAX);
		return -1;
	}
	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < k->n; i++) {
		if (strcmp(k->keys[i].e.id, kid) == 0) {
			snprintf(err, errlen, "key id %s is already registered", kid);
			goto out_unlock;
		}
	}
	if (k->n == AUTHKEYS_MAX) {
		snprintf(err, errlen, "the registry holds %d keys already, its limit",
		         AUTHKEYS_MAX);
		goto out_unlock;
	}
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 16;
		struct authkey *grown = realloc(k->keys, cap * sizeof(*grown));

		if (!grown) {
			snprintf(err, errlen, "out of memory");
			goto out_unlock;
		}
		k->keys = grown;
		k->cap = cap;
	}
	if (EVP_PKEY_up_ref(pub) != 1) {
		snprintf(err, errlen, "OpenSSL failed");
		goto out_unlock;
	}
	memset(&k->keys[k->n], 0, sizeof(k->keys[k->n]));
	memcpy(k->keys[k->n].e.id, kid, len + 1);
	k->keys[k->n].e.account = account;
	k->keys[k->n].e.created_ms = created_ms;
	k->keys[k->n].e.bits = EVP_PKEY_get_bits(pub);
	k->keys[k->n].e.configured = configured;
	k->keys[k->n].pub = pub;
	k->n++;
	rc = 0;
out_unlock:
	pthread_mutex_unlock(&k->lock);
	return rc;
}

EVP_PKEY *authkeys_find(struct authkeys *k, const char *kid, size_t len, size_t *account)
{
	EVP_PKEY *found = NULL;

	if (!k || len == 0 || len > AUTHKEYS_ID_MAX)
		return NULL;
	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < k->n; i++) {
		if (strlen(k->keys[i].e.id) == len && memcmp(k->keys[i].e.id, kid, len) == 0) {
			if (EVP_PKEY_up_ref(k->keys[i].pub) == 1) {
				found = k->keys[i].pub;
				*account = k->keys[i].e.account;
			}
			break;
		}
	}
	pthread_mutex_unlock(&k->lock);
	return found;
}

int authkeys_each(struct authkeys *k, size_t account,
                  void (*each)(void *arg, const struct authkeys_entry *e), void *arg)
{
	struct authkeys_entry *copy;
	size_t n = 0;

	pthread_mutex_lock(&k->lock);
	copy = malloc((k->n ? k->n : 1) * sizeof(*copy));
	for (size_t i = 0; copy && i < k->n; i++)
		if (k->keys[i].e.account == account)
			copy[n++] = k->keys[i].e;
	pthread_mutex_unlock(&k->lock);
	if (!copy)
		return -1;
	for (size_t i = 0; i < n; i++)
		each(arg, &copy[i]);
	free(copy);
	return (int)n;
}

void authkeys_reset(struct authkeys *k)
{
	size_t kept = 0;

	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < k->n; i++) {
		if (k->keys[i].e.configured)
			k->keys[kept++] = k->keys[i];
		else
			EVP_PKEY_free(k->keys[i].pub);
	}
	k->n = kept;
	pthread_mutex_unlock(&k->lock);
}

int authkeys_new_id(char out[AUTHKEYS_NEW_ID_LEN + 1])
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char r[64];
	size_t o = 3, used = 0;

	memcpy(out, "aje", 3);
	while (o < AUTHKEYS_NEW_ID_LEN) {
		if (used == 0 || used == sizeof(r)) {
			if (RAND_bytes(r, sizeof(r)) != 1)
				return -1;
			used = 0;
		}
		/* 252 = 7 * 36: bytes above are dropped so that no character is
		 * likelier than another. */
		if (r[used] < 252)
			out[o++] = alnum[r[used] % 36];
		used++;
	}
	out[o] = '\0';
	return 0;
}

/* Reads a configured public_key_file (at most PUBLIC_KEY_FILE_MAX bytes)
 * into a malloc'd NUL-terminated buffer. Returns NULL with a reason. */
static char *read_small_file(const char *path, size_t *len, char *why, size_t whylen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (!f) {
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(PUBLIC_KEY_FILE_MAX + 1);
	if (!buf) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	n = fread(buf, 1, PUBLIC_KEY_FILE_MAX + 1, f);
	if (ferror(f) || n > PUBLIC_KEY_FILE_MAX) {
		snprintf(why, whylen, ferror(f) ? "cannot read %s" : "%s is over 64 KiB", path);
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
	*len = n;
out:
	fclose(f);
	return buf;
}

int authkeys_load_config(struct authkeys *k, const struct config *cfg, int64_t now_ms, char *err,
                         size_t errlen)
{
	for (size_t i = 0; i < cfg->n_accounts; i++) {
		const struct config_account *a = &cfg->accounts[i];

		for (size_t j = 0; j < a->n_authorized_keys; j++) {
			const struct config_authkey *ck = &a->authorized_keys[j];
			const char *field = ck->public_key ? "public_key" : "public_key_file";
			char why[512];
			char *text = NULL;
			size_t len = 0;
			EVP_PKEY *pub = NULL;
			int bad;

			if (ck->public_key) {
				pub = authkeys_parse_public_pem(
				    ck->public_key, strlen(ck->public_key), why, sizeof(why));
			} else if ((text = read_small_file(ck->public_key_file, &len, why,
			                                   sizeof(why)))) {
				pub = authkeys_parse_public_pem(text, len, why, sizeof(why));
				free(text);
			}
			bad = !pub || authkeys_add(k, ck->id, i, pub, now_ms, 1, why, sizeof(why));
			EVP_PKEY_free(pub);
			if (bad) {
				snprintf(err, errlen,
				         "%s: service_accounts[%zu].authorized_keys[%zu].%s: %s",
				         cfg->source, i, j, field, why);
				return -1;
			}
		}
	}
	return 0;
}
