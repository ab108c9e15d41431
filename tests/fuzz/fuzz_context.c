/*
 * The context's JSON inputs, which come from runtime API headers:
 * Lambda-Runtime-Client-Context (mtk_context_set_client_context_json),
 * Lambda-Runtime-Cognito-Identity (mtk_context_set_identity_json) and
 * Lambda-Runtime-Token-Json (mtk_context_set_token_json).
 *
 * The input, up to its first NUL, goes to each setter in turn, on a context
 * that already holds values. A rejected document changes nothing (the token
 * setter: leaves no token); an accepted one sets exactly the string members
 * it has; and mtk_context_to_json always writes JSON that says what the
 * getters say.
 */
#include "fuzz.h"

#include "metatoken/context.h"

#include <cjson/cJSON.h>
#include <string.h>

static char *to_json(const struct mtk_context *ctx)
{
	enum mtk_status st;
	char *json = NULL;

	st = mtk_context_to_json(ctx, &json);
	FUZZ_CHECK(st == MTK_OK && json != NULL, "mtk_context_to_json: %s", mtk_status_name(st));
	return json;
}

/* The string at a dotted path of doc, or NULL when absent or not a string. */
static const char *string_at(const cJSON *doc, const char *path)
{
	char part[64];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		snprintf(part, sizeof(part), "%.*s", (int)(dot - path), path);
		doc = cJSON_GetObjectItemCaseSensitive(doc, part);
		path = dot + 1;
	}
	doc = cJSON_GetObjectItemCaseSensitive(doc, path);
	return cJSON_IsString(doc) ? doc->valuestring : NULL;
}

/* Fields [first, last] must hold what `doc` (the setter's input, at prefix) has. */
static void check_fields(const struct mtk_context *ctx, const cJSON *doc, const char *prefix,
                         enum mtk_context_field first, enum mtk_context_field last)
{
	size_t skip = strlen(prefix);

	for (int f = first; f <= (int)last; f++) {
		const char *path = mtk_context_field_name(f);
		const char *want = string_at(doc, path + skip);
		const char *have = mtk_context_get(ctx, f);

		FUZZ_CHECK(want ? have && strcmp(want, have) == 0 : have == NULL,
		           "%s: \"%s\" set from \"%s\"", path, have ? have : "(null)",
		           want ? want : "(null)");
	}
}

/* What mtk_context_to_json wrote must agree with the getters. */
static void check_json(const struct mtk_context *ctx, const char *json)
{
	cJSON *doc = cJSON_Parse(json);
	const cJSON *tok;

	FUZZ_CHECK(cJSON_IsObject(doc), "mtk_context_to_json wrote \"%s\"", json);
	for (int f = 0; f < MTK_CTX_FIELD_COUNT_; f++) {
		const char *have = mtk_context_get(ctx, f);
		const char *shown = string_at(doc, mtk_context_field_name(f));

		FUZZ_CHECK(have ? shown && strcmp(have, shown) == 0 : shown == NULL,
		           "%s: the JSON does not show the field", mtk_context_field_name(f));
	}
	tok = cJSON_GetObjectItemCaseSensitive(doc, "token");
	if (mtk_context_has_token(ctx))
		FUZZ_CHECK(cJSON_IsObject(tok) && string_at(tok, "access_token") &&
		               strcmp(string_at(tok, "access_token"),
		                      mtk_context_token_access_token(ctx)) == 0,
		           "the JSON does not show the token");
	else
		FUZZ_CHECK(cJSON_IsNull(tok), "a token in the JSON of a context without one");
	cJSON_Delete(doc);
}

/* A setter's outcome: on failure nothing changed, on success the fields are the input's. */
static void check_set(const struct mtk_context *ctx, enum mtk_status st, const char *before,
                      const cJSON *doc, const char *prefix, enum mtk_context_field first,
                      enum mtk_context_field last)
{
	char *after = to_json(ctx);

	if (st == MTK_OK) {
		FUZZ_CHECK(cJSON_IsObject(doc), "a setter accepted a non-object");
		check_fields(ctx, doc, prefix, first, last);
	} else {
		FUZZ_CHECK(st == MTK_ERR_BAD_JSON || st == MTK_ERR_NO_MEMORY, "status %s",
		           mtk_status_name(st));
		FUZZ_CHECK(strcmp(before, after) == 0, "a rejected document changed the context");
	}
	check_json(ctx, after);
	mtk_json_free(after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtk_context *ctx = NULL;
	cJSON *doc;
	char *text, *before;
	enum mtk_status st;

	text = malloc(size + 1);
	FUZZ_CHECK(text != NULL, "out of memory");
	memcpy(text, data, size);
	text[size] = '\0';
	doc = cJSON_Parse(text);

	FUZZ_CHECK(mtk_context_new(&ctx) == MTK_OK, "mtk_context_new failed");
	FUZZ_CHECK(
	    mtk_context_set_identity_json(ctx, "{\"cognito_identity_id\":\"before\"}") == MTK_OK &&
	        mtk_context_set_client_context_json(
	            ctx, "{\"client\":{\"app_title\":\"before\"},\"env\":{\"a\":1}}") == MTK_OK &&
	        mtk_context_set_token_json(ctx, "{\"access_token\":\"before\",\"expires_in\":60,"
	                                        "\"token_type\":\"Bearer\"}") == MTK_OK,
	    "setting the starting values failed");

	before = to_json(ctx);
	st = mtk_context_set_client_context_json(ctx, text);
	check_set(ctx, st, before, doc, "client_context.", MTK_CTX_CLIENT_INSTALLATION_ID,
	          MTK_CTX_CLIENT_APP_PACKAGE_NAME);
	mtk_json_free(before);

	before = to_json(ctx);
	st = mtk_context_set_identity_json(ctx, text);
	check_set(ctx, st, before, doc, "identity.", MTK_CTX_COGNITO_IDENTITY_ID,
	          MTK_CTX_COGNITO_IDENTITY_POOL_ID);
	mtk_json_free(before);

	st = mtk_context_set_token_json(ctx, text);
	if (st == MTK_OK) {
		FUZZ_CHECK(mtk_context_has_token(ctx) &&
		               strcmp(mtk_context_token_type(ctx), "Bearer") == 0 &&
		               mtk_context_token_expires_in_s(ctx) >= 1,
		           "an accepted token document left no usable token");
		FUZZ_CHECK(string_at(doc, "access_token") &&
		               strcmp(string_at(doc, "access_token"),
		                      mtk_context_token_access_token(ctx)) == 0,
		           "the token is not the document's");
	} else {
		FUZZ_CHECK(!mtk_context_has_token(ctx), "a rejected token document left a token");
	}
	before = to_json(ctx);
	check_json(ctx, before);
	mtk_json_free(before);

	/* NULL clears: every field unset, no token. */
	FUZZ_CHECK(mtk_context_set_client_context_json(ctx, NULL) == MTK_OK &&
	               mtk_context_set_identity_json(ctx, NULL) == MTK_OK,
	           "clearing failed");
	for (int f = MTK_CTX_COGNITO_IDENTITY_ID; f < MTK_CTX_FIELD_COUNT_; f++)
		FUZZ_CHECK(mtk_context_get(ctx, f) == NULL, "%s not cleared",
		           mtk_context_field_name(f));

	mtk_context_free(ctx);
	cJSON_Delete(doc);
	free(text);
	return 0;
}
