/*
 * Unit tests for server/gce_token.c: the GCE token answer made from an
 * account's slot, formatted once per token and second. Time is a plain
 * integer; nothing sleeps.
 */
#include "gce_token.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 INT64_C(1700000000000) /* an arbitrary "now", ms since the epoch */

struct account {
	struct tokens_key *key;
	struct tokens_minter minter;
	struct slot s;
};

static void account_init(struct account *a, const char *id, int64_t lifetime_s, int64_t margin_s)
{
	const struct slot_options o = {
		.value_size = TOKENS_MAX_LEN + 1,
		.derived_size = sizeof(struct gce_token_cache),
		.mint = tokens_mint_value,
		.mint_arg = &a->minter,
		.lifetime_s = lifetime_s,
		.margin_s = margin_s,
	};

	a->key = tokens_key_generate();
	cr_assert_not_null(a->key);
	a->minter.key = a->key;
	a->minter.account = id;
	cr_assert_eq(slot_init(&a->s, &o), 0);
}

static void account_release(struct account *a)
{
	slot_release(&a->s);
	tokens_key_free(a->key);
}

/* The answer at now (copied), with its token and expires_in picked out. */
static void answer(struct account *a, int64_t now_ms, char tok[TOKENS_MAX_LEN + 1],
                   long long *expires_in)
{
	char text[GCE_TOKEN_ANSWER_MAX + 1], tail[64];
	uint64_t gen = 0;
	int n = gce_token_answer(&a->s, now_ms, 0, text, sizeof(text), &gen);

	cr_assert_gt(n, 0, "no answer at %lld", (long long)now_ms);
	cr_assert_eq((size_t)n, strlen(text));
	cr_assert_neq(gen, 0);
	cr_assert_eq(sscanf(text, "{\"access_token\":\"%400[^\"]\",\"expires_in\":%lld%63s", tok,
	                    expires_in, tail),
	             3, "%s", text);
	cr_assert_str_eq(tail, ",\"token_type\":\"Bearer\"}");
	cr_assert_eq(tokens_verify(a->key, tok, strlen(tok), now_ms, NULL), TOKENS_VALID);
}

Test(gce_token, same_token_with_falling_expires_in)
{
	struct account a;
	char first[TOKENS_MAX_LEN + 1], tok[TOKENS_MAX_LEN + 1];
	long long in;

	account_init(&a, "sa@folder", 43200, 300);
	answer(&a, T0, first, &in);
	cr_assert_eq(in, 43200);
	answer(&a, T0 + 1, tok, &in);
	cr_assert_eq(in, 43199, "floor of 43199.999");
	cr_assert_str_eq(tok, first);
	answer(&a, T0 + 1500, tok, &in);
	cr_assert_eq(in, 43198);
	answer(&a, T0 + 583000, tok, &in);
	cr_assert_eq(in, 42617);
	/* Exactly the margin left: the same token, saying 300. */
	answer(&a, T0 + (43200 - 300) * 1000, tok, &in);
	cr_assert_eq(in, 300);
	cr_assert_str_eq(tok, first);
	answer(&a, T0 + (43200 - 300) * 1000 + 1, tok, &in);
	cr_assert_eq(in, 43200);
	cr_assert_str_neq(tok, first);
	account_release(&a);
}

Test(gce_token, expires_in_never_below_one)
{
	struct account a;
	char first[TOKENS_MAX_LEN + 1], tok[TOKENS_MAX_LEN + 1];
	long long in;
	struct slot_snapshot snap;

	/* Lifetime 1 s, margin 300 s: effective margin 500 ms, so the token is
	 * handed out with 500 ms left, which is 0 whole seconds. */
	account_init(&a, "sa@folder", 1, 300);
	answer(&a, T0, first, &in);
	cr_assert_eq(in, 1);
	answer(&a, T0 + 500, tok, &in);
	cr_assert_eq(in, 1);
	cr_assert_str_eq(tok, first);
	answer(&a, T0 + 501, tok, &in);
	cr_assert_str_neq(tok, first);
	/* Every millisecond for 5 s: always >= 1 and always verifies. */
	for (int64_t t = T0 + 501; t < T0 + 5501; t++) {
		answer(&a, t, tok, &in);
		cr_assert_geq(in, 1);
	}
	slot_snapshot(&a.s, &snap);
	cr_assert_eq(snap.minted, 11, "minted %llu", (unsigned long long)snap.minted);
	account_release(&a);
}

/* The cached answer is, at every instant, what formatting the token and
 * its expires_in afresh would give: across sub-second steps, a reissue at
 * the margin, a rotation and a drop. */
