/*
 * Unit tests for server/json.c: every refusal of json_parse() with its
 * message (verbatim), for a file and for a request body, and the field
 * readers' answers and messages.
 */
#include "json.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERRLEN 256

/*
 * Parses len bytes of text as `source` (NULL: a request body) from a heap
 * copy of exactly len bytes, so that ASan sees any read past the end.
 */
static cJSON *parse(const char *source, const char *text, size_t len, char *err)
{
	struct json_reader r = { .source = source, .err = err, .errlen = ERRLEN };
	char *copy = malloc(len ? len : 1);
	cJSON *root;

	cr_assert_not_null(copy);
	memcpy(copy, text, len);
	err[0] = '\0';
	root = json_parse(&r, copy, len);
	free(copy);
	return root;
}

static void expect_refused_len(const char *source, const char *text, size_t len,
                               const char *expected)
{
	char err[ERRLEN];
	cJSON *root = parse(source, text, len, err);

	cr_assert_null(root, "accepted: %s", text);
	cr_assert_str_eq(err, expected);
}

static void expect_refused(const char *source, const char *text, const char *expected)
{
	expect_refused_len(source, text, strlen(text), expected);
}

static cJSON *expect_parsed(const char *text)
{
	char err[ERRLEN];
	cJSON *root = parse("t.json", text, strlen(text), err);

	cr_assert_not_null(root, "refused %s: %s", text, err);
	return root;
}

/* ---- json_parse ---- */

Test(json, parses_any_value_from_an_unterminated_buffer)
{
	cJSON *root = expect_parsed(" {\"a\": [1, \"x\", true, null, {\"b\": -2.5}]}\n");

	cr_assert(cJSON_IsObject(root));
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "a")), 5);
	cJSON_Delete(root);
	root = expect_parsed("7");
	cr_assert(cJSON_IsNumber(root));
	cJSON_Delete(root);
	/* Ends mid-number: a reader that needs a NUL after it would read past it. */
	expect_refused("t.json", "[12", "t.json:1:4: invalid JSON: unexpected end of file");
}

Test(json, duplicate_key_is_refused_with_its_path)
{
	expect_refused("t.json", "{\"a\": 1, \"b\": 2, \"a\": 3}", "t.json: a: duplicate key");
	expect_refused("t.json", "{\"faults\": {\"latency_ms\": 1, \"latency_ms\": 0}}",
	               "t.json: faults.latency_ms: duplicate key");
	expect_refused("t.json", "{\"x\": [{}, {\"k\": 1, \"k\": 1}]}",
	               "t.json: x[1].k: duplicate key");
	/* The first repetition in document order, whatever the sort order. */
	expect_refused("t.json", "{\"z\": 1, \"a\": 1, \"z\": 2, \"a\": 2}",
	               "t.json: z: duplicate key");
	/* Keys differ by case: not duplicates. */
	cJSON_Delete(expect_parsed("{\"a\": 1, \"A\": 2}"));
}

Test(json, duplicate_key_in_a_body_is_named_by_its_path)
{
	expect_refused(NULL, "{\"path\":\"/x\",\"latency_ms\":1,\"latency_ms\":0}",
	               "latency_ms: duplicate key");
	expect_refused(NULL, "{\"faults\": {\"latency_ms\": 1, \"latency_ms\": 0}}",
	               "faults.latency_ms: duplicate key");
}

Test(json, trailing_text_is_refused)
{
	expect_refused("t.json", "{} x",
	               "t.json:1:4: invalid JSON: unexpected text after the top-level value");
	expect_refused("t.json", "{}\n{}",
	               "t.json:2:1: invalid JSON: unexpected text after the top-level value");
	expect_refused(NULL, "{\"a\": 1}]",
	               "body:1:9: invalid JSON: unexpected text after the top-level value");
	/* Whitespace after the value is fine. */
	cJSON_Delete(expect_parsed("{} \t\r\n"));
}

Test(json, nul_byte_is_refused)
{
	expect_refused_len("t.json", "{\"a\": \"x\0y\"}", 12, "t.json:1:9: NUL byte in file");
	expect_refused_len(NULL, "{\"a\": 1}\0", 9, "body:1:9: NUL byte in body");
	expect_refused_len(NULL, "\0", 1, "body:1:1: NUL byte in body");
}

