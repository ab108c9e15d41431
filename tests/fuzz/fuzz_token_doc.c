/*
 * mtk__token_parse: the client's parser of token responses
 * {"access_token","expires_in","token_type"}, from a metadata service or a
 * runtime's Lambda-Runtime-Token-Json header.
 *
 * Checked on every input: a document that is accepted holds an access token
 * of 1..MTK_MAX_ACCESS_TOKEN printable ASCII bytes and an expires_in of
 * 1..10 years, and writing it back out and parsing it again gives the same
 * token; a rejected one leaves *out as it was, with a reason.
 */
#include "fuzz.h"

#include "private/internal.h"

#include <string.h>

static int printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static void check_accepted(const struct mtk__token_doc *d, const char *why)
{
	struct mtk__token_doc again = { 0 };
	enum mtk_status st;
	char *json = NULL;

	FUZZ_CHECK(d->access_token != NULL, "no access token");
	FUZZ_CHECK(d->access_token_len >= 1 && d->access_token_len <= MTK_MAX_ACCESS_TOKEN,
	           "access token of %zu bytes", d->access_token_len);
	FUZZ_CHECK(strlen(d->access_token) == d->access_token_len,
	           "access_token_len does not match the text");
	FUZZ_CHECK(printable(d->access_token, d->access_token_len),
	           "access token is not printable ASCII");
	FUZZ_CHECK(d->expires_in_s >= 1 && d->expires_in_s <= MTK__MAX_EXPIRES_IN_S,
	           "expires_in %lld", (long long)d->expires_in_s);
	FUZZ_CHECK(why[0] == '\0', "a reason for an accepted document: \"%s\"", why);

	st = mtk__token_json(d->access_token, d->expires_in_s, &json);
	FUZZ_CHECK(st == MTK_OK, "mtk__token_json: %s", mtk_status_name(st));
	st = mtk__token_parse(json, strlen(json), &again, NULL, 0);
	FUZZ_CHECK(st == MTK_OK, "our own document is rejected: %s", mtk_status_name(st));
	FUZZ_CHECK(again.access_token_len == d->access_token_len &&
	               memcmp(again.access_token, d->access_token, d->access_token_len) == 0 &&
	               again.expires_in_s == d->expires_in_s,
	           "the round trip changed the token");
	mtk__token_doc_release(&again);
	mtk_json_free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct mtk__token_doc doc, canary;
	enum mtk_status st, again;
	char why[128], small[8];

	/* *out is written only on success. */
	memset(&canary, 0, sizeof(canary));
	canary.access_token_len = 0xA5A5;
	canary.expires_in_s = -42;
	doc = canary;
	memset(why, 0xA5, sizeof(why));
	st = mtk__token_parse(body, size, &doc, why, sizeof(why));
	FUZZ_CHECK(strnlen(why, sizeof(why)) < sizeof(why), "reason not terminated");
	if (st == MTK_OK) {
		check_accepted(&doc, why);
		mtk__token_doc_release(&doc);
		FUZZ_CHECK(doc.access_token == NULL && doc.access_token_len == 0,
		           "release left the token");
	} else {
		FUZZ_CHECK(st == MTK_ERR_BODY_TOO_LARGE || st == MTK_ERR_BAD_JSON ||
		               st == MTK_ERR_MISSING_FIELD || st == MTK_ERR_BAD_ACCESS_TOKEN ||
		               st == MTK_ERR_BAD_EXPIRES_IN || st == MTK_ERR_BAD_TOKEN_TYPE ||
		               st == MTK_ERR_NO_MEMORY,
		           "undocumented status %s", mtk_status_name(st));
		FUZZ_CHECK(memcmp(&doc, &canary, sizeof(doc)) == 0, "*out written on failure");
		FUZZ_CHECK(why[0] != '\0' || st == MTK_ERR_NO_MEMORY, "no reason for %s",
		           mtk_status_name(st));
		FUZZ_CHECK(size > MTK_MAX_BODY || st != MTK_ERR_BODY_TOO_LARGE,
		           "a %zu-byte body is too large", size);
	}

	/* The reason's buffer changes nothing but the reason. */
	doc = canary;
	again = mtk__token_parse(body, size, &doc, small, sizeof(small));
	FUZZ_CHECK(again == st, "%s with a short reason buffer, %s with a long one",
	           mtk_status_name(again), mtk_status_name(st));
	FUZZ_CHECK(strnlen(small, sizeof(small)) < sizeof(small), "short reason not terminated");
	mtk__token_doc_release(&doc);
	return 0;
}