Test(gce_token, answer_matches_the_token_at_every_instant)
{
	struct account a;
	char text[GCE_TOKEN_ANSWER_MAX + 1], tok[TOKENS_MAX_LEN + 1],
	    want[GCE_TOKEN_ANSWER_MAX + 1];
	char prev[GCE_TOKEN_ANSWER_MAX + 1] = "";
	int64_t now = 1795000000123;
	uint64_t gen = 0, prev_gen = 0;
	struct slot_info info;
	int changes = 0;

	account_init(&a, "ajeanswer", 3600, 300);
	for (int step = 0; step < 4000; step++) {
		/* 0.9 s steps cross second boundaries at every phase. */
		now += 900;
		if (step == 1000)
			cr_assert_eq(slot_rotate(&a.s, now), 0);
		if (step == 2000)
			cr_assert(slot_drop(&a.s, NULL));
		cr_assert(gce_token_answer(&a.s, now, 0, text, sizeof(text), &gen) > 0);
		cr_assert_eq(slot_get(&a.s, now, 0, tok, &info), 0);
		snprintf(want, sizeof(want),
		         "{\"access_token\":\"%s\",\"expires_in\":%lld,\"token_type\":\"Bearer\"}",
		         tok,
		         (long long)(info.remaining_ms / 1000 > 0 ? info.remaining_ms / 1000 : 1));
		cr_assert_str_eq(text, want, "step %d", step);
		/* The generation changes exactly when the answer does. */
		cr_assert_neq(gen, 0);
		cr_assert_eq(gen != prev_gen, strcmp(text, prev) != 0, "step %d", step);
		changes += gen != prev_gen;
		prev_gen = gen;
		snprintf(prev, sizeof(prev), "%s", text);
	}
	cr_assert_gt(changes, 3000, "expires_in falls every second: %d answers", changes);
	cr_assert_eq(gce_token_answer(&a.s, now, 0, text, 10, &gen), -1,
	             "a short buffer is refused");
	account_release(&a);
}

/* A caller that holds the current answer gets its generation back and no
 * copy; it is counted as served all the same. */
Test(gce_token, answer_not_copied_when_the_caller_has_it)
{
	struct account a, b;
	char text[GCE_TOKEN_ANSWER_MAX + 1];
	int64_t now = 1795000000000;
	uint64_t gen, again, other;
	struct slot_snapshot snap;

	account_init(&a, "ajeone", 3600, 300);
	account_init(&b, "ajetwo", 3600, 300);
	cr_assert_gt(gce_token_answer(&a.s, now, 0, text, sizeof(text), &gen), 0);
	/* 3,598.5 s and then 3,598.1 s left: expires_in 3598 both times. */
	cr_assert_gt(gce_token_answer(&a.s, now + 1500, 0, text, sizeof(text), &gen), 0);
	memset(text, 'x', sizeof(text));
	cr_assert_eq(gce_token_answer(&a.s, now + 1900, gen, text, sizeof(text), &again), 0);
	cr_assert_eq(again, gen, "same second, same token: same generation");
	cr_assert_eq(text[0], 'x', "nothing copied");
	slot_snapshot(&a.s, &snap);
	cr_assert_eq(snap.served, 3);
	cr_assert_eq(snap.minted, 1);
	/* Another account's generations never collide with this one's. */
	cr_assert_gt(gce_token_answer(&b.s, now, 0, text, sizeof(text), &other), 0);
	cr_assert_neq(other, gen);
	cr_assert_gt(gce_token_answer(&b.s, now, gen, text, sizeof(text), &other), 0,
	             "a generation of another account is not this one's");
	/* A new second is a new answer, copied. */
	cr_assert_gt(gce_token_answer(&a.s, now + 1000, gen, text, sizeof(text), &again), 0);
	cr_assert_neq(again, gen);
	/* After a reset the counters restart; the generations do not. */
	cr_assert_eq(slot_reset(&a.s, 3600, 300), 0);
	cr_assert_gt(gce_token_answer(&a.s, now + 1000, again, text, sizeof(text), &gen), 0);
	cr_assert_gt(gen, again);
	slot_snapshot(&a.s, &snap);
	cr_assert_eq(snap.served, 1);
	account_release(&a);
	account_release(&b);
}

/* A fault rule's expires_in is said as given, whatever the token's life,
 * and the token is the current one. */
Test(gce_token, answer_saying_a_given_expires_in)
{
	struct account a;
	char text[GCE_TOKEN_ANSWER_MAX + 1], tok[TOKENS_MAX_LEN + 1],
	    want[GCE_TOKEN_ANSWER_MAX + 1];
	long long in;
	int n;

	account_init(&a, "sa@folder", 3600, 300);
	answer(&a, T0, tok, &in);
	n = gce_token_answer_saying(&a.s, T0 + 1000, -5, text, sizeof(text));
	snprintf(want, sizeof(want),
	         "{\"access_token\":\"%s\",\"expires_in\":-5,\"token_type\":\"Bearer\"}", tok);
	cr_assert_str_eq(text, want);
	cr_assert_eq((size_t)n, strlen(want));
	cr_assert_eq(gce_token_answer_saying(&a.s, T0, 0, text, 10), -1, "a short buffer");
	account_release(&a);
}
