/*
 * Service-account access tokens: minting, verification and the per-account
 * cache that hands out the same token until its reissue margin.
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

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define TOKENS_ACCOUNT_MAX     128                   /* longest account id, bytes */
#define TOKENS_MAX_LEN         400                   /* longest token text, NUL excluded */
#define TOKENS_FINGERPRINT_LEN 12                    /* hex chars of a fingerprint, NUL excluded */
#define TOKENS_ANSWER_MAX      (TOKENS_MAX_LEN + 80) /* longest token answer, NUL excluded */

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
 * One service account's current token. The same token is handed out until
 * its remaining life falls below the reissue margin; then the next request
 * mints a new one (the old one stays valid until its own expiry).
 *
 * When lifetime_s <= reissue_margin_s (short lifetimes for expiry tests), the
 * effective margin is lifetime/2: a token is handed out for the first half of
 * its life and replaced after that, so the server never mints on every
 * request.
 */
struct tokens_account {
	pthread_mutex_t lock;
	const struct tokens_key *key; /* borrowed */
	char id[TOKENS_ACCOUNT_MAX + 1];
	int64_t lifetime_ms;
	int64_t margin_ms;
	/* Guarded by lock. */
	char current[TOKENS_MAX_LEN + 1];
	size_t current_len; /* 0: none minted yet */
	int64_t current_expires_ms;
	uint64_t minted; /* tokens minted for this account */
	uint64_t served; /* tokens handed out (get and answer) */
	/* The metadata answer for the current token at answer_expires_in, kept
	 * until either changes (tokens_account_answer). */
	char answer[TOKENS_ANSWER_MAX + 1];
	size_t answer_len; /* 0: none */
	int64_t answer_expires_in;
	uint64_t answer_gen; /* unique in the process; changes with the answer */
};

/*
 * The reissue policy, shared with AWS credentials (awscreds.h). A policy is
 * valid with a positive lifetime and a non-negative margin, both small
 * enough to count in milliseconds. The margin in force is margin_ms, or
 * lifetime_ms / 2 when the lifetime is not above the margin.
 */
int tokens_policy_valid(int64_t lifetime_s, int64_t margin_s);
/* Checks what an account is made from (tokens and AWS credentials alike):
 * a key, an id of 1..TOKENS_ACCOUNT_MAX bytes and a valid policy. Returns
 * the id's length, or -1. */
int tokens_account_args(const struct tokens_key *key, const char *id, int64_t lifetime_s,
                        int64_t margin_s);
int64_t tokens_effective_margin_ms(int64_t lifetime_ms, int64_t margin_ms);

/* Returns 0, or -1 if id is empty or too long or the lifetime is not positive. */
int tokens_account_init(struct tokens_account *a, const struct tokens_key *key, const char *id,
                        int64_t lifetime_s, int64_t reissue_margin_s);
/* Wipes the current token. No operation is performed if a is NULL. */
void tokens_account_release(struct tokens_account *a);

/*
 * Copies the account's current token at server time now_ms into out
 * (NUL-terminated), minting a new one first if there is none or its
 * remaining life is below the effective margin. Sets *expires_in_s to its
 * remaining life in whole seconds, never below 1. Holds the account's lock
 * for at most one mint. Returns the token's length, or -1 if out is too
 * small or minting failed.
 */
int tokens_account_get(struct tokens_account *a, int64_t now_ms, char *out, size_t outlen,
                       int64_t *expires_in_s);

/*
 * Like tokens_account_get, but for the whole metadata answer,
 * {"access_token":"...","expires_in":N,"token_type":"Bearer"}: the hot path
 * of the token endpoint. The answer is formatted once per value of
 * expires_in and token, and numbered with a generation unique in the
 * process (never 0), set in *gen. When it is have_gen, the caller holds
 * this answer already: nothing is copied and 0 is returned. Else the
 * answer is copied into out (NUL-terminated) and its length returned.
 * Returns -1 if out is too small or minting failed.
 */
int tokens_account_answer(struct tokens_account *a, int64_t now_ms, uint64_t have_gen, char *out,
                          size_t outlen, uint64_t *gen);

/*
 * Control operations (the control API). Each takes the account's lock.
 */

/*
 * Forgets the current token, so that the next get mints a new one. If there
 * was one, copies its claims to *old (when non-NULL) and returns 1; else 0.
 */
int tokens_account_drop(struct tokens_account *a, struct tokens_claims *old);

/* Like tokens_account_drop, but only if the current token's nonce is
 * `nonce` (any token when nonce is NULL): an atomic check-and-drop. */
int tokens_account_drop_if(struct tokens_account *a, const uint8_t *nonce,
                           struct tokens_claims *old);

/* Mints a new current token at now_ms, as if the margin had been reached.
 * Returns 0, or -1 if minting failed. */
int tokens_account_rotate(struct tokens_account *a, int64_t now_ms);

/* Changes lifetime and reissue margin for tokens minted from now on; a
 * negative value leaves that one as it is. Returns 0, or -1 if the
 * resulting lifetime is not positive. */
int tokens_account_set_policy(struct tokens_account *a, int64_t lifetime_s, int64_t margin_s);

/* Reads lifetime and margin (seconds) and the counters, consistently. */
void tokens_account_snapshot(struct tokens_account *a, int64_t *lifetime_s, int64_t *margin_s,
                             uint64_t *minted, uint64_t *served);

/* Copies the current token's claims at now_ms; returns 0 if there is none. */
int tokens_account_current(struct tokens_account *a, struct tokens_claims *claims);

/* Back to the start-up state: no token, counters zero, the given policy. */
void tokens_account_reset(struct tokens_account *a, int64_t lifetime_s, int64_t margin_s);

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
