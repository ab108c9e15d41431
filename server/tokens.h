/*
 * Service-account access tokens: the codec. Minting and verification, with
 * no cache (an account's current token lives in a reissuing slot, slot.h)
 * and no wire format (each flavour formats its own answer).
 *
 * Token shape (Yandex IAM style, self-verifying):
 *
 *   t1.<base64url(payload)>.<base64url(Ed25519 signature), 86 chars>
 *
 * The signature covers the ASCII bytes "t1.<base64url(payload)>". The payload
 * is binary, big-endian:
 *
 *   u8  version (1)
 *   u8  key id length k, then k bytes of key id (first 8 bytes of SHA-256 of
 *       the raw public key)
 *   i64 issued-at, ms since the epoch (server clock)
 *   i64 expires-at, ms since the epoch (server clock)
 *   u8[16] nonce from the CSPRNG
 *   u8  account id length n (1..TOKENS_ACCOUNT_MAX), then n bytes of account id
 *
 * Any replica holding the same key verifies any other replica's tokens with
 * no lookup. Revocation is not part of a token; it is a separate list.
 */
#ifndef METATOKEN_SERVER_TOKENS_H
#define METATOKEN_SERVER_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#define TOKENS_ACCOUNT_MAX     128 /* longest account id, bytes */
#define TOKENS_MAX_LEN         400 /* longest token text, NUL excluded */
#define TOKENS_FINGERPRINT_LEN 12  /* hex chars of a fingerprint, NUL excluded */

struct tokens_key; /* opaque: an Ed25519 key pair */

/* Generates a fresh key pair. Returns NULL only when OpenSSL fails. */
struct tokens_key *tokens_key_generate(void);

/*
 * Loads an Ed25519 private key from a PEM file (PKCS#8, as written by
 * `openssl genpkey -algorithm ed25519`). On failure returns NULL and writes
 * a one-line reason naming the file into err.
 */
struct tokens_key *tokens_key_load(const char *path, char *err, size_t errlen);

/* Frees the key and wipes its secret. No operation is performed if k is NULL. */
void tokens_key_free(struct tokens_key *k);

#define TOKENS_DERIVED_KEY_LEN 32

/*
 * Derives a secret key for another purpose from k's private key: HMAC-SHA256
 * under the private key of `label`, a constant naming the purpose. Any
 * replica holding the same key derives the same bytes. Returns 0, or -1 if
 * OpenSSL fails.
 */
int tokens_key_derive(const struct tokens_key *k, const char *label,
                      unsigned char out[TOKENS_DERIVED_KEY_LEN]);

/* What a verified token says. */
struct tokens_claims {
	int64_t issued_ms;
	int64_t expires_ms;
	uint8_t nonce[16];
	char account[TOKENS_ACCOUNT_MAX + 1];
};

/*
 * Mints a token for `account` (1..TOKENS_ACCOUNT_MAX bytes, no NUL) into out
 * (NUL-terminated). Returns its length, or -1 if out is too small, the account
 * id is out of range, or OpenSSL fails.
 */
int tokens_mint(const struct tokens_key *k, const char *account, int64_t issued_ms,
                int64_t expires_ms, char *out, size_t outlen);

enum tokens_verdict {
	TOKENS_VALID = 0,
	TOKENS_MALFORMED,     /* not our shape: prefix, base64url, payload layout */
	TOKENS_BAD_SIGNATURE, /* well formed, but not signed by this key (or tampered) */
	TOKENS_EXPIRED,       /* signed by us, expires_ms <= now_ms */
};

/* A short, stable name for a verdict ("valid", "malformed", ...). */
const char *tokens_verdict_str(enum tokens_verdict v);

/*
 * Verifies `len` bytes of `token` against `k` at server time now_ms. Fills
 * *claims (when non-NULL) for TOKENS_VALID and TOKENS_EXPIRED only. Never
 * reads past len; any byte sequence is safe input.
 */
enum tokens_verdict tokens_verify(const struct tokens_key *k, const char *token, size_t len,
                                  int64_t now_ms, struct tokens_claims *claims);

/*
 * Writes a short hex fingerprint of a token (SHA-256 prefix) into
 * out[TOKENS_FINGERPRINT_LEN + 1]: what logs may show instead of the token.
 */
void tokens_fingerprint(const char *token, size_t len, char out[TOKENS_FINGERPRINT_LEN + 1]);

/*
 * What a reissuing slot (slot.h) mints an account's tokens with: a key and
 * an account id, both borrowed, outliving the slot.
 */
struct tokens_minter {
	const struct tokens_key *key;
	const char *account;
};

/* Returns 0 if m has a key and an account id of 1..TOKENS_ACCOUNT_MAX
 * bytes, else -1. */
int tokens_minter_check(const struct tokens_minter *m);

/*
 * A slot's mint callback (slot.h) for values that are a token's text,
 * char[TOKENS_MAX_LEN + 1], NUL-terminated: mints a token for
 * minter->account, issued at now_ms, expiring at expires_ms. Returns 0, or
 * -1 if minting failed.
 */
int tokens_mint_value(void *minter, int64_t now_ms, int64_t expires_ms, void *value);

#endif
