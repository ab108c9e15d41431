/*
 * AWS role credentials: minting a set, and recognising one. See awscreds.h.
 */
#include "awscreds.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

/* The purpose the derivation key is derived from the signing key for. */
#define DERIVE_LABEL "metatoken aws credentials v1"

/* Real access key ids use base32 after the prefix. */
static const char key_id_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char secret_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int awscreds_minter_init(struct awscreds_minter *m, const struct tokens_key *key,
                         const char *account)
{
	m->tokens.key = key;
	m->tokens.account = account;
	if (tokens_minter_check(&m->tokens) != 0 ||
	    tokens_key_derive(key, DERIVE_LABEL, m->derive_key) != 0) {
		OPENSSL_cleanse(m->derive_key, sizeof(m->derive_key));
		return -1;
	}
	return 0;
}

void awscreds_minter_release(struct awscreds_minter *m)
{
	if (m)
		OPENSSL_cleanse(m->derive_key, sizeof(m->derive_key));
}

/*
 * Fills out[0..n) with chars of a 32- or 64-char alphabet drawn from
 * HMAC(derive key, purpose NUL token) with digest md (no modulo bias: both
 * sizes divide 256). Returns 0, or -1 if OpenSSL failed.
 */
static int derive_chars(const struct awscreds_minter *m, const EVP_MD *md, const char *purpose,
                        const char *token, size_t token_len, char *out, size_t n,
                        const char *alphabet, size_t alphabet_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	char msg[16 + TOKENS_MAX_LEN];
	size_t plen = strlen(purpose) + 1;
	unsigned int mac_len = 0;
	int ok;

	if (plen > 16 || token_len > TOKENS_MAX_LEN)
		return -1;
	memcpy(msg, purpose, plen);
	memcpy(msg + plen, token, token_len);
	ok = HMAC(md, m->derive_key, sizeof(m->derive_key), (const unsigned char *)msg,
	          plen + token_len, mac, &mac_len) != NULL &&
	     mac_len >= n;
	if (ok)
		for (size_t i = 0; i < n; i++)
			out[i] = alphabet[mac[i] % alphabet_len];
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok ? 0 : -1;
}

/* The key id and secret of the set whose Token is token. */
static int derive(const struct awscreds_minter *m, const char *token, size_t token_len,
                  char key_id[AWSCREDS_KEY_ID_LEN + 1], char secret[AWSCREDS_SECRET_LEN + 1])
{
	memcpy(key_id, "ASIA", 4);
	if (derive_chars(m, EVP_sha256(), "id", token, token_len, key_id + 4,
	                 AWSCREDS_KEY_ID_LEN - 4, key_id_alphabet, 32) != 0 ||
	    derive_chars(m, EVP_sha512(), "secret", token, token_len, secret, AWSCREDS_SECRET_LEN,
	                 secret_alphabet, 64) != 0)
		return -1;
	key_id[AWSCREDS_KEY_ID_LEN] = '\0';
	secret[AWSCREDS_SECRET_LEN] = '\0';
	return 0;
}

int awscreds_mint(void *minter, int64_t now_ms, int64_t expires_ms, void *value)
{
	const struct awscreds_minter *m = minter;
	struct awscreds_set *s = value;
	int len = tokens_mint(m->tokens.key, m->tokens.account, now_ms, expires_ms, s->token,
	                      sizeof(s->token));

	if (len < 0 ||
	    derive(m, s->token, (size_t)len, s->access_key_id, s->secret_access_key) != 0) {
		OPENSSL_cleanse(s, sizeof(*s));
		return -1;
	}
	s->issued_ms = now_ms;
	s->expires_ms = expires_ms;
	return 0;
}

enum awscreds_verdict awscreds_check(const struct awscreds_minter *m, const char *key_id,
                                     size_t key_id_len, const char *token, size_t token_len,
                                     int64_t now_ms, char secret[AWSCREDS_SECRET_LEN + 1],
                                     struct tokens_claims *claims)
{
	char want_id[AWSCREDS_KEY_ID_LEN + 1];
	enum tokens_verdict v;
	int match;

	/* The signature first: only a Token of ours is worth an HMAC. */
	v = tokens_verify(m->tokens.key, token, token_len, now_ms, claims);
	if (v != TOKENS_VALID && v != TOKENS_EXPIRED)
		return AWSCREDS_UNKNOWN;
	if (strcmp(claims->account, m->tokens.account) != 0 ||
	    derive(m, token, token_len, want_id, secret) != 0) {
		OPENSSL_cleanse(secret, AWSCREDS_SECRET_LEN + 1);
		return AWSCREDS_UNKNOWN;
	}
	match = key_id_len == AWSCREDS_KEY_ID_LEN &&
	        CRYPTO_memcmp(key_id, want_id, AWSCREDS_KEY_ID_LEN) == 0;
	if (!match) {
		OPENSSL_cleanse(secret, AWSCREDS_SECRET_LEN + 1);
		return AWSCREDS_UNKNOWN;
	}
	return v == TOKENS_EXPIRED ? AWSCREDS_EXPIRED : AWSCREDS_VALID;
}
