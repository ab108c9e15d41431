/*
 * Unit tests for server/grow.c: how an array grows, when it does not, and
 * that every refusal leaves the caller's array exactly as it was.
 */
#include "grow.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The out-of-memory test asks for more than any machine has. Under
 * AddressSanitizer such a request is a reported error unless the allocator
 * may return NULL, as malloc does.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_GROW_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(TEST_GROW_ASAN)
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

struct pair {
	int64_t a, b;
};

/* Fills n elements with values derived from their index. */
static void fill(struct pair *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		p[i].a = (int64_t)i;
		p[i].b = -(int64_t)i;
	}
}

static void expect_filled(const struct pair *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(p[i].a, (int64_t)i, "element %zu", i);
		cr_assert_eq(p[i].b, -(int64_t)i, "element %zu", i);
	}
}

Test(grow, starts_at_sixteen_then_doubles_and_keeps_contents)
{
	struct pair *p = NULL;
	size_t cap = 0;

	cr_assert_eq(grow_reserve(&p, &cap, 1, SIZE_MAX, sizeof(*p)), 0);
	cr_assert_not_null(p);
	cr_assert_eq(cap, 16);
	fill(p, cap);
	cr_assert_eq(grow_reserve(&p, &cap, 17, SIZE_MAX, sizeof(*p)), 0);
	cr_assert_eq(cap, 32);
	expect_filled(p, 16);
	fill(p, cap);
	/* A need beyond double the capacity is met exactly. */
	cr_assert_eq(grow_reserve(&p, &cap, 1000, SIZE_MAX, sizeof(*p)), 0);
	cr_assert_eq(cap, 1000);
	expect_filled(p, 32);
	free(p);
}

Test(grow, room_enough_changes_nothing)
{
	struct pair *p = NULL, *before;
	size_t cap = 0;

	cr_assert_eq(grow_reserve(&p, &cap, 16, SIZE_MAX, sizeof(*p)), 0);
	before = p;
	cr_assert_eq(grow_reserve(&p, &cap, 16, SIZE_MAX, sizeof(*p)), 0);
	cr_assert_eq(grow_reserve(&p, &cap, 3, SIZE_MAX, sizeof(*p)), 0);
	cr_assert_eq(grow_reserve(&p, &cap, 0, SIZE_MAX, sizeof(*p)), 0);
	cr_assert_eq(p, before);
	cr_assert_eq(cap, 16);
	free(p);
}

Test(grow, stops_at_max_exactly)
{
	char *p = NULL;
	size_t cap = 0;

	cr_assert_eq(grow_reserve(&p, &cap, 10, 20, 1), 0);
	cr_assert_eq(cap, 16);
	/* Doubling would pass max: the capacity is max itself. */
	cr_assert_eq(grow_reserve(&p, &cap, 17, 20, 1), 0);
	cr_assert_eq(cap, 20);
	cr_assert_eq(grow_reserve(&p, &cap, 20, 20, 1), 0);
	cr_assert_eq(cap, 20);
	free(p);
}

Test(grow, refuses_past_max_and_leaves_the_array)
{
	char *p = NULL, *before;
	size_t cap = 0;

	cr_assert_eq(grow_reserve(&p, &cap, 5, 5, 1), 0);
	cr_assert_eq(cap, 5);
	memcpy(p, "abcd", 5);
	before = p;
	cr_assert_eq(grow_reserve(&p, &cap, 6, 5, 1), -1);
	cr_assert_eq(p, before);
	cr_assert_eq(cap, 5);
	cr_assert_str_eq(p, "abcd");
	free(p);

	/* With nothing allocated yet, nothing is allocated. */
	p = NULL;
	cap = 0;
	cr_assert_eq(grow_reserve(&p, &cap, 2, 1, 1), -1);
	cr_assert_null(p);
	cr_assert_eq(cap, 0);
}

Test(grow, refuses_a_size_that_wraps_size_t)
{
	struct pair *p = NULL, *before;
	size_t cap = 0;

	cr_assert_eq(grow_reserve(&p, &cap, 4, SIZE_MAX, sizeof(*p)), 0);
	fill(p, 4);
	before = p;
	/* need * elem_size would wrap around to a small number. */
	cr_assert_eq(grow_reserve(&p, &cap, SIZE_MAX / sizeof(*p) + 1, SIZE_MAX, sizeof(*p)), -1);
	cr_assert_eq(grow_reserve(&p, &cap, SIZE_MAX, SIZE_MAX, sizeof(*p)), -1);
	cr_assert_eq(p, before);
	cr_assert_eq(cap, 16);
	expect_filled(p, 4);
	/* A zero element size is a mistake, not an empty array. */
	cr_assert_eq(grow_reserve(&p, &cap, 17, SIZE_MAX, 0), -1);
	cr_assert_eq(p, before);
	cr_assert_eq(cap, 16);
	free(p);
}

Test(grow, out_of_memory_leaves_the_array)
{
	struct pair *p = NULL, *before;
	size_t cap = 0;

	cr_assert_eq(grow_reserve(&p, &cap, 16, SIZE_MAX, sizeof(*p)), 0);
	fill(p, 16);
	before = p;
	/* Fits in a size_t, but no allocator can give it. */
	cr_assert_eq(grow_reserve(&p, &cap, SIZE_MAX / sizeof(*p) / 2, SIZE_MAX, sizeof(*p)), -1);
	cr_assert_eq(p, before);
	cr_assert_eq(cap, 16);
	expect_filled(p, 16);
	free(p);
}
