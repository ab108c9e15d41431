/*
 * mtk__aws_creds_parse: the client's parser of the role credentials that
 * IMDS (or a container credentials endpoint) sends,
 * {"Code","AccessKeyId","SecretAccessKey","Token","Expiration"}, at a
 * fixed wall clock, NOW_MS.
 *
 * Checked on every input: an accepted document holds an AccessKeyId and a
 * SecretAccessKey of 1..128 and a Token of 1..MTK_MAX_ACCESS_TOKEN
 * printable ASCII bytes, each the document's own value, Code is absent or
 * "Success", and expires_in_s is 1 s..10 years, the whole seconds from
 * NOW_MS to Expiration; a second later it is one second less (or expired).
 * A rejected document leaves *out as it was (and LeakSanitizer sees that
 * nothing it allocated is left), with a reason that quotes nothing of it.
 * The reason's buffer, even none, changes nothing but the reason.
 */
#include "fuzz.h"

#include "private/internal.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <time.h>

#define NOW_MS        1735689600000LL /* 2025-01-01T00:00:00Z */
#define KEY_FIELD_MAX 128

static int printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static const char *string_field(const cJSON *doc, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Expiration in ms since the epoch, read independently of the parser's way. */
static int64_t expiration_ms(const char *s)
{
	struct tm tm = { 0 };
	char z = 0;

	FUZZ_CHECK(strlen(s) == 20 &&
	               sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) == 7 &&
	               z == 'Z',
	           "an accepted Expiration \"%s\"", s);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000;
}

static void check_field(const char *name, const char *have, const char *want, size_t max)
{
	size_t len;

	FUZZ_CHECK(have != NULL && want != NULL, "%s: accepted without one", name);
	len = strlen(have);
	FUZZ_CHECK(len >= 1 && len <= max, "%s of %zu bytes", name, len);
	FUZZ_CHECK(printable(have, len), "%s is not printable ASCII", name);
	FUZZ_CHECK(strcmp(have, want) == 0, "%s is not the document's", name);
}

static void check_accepted(const struct mtk__token_doc *d, const char *body, size_t size,
                           const char *why)
{
	cJSON *doc = cJSON_ParseWithLength(body, size);
	const char *code = string_field(doc, "Code");
	int64_t exp_ms;

	FUZZ_CHECK(cJSON_IsObject(doc), "accepted, but cJSON sees no object");
	FUZZ_CHECK(why[0] == '\0', "a reason for an accepted document: \"%s\"", why);
	FUZZ_CHECK(cJSON_GetObjectItemCaseSensitive(doc, "Code") == NULL ||
	               (code && strcmp(code, "Success") == 0),
	           "accepted with a Code that is not \"Success\"");
	check_field("AccessKeyId", d->aws_key_id, string_field(doc, "AccessKeyId"), KEY_FIELD_MAX);
	check_field("SecretAccessKey", d->aws_secret, string_field(doc, "SecretAccessKey"),
	            KEY_FIELD_MAX);
	check_field("Token", d->access_token, string_field(doc, "Token"), MTK_MAX_ACCESS_TOKEN);
	FUZZ_CHECK(d->access_token_len == strlen(d->access_token),
	           "access_token_len does not match the Token");

	FUZZ_CHECK(d->expires_in_s >= 1 && d->expires_in_s <= MTK__MAX_EXPIRES_IN_S,
	           "expires_in %lld", (long long)d->expires_in_s);
	exp_ms = expiration_ms(string_field(doc, "Expiration"));
	FUZZ_CHECK(NOW_MS + d->expires_in_s * 1000 <= exp_ms &&
	               exp_ms < NOW_MS + (d->expires_in_s + 1) * 1000,
	           "expires_in %lld for an Expiration %lld ms away", (long long)d->expires_in_s,
	           (long long)(exp_ms - NOW_MS));
	cJSON_Delete(doc);
}

/*
 * The reason quotes nothing from the document: it is one of the parser's
 * fixed messages, or names a duplicated field. (Looking for the secrets'
 * values in it does not work: libFuzzer soon makes a secret that is a word
 * of a message.) A new message goes here only if it quotes no value.
 */