Test(json, nul_escape_is_refused_in_strings_and_keys)
{
	expect_refused("t.json", "{\"a\": \"x\\u0000y\"}",
	               "t.json:1:9: \\u0000 is not allowed in strings");
	expect_refused(NULL, "{\"a\\u0000b\": 1}", "body:1:4: \\u0000 is not allowed in strings");
	/* An escaped backslash followed by "u0000" is text, not an escape. */
	cJSON_Delete(expect_parsed("{\"a\": \"\\\\u0000\"}"));
}

Test(json, invalid_utf8_is_refused_in_strings_and_keys)
{
	expect_refused("t.json", "{\"a\": {\"b\": \"\xC3\x28\"}}",
	               "t.json: a.b: must be valid UTF-8 (got \"\xC3(\")");
	/* Overlong, surrogate and beyond U+10FFFF. */
	expect_refused(NULL, "[\"\xC0\xAF\"]", "[0]: must be valid UTF-8 (got \"\xC0\xAF\")");
	expect_refused(NULL, "[\"\xED\xA0\x80\"]",
	               "[0]: must be valid UTF-8 (got \"\xED\xA0\x80\")");
	expect_refused(NULL, "[\"\xF4\x90\x80\x80\"]",
	               "[0]: must be valid UTF-8 (got \"\xF4\x90\x80\x80\")");
	expect_refused(NULL, "{\"\xFF\": 1}", "body: key must be valid UTF-8 (got \"\xFF\")");
	/* Good UTF-8 and escapes that make it. */
	cJSON_Delete(
	    expect_parsed("[\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\", \"\\u00e9\\ud83d\\ude00\"]"));
}

Test(json, control_characters_are_refused)
{
	expect_refused("t.json", "{\"a\": \"x\\ty\"}",
	               "t.json: a: must not contain control characters (got \"x\\ty\")");
	expect_refused(NULL, "{\"a\": \"x\ty\"}",
	               "a: must not contain control characters (got \"x\\ty\")");
	expect_refused(NULL, "{\"a\\nb\": 1}",
	               "body: key must not contain control characters (got \"a\\nb\")");
	expect_refused(NULL, "{\"a\":\v1}",
	               "body:1:6: invalid JSON: control character outside a string");
}

Test(json, multiline_keys_let_line_breaks_through)
{
	static const char *const multiline[] = { "attributes", NULL };
	static const char text[] = "{\"attributes\": {\"user-data\": \"a\\n\\tb\\r\\n\"}}";
	static const char bad[] = "{\"attributes\": {\"k\": \"a\\u0001\"}}";
	static const char nested[] = "{\"attributes\": {\"k\": [\"a\\nb\"]}}";
	char err[ERRLEN];
	struct json_reader r = {
		.source = "t.json", .err = err, .errlen = sizeof(err), .multiline_keys = multiline
	};
	cJSON *root = json_parse(&r, text, strlen(text));

	cr_assert_not_null(root, "%s", err);
	cJSON_Delete(root);
	cr_assert_null(json_parse(&r, bad, strlen(bad)));
	cr_assert_str_eq(
	    err, "t.json: attributes.k: must not contain control characters (got \"a\\u0001\")");
	/* Only directly under such a key... */
	cr_assert_null(json_parse(&r, nested, strlen(nested)));
	cr_assert_str_eq(
	    err, "t.json: attributes.k[0]: must not contain control characters (got \"a\\nb\")");
	/* ...and only with multiline_keys. */
	expect_refused("t.json", text,
	               "t.json: attributes.user-data: must not contain control characters "
	               "(got \"a\\n\\tb\\r\\n\")");
}

Test(json, deep_nesting_is_refused)
{
	char text[2 * JSON_DEPTH_MAX + 3];
	char err[ERRLEN];
	char expected[64];
	struct json_reader r = { .err = err, .errlen = sizeof(err), .max_depth = 2 };
	cJSON *root;

	/* JSON_DEPTH_MAX levels are fine, one more is not. */
	memset(text, '[', JSON_DEPTH_MAX);
	memset(text + JSON_DEPTH_MAX, ']', JSON_DEPTH_MAX);
	text[2 * JSON_DEPTH_MAX] = '\0';
	cJSON_Delete(expect_parsed(text));
	memset(text, '[', JSON_DEPTH_MAX + 1);
	memset(text + JSON_DEPTH_MAX + 1, ']', JSON_DEPTH_MAX + 1);
	text[2 * JSON_DEPTH_MAX + 2] = '\0';
	snprintf(expected, sizeof(expected), "t.json:1:%d: nested deeper than %d levels",
	         JSON_DEPTH_MAX + 1, JSON_DEPTH_MAX);
	expect_refused("t.json", text, expected);

	/* Brackets inside strings do not count; a reader may set its own limit. */
	root = json_parse(&r, "{\"a\": [\"[[{{\"]}", 15);
	cr_assert_not_null(root, "%s", err);
	cJSON_Delete(root);
	cr_assert_null(json_parse(&r, "{\"a\": [{}]}", 11));
	cr_assert_str_eq(err, "body:1:8: nested deeper than 2 levels");
}

