/*
 * Malformed token responses: each kind is rejected with its own status,
 * never cached (the next get fetches again), never a crash.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metatoken/metatoken.h"
#include "test_client_fake.h"

struct bad {
	const char *body;
	enum mtk_status want;
};

/* Serves `body`, expects `want`, then proves nothing was cached. */
static void check(const char *body, size_t len, enum mtk_status want)
{
	struct fake f;
	struct mtk_client *c;
	struct mtk_client_stats s;
	enum mtk_status st;
	char *tok;

	fake_init(&f);
	c = fake_client(&f, NULL);
	fake_push(
	    &f, (struct fake_answer){ .st = MTK_OK, .status = 200, .body = body, .body_len = len });
	fake_push(&f, fake_token("good", 3600));
	tok = get_text(c, &st);
	cr_expect_eq(st, want, "body %.80s: got %s, want %s", body, mtk_status_name(st),
	             mtk_status_name(want));
	cr_expect_null(tok);
	cr_expect_eq(f.calls, 1, "body %.80s: %d requests (retried?)", body, f.calls);
	tok = get_text(c, &st);
	cr_expect_eq(st, MTK_OK);
	cr_expect_str_eq(tok, "good");
	cr_expect_eq(f.calls, 2);
	mtk_client_get_stats(c, &s);
	cr_expect_eq(s.fetch_failures, 1);
	free(tok);
	mtk_client_free(c);
	fake_release_all(&f);
}

static void check_all(const struct bad *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		check(cases[i].body, strlen(cases[i].body), cases[i].want);
}

#define CHECK_ALL(cases) check_all(cases, sizeof(cases) / sizeof(cases[0]))

Test(malformed, not_a_json_object)
{
	static const struct bad cases[] = {
		{ "", MTK_ERR_BAD_JSON },
		{ "not json", MTK_ERR_BAD_JSON },
		{ "<html><body>Service Unavailable</body></html>", MTK_ERR_BAD_JSON },
		{ "[\"access_token\",\"x\"]", MTK_ERR_BAD_JSON },
		{ "\"a string\"", MTK_ERR_BAD_JSON },
		{ "null", MTK_ERR_BAD_JSON },
		{ "{\"access_token\":\"x\",\"expires_in\":3600,\"token_type\":\"Bearer\"",
		  MTK_ERR_BAD_JSON },
		{ "{\"access_token\":\"x\",\"expires_in\":3600,\"token_type\":\"Bearer\"} trailing",
		  MTK_ERR_BAD_JSON },
	};

	CHECK_ALL(cases);
}

/* Parsers disagree on which of two equal keys wins (cJSON: the first; Go,
 * Python: the last): a document with a repeated field is refused. Other
 * repeated keys are not ours to judge. */
