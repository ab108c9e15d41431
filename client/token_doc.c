/*
 * The token document {"access_token","expires_in","token_type"}: parsing
 * and validating what a metadata service (or a runtime header) sends, and
 * writing it back out. Untrusted input: every check rejects, nothing is
 * repaired.
 */
#include "private/internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum mtk_status mtk__access_token_check(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > MTK_MAX_ACCESS_TOKEN)
		return MTK_ERR_BAD_ACCESS_TOKEN;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return MTK_ERR_BAD_ACCESS_TOKEN;
	return MTK_OK;
}

/*
 * cJSON decodes "\u0000" into a NUL that silently truncates the string, so
 * "abc\u0000def" would pass as "abc". Refuse documents that contain one.
 */
static int has_escaped_nul(const char *body, size_t len)
{
	size_t i;

	for (i = 0; i + 6 <= len; i++)
		if (body[i] == '\\' && body[i + 1] == 'u' && memcmp(body + i + 2, "0000", 4) == 0)
			return 1;
	return 0;
}

static void set_why(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
}

const char *mtk__json_duplicate_key(const cJSON *obj, const char *const *names)
{
	for (; *names; names++) {
		int seen = 0;

		for (const cJSON *it = obj ? obj->child : NULL; it; it = it->next)
			if (it->string && strcmp(it->string, *names) == 0 && ++seen > 1)
				return *names;
	}
	return NULL;
}

/* Recursion is bounded by cJSON's nesting limit (CJSON_NESTING_LIMIT). */
static void wipe_strings(cJSON *item)
{
	for (; item; item = item->next) {
		if (item->valuestring)
			OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
		wipe_strings(item->child);
	}
}

void mtk__json_delete_wiped(cJSON *root)
{
	wipe_strings(root);
	cJSON_Delete(root);
}

enum mtk_status mtk__json_object_parse(const char *body, size_t len, const char *const *names,
                                       cJSON **out, char *why, size_t whylen)
{
	const char *end = NULL, *dup;
	cJSON *root;

	set_why(why, whylen, "");
	if (len > MTK_MAX_BODY) {
		set_why(why, whylen, "body larger than 64 KiB");
		return MTK_ERR_BODY_TOO_LARGE;
	}
	if (memchr(body, '\0', len) || has_escaped_nul(body, len)) {
		set_why(why, whylen, "body contains a NUL character");
		return MTK_ERR_BAD_JSON;
	}
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root)
		while (end < body + len && *end && strchr(" \t\r\n", *end))
			end++;
	if (!root || !cJSON_IsObject(root) || end != body + len) {
		set_why(why, whylen,
		        !root               ? "body is not JSON"
		        : end != body + len ? "text after the JSON document"
		                            : "body is JSON but not an object");
		mtk__json_delete_wiped(root);
		return MTK_ERR_BAD_JSON;
	}
	/* cJSON would take the first of two equal keys and another parser the
	 * last: an ambiguous document is refused. */
	if ((dup = mtk__json_duplicate_key(root, names)) != NULL) {
		if (why && whylen)
			snprintf(why, whylen, "%s appears twice", dup);
		mtk__json_delete_wiped(root);
		return MTK_ERR_BAD_JSON;
	}
	*out = root;
	return MTK_OK;
}

enum mtk_status mtk__token_parse(const char *body, size_t len, struct mtk__token_doc *out,
                                 char *why, size_t whylen)
{
	static const char *const fields[] = { "access_token", "expires_in", "token_type", NULL };
	const cJSON *tok, *exp, *type;
	cJSON *root = NULL;
	enum mtk_status st;
	size_t tok_len = 0;
	char *copy;

	if ((st = mtk__json_object_parse(body, len, fields, &root, why, whylen)) != MTK_OK)
		return st;
	tok = cJSON_GetObjectItemCaseSensitive(root, "access_token");
	exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
	type = cJSON_GetObjectItemCaseSensitive(root, "token_type");
	if (!tok || !exp || !type) {
		set_why(why, whylen,
		        !tok   ? "no access_token"
		        : !exp ? "no expires_in"
		               : "no token_type");
		st = MTK_ERR_MISSING_FIELD;
		goto out_delete;
	}
	if (!cJSON_IsString(tok) ||
	    (st = mtk__access_token_check(tok->valuestring, tok_len = strlen(tok->valuestring))) !=
	        MTK_OK) {
		set_why(why, whylen,
		        "access_token is not a string of 1..4096 printable ASCII characters");
		st = MTK_ERR_BAD_ACCESS_TOKEN;
		goto out_delete;
	}
	/* A JSON number that is a whole, positive count of seconds; cJSON has
	 * already turned "1e3" into 1000, which is fine. */
	if (!cJSON_IsNumber(exp) || !isfinite(exp->valuedouble) || exp->valuedouble < 1 ||
	    exp->valuedouble > (double)MTK__MAX_EXPIRES_IN_S ||
	    floor(exp->valuedouble) != exp->valuedouble) {
		set_why(why, whylen, "expires_in is not a positive integer of at most 10 years");
		st = MTK_ERR_BAD_EXPIRES_IN;
		goto out_delete;
	}
	if (!cJSON_IsString(type) || strcasecmp(type->valuestring, "Bearer") != 0) {
		set_why(why, whylen, "token_type is not \"Bearer\"");
		st = MTK_ERR_BAD_TOKEN_TYPE;
		goto out_delete;
	}

	copy = malloc(tok_len + 1);
	if (!copy) {
		st = MTK_ERR_NO_MEMORY;
		goto out_delete;
	}
	memcpy(copy, tok->valuestring, tok_len + 1);
	out->access_token = copy;
	out->access_token_len = tok_len;
	out->expires_in_s = (int64_t)exp->valuedouble;
	st = MTK_OK;

out_delete:
	/* cJSON frees without wiping: no copy of the token (nor any other
	 * string of the document) may linger in freed memory. */
	mtk__json_delete_wiped(root);
	return st;
}

static void free_wiped(char **s)
{
	if (*s) {
		OPENSSL_cleanse(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void mtk__token_doc_release(struct mtk__token_doc *d)
{
	if (!d)
		return;
	free_wiped(&d->aws_key_id);
	free_wiped(&d->aws_secret);
	if (!d->access_token)
		return;
	OPENSSL_cleanse(d->access_token, d->access_token_len);
	free(d->access_token);
	d->access_token = NULL;
	d->access_token_len = 0;
}

enum mtk_status mtk__token_json(const char *access_token, int64_t expires_in_s, char **json)
{
	cJSON *root, *item;
	char *text;

	root = cJSON_CreateObject();
	if (!root)
		return MTK_ERR_NO_MEMORY;
	if (!(item = cJSON_AddStringToObject(root, "access_token", access_token)) ||
	    !cJSON_AddNumberToObject(root, "expires_in", (double)expires_in_s) ||
	    !cJSON_AddStringToObject(root, "token_type", "Bearer")) {
		if (item)
			OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
		cJSON_Delete(root);
		return MTK_ERR_NO_MEMORY;
	}
	text = cJSON_PrintUnformatted(root);
	OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
	cJSON_Delete(root);
	if (!text)
		return MTK_ERR_NO_MEMORY;
	*json = text;
	return MTK_OK;
}

void mtk_json_free(char *json)
{
	if (!json)
		return;
	OPENSSL_cleanse(json, strlen(json));
	cJSON_free(json);
}
