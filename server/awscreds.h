/*
 * AWS role credentials, cached per service account like its tokens
 * (tokens.h): the same set is handed out until its remaining life falls
 * below the account's reissue margin, then the next request mints a new one
 * (the old set stays valid on paper until its own expiry). Real IMDS hands
 * out ~6 h credentials and a new set at least 5 minutes before the old one
 * expires (PROTOCOL.md §2).
 *
 * A set is:
 *   AccessKeyId      "ASIA" and 16 chars of [A-Z2-7] from the CSPRNG
 *   SecretAccessKey  40 chars of [A-Za-z0-9+/] from the CSPRNG
 *   Token            a signed token of tokens.h's shape for the account, so
 *                    it verifies (and carries its expiry) with no lookup
 */
#ifndef METATOKEN_SERVER_AWSCREDS_H
#define METATOKEN_SERVER_AWSCREDS_H

#include <pthread.h>
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

struct awscreds_account {
	pthread_mutex_t lock;
	const struct tokens_key *key; /* borrowed */
	char id[TOKENS_ACCOUNT_MAX + 1];
	int64_t lifetime_ms;
	int64_t margin_ms;
	/* Guarded by lock. */
	int has_current;
	struct awscreds_set current;
	uint64_t gen; /* the current set's generation: unique in the process */
	uint64_t minted;
	uint64_t served;
};

/* Returns 0, or -1 if id is empty or too long, or the lifetime not positive. */
int awscreds_account_init(struct awscreds_account *a, const struct tokens_key *key, const char *id,
                          int64_t lifetime_s, int64_t reissue_margin_s);
/* Wipes the current set. No operation is performed if a is NULL. */
void awscreds_account_release(struct awscreds_account *a);

/*
 * The current set at server time now_ms, minting a new one first if there
 * is none, or its remaining life is below the effective margin
 * (lifetime/2 when the lifetime is not above the margin, as for tokens).
 * *gen receives the current set's generation (never 0, unique in the
 * process, new with every set made current). Returns 1 if that is have_gen
 * (then *out is left alone: the caller's copy of it is still right; pass 0
 * to always get a copy), 0 after copying the set into *out, or -1 if
 * minting failed. The caller wipes *out.
 */
int awscreds_account_answer(struct awscreds_account *a, int64_t now_ms, uint64_t have_gen,
                            struct awscreds_set *out, uint64_t *gen);

/* Forgets the current set (the next get mints one). Returns 1 if there was
 * one, and then copies its Token into token (when non-NULL), so that the
 * caller can take that token out of service too. */
int awscreds_account_drop(struct awscreds_account *a, char token[TOKENS_MAX_LEN + 1]);

/* Mints a new current set at now_ms. Returns 0, or -1 if minting failed. */
int awscreds_account_rotate(struct awscreds_account *a, int64_t now_ms);

/* Copies the current set's access key id and times; returns 0 if there is none. */
int awscreds_account_peek(struct awscreds_account *a, char key_id[AWSCREDS_KEY_ID_LEN + 1],
                          int64_t *issued_ms, int64_t *expires_ms);

/* Back to the start-up state: no set, counters zero, the given policy. */
void awscreds_account_reset(struct awscreds_account *a, int64_t lifetime_s, int64_t margin_s);

/*
 * A slot's mint callback (slot.h) for values of struct awscreds_set: makes
 * a set for minter (a struct tokens_minter) issued at now_ms, expiring at
 * expires_ms. Returns 0, or -1 (with the set wiped) if the CSPRNG or
 * minting the token failed.
 */
int awscreds_mint(void *minter, int64_t now_ms, int64_t expires_ms, void *value);

#endif