Test(json, nesting_beyond_cjsons_limit_is_invalid_json)
{
	size_t n = 1001;
	char *text = malloc(n);
	char err[ERRLEN];

	cr_assert_not_null(text);
	memset(text, '[', n);
	cr_assert_null(parse("t.json", text, n, err));
	cr_assert_str_eq(err, "t.json:1:1001: invalid JSON");
	free(text);
}

Test(json, syntax_errors_name_line_and_column)
{
	expect_refused("t.json", "{\n  \"a\": 1\n  \"b\": 2\n}", "t.json:3:3: invalid JSON");
	expect_refused("t.json", "{\"a\": [1, 2,]}", "t.json:1:13: invalid JSON");
	expect_refused("t.json", "{\"a\": ", "t.json:1:7: invalid JSON: unexpected end of file");
	expect_refused(NULL, "", "body:1:1: invalid JSON: unexpected end of body");
	expect_refused(NULL, "{\"a\": \"abc", "body:1:8: invalid JSON");
	expect_refused(NULL, "[\"\\ud800\"]", "body:1:3: invalid JSON");
}

Test(json, messages_fit_any_buffer)
{
	static const char text[] = "{\"a\": 1, \"a\": 2}";
	char small[8];
	struct json_reader r = { .source = "t.json", .err = small, .errlen = sizeof(small) };
	struct json_reader none = { .source = "t.json" };

	memset(small, 'x', sizeof(small));
	cr_assert_null(json_parse(&r, text, strlen(text)));
	cr_assert_str_eq(small, "t.json:");
	cr_assert_null(json_parse(&none, text, strlen(text)));
	cr_assert_null(json_parse(&none, "{", 1));
}

/* ---- field readers ---- */

/* The body the readers read in each test, parsed by body(), and its reader. */
static char msg[ERRLEN];
static struct json_reader rd;
static cJSON *tree;

static void delete_body(void)
{
	cJSON_Delete(tree);
	tree = NULL;
}

/* Parses text as a request body (it must pass) into tree, with a fresh reader. */
static const cJSON *body(const char *text)
{
	delete_body();
	rd = (struct json_reader){ .err = msg, .errlen = sizeof(msg) };
	tree = json_parse(&rd, text, strlen(text));
	cr_assert_not_null(tree, "%s", msg);
	msg[0] = '\0';
	return tree;
}

Test(json, check_keys_names_the_unknown_key, .fini = delete_body)
{
	static const char *const known[] = { "a", "b", NULL };

	cr_assert_eq(json_check_keys(&rd, body("{\"a\": 1, \"b\": 2}"), known), 0);
	cr_assert_eq(json_check_keys(&rd, body("{}"), known), 0);
	cr_assert_eq(json_check_keys(&rd, body("{\"a\": 1, \"stauts\": 2}"), known), -1);
	cr_assert_str_eq(msg, "stauts: unknown key");
	cr_assert_eq(json_check_keys(&rd, body("[1]"), known), -1);
	cr_assert_str_eq(msg, "body: must be an object (got [1])");
	/* A long key is shortened in the path. */
	cr_assert_eq(
	    json_check_keys(&rd, body("{\"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ\": 1}"),
	                    known),
	    -1);
	cr_assert_str_eq(msg, "abcdefghijklmnopqrstuvwxyz0123456789A...: unknown key");
}

Test(json, get_int_reads_integers_in_range, .fini = delete_body)
{
	int64_t v = 77;

	cr_assert_eq(json_get_int(&rd, body("{\"n\": 599}"), "n", 0, 200, 599, &v), 1);
	cr_assert_eq(v, 599);
	cr_assert_eq(json_get_int(&rd, body("{\"n\": 1e3}"), "n", 0, 0, 1000, &v), 1);
	cr_assert_eq(v, 1000);
	cr_assert_eq(json_get_int(&rd, body("{\"n\": -86400}"), "n", 0, -86400, 0, &v), 1);
	cr_assert_eq(v, -86400);
	cr_assert_eq(json_get_int(&rd, body("{\"n\": 9007199254740991}"), "n", 0, 1, INT64_MAX, &v),
	             1);
	cr_assert_eq(v, 9007199254740991LL);
	v = 77;
	cr_assert_eq(json_get_int(&rd, body("{}"), "n", 0, 0, 1, &v), 0);
	cr_assert_eq(v, 77, "an absent field wrote *out");
}

