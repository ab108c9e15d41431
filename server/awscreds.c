/*
 * AWS role credentials: minting a set. See awscreds.h.
 */
#include "awscreds.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

/* Real access key ids use base32 after the prefix. */
static const char key_id_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char secret_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Fills out[0..n) with chars of a 32- or 64-char alphabet (no modulo bias:
 * both sizes divide 256). */
static int random_chars(char *out, size_t n, const char *alphabet, size_t alphabet_len)
{
	unsigned char raw[64];

	if (n > sizeof(raw) || RAND_bytes(raw, (int)n) != 1)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[raw[i] % alphabet_len];
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

int awscreds_mint(void *minter, int64_t now_ms, int64_t expires_ms, void *value)
{
	const struct tokens_minter *m = minter;
	struct awscreds_set *s = value;

	memcpy(s->access_key_id, "ASIA", 4);
	if (random_chars(s->access_key_id + 4, AWSCREDS_KEY_ID_LEN - 4, key_id_alphabet, 32) != 0 ||
	    random_chars(s->secret_access_key, AWSCREDS_SECRET_LEN, secret_alphabet, 64) != 0 ||
	    tokens_mint(m->key, m->account, now_ms, expires_ms, s->token, sizeof(s->token)) < 0) {
		OPENSSL_cleanse(s, sizeof(*s));
		return -1;
	}
	s->access_key_id[AWSCREDS_KEY_ID_LEN] = '\0';
	s->secret_access_key[AWSCREDS_SECRET_LEN] = '\0';
	s->issued_ms = now_ms;
	s->expires_ms = expires_ms;
	return 0;
}