Test(malformed, repeated_fields)
{
	static const struct bad cases[] = {
		{ "{\"access_token\":\"a\",\"access_token\":\"b\",\"expires_in\":3600,"
		  "\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_JSON },
		{ "{\"access_token\":\"a\",\"expires_in\":3600,\"token_type\":\"Bearer\","
		  "\"access_token\":\"a\"}",
		  MTK_ERR_BAD_JSON },
		{ "{\"access_token\":\"a\",\"expires_in\":3600,\"expires_in\":60,"
		  "\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_JSON },
		{ "{\"access_token\":\"a\",\"expires_in\":3600,\"token_type\":\"Bearer\","
		  "\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_JSON },
	};
	struct fake f;
	struct mtk_client *c;
	enum mtk_status st;
	char *tok, why[256];

	CHECK_ALL(cases);
	/* The reason names the field. */
	fake_init(&f);
	c = fake_client(&f, NULL);
	fake_push(&f, (struct fake_answer){ .st = MTK_OK, .status = 200, .body = cases[0].body });
	cr_assert_null(get_text(c, &st));
	mtk_client_last_error(c, why, sizeof(why));
	cr_assert(strstr(why, "malformed token response: access_token appears twice"), "%s", why);
	mtk_client_free(c);
	fake_release_all(&f);
	/* A repeated key the parser does not read is accepted. */
	fake_init(&f);
	c = fake_client(&f, NULL);
	fake_push(&f, (struct fake_answer){ .st = MTK_OK,
	                                    .status = 200,
	                                    .body = "{\"access_token\":\"a\",\"expires_in\":3600,"
	                                            "\"token_type\":\"Bearer\",\"x\":1,\"x\":2}" });
	tok = get_text(c, &st);
	cr_assert_eq(st, MTK_OK, "%s", mtk_status_name(st));
	cr_assert_str_eq(tok, "a");
	free(tok);
	mtk_client_free(c);
	fake_release_all(&f);
}

Test(malformed, missing_fields)
{
	static const struct bad cases[] = {
		{ "{}", MTK_ERR_MISSING_FIELD },
		{ "{\"expires_in\":3600,\"token_type\":\"Bearer\"}", MTK_ERR_MISSING_FIELD },
		{ "{\"access_token\":\"x\",\"token_type\":\"Bearer\"}", MTK_ERR_MISSING_FIELD },
		{ "{\"access_token\":\"x\",\"expires_in\":3600}", MTK_ERR_MISSING_FIELD },
		/* Names are case-sensitive. */
		{ "{\"Access_Token\":\"x\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
		  MTK_ERR_MISSING_FIELD },
	};

	CHECK_ALL(cases);
}

Test(malformed, expires_in_not_a_positive_integer)
{
	static const struct bad cases[] = {
		{ "{\"access_token\":\"x\",\"expires_in\":0,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_EXPIRES_IN },
		{ "{\"access_token\":\"x\",\"expires_in\":-5,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_EXPIRES_IN },
		{ "{\"access_token\":\"x\",\"expires_in\":1.5,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_EXPIRES_IN },
		{ "{\"access_token\":\"x\",\"expires_in\":0.5,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_EXPIRES_IN },
		{ "{\"access_token\":\"x\",\"expires_in\":\"3600\",\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_EXPIRES_IN },
		{ "{\"access_token\":\"x\",\"expires_in\":null,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_EXPIRES_IN },
		{ "{\"access_token\":\"x\",\"expires_in\":true,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_EXPIRES_IN },
		{ "{\"access_token\":\"x\",\"expires_in\":[3600],\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_EXPIRES_IN },
		/* More than 10 years. */
		{ "{\"access_token\":\"x\",\"expires_in\":315360001,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_EXPIRES_IN },
		{ "{\"access_token\":\"x\",\"expires_in\":1e300,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_EXPIRES_IN },
	};

	CHECK_ALL(cases);
}

Test(malformed, access_token_with_control_characters_or_absurd_length)
{
	static const struct bad cases[] = {
		{ "{\"access_token\":\"\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_ACCESS_TOKEN },
		{ "{\"access_token\":\"a b\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_ACCESS_TOKEN },
		{ "{\"access_token\":\"ab\\r\\nX-Evil: 1\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_ACCESS_TOKEN },
		{ "{\"access_token\":\"ab\\t\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_ACCESS_TOKEN },
		{ "{\"access_token\":\"\\u00e9t\\u00e9\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_ACCESS_TOKEN },
		{ "{\"access_token\":\"ab\\u007f\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_ACCESS_TOKEN },
		{ "{\"access_token\":42,\"expires_in\":3600,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_ACCESS_TOKEN },
		{ "{\"access_token\":null,\"expires_in\":3600,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_ACCESS_TOKEN },
		/* An escaped NUL would silently truncate the token. */
		{ "{\"access_token\":\"abc\\u0000def\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
		  MTK_ERR_BAD_JSON },
	};

	CHECK_ALL(cases);
}

Test(malformed, access_token_longer_than_4096_bytes)
{
	char *body = malloc(5000), tok[4098];

	memset(tok, 'a', 4097);
	tok[4097] = '\0';
	snprintf(body, 5000,
	         "{\"access_token\":\"%s\",\"expires_in\":3600,\"token_type\":\"Bearer\"}", tok);
	check(body, strlen(body), MTK_ERR_BAD_ACCESS_TOKEN);
	free(body);
}

Test(malformed, wrong_token_type)
{
	static const struct bad cases[] = {
		{ "{\"access_token\":\"x\",\"expires_in\":3600,\"token_type\":\"MAC\"}",
		  MTK_ERR_BAD_TOKEN_TYPE },
		{ "{\"access_token\":\"x\",\"expires_in\":3600,\"token_type\":\"\"}",
		  MTK_ERR_BAD_TOKEN_TYPE },
		{ "{\"access_token\":\"x\",\"expires_in\":3600,\"token_type\":\"Bearer \"}",
		  MTK_ERR_BAD_TOKEN_TYPE },
		{ "{\"access_token\":\"x\",\"expires_in\":3600,\"token_type\":1}",
		  MTK_ERR_BAD_TOKEN_TYPE },
	};

	CHECK_ALL(cases);
}

Test(malformed, raw_nul_byte)
{
	static const char body[] =
	    "{\"access_token\":\"ab\0cd\",\"expires_in\":3600,\"token_type\":\"Bearer\"}";

	check(body, sizeof(body) - 1, MTK_ERR_BAD_JSON);
}

Test(malformed, body_over_64_kib)
{
	static const char doc[] =
	    "{\"access_token\":\"x\",\"expires_in\":3600,\"token_type\":\"Bearer\"}";
	size_t n = MTK_MAX_BODY + 1;
	char *body = malloc(n + 1);

	/* Valid JSON padded with blanks: the size alone is the problem. */
	memset(body, ' ', n);
	memcpy(body, doc, sizeof(doc) - 1);
	body[n] = '\0';
	check(body, n, MTK_ERR_BODY_TOO_LARGE);
	free(body);
}

Test(malformed, deeply_nested_json_does_not_crash)
{
	size_t depth = 30000, i;
	char *body = malloc(2 * depth + 1);

	for (i = 0; i < depth; i++) {
		body[i] = '[';
		body[depth + i] = ']';
	}
	body[2 * depth] = '\0';
	check(body, 2 * depth, MTK_ERR_BAD_JSON);
	free(body);
}

Test(malformed, edges_that_are_valid)
{
	struct fake f;
	struct mtk_client *c;
	enum mtk_status st;
	char *body = malloc(5000), tok[4097], *got;

	memset(tok, '~', 4096);
	tok[0] = '!';
	tok[4096] = '\0';
	snprintf(body, 5000,
	         "{\"token_type\":\"bearer\",\"extra\":[1,{}],\"expires_in\":315360000,"
	         "\"access_token\":\"%s\"}",
	         tok);
	fake_init(&f);
	c = fake_client(&f, NULL);
	fake_push(&f, (struct fake_answer){ .st = MTK_OK, .status = 200, .body = body });
	got = get_text(c, &st);
	cr_assert_eq(st, MTK_OK, "%s", mtk_strerror(st));
	cr_assert_str_eq(got, tok);
	free(got);
	mtk_client_free(c);
	fake_release_all(&f);
	free(body);
}
