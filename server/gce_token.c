/*
 * The GCE flavour's access token answer. See gce_token.h.
 */
#include "gce_token.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Generations of answers, across all accounts and servers: never 0. */
static _Atomic uint64_t answer_gens;

/* The one place the answer's format is spelled. Returns the length, or -1
 * if out is too small. */
static int format(char *out, size_t outlen, const char *token, int64_t expires_in)
{
	int n = snprintf(out, outlen,
	                 "{\"access_token\":\"%s\",\"expires_in\":%lld,\"token_type\":\"Bearer\"}",
	                 token, (long long)expires_in);

	return n < 0 || (size_t)n >= outlen ? -1 : n;
}

/* What expires_in says for a remaining life: whole seconds, never below 1. */
static int64_t expires_in_of(int64_t remaining_ms)
{
	return remaining_ms / 1000 > 0 ? remaining_ms / 1000 : 1;
}

struct answer_req {
	uint64_t have_gen;
	char *out;
	size_t outlen;
	uint64_t *gen;
};

/* slot_read's reader, under the slot's lock: formats the answer when the
 * token or expires_in changed, then copies it unless the caller has it. */
static int read_answer(void *arg, const void *value, void *derived, const struct slot_info *info)
{
	struct answer_req *r = arg;
	struct gce_token_cache *c = derived;
	int64_t expires_in = expires_in_of(info->remaining_ms);

	if (c->len == 0 || c->expires_in != expires_in) {
		int n = format(c->answer, sizeof(c->answer), value, expires_in);

		if (n < 0) {
			c->len = 0;
			return -1;
		}
		c->len = (size_t)n;
		c->expires_in = expires_in;
		c->gen = atomic_fetch_add(&answer_gens, 1) + 1;
	}
	*r->gen = c->gen;
	if (c->gen == r->have_gen)
		return 0;
	if (r->outlen < c->len + 1)
		return -1;
	memcpy(r->out, c->answer, c->len + 1);
	return (int)c->len;
}

int gce_token_format(char *out, size_t outlen, const char *token, int64_t expires_in)
{
	return out ? format(out, outlen, token, expires_in) : -1;
}

int gce_token_answer(struct slot *s, int64_t now_ms, uint64_t have_gen, char *out, size_t outlen,
                     uint64_t *gen)
{
	struct answer_req r = { .have_gen = have_gen, .out = out, .outlen = outlen, .gen = gen };

	if (!s || !out || !gen)
		return -1;
	return slot_read(s, now_ms, read_answer, &r);
}

int gce_token_answer_saying(struct slot *s, int64_t now_ms, int64_t expires_in, char *out,
                            size_t outlen)
{
	char tok[TOKENS_MAX_LEN + 1];
	int n = -1;

	if (!s || !out)
		return -1;
	if (slot_get(s, now_ms, 0, tok, NULL) == 0)
		n = format(out, outlen, tok, expires_in);
	OPENSSL_cleanse(tok, sizeof(tok));
	return n;
}
