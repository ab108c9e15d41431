/*
 * Unit tests for server/secret.c: the one constant-time secret comparison.
 */
#include "secret.h"

#include <criterion/criterion.h>

Test(secret, equal_strings_match)
{
	cr_assert_eq(secret_equal("0123456789abcdef", "0123456789abcdef"), 1);
	cr_assert_eq(secret_equal("x", "x"), 1);
}

Test(secret, any_difference_refuses)
{
	cr_assert_eq(secret_equal("0123456789abcdef", "0123456789abcdeF"), 0);
	cr_assert_eq(secret_equal("0123456789abcdef", "X123456789abcdef"), 0);
	/* A prefix, or the secret with more after it, is not the secret. */
	cr_assert_eq(secret_equal("0123456789abcdef", "0123456789abcde"), 0);
	cr_assert_eq(secret_equal("0123456789abcdef", "0123456789abcdef "), 0);
	cr_assert_eq(secret_equal("0123456789abcdef", ""), 0);
}

Test(secret, an_unset_secret_admits_no_one)
{
	cr_assert_eq(secret_equal("", ""), 0);
	cr_assert_eq(secret_equal("", "anything"), 0);
	cr_assert_eq(secret_equal(NULL, ""), 0);
	cr_assert_eq(secret_equal(NULL, NULL), 0);
}

Test(secret, no_header_matches_nothing)
{
	cr_assert_eq(secret_equal("0123456789abcdef", NULL), 0);
}
