/*
 * mtk__iam_parse and mtk__rfc3339_ms: the answer of an IAM endpoint
 * ({"iamToken","expiresAt"}), which the client takes from the network.
 *
 * The input is the body. Checked on every input: the status is one the
 * header documents; an accepted answer gives a token of 1..4096 printable
 * bytes that is in the body, and a lifetime of 1 s to 12 h; the same
 * input as an expiresAt value parses to -1 or to a time whose text has
 * the one shape accepted, and no byte past len counts.
 */
#include "fuzz.h"

#include "private/fetcher.h"
#include "private/internal.h"

#include <stdlib.h>
#include <string.h>

#define SENT_MS 1796071868000LL /* 2026-11-30T20:51:08Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtk__token_doc doc = { 0 };
	char why[160], *copy = malloc(size + 2);
	enum mtk_status st;
	int64_t at;

	FUZZ_CHECK(copy != NULL, "out of memory");
	if (size)
		memcpy(copy, data, size);
	st = mtk__iam_parse(copy, size, SENT_MS, &doc, why, sizeof(why));
	FUZZ_CHECK(st == MTK_OK || st == MTK_ERR_BAD_JSON || st == MTK_ERR_IAM_MISSING_FIELD ||
	               st == MTK_ERR_BAD_ACCESS_TOKEN || st == MTK_ERR_BAD_EXPIRES_AT ||
	               st == MTK_ERR_NO_MEMORY,
	           "undocumented status %s", mtk_status_name(st));
	if (st == MTK_OK) {
		FUZZ_CHECK(mtk__access_token_check(doc.access_token, doc.access_token_len) ==
		               MTK_OK,
		           "a bad token accepted");
		FUZZ_CHECK(memmem(copy, size, doc.access_token, doc.access_token_len) != NULL,
		           "the token is not the body's");
		FUZZ_CHECK(doc.expires_in_s >= 1 && doc.expires_in_s <= MTK__IAM_MAX_LIFETIME_S,
		           "lifetime %lld", (long long)doc.expires_in_s);
		mtk__token_doc_release(&doc);
	} else {
		FUZZ_CHECK(doc.access_token == NULL, "a token kept from a refused answer");
	}

	/* Bytes past len must not count: a 'Z' there would complete it. */
	copy[size] = 'Z';
	copy[size + 1] = '\0';
	at = mtk__rfc3339_ms(copy, size, true);
	FUZZ_CHECK(at >= -1, "%lld", (long long)at);
	if (at >= 0) {
		FUZZ_CHECK(size >= 20 && size <= 30 && copy[10] == 'T' && copy[size - 1] == 'Z' &&
		               (size == 20 || copy[19] == '.'),
		           "\"%.*s\" accepted", (int)size, copy);
	}
	free(copy);
	return 0;
}
