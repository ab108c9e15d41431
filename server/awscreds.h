/*
 * AWS role credentials: what makes one set. An account's current set lives
 * in a reissuing slot (slot.h) like its tokens, with awscreds_mint as the
 * slot's mint callback: the same set is handed out until its remaining life
 * falls below the account's reissue margin, then the next request gets a new
 * one (the old set stays valid on paper until its own expiry). Real IMDS
 * hands out ~6 h credentials and a new set about 5 minutes before the old
 * one expires (PROTOCOL.md §2).
 *
 * A set is:
 *   AccessKeyId      "ASIA" and 16 chars of [A-Z2-7] from the CSPRNG
 *   SecretAccessKey  40 chars of [A-Za-z0-9+/] from the CSPRNG
 *   Token            a signed token of tokens.h's shape for the account, so
 *                    it verifies (and carries its expiry) with no lookup
 */
#ifndef METATOKEN_SERVER_AWSCREDS_H
#define METATOKEN_SERVER_AWSCREDS_H

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

/*
 * A slot's mint callback (slot.h) for values of struct awscreds_set: makes
 * a set for minter (a struct tokens_minter) issued at now_ms, expiring at
 * expires_ms. Returns 0, or -1 (with the set wiped) if the CSPRNG or
 * minting the token failed.
 */
int awscreds_mint(void *minter, int64_t now_ms, int64_t expires_ms, void *value);

#endif
