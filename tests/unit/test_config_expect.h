/*
 * What test_config.c and test_config_functions.c share: parse JSON text as
 * "cfg.json" and expect success, or exactly one error message.
 */
#ifndef METATOKEN_TESTS_TEST_CONFIG_EXPECT_H
#define METATOKEN_TESTS_TEST_CONFIG_EXPECT_H

#include "config.h"

#include <criterion/criterion.h>
#include <string.h>

#define ERRLEN 512

static int is_zeroed(const struct config *c)
{
	static const struct config zero;

	return memcmp(c, &zero, sizeof(zero)) == 0;
}

/* Parses json as "cfg.json" and expects exactly `expected` as the message. */
static void expect_error(const char *json, const char *expected)
{
	struct config c;
	char err[ERRLEN] = "";

	memset(&c, 0xA5, sizeof(c)); /* garbage in: must come out zeroed */
	cr_assert_eq(config_parse(json, strlen(json), "cfg.json", &c, err, sizeof(err)), -1,
	             "accepted: %s", json);
	cr_assert_str_eq(err, expected);
	cr_assert(is_zeroed(&c), "*out not zeroed after failure");
	config_release(&c);
}

/* Parses json as "cfg.json" and expects success. */
static void expect_ok(const char *json, struct config *c)
{
	char err[ERRLEN] = "";

	cr_assert_eq(config_parse(json, strlen(json), "cfg.json", c, err, sizeof(err)), 0,
	             "rejected: %s", err);
}

#endif
