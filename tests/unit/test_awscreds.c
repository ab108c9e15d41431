/*
 * Unit tests for server/awscreds.c: a set's key id and secret come back
 * from its Token alone, for any set the key minted, and nothing else is
 * recognised. Time is a plain integer; nothing sleeps.
 */
#include "awscreds.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define T0      INT64_C(1700000000000)
#define HOUR_MS INT64_C(3600000)

TestSuite(awscreds);

static bool same(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static struct tokens_key *key;
static struct awscreds_minter m;

static void setup(void)
{
	key = tokens_key_generate();
	cr_assert_not_null(key);
	cr_assert_eq(awscreds_minter_init(&m, key, "acct"), 0);
}

static void teardown(void)
{
	awscreds_minter_release(&m);
	tokens_key_free(key);
}

static void mint(struct awscreds_set *s)
{
	memset(s, 0, sizeof(*s));
	cr_assert_eq(awscreds_mint(&m, T0, T0 + 6 * HOUR_MS, s), 0);
}

static enum awscreds_verdict check(const char *id, const char *token, int64_t now_ms,
                                   char secret[AWSCREDS_SECRET_LEN + 1])
{
	struct tokens_claims c;

	return awscreds_check(&m, id, strlen(id), token, strlen(token), now_ms, secret, &c);
}

Test(awscreds, a_set_has_the_shape_of_aws_temporary_credentials, .init = setup, .fini = teardown)
{
	struct awscreds_set s;

	mint(&s);
	cr_expect_eq(strlen(s.access_key_id), AWSCREDS_KEY_ID_LEN);
	cr_expect(strncmp(s.access_key_id, "ASIA", 4) == 0);
	cr_expect_eq(strspn(s.access_key_id + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 16);
	cr_expect_eq(strlen(s.secret_access_key), AWSCREDS_SECRET_LEN);
	cr_expect_eq(strspn(s.secret_access_key,
	                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
	             AWSCREDS_SECRET_LEN);
	cr_expect_eq(s.expires_ms, T0 + 6 * HOUR_MS);
}

Test(awscreds, the_secret_comes_back_from_key_id_and_token, .init = setup, .fini = teardown)
{
	struct awscreds_set a, b;
	char secret[AWSCREDS_SECRET_LEN + 1];

	mint(&a);
	mint(&b);
	cr_expect(!same(a.access_key_id, b.access_key_id), "every set is new");
	cr_expect(!same(a.secret_access_key, b.secret_access_key));
	/* The older set is still recognised: no table forgets it. */
	cr_assert_eq(check(a.access_key_id, a.token, T0 + 1, secret), AWSCREDS_VALID);
	cr_expect(same(secret, a.secret_access_key));
	cr_assert_eq(check(b.access_key_id, b.token, T0 + 1, secret), AWSCREDS_VALID);
	cr_expect(same(secret, b.secret_access_key));
}

Test(awscreds, expired_on_the_given_clock, .init = setup, .fini = teardown)
{
	struct awscreds_set s;
	char secret[AWSCREDS_SECRET_LEN + 1];

	mint(&s);
	cr_expect_eq(check(s.access_key_id, s.token, T0 + 6 * HOUR_MS - 1, secret), AWSCREDS_VALID);
	cr_expect_eq(check(s.access_key_id, s.token, T0 + 6 * HOUR_MS, secret), AWSCREDS_EXPIRED);
	cr_expect(same(secret, s.secret_access_key), "the secret is known for an expired set");
}

Test(awscreds, a_key_id_not_the_tokens_is_unknown, .init = setup, .fini = teardown)
{
	struct awscreds_set a, b;
	char secret[AWSCREDS_SECRET_LEN + 1], id[AWSCREDS_KEY_ID_LEN + 2];

	mint(&a);
	mint(&b);
	cr_expect_eq(check(a.access_key_id, b.token, T0, secret), AWSCREDS_UNKNOWN);
	memcpy(id, a.access_key_id, sizeof(a.access_key_id));
	id[19] = id[19] == 'A' ? 'B' : 'A';
	cr_expect_eq(check(id, a.token, T0, secret), AWSCREDS_UNKNOWN);
	cr_expect_eq(check("ASIA", a.token, T0, secret), AWSCREDS_UNKNOWN);
	snprintf(id, sizeof(id), "%sA", a.access_key_id);
	cr_expect_eq(check(id, a.token, T0, secret), AWSCREDS_UNKNOWN, "a longer key id");
	/* Nor does an expired token tell a stranger it was ours with a bad id. */
	cr_expect_eq(check("ASIAAAAAAAAAAAAAAAAA", a.token, T0 + 7 * HOUR_MS, secret),
	             AWSCREDS_UNKNOWN);
}

Test(awscreds, tokens_not_ours_are_unknown, .init = setup, .fini = teardown)
{
	struct tokens_key *other = tokens_key_generate();
	struct awscreds_minter om;
	struct awscreds_set s, t;
	char secret[AWSCREDS_SECRET_LEN + 1], token[TOKENS_MAX_LEN + 1];

	cr_assert_not_null(other);
	cr_assert_eq(awscreds_minter_init(&om, other, "acct"), 0);
	cr_assert_eq(awscreds_mint(&om, T0, T0 + HOUR_MS, &s), 0);
	cr_expect_eq(check(s.access_key_id, s.token, T0, secret), AWSCREDS_UNKNOWN, "another key");
	/* A token of this key for another account (a service account's). */
	cr_assert_gt(tokens_mint(key, "other", T0, T0 + HOUR_MS, token, sizeof(token)), 0);
	cr_expect_eq(check(s.access_key_id, token, T0, secret), AWSCREDS_UNKNOWN);
	mint(&t);
	t.token[10] ^= 1;
	cr_expect_eq(check(t.access_key_id, t.token, T0, secret), AWSCREDS_UNKNOWN, "tampered");
	cr_expect_eq(check(t.access_key_id, "", T0, secret), AWSCREDS_UNKNOWN);
	awscreds_minter_release(&om);
	tokens_key_free(other);
}

Test(awscreds, derivation_follows_the_signing_key, .init = setup, .fini = teardown)
{
	unsigned char a[TOKENS_DERIVED_KEY_LEN], b[TOKENS_DERIVED_KEY_LEN];

	cr_assert_eq(tokens_key_derive(key, "one purpose", a), 0);
	cr_assert_eq(tokens_key_derive(key, "one purpose", b), 0);
	cr_expect(memcmp(a, b, sizeof(a)) == 0, "the same key and label derive the same bytes");
	cr_assert_eq(tokens_key_derive(key, "another purpose", b), 0);
	cr_expect(memcmp(a, b, sizeof(a)) != 0);
}
