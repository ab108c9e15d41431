/*
 * Unit tests for server/slot.c, the reissuing slot, with each of the values
 * the server keeps in one: a service account's token (tokens_mint_value),
 * an AWS credential set (awscreds_mint), and a counting stand-in. Time is a
 * plain integer; nothing sleeps.
 */
#include "awscreds.h"
#include "slot.h"
#include "tokens.h"

/* Labelled "concurrency": the TSan build runs this file on the stand-in
 * runner of tests/support/cr_shim.h, since Criterion cannot start under
 * TSan. Every test here must therefore also pass in one shared process. */
#ifdef MTK_TEST_NO_CRITERION
#include "cr_shim.h"
#else
#include <criterion/criterion.h>
#endif

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0      INT64_C(1700000000000) /* an arbitrary "now", ms since the epoch */
#define HOUR_MS INT64_C(3600000)

TestSuite(slot);

/* ---- the values ---- */

/* The stand-in: a counter and the times it was minted for. */
struct fake {
	uint64_t n;
	int64_t issued_ms, expires_ms;
};

struct fake_minter {
	uint64_t calls;
	int fail; /* the next mints fail */
};

static int fake_mint(void *arg, int64_t now_ms, int64_t expires_ms, void *value)
{
	struct fake_minter *m = arg;
	struct fake *v = value;

	cr_assert_eq(v->n, 0, "minted into a value that was not wiped");
	if (m->fail)
		return -1;
	v->n = ++m->calls;
	v->issued_ms = now_ms;
	v->expires_ms = expires_ms;
	return 0;
}

/* One kind of value the slot is tested with. */
struct kind {
	const char *name;
	size_t value_size;
	int (*mint)(void *arg, int64_t now_ms, int64_t expires_ms, void *value);
};

