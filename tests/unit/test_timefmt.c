/*
 * Unit tests for server/timefmt.c: the one RFC 3339 formatter.
 */
#include "timefmt.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

static void expect(int64_t ms, const char *want)
{
	char out[TIMEFMT_RFC3339_SIZE];

	timefmt_rfc3339(ms, out);
	cr_assert_str_eq(out, want, "%lld ms", (long long)ms);
}

Test(timefmt, the_epoch_and_whole_seconds)
{
	expect(0, "1970-01-01T00:00:00Z");
	expect(1700000000000, "2023-11-14T22:13:20Z");
	/* A leap day, and the last second of a year. */
	expect(1709208000000, "2024-02-29T12:00:00Z");
	expect(1735689599000, "2024-12-31T23:59:59Z");
}

Test(timefmt, milliseconds_round_down)
{
	expect(1700000000999, "2023-11-14T22:13:20Z");
	expect(999, "1970-01-01T00:00:00Z");
}

Test(timefmt, before_1970_rounds_down_too)
{
	expect(-1, "1969-12-31T23:59:59Z");
	expect(-1000, "1969-12-31T23:59:59Z");
	expect(-1001, "1969-12-31T23:59:58Z");
}

Test(timefmt, the_extremes_fit)
{
	char out[TIMEFMT_RFC3339_SIZE];

	timefmt_rfc3339(INT64_MAX, out);
	cr_assert(strlen(out) < sizeof(out) && out[strlen(out) - 1] == 'Z', "%s", out);
	timefmt_rfc3339(INT64_MIN, out);
	cr_assert(strlen(out) < sizeof(out) && out[strlen(out) - 1] == 'Z', "%s", out);
}
