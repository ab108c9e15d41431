/*
 * The GCE flavour's access token answer (PROTOCOL.md §1):
 *
 *   {"access_token":"...","expires_in":N,"token_type":"Bearer"}
 *
 * where N is the token's remaining life in whole seconds, never below 1, so
 * that it falls from request to request. The token comes from the
 * account's reissuing slot (slot.h), whose values are token texts
 * (tokens_mint_value) and whose derived area is a struct gce_token_cache.
 */
#ifndef METATOKEN_SERVER_GCE_TOKEN_H
#define METATOKEN_SERVER_GCE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "slot.h"
#include "tokens.h"

#define GCE_TOKEN_ANSWER_MAX (TOKENS_MAX_LEN + 80) /* longest answer, NUL excluded */

/*
 * The answer for the current token at one expires_in, kept in the slot's
 * derived area (slot_options.derived_size = sizeof(struct gce_token_cache))
 * under the slot's lock, and zeroed by the slot with every new token.
 */
struct gce_token_cache {
	char answer[GCE_TOKEN_ANSWER_MAX + 1];
	size_t len; /* 0: none */
	int64_t expires_in;
	uint64_t gen; /* unique in the process, never 0; changes with the answer */
};

/*
 * The answer from slot s at server time now_ms: the hot path of the token
 * endpoint. It is formatted once per token and value of expires_in, and
 * numbered with a generation set in *gen. When that is have_gen, the caller
 * holds this answer already: nothing is copied and 0 is returned. Else the
 * answer is copied into out (NUL-terminated) and its length returned.
 * Returns -1 if out is too small or minting failed. One lock, no
 * allocation.
 */
int gce_token_answer(struct slot *s, int64_t now_ms, uint64_t have_gen, char *out, size_t outlen,
                     uint64_t *gen);

/*
 * Like gce_token_answer, but saying expires_in whatever the token's life
 * (a fault rule's choice: 0, negative, huge), and never cached. Returns the
 * length, or -1.
 */
int gce_token_answer_saying(struct slot *s, int64_t now_ms, int64_t expires_in, char *out,
                            size_t outlen);

/*
 * The answer for token with expires_in as given, formatted the one way
 * (for tokens that come from no slot: upstream.c). Returns the length, or
 * -1 if out is too small.
 */
int gce_token_format(char *out, size_t outlen, const char *token, int64_t expires_in);

#endif