static void check_reason(const char *why)
{
	static const char *const fixed[] = {
		"body larger than 64 KiB",
		"body contains a NUL character",
		"body is not JSON",
		"text after the JSON document",
		"body is JSON but not an object",
		"Code is not Success",
		"AccessKeyId, SecretAccessKey, Token or Expiration is missing or not a string",
		"Expiration is not YYYY-MM-DDTHH:MM:SSZ",
		"Expiration is not in the future (or over 10 years away)",
		"AccessKeyId, SecretAccessKey or Token is empty, too long or not printable ASCII",
	};
	static const char *const fields[] = { "Code", "AccessKeyId", "SecretAccessKey", "Token",
		                              "Expiration" };
	char twice[64];

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strcmp(why, fixed[i]) == 0)
			return;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		snprintf(twice, sizeof(twice), "%s appears twice", fields[i]);
		if (strcmp(why, twice) == 0)
			return;
	}
	FUZZ_CHECK(0, "a reason that may quote the document: \"%s\"", why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct mtk__token_doc doc, canary, later;
	enum mtk_status st, again;
	char why[160], small[8];

	/* *out is written only on success. */
	memset(&canary, 0, sizeof(canary));
	canary.access_token = (char *)"canary";
	canary.access_token_len = 0xA5A5;
	canary.expires_in_s = -42;
	doc = canary;
	memset(why, 0xA5, sizeof(why));
	st = mtk__aws_creds_parse(body, size, NOW_MS, &doc, why, sizeof(why));
	FUZZ_CHECK(strnlen(why, sizeof(why)) < sizeof(why), "reason not terminated");
	if (st == MTK_OK) {
		check_accepted(&doc, body, size, why);

		/* A second later: one second less, or expired. */
		later = canary;
		again = mtk__aws_creds_parse(body, size, NOW_MS + 1000, &later, NULL, 0);
		if (doc.expires_in_s > 1)
			FUZZ_CHECK(again == MTK_OK && later.expires_in_s == doc.expires_in_s - 1,
			           "a second later: %s, expires_in %lld after %lld",
			           mtk_status_name(again), (long long)later.expires_in_s,
			           (long long)doc.expires_in_s);
		else
			FUZZ_CHECK(again == MTK_ERR_BAD_EXPIRATION,
			           "a second after expires_in 1: %s", mtk_status_name(again));
		if (again == MTK_OK)
			mtk__token_doc_release(&later);

		mtk__token_doc_release(&doc);
		FUZZ_CHECK(doc.access_token == NULL && doc.aws_key_id == NULL &&
		               doc.aws_secret == NULL && doc.access_token_len == 0,
		           "release left a secret");
	} else {
		FUZZ_CHECK(st == MTK_ERR_BODY_TOO_LARGE || st == MTK_ERR_BAD_JSON ||
		               st == MTK_ERR_MISSING_FIELD || st == MTK_ERR_BAD_EXPIRATION ||
		               st == MTK_ERR_BAD_ACCESS_TOKEN || st == MTK_ERR_NO_MEMORY,
		           "undocumented status %s", mtk_status_name(st));
		FUZZ_CHECK(memcmp(&doc, &canary, sizeof(doc)) == 0, "*out written on failure");
		FUZZ_CHECK(why[0] != '\0' || st == MTK_ERR_NO_MEMORY, "no reason for %s",
		           mtk_status_name(st));
		FUZZ_CHECK(size > MTK_MAX_BODY || st != MTK_ERR_BODY_TOO_LARGE,
		           "a %zu-byte body is too large", size);
		check_reason(why);
	}

	/* The reason's buffer changes nothing but the reason. */
	doc = canary;
	again = mtk__aws_creds_parse(body, size, NOW_MS, &doc, small, sizeof(small));
	FUZZ_CHECK(again == st, "%s with a short reason buffer, %s with a long one",
	           mtk_status_name(again), mtk_status_name(st));
	FUZZ_CHECK(strnlen(small, sizeof(small)) < sizeof(small), "short reason not terminated");
	if (again == MTK_OK)
		mtk__token_doc_release(&doc);
	doc = canary;
	again = mtk__aws_creds_parse(body, size, NOW_MS, &doc, NULL, 0);
	FUZZ_CHECK(again == st, "%s without a reason buffer, %s with one", mtk_status_name(again),
	           mtk_status_name(st));
	if (again == MTK_OK)
		mtk__token_doc_release(&doc);
	return 0;
}