Test(json, get_int_says_the_range_and_what_it_got, .fini = delete_body)
{
	int64_t v = 77;

	cr_assert_eq(json_get_int(&rd, body("{\"status\": 42}"), "status", 0, 200, 599, &v), -1);
	cr_assert_str_eq(msg, "status: must be an integer from 200 to 599 (got 42)");
	cr_assert_eq(json_get_int(&rd, body("{\"status\": 600}"), "status", 0, 200, 599, &v), -1);
	cr_assert_str_eq(msg, "status: must be an integer from 200 to 599 (got 600)");
	cr_assert_eq(json_get_int(&rd, body("{\"status\": 1.5}"), "status", 0, 200, 599, &v), -1);
	cr_assert_str_eq(msg, "status: must be an integer from 200 to 599 (got 1.5)");
	cr_assert_eq(json_get_int(&rd, body("{\"n\": \"ten\"}"), "n", 0, 1, 100, &v), -1);
	cr_assert_str_eq(msg, "n: must be a positive integer (got \"ten\")");
	cr_assert_eq(json_get_int(&rd, body("{\"n\": 0}"), "n", 0, 1, 100, &v), -1);
	cr_assert_str_eq(msg, "n: must be a positive integer (got 0)");
	cr_assert_eq(json_get_int(&rd, body("{\"n\": -1}"), "n", 0, 0, 100, &v), -1);
	cr_assert_str_eq(msg, "n: must be a non-negative integer (got -1)");
	cr_assert_eq(json_get_int(&rd, body("{\"n\": 101}"), "n", 0, 0, 100, &v), -1);
	cr_assert_str_eq(msg, "n: must be at most 100 (got 101)");
	cr_assert_eq(json_get_int(&rd, body("{\"n\": 1e300}"), "n", 0, 0, 100, &v), -1);
	cr_assert_str_eq(msg, "n: must be a non-negative integer (got 1e+300)");
	cr_assert_eq(json_get_int(&rd, body("{\"n\": 1e999}"), "n", 0, 0, 100, &v), -1);
	cr_assert_str_eq(msg, "n: must be a non-negative integer (got a number out of range)");
	cr_assert_eq(json_get_int(&rd, body("{\"n\": true}"), "n", 0, -5, 5, &v), -1);
	cr_assert_str_eq(msg, "n: must be an integer from -5 to 5 (got true)");
	cr_assert_eq(json_get_int(&rd, body("{}"), "n", JSON_REQUIRED, 0, 5, &v), -1);
	cr_assert_str_eq(msg, "n: is required");
	cr_assert_eq(v, 77, "a refused field wrote *out");
}

Test(json, get_string_checks_type_length_and_content, .fini = delete_body)
{
	const char *s = NULL;
	char *copy = NULL;

	cr_assert_eq(json_get_string(&rd, body("{\"p\": \"/x\"}"), "p", 0, 2, NULL, &s), 1);
	cr_assert_eq(json_get_string(&rd, body("{\"p\": \"/xy\"}"), "p", 0, 2, NULL, &s), -1);
	cr_assert_str_eq(msg, "p: must be at most 2 bytes long (got \"/xy\")");
	cr_assert_eq(json_get_string(&rd, body("{\"p\": 5}"), "p", 0, 0, NULL, &s), -1);
	cr_assert_str_eq(msg, "p: must be a string (got 5)");
	cr_assert_eq(json_get_string(&rd, body("{\"p\": \"\"}"), "p", 0, 0, NULL, &s), 1);
	cr_assert_eq(json_get_string(&rd, body("{\"p\": \"\"}"), "p", JSON_NONEMPTY, 0, NULL, &s),
	             -1);
	cr_assert_str_eq(msg, "p: must not be empty (got \"\")");
	cr_assert_eq(json_get_string(&rd, body("{}"), "p", JSON_REQUIRED, 0, NULL, &s), -1);
	cr_assert_str_eq(msg, "p: is required");
	cr_assert_eq(json_get_string(&rd, cJSON_GetObjectItem(body("{\"a\": {\"p\": \"x\"}}"), "a"),
	                             "p", 0, 0, NULL, &s),
	             1);

	/* A copy that outlives the tree; the old value is freed. */
	copy = strdup("old");
	cr_assert_eq(json_dup_string(&rd, body("{\"p\": \"new\"}"), "p", 0, 0, NULL, &copy), 1);
	cr_assert_str_eq(copy, "new");
	cr_assert_eq(json_dup_string(&rd, body("{\"p\": 1}"), "p", 0, 0, NULL, &copy), -1);
	cr_assert_str_eq(copy, "new");
	free(copy);
}