static const struct kind kinds[] = {
	{ "fake", sizeof(struct fake), fake_mint },
	{ "token", TOKENS_MAX_LEN + 1, tokens_mint_value },
	{ "aws", sizeof(struct awscreds_set), awscreds_mint },
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

/* A slot of one kind, with what it needs to mint. */
struct fixture {
	const struct kind *kind;
	struct slot s;
	struct tokens_key *key;
	struct tokens_minter tm;
	struct awscreds_minter am; /* AWS sets: the token minter plus a derivation key */
	struct fake_minter fm;
};

static void fixture_init(struct fixture *f, const struct kind *k, int64_t lifetime_s,
                         int64_t margin_s)
{
	struct slot_options o = {
		.value_size = k->value_size,
		.mint = k->mint,
		.lifetime_s = lifetime_s,
		.margin_s = margin_s,
	};

	memset(f, 0, sizeof(*f));
	f->kind = k;
	if (k->mint == fake_mint) {
		o.mint_arg = &f->fm;
	} else {
		f->key = tokens_key_generate();
		cr_assert_not_null(f->key);
		f->tm.key = f->key;
		f->tm.account = "sa@folder";
		cr_assert_eq(tokens_minter_check(&f->tm), 0);
		o.mint_arg = &f->tm;
		if (k->mint == awscreds_mint) {
			cr_assert_eq(awscreds_minter_init(&f->am, f->key, f->tm.account), 0);
			o.mint_arg = &f->am;
		}
	}
	cr_assert_eq(slot_init(&f->s, &o), 0, "%s", k->name);
}

static void fixture_release(struct fixture *f)
{
	slot_release(&f->s);
	awscreds_minter_release(&f->am);
	tokens_key_free(f->key);
}

/* What a test holds of a value: big enough for every kind. */
union value {
	struct fake fake;
	char token[TOKENS_MAX_LEN + 1];
	struct awscreds_set aws;
};

/* Checks that a value handed out at now_ms is right for its kind. */
static void check_value(const struct fixture *f, const union value *v, const struct slot_info *in,
                        int64_t now_ms)
{
	struct tokens_claims c;
	const char *token = NULL;

	if (f->kind->mint == fake_mint) {
		cr_assert_eq(v->fake.issued_ms, in->issued_ms);
		cr_assert_eq(v->fake.expires_ms, in->expires_ms);
		return;
	}
	token = f->kind->mint == tokens_mint_value ? v->token : v->aws.token;
	if (f->kind->mint == awscreds_mint) {
		cr_assert_eq(strlen(v->aws.access_key_id), AWSCREDS_KEY_ID_LEN);
		cr_assert_eq(strncmp(v->aws.access_key_id, "ASIA", 4), 0);
		cr_assert_eq(strlen(v->aws.secret_access_key), AWSCREDS_SECRET_LEN);
		cr_assert_eq(v->aws.issued_ms, in->issued_ms);
		cr_assert_eq(v->aws.expires_ms, in->expires_ms);
	}
	cr_assert_eq(tokens_verify(f->key, token, strlen(token), now_ms, &c), TOKENS_VALID,
	             "%s: handed out a token that does not verify at %lld", f->kind->name,
	             (long long)now_ms);
	cr_assert_str_eq(c.account, "sa@folder");
	cr_assert_eq(c.issued_ms, in->issued_ms);
	cr_assert_eq(c.expires_ms, in->expires_ms);
}

/* slot_get (always copying) that must succeed; returns the value's
 * generation and checks the value. */
static uint64_t get(struct fixture *f, int64_t now_ms, union value *v, struct slot_info *in)
{
	struct slot_info got;

	memset(v, 0, sizeof(*v));
	cr_assert_eq(slot_get(&f->s, now_ms, 0, v, &got), 0, "%s: get at %lld", f->kind->name,
	             (long long)now_ms);
	cr_assert_neq(got.gen, 0);
	cr_assert_eq(got.remaining_ms, got.expires_ms - now_ms);
	check_value(f, v, &got, now_ms);
	if (in)
		*in = got;
	return got.gen;
}

static uint64_t minted(struct slot *s)
{
	struct slot_snapshot snap;

	slot_snapshot(s, &snap);
	return snap.minted;
}

/* ---- policy ---- */

Test(slot, init_checks_options)
{
	struct fake_minter fm = { 0 };
	struct slot_options o = {
		.value_size = sizeof(struct fake),
		.mint = fake_mint,
		.mint_arg = &fm,
		.lifetime_s = 3600,
		.margin_s = 300,
	};
	struct slot s;

	cr_assert_eq(slot_init(&s, &o), 0);
	slot_release(&s);
	slot_release(&s);
	slot_release(NULL);
	o.lifetime_s = 0;
	cr_assert_eq(slot_init(&s, &o), -1);
	o.lifetime_s = -1;
	cr_assert_eq(slot_init(&s, &o), -1);
	o.lifetime_s = INT64_MAX / 1000 + 1;
	cr_assert_eq(slot_init(&s, &o), -1, "a lifetime that does not fit in ms");
	o.lifetime_s = 3600;
	o.margin_s = -1;
	cr_assert_eq(slot_init(&s, &o), -1);
	o.margin_s = INT64_MAX / 1000 + 1;
	cr_assert_eq(slot_init(&s, &o), -1);
	o.margin_s = 0;
	o.value_size = 0;
	cr_assert_eq(slot_init(&s, &o), -1);
	o.value_size = sizeof(struct fake);
	o.mint = NULL;
	cr_assert_eq(slot_init(&s, &o), -1);
	cr_assert_eq(fm.calls, 0, "init minted");

	cr_assert(slot_policy_valid(1, 0));
	cr_assert(slot_policy_valid(INT64_MAX / 1000, INT64_MAX / 1000));
	cr_assert_not(slot_policy_valid(0, 0));
	cr_assert_eq(slot_effective_margin_ms(43200000, 300000), 300000);
	cr_assert_eq(slot_effective_margin_ms(300000, 300000), 150000);
	cr_assert_eq(slot_effective_margin_ms(10000, 300000), 5000);
	cr_assert_eq(slot_effective_margin_ms(1000, 0), 0);
}

/* The one boundary rule, for every kind of value: handed out with exactly
 * the margin left, and with a millisecond more; reissued with a millisecond
 * less, with a full life. */
Test(slot, boundary_is_the_same_for_tokens_and_aws_credentials)
{
	const int64_t life_ms = 43200 * 1000, margin_ms = 300 * 1000;

	for (size_t k = 0; k < N_KINDS; k++) {
		struct fixture f;
		union value first, v;
		struct slot_info in;
		uint64_t gen;

		fixture_init(&f, &kinds[k], 43200, 300);
		gen = get(&f, T0, &first, &in);
		cr_assert_eq(in.remaining_ms, life_ms);
		cr_assert_eq(in.issued_ms, T0);
		cr_assert_eq(in.expires_ms, T0 + life_ms);

		/* margin + 1 ms left */
		cr_assert_eq(get(&f, T0 + life_ms - margin_ms - 1, &v, &in), gen, "%s",
		             f.kind->name);
		cr_assert_eq(in.remaining_ms, margin_ms + 1);
		/* exactly the margin left: still handed out */
		cr_assert_eq(get(&f, T0 + life_ms - margin_ms, &v, &in), gen, "%s", f.kind->name);
		cr_assert_eq(in.remaining_ms, margin_ms);
		cr_assert_eq(memcmp(&v, &first, f.kind->value_size), 0);
		cr_assert_eq(minted(&f.s), 1);

		/* margin - 1 ms left: a new value with a full life */
		cr_assert_neq(get(&f, T0 + life_ms - margin_ms + 1, &v, &in), gen, "%s",
		              f.kind->name);
		cr_assert_neq(memcmp(&v, &first, f.kind->value_size), 0);
		cr_assert_eq(in.issued_ms, T0 + life_ms - margin_ms + 1);
		cr_assert_eq(in.remaining_ms, life_ms);
		cr_assert_eq(minted(&f.s), 2);
		fixture_release(&f);
	}
}

/* lifetime <= margin: the effective margin is half the lifetime, with the
 * same boundary rule. */
Test(slot, short_lifetime_uses_half_of_it)
{
	for (size_t k = 0; k < N_KINDS; k++) {
		struct fixture f;
		union value v;
		struct slot_info in;
		uint64_t gen, second;

		/* Lifetime 10 s, margin 300 s: the first 5 s hand out one value. */
		fixture_init(&f, &kinds[k], 10, 300);
		gen = get(&f, T0, &v, NULL);
		for (int64_t t = T0; t <= T0 + 5000; t += 100)
			cr_assert_eq(get(&f, t, &v, NULL), gen, "%s: new value at +%lld ms",
			             f.kind->name, (long long)(t - T0));
		cr_assert_eq(get(&f, T0 + 5000, &v, &in), gen);
		cr_assert_eq(in.remaining_ms, 5000);
		second = get(&f, T0 + 5001, &v, &in);
		cr_assert_neq(second, gen);
		cr_assert_eq(in.remaining_ms, 10000);
		cr_assert_eq(get(&f, T0 + 10001, &v, NULL), second);
		cr_assert_eq(minted(&f.s), 2);
		fixture_release(&f);

		/* A lifetime equal to the margin counts as short too. */
		fixture_init(&f, &kinds[k], 300, 300);
		gen = get(&f, T0, &v, NULL);
		cr_assert_eq(get(&f, T0 + 150000, &v, NULL), gen);
		cr_assert_neq(get(&f, T0 + 150001, &v, NULL), gen);
		cr_assert_eq(minted(&f.s), 2);
		fixture_release(&f);
	}
}

/* With no margin a value is handed out to its last millisecond, never
 * after it has expired. */
Test(slot, expired_value_never_handed_out)
{
	struct fixture f;
	union value v;
	struct slot_info in;
	uint64_t gen;

	fixture_init(&f, &kinds[0], 10, 0);
	gen = get(&f, T0, &v, NULL);
	cr_assert_eq(get(&f, T0 + 9999, &v, &in), gen);
	cr_assert_eq(in.remaining_ms, 1);
	cr_assert_neq(get(&f, T0 + 10000, &v, &in), gen);
	cr_assert_eq(in.remaining_ms, 10000);
	/* Long past the expiry: a new value at once. */
	get(&f, T0 + 100 * HOUR_MS, &v, &in);
	cr_assert_eq(in.issued_ms, T0 + 100 * HOUR_MS);
	cr_assert_eq(minted(&f.s), 3);
	fixture_release(&f);
}

Test(slot, twelve_hours_fast_forwarded)
{
	const int64_t life_ms = 43200 * 1000, margin_ms = 300 * 1000;
	const int64_t last_same = T0 + life_ms - margin_ms;
	struct fixture f;
	union value v;
	struct slot_info in;
	int64_t prev = INT64_MAX;
	uint64_t gen;

	fixture_init(&f, &kinds[1], 43200, 300);
	gen = get(&f, T0, &v, NULL);
	for (int64_t t = T0; t <= last_same; t += 60 * 1000 - 7) {
		cr_assert_eq(get(&f, t, &v, &in), gen, "new token at +%lld ms",
		             (long long)(t - T0));
		cr_assert_lt(in.remaining_ms, prev);
		prev = in.remaining_ms;
	}
	cr_assert_eq(minted(&f.s), 1);
	cr_assert_neq(get(&f, last_same + 1, &v, NULL), gen);
	cr_assert_eq(minted(&f.s), 2);
	fixture_release(&f);
}

Test(slot, clock_moved_backwards_keeps_the_value)
{
	struct fixture f;
	union value v;
	struct slot_info in;
	uint64_t gen;

	fixture_init(&f, &kinds[0], 43200, 300);
	gen = get(&f, T0, &v, NULL);
	/* A day back: the same value, with a day more to live. */
	cr_assert_eq(get(&f, T0 - 24 * HOUR_MS, &v, &in), gen);
	cr_assert_eq(in.remaining_ms, (43200 + 86400) * INT64_C(1000));
	/* Forward again: the schedule is the value's own. */
	cr_assert_eq(get(&f, T0 + (43200 - 300) * 1000, &v, NULL), gen);
	cr_assert_neq(get(&f, T0 + (43200 - 300) * 1000 + 1, &v, NULL), gen);
	/* Far past its expiry and then back before it. */
	gen = get(&f, T0 + 100 * HOUR_MS, &v, NULL);
	cr_assert_eq(get(&f, T0, &v, &in), gen);
	cr_assert_eq(in.remaining_ms, 100 * HOUR_MS + 43200 * 1000);
	cr_assert_eq(minted(&f.s), 3);
	fixture_release(&f);
}

/* Times at the ends of the int64_t range saturate instead of wrapping. */
Test(slot, huge_lifetimes_saturate)
{
	for (size_t k = 0; k < N_KINDS; k++) {
		struct fixture f;
		union value v;
		struct slot_info in;
		uint64_t gen;

		fixture_init(&f, &kinds[k], INT64_MAX / 1000, 300);
		gen = get(&f, T0, &v, &in);
		cr_assert_eq(in.expires_ms, INT64_MAX, "%s: the expiry wrapped", f.kind->name);
		cr_assert_eq(in.remaining_ms, INT64_MAX - T0);
		/* Long before the epoch: the remaining life saturates too. */
		memset(&v, 0, sizeof(v));
		cr_assert_eq(slot_get(&f.s, INT64_MIN + 5, 0, &v, &in), 0);
		cr_assert_eq(in.gen, gen);
		cr_assert_eq(in.remaining_ms, INT64_MAX);
		/* The end of time: due, and the new value saturates as well. */
		cr_assert_neq(get(&f, INT64_MAX - 1, &v, &in), gen);
		cr_assert_eq(in.expires_ms, INT64_MAX);
		cr_assert_eq(in.remaining_ms, 1);
		fixture_release(&f);

		/* A huge margin with a huge lifetime: half of it, no overflow. */
		fixture_init(&f, &kinds[k], INT64_MAX / 1000, INT64_MAX / 1000);
		gen = get(&f, 0, &v, &in);
		cr_assert_eq(in.remaining_ms, INT64_MAX / 1000 * 1000);
		cr_assert_eq(get(&f, INT64_MAX / 1000 * 500, &v, NULL), gen);
		cr_assert_neq(get(&f, INT64_MAX / 1000 * 500 + 1, &v, NULL), gen);
		fixture_release(&f);
	}
}

/* ---- generations and the have_gen short-cut ---- */

Test(slot, generations_are_unique_never_zero_and_new_with_every_value)
{
	struct fixture a, b;
	union value v, w;
	struct slot_info in;
	uint64_t ga, gb, g;

	fixture_init(&a, &kinds[0], 3600, 300);
	fixture_init(&b, &kinds[0], 3600, 300);
	ga = get(&a, T0, &v, NULL);
	gb = get(&b, T0, &w, NULL);
	cr_assert_neq(ga, gb, "two slots, one generation");

	/* The caller's generation: nothing copied, counted served all the same. */
	memset(&v, 'x', sizeof(v));
	cr_assert_eq(slot_get(&a.s, T0 + 1000, ga, &v, &in), 1);
	cr_assert_eq(in.gen, ga);
	cr_assert_eq(in.remaining_ms, 3599 * 1000);
	cr_assert_eq(v.token[0], 'x', "copied although the caller had it");
	/* Another slot's generation is not this one's. */
	cr_assert_eq(slot_get(&a.s, T0, gb, &v, &in), 0);
	cr_assert_eq(in.gen, ga);

	cr_assert_eq(slot_rotate(&a.s, T0 + 2000), 0);
	g = get(&a, T0 + 2000, &v, NULL);
	cr_assert_gt(g, ga);
	cr_assert_eq(slot_get(&a.s, T0 + 2000, ga, &v, NULL), 0, "an old generation is copied");
	cr_assert(slot_drop(&a.s, NULL));
	ga = get(&a, T0 + 2000, &v, NULL);
	cr_assert_gt(ga, g);
	cr_assert_eq(slot_reset(&a.s, 3600, 300), 0);
	g = get(&a, T0 + 2000, &v, NULL);
	cr_assert_gt(g, ga, "generations restart after a reset");
	fixture_release(&a);
	fixture_release(&b);
}

/* ---- control operations ---- */

static int is_number(void *arg, const void *value)
{
	return ((const struct fake *)value)->n == *(const uint64_t *)arg;
}

Test(slot, drop_and_drop_if)
{
	struct fixture f;
	union value v, old;
	uint64_t n;

	fixture_init(&f, &kinds[0], 3600, 300);
	cr_assert_eq(slot_drop(&f.s, &old), 0, "dropped from an empty slot");
	get(&f, T0, &v, NULL);
	memset(&old, 0, sizeof(old));
	cr_assert_eq(slot_drop(&f.s, &old), 1);
	cr_assert_eq(old.fake.n, v.fake.n, "the dropped value is copied out");
	cr_assert_eq(slot_peek(&f.s, NULL, NULL), 0);
	cr_assert_eq(slot_drop(&f.s, NULL), 0);

	/* drop_if acts only on the value it names. */
	get(&f, T0, &v, NULL);
	cr_assert_eq(v.fake.n, 2);
	n = 1;
	cr_assert_eq(slot_drop_if(&f.s, is_number, &n, &old), 0);
	cr_assert_eq(slot_peek(&f.s, NULL, NULL), 1, "dropped a value that did not match");
	n = 2;
	cr_assert_eq(slot_drop_if(&f.s, is_number, &n, NULL), 1);
	cr_assert_eq(slot_peek(&f.s, NULL, NULL), 0);
	cr_assert_eq(slot_drop_if(&f.s, is_number, &n, NULL), 0);
	fixture_release(&f);
}

Test(slot, rotate_mints_even_when_not_due)
{
	struct fixture f;
	union value v;
	struct slot_info in;
	uint64_t gen;

	fixture_init(&f, &kinds[0], 3600, 300);
	cr_assert_eq(slot_rotate(&f.s, T0), 0, "rotate on an empty slot");
	gen = get(&f, T0 + 1, &v, NULL);
	cr_assert_eq(v.fake.n, 1);
	cr_assert_eq(slot_rotate(&f.s, T0 + 5), 0);
	cr_assert_neq(get(&f, T0 + 6, &v, &in), gen);
	cr_assert_eq(in.issued_ms, T0 + 5);
	cr_assert_eq(minted(&f.s), 2);
	fixture_release(&f);
}

/* A failed mint leaves the current value in place, and out untouched. */
Test(slot, failed_mint_keeps_the_current_value)
{
	struct fixture f;
	union value v;
	struct slot_info in = { .gen = 77 };
	uint64_t gen;

	fixture_init(&f, &kinds[0], 3600, 300);
	f.fm.fail = 1;
	memset(&v, 'x', sizeof(v));
	cr_assert_eq(slot_get(&f.s, T0, 0, &v, &in), -1);
	cr_assert_eq(in.gen, 77, "info written on failure");
	cr_assert_eq(v.token[0], 'x', "out written on failure");
	f.fm.fail = 0;
	gen = get(&f, T0, &v, NULL);
	f.fm.fail = 1;
	cr_assert_eq(slot_rotate(&f.s, T0 + 1), -1);
	cr_assert_eq(slot_get(&f.s, T0 + 3600 * 1000, 0, &v, NULL), -1, "due, cannot mint");
	f.fm.fail = 0;
	cr_assert_eq(get(&f, T0 + 2, &v, NULL), gen, "the failed rotate replaced the value");
	cr_assert_eq(minted(&f.s), 1);
	fixture_release(&f);
}

Test(slot, peek_mints_and_counts_nothing)
{
	struct fixture f;
	union value v, p;
	struct slot_info in, pin;
	struct slot_snapshot snap;

	fixture_init(&f, &kinds[2], 3600, 300);
	cr_assert_eq(slot_peek(&f.s, &p, &pin), 0);
	get(&f, T0, &v, &in);
	memset(&p, 0, sizeof(p));
	cr_assert_eq(slot_peek(&f.s, &p, &pin), 1);
	cr_assert_str_eq(p.aws.access_key_id, v.aws.access_key_id);
	cr_assert_eq(pin.gen, in.gen);
	cr_assert_eq(pin.issued_ms, T0);
	cr_assert_eq(pin.expires_ms, T0 + 3600 * 1000);
	slot_snapshot(&f.s, &snap);
	cr_assert_eq(snap.minted, 1);
	cr_assert_eq(snap.served, 1);
	OPENSSL_cleanse(&p, sizeof(p));
	fixture_release(&f);
}

Test(slot, policy_snapshot_and_reset)
{
	struct fixture f;
	union value v;
	struct slot_snapshot snap;
	uint64_t gen;

	fixture_init(&f, &kinds[0], 3600, 300);
	gen = get(&f, T0, &v, NULL);
	get(&f, T0 + 1, &v, NULL);
	slot_snapshot(&f.s, &snap);
	cr_assert_eq(snap.lifetime_s, 3600);
	cr_assert_eq(snap.margin_s, 300);
	cr_assert_eq(snap.minted, 1);
	cr_assert_eq(snap.served, 2);

	/* Negative leaves a value as it is; an invalid result changes nothing. */
	cr_assert_eq(slot_set_policy(&f.s, 600, -1), 0);
	slot_snapshot(&f.s, &snap);
	cr_assert_eq(snap.lifetime_s, 600);
	cr_assert_eq(snap.margin_s, 300);
	cr_assert_eq(slot_set_policy(&f.s, -1, 60), 0);
	cr_assert_eq(slot_set_policy(&f.s, 0, 10), -1);
	cr_assert_eq(slot_set_policy(&f.s, INT64_MAX / 1000 + 1, -1), -1);
	cr_assert_eq(slot_set_policy(&f.s, -1, INT64_MAX / 1000 + 1), -1);
	slot_snapshot(&f.s, &snap);
	cr_assert_eq(snap.lifetime_s, 600);
	cr_assert_eq(snap.margin_s, 60);
	/* The current value is judged by the new margin... */
	cr_assert_eq(get(&f, T0 + (3600 - 60) * 1000, &v, NULL), gen);
	cr_assert_neq(get(&f, T0 + (3600 - 60) * 1000 + 1, &v, NULL), gen);
	/* ...and the next one lives the new lifetime. */
	cr_assert_eq(f.s.expires_ms - f.s.issued_ms, 600 * 1000);

	cr_assert_eq(slot_reset(&f.s, 0, 300), -1);
	cr_assert_eq(slot_reset(&f.s, 43200, 300), 0);
	slot_snapshot(&f.s, &snap);
	cr_assert_eq(snap.lifetime_s, 43200);
	cr_assert_eq(snap.margin_s, 300);
	cr_assert_eq(snap.minted, 0);
	cr_assert_eq(snap.served, 0);
	cr_assert_eq(slot_peek(&f.s, NULL, NULL), 0, "a reset kept the value");
	fixture_release(&f);
}

/* ---- the derived area ---- */

struct derived_req {
	int writes; /* times the reader found the area zeroed */
};

static int read_derived(void *arg, const void *value, void *derived, const struct slot_info *in)
{
	struct derived_req *r = arg;
	uint64_t *d = derived;

	(void)value;
	if (*d == 0) {
		*d = in->gen;
		r->writes++;
	}
	return *d == in->gen ? 0 : -1;
}

Test(slot, derived_area_is_zeroed_with_every_new_value)
{
	struct fake_minter fm = { 0 };
	const struct slot_options o = {
		.value_size = sizeof(struct fake),
		.derived_size = sizeof(uint64_t),
		.mint = fake_mint,
		.mint_arg = &fm,
		.lifetime_s = 3600,
		.margin_s = 300,
	};
	struct derived_req r = { 0 };
	struct slot_snapshot snap;
	struct slot s;

	cr_assert_eq(slot_init(&s, &o), 0);
	cr_assert_eq(slot_read(&s, T0, read_derived, &r), 0);
	cr_assert_eq(slot_read(&s, T0 + 1, read_derived, &r), 0);
	cr_assert_eq(r.writes, 1);
	cr_assert_eq(slot_rotate(&s, T0 + 2), 0);
	cr_assert_eq(slot_read(&s, T0 + 2, read_derived, &r), 0, "kept across a rotate");
	cr_assert_eq(r.writes, 2);
	cr_assert(slot_drop(&s, NULL));
	cr_assert_eq(slot_read(&s, T0 + 3, read_derived, &r), 0, "kept across a drop");
	cr_assert_eq(slot_read(&s, T0 + 3600 * 1000, read_derived, &r), 0, "kept across a mint");
	cr_assert_eq(r.writes, 4);
	cr_assert_eq(slot_reset(&s, 3600, 300), 0);
	cr_assert_eq(slot_read(&s, T0, read_derived, &r), 0, "kept across a reset");
	cr_assert_eq(r.writes, 5);
	slot_snapshot(&s, &snap);
	cr_assert_eq(snap.served, 1);
	fm.fail = 1;
	cr_assert(slot_drop(&s, NULL));
	cr_assert_eq(slot_read(&s, T0, read_derived, &r), -1);
	cr_assert_eq(r.writes, 5, "read without a value");
	slot_release(&s);
}

/* ---- many threads ---- */

#define THREADS 8
#define CALLS   2000

struct worker {
	struct fixture *f;
	pthread_barrier_t *start;
	int64_t now_ms;
	uint64_t first;
	int failures; /* failed calls, or values of another generation */
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	union value v;
	struct slot_info in;
	uint64_t have = 0;

	/* All threads make their first call together, racing to mint. */
	pthread_barrier_wait(w->start);
	for (int i = 0; i < CALLS; i++) {
		int rc = slot_get(&w->f->s, w->now_ms, have, &v, &in);

		if (rc < 0 || (i == 0 && rc != 0) || (i > 0 && rc != 1)) {
			w->failures++;
			continue;
		}
		if (i == 0)
			w->first = have = in.gen;
	}
	OPENSSL_cleanse(&v, sizeof(v));
	return NULL;
}

/* Many threads at the margin: one mint, one value for all; for tokens and
 * AWS credentials alike. */
Test(slot, concurrent_gets_at_the_margin_mint_once)
{
	for (size_t k = 0; k < N_KINDS; k++) {
		struct worker w[THREADS];
		pthread_t th[THREADS];
		pthread_barrier_t start;
		struct fixture f;
		union value v;
		uint64_t old;

		fixture_init(&f, &kinds[k], 3600, 300);
		old = get(&f, T0, &v, NULL);
		cr_assert_eq(pthread_barrier_init(&start, NULL, THREADS), 0);
		memset(w, 0, sizeof(w));
		for (int i = 0; i < THREADS; i++) {
			w[i].f = &f;
			w[i].start = &start;
			w[i].now_ms = T0 + (3600 - 300) * 1000 + 1; /* just inside the margin */
			cr_assert_eq(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
		}
		for (int i = 0; i < THREADS; i++)
			cr_assert_eq(pthread_join(th[i], NULL), 0);
		for (int i = 0; i < THREADS; i++) {
			cr_assert_eq(w[i].failures, 0, "%s: thread %d", f.kind->name, i);
			cr_assert_eq(w[i].first, w[0].first);
		}
		cr_assert_neq(w[0].first, old);
		cr_assert_eq(minted(&f.s), 2, "%s: minted %llu", f.kind->name,
		             (unsigned long long)minted(&f.s));
		pthread_barrier_destroy(&start);
		OPENSSL_cleanse(&v, sizeof(v));
		fixture_release(&f);
	}
}

struct meddler {
	struct fixture *f;
	_Atomic int *stop;
};

/* Control operations while readers run: rotate, drop, policy, reset. */
static void *meddle(void *arg)
{
	struct meddler *m = arg;
	struct slot_snapshot snap;

	for (int i = 0; !atomic_load(m->stop); i++) {
		switch (i % 5) {
		case 0:
			slot_rotate(&m->f->s, T0);
			break;
		case 1:
			slot_drop(&m->f->s, NULL);
			break;
		case 2:
			slot_set_policy(&m->f->s, 3600 + i % 7, 300);
			break;
		case 3:
			slot_snapshot(&m->f->s, &snap);
			break;
		default:
			slot_reset(&m->f->s, 3600, 300);
			break;
		}
	}
	return NULL;
}

static void *read_many(void *arg)
{
	struct worker *w = arg;
	union value v;
	struct slot_info in;
	uint64_t have = 0;

	for (int i = 0; i < CALLS; i++) {
		int rc = slot_get(&w->f->s, T0 + i, have, &v, &in);

		if (rc < 0 || in.gen == 0 || (rc == 1 && in.gen != have))
			w->failures++;
		else if (rc == 0 && v.fake.n == 0)
			w->failures++;
		have = in.gen;
	}
	return NULL;
}

Test(slot, control_operations_race_with_gets)
{
	struct worker w[THREADS - 1];
	pthread_t th[THREADS];
	struct fixture f;
	_Atomic int stop = 0;
	struct meddler m = { .f = &f, .stop = &stop };

	fixture_init(&f, &kinds[0], 3600, 300);
	memset(w, 0, sizeof(w));
	cr_assert_eq(pthread_create(&th[0], NULL, meddle, &m), 0);
	for (int i = 0; i < THREADS - 1; i++) {
		w[i].f = &f;
		cr_assert_eq(pthread_create(&th[i + 1], NULL, read_many, &w[i]), 0);
	}
	for (int i = 1; i < THREADS; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	atomic_store(&stop, 1);
	cr_assert_eq(pthread_join(th[0], NULL), 0);
	for (int i = 0; i < THREADS - 1; i++)
		cr_assert_eq(w[i].failures, 0, "thread %d", i);
	fixture_release(&f);
}
