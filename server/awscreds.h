/*
 * AWS role credentials: what makes one set, and how a signed request's set
 * is recognised again. An account's current set lives in a reissuing slot
 * (slot.h) like its tokens, with awscreds_mint as the slot's mint callback:
 * the same set is handed out until its remaining life falls below the
 * account's reissue margin, then the next request gets a new one (the old
 * set stays valid until its own expiry). Real IMDS hands out ~6 h
 * credentials and a new set about 5 minutes before the old one expires
 * (PROTOCOL.md §2).
 *
 * A set is:
 *   Token            a signed token of tokens.h's shape for the account, so
 *                    it verifies (and carries its expiry) with no lookup
 *   AccessKeyId      "ASIA" and 16 chars of [A-Z2-7]
 *   SecretAccessKey  40 chars of [A-Za-z0-9+/]
 * where the key id and the secret are HMACs of the Token under a key derived
 * from the signing key. So the server that checks a signed request (sts.c)
 * gets the secret back from the key id and Token the request carries: no
 * table of issued sets, whose size would grow with every set minted and
 * which would forget the sets a client still holds once the slot has moved
 * on. The Token's nonce (CSPRNG) makes every set's key id and secret new.
 */
#ifndef METATOKEN_SERVER_AWSCREDS_H
#define METATOKEN_SERVER_AWSCREDS_H

#include <stddef.h>
#include <stdint.h>

#include "tokens.h"

#define AWSCREDS_KEY_ID_LEN 20
#define AWSCREDS_SECRET_LEN 40

struct awscreds_set {
	char access_key_id[AWSCREDS_KEY_ID_LEN + 1];
	char secret_access_key[AWSCREDS_SECRET_LEN + 1];
	char token[TOKENS_MAX_LEN + 1];
	int64_t issued_ms;
	int64_t expires_ms;
};

/* What sets are minted with: the Token's key and account, and the key the
 * key id and secret are derived under. */
struct awscreds_minter {
	struct tokens_minter tokens; /* both borrowed, outliving the minter */
	unsigned char derive_key[TOKENS_DERIVED_KEY_LEN];
};

/*
 * Sets up m for account (borrowed) with key (borrowed). Returns 0, or -1 if
 * the account id is out of range or the derivation failed.
 */
int awscreds_minter_init(struct awscreds_minter *m, const struct tokens_key *key,
                         const char *account);
/* Wipes the derivation key. No operation is performed if m is NULL. */
void awscreds_minter_release(struct awscreds_minter *m);

/*
 * A slot's mint callback (slot.h) for values of struct awscreds_set: makes
 * a set for minter (a struct awscreds_minter) issued at now_ms, expiring at
 * expires_ms. Returns 0, or -1 (with the set wiped) if minting the token
 * failed.
 */
int awscreds_mint(void *minter, int64_t now_ms, int64_t expires_ms, void *value);

enum awscreds_verdict {
	AWSCREDS_VALID = 0,
	AWSCREDS_UNKNOWN, /* not a Token of ours, or not this key id's Token */
	AWSCREDS_EXPIRED, /* ours, matching, and past its expiry at now_ms */
};

/*
 * Recognises a set from what a signed request carries: the access key id
 * and the session Token (each of the given length, any bytes). On
 * AWSCREDS_VALID and AWSCREDS_EXPIRED fills secret (NUL-terminated; the
 * caller wipes it) and *claims (the Token's). Compares in constant time.
 */
enum awscreds_verdict awscreds_check(const struct awscreds_minter *m, const char *key_id,
                                     size_t key_id_len, const char *token, size_t token_len,
                                     int64_t now_ms, char secret[AWSCREDS_SECRET_LEN + 1],
                                     struct tokens_claims *claims);

#endif