static const char *check_slash(const char *s)
{
	return s[0] == '/' ? NULL : "must start with /";
}

Test(json, get_string_check_words_the_message, .fini = delete_body)
{
	const char *s = NULL;

	cr_assert_eq(json_get_string(&rd, body("{\"p\": \"x\"}"), "p", 0, 0, check_slash, &s), -1);
	cr_assert_str_eq(msg, "p: must start with / (got \"x\")");
	cr_assert_null(s);
}

Test(json, get_bool_and_get_number, .fini = delete_body)
{
	double d = 0.25;
	int b = 7;

	cr_assert_eq(json_get_bool(&rd, body("{\"b\": false}"), "b", 0, &b), 1);
	cr_assert_eq(b, 0);
	cr_assert_eq(json_get_bool(&rd, body("{\"b\": 1}"), "b", 0, &b), -1);
	cr_assert_str_eq(msg, "b: must be true or false (got 1)");
	cr_assert_eq(b, 0);

	cr_assert_eq(json_get_number(&rd, body("{\"p\": 1}"), "p", JSON_EXCLUSIVE_LO, 0.0, 1.0, &d),
	             1);
	cr_assert(d == 1.0);
	cr_assert_eq(json_get_number(&rd, body("{\"p\": 0}"), "p", JSON_EXCLUSIVE_LO, 0.0, 1.0, &d),
	             -1);
	cr_assert_str_eq(msg, "p: must be a number above 0 and at most 1 (got 0)");
	cr_assert_eq(json_get_number(&rd, body("{\"p\": 0}"), "p", 0, 0.0, 1.0, &d), 1);
	cr_assert(d == 0.0);
	cr_assert_eq(json_get_number(&rd, body("{\"p\": 1e999}"), "p", 0, 0.0, 1.0, &d), -1);
	cr_assert_str_eq(msg, "p: must be a number from 0 to 1 (got a number out of range)");
	cr_assert_eq(json_get_number(&rd, body("{\"p\": \"0.5\"}"), "p", 0, 0.0, 1.0, &d), -1);
	cr_assert_str_eq(msg, "p: must be a number from 0 to 1 (got \"0.5\")");
}

Test(json, messages_start_with_the_source)
{
	char err[ERRLEN];
	struct json_reader r = { .source = "cfg.json", .err = err, .errlen = sizeof(err) };
	cJSON *o = json_parse(&r, "{\"a\": [{\"n\": \"ten\"}]}", 21);
	int64_t v;
	size_t mark;

	cr_assert_not_null(o, "%s", err);
	mark = json_path_key(&r, "a");
	json_path_index(&r, 0);
	cr_assert_eq(
	    json_get_int(&r, cJSON_GetArrayItem(cJSON_GetObjectItem(o, "a"), 0), "n", 0, 1, 10, &v),
	    -1);
	cr_assert_str_eq(err, "cfg.json: a[0].n: must be a positive integer (got \"ten\")");
	json_path_pop(&r, mark);
	json_fail(&r, o, "must be %s", "something else");
	cr_assert_str_eq(err, "cfg.json: must be something else (got {\"a\":[{\"n\":\"ten\"}]})");
	cJSON_Delete(o);
}

Test(json, first_repeat_is_in_index_order)
{
	struct json_name names[] = { { "b", 0 }, { "a", 1 }, { "c", 2 }, { "a", 3 }, { "b", 4 } };
	struct json_name unique[] = { { "b", 0 }, { "a", 1 } };
	size_t first = 99, dup = 99;

	cr_assert_eq(json_first_repeat(names, 5, &first, &dup), 1);
	cr_assert_eq(first, 1);
	cr_assert_eq(dup, 3);
	cr_assert_eq(json_first_repeat(unique, 2, &first, &dup), 0);
	cr_assert_eq(json_first_repeat(unique, 0, &first, &dup), 0);
}
