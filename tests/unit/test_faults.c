/*
 * Unit tests for server/faults.c's rule parser: what the strict reader
 * (json.h) refuses in a rule, with the message the control API answers.
 * The rest of fault injection is tested end to end in test_control.
 */
#include "faults.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct faults f;

static void setup(void)
{
	faults_init(&f);
}

static void teardown(void)
{
	faults_release(&f);
}

TestSuite(faults, .init = setup, .fini = teardown);

/* Adds len bytes of json (from a heap buffer of exactly that size) and
 * expects it refused with exactly `expected`, and no rule added. */
static void expect_refused_len(const char *json, size_t len, const char *expected)
{
	char *copy = malloc(len);
	char err[256] = "";
	uint64_t id = 0;

	cr_assert_not_null(copy);
	memcpy(copy, json, len);
	cr_assert_eq(faults_add_json(&f, copy, len, &id, err, sizeof(err)), -1, "accepted: %s",
	             json);
	free(copy);
	cr_assert_str_eq(err, expected);
	cr_assert_eq(atomic_load(&f.n), 0);
}

static void expect_refused(const char *json, const char *expected)
{
	expect_refused_len(json, strlen(json), expected);
}

Test(faults, a_repeated_key_is_refused)
{
	/* This one used to yield a rule with no action: latency_ms 1 counted
	 * as one, then latency_ms 0 replaced the value (tests/fuzz). */
	expect_refused("{\"path\":\"/x\",\"latency_ms\":1,\"latency_ms\":0}",
	               "latency_ms: duplicate key");
	expect_refused("{\"path\":\"/x\",\"drop\":true,\"drop\":false}", "drop: duplicate key");
	expect_refused("{\"path\":\"/x\",\"status\":500,\"path\":\"/y\"}", "path: duplicate key");
}

Test(faults, text_after_the_rule_is_refused)
{
	expect_refused("{\"path\":\"/x\",\"status\":500} x",
	               "body:1:28: invalid JSON: unexpected text after the top-level value");
	expect_refused("{\"path\":\"/x\",\"status\":500}{\"path\":\"/y\",\"status\":500}",
	               "body:1:27: invalid JSON: unexpected text after the top-level value");
}

Test(faults, nul_bytes_are_refused)
{
	/* cJSON would cut the path at the NUL and match every path under /x. */
	expect_refused_len("{\"path\":\"/x\0y\",\"status\":500}", 28,
	                   "body:1:12: NUL byte in body");
	expect_refused("{\"path\":\"/x\\u0000y\",\"status\":500}",
	               "body:1:12: \\u0000 is not allowed in strings");
	expect_refused_len("{\"path\":\"/x\",\"status\":500}\0", 27, "body:1:27: NUL byte in body");
}

Test(faults, a_control_character_in_a_key_is_refused_before_it_reaches_the_message)
{
	expect_refused("{\"path\":\"/x\",\"status\":500,\"a\\nb\":1}",
	               "body: key must not contain control characters (got \"a\\nb\")");
}
