/*
 * The AWS flavour's parsers (the role name, the credentials document) and
 * the public accessors of a set (metatoken/aws.h). Fetching is
 * fetch_imds.c's.
 */
#include "private/internal.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metatoken/aws.h"

#define KEY_FIELD_MAX 128 /* AccessKeyId, SecretAccessKey */

static bool role_ok(const char *s, size_t len)
{
	if (len == 0 || len > MTK__AWS_ROLE_MAX)
		return false;
	/* The role goes into the URL's path, where "." and ".." would be
	 * resolved away (curl does), asking for another document. */
	if ((len == 1 || len == 2) && memcmp(s, "..", len) == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		/* strchr finds the NUL that ends its string: check for it first. */
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || (ch != '\0' && strchr("+=,.@_-", ch))))
			return false;
	}
	return true;
}

enum mtk_status mtk__aws_role_parse(const char *body, size_t len, char *out, size_t cap)
{
	/* One role, as IMDS lists it; a trailing newline is tolerated. */
	while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
		len--;
	if (!role_ok(body, len) || len >= cap)
		return MTK_ERR_BAD_ACCOUNT;
	memcpy(out, body, len);
	out[len] = '\0';
	return MTK_OK;
}

/* ---- parsing ---- */

static void set_why(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
}

static const char *string_field(const cJSON *root, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *dup_checked(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len == 0 || len > max || mtk__access_token_check(s, len) != MTK_OK)
		return NULL;
	return strdup(s);
}

enum mtk_status mtk__aws_creds_parse(const char *body, size_t len, int64_t now_wall_ms,
                                     struct mtk__token_doc *out, char *why, size_t whylen)
{
	static const char *const fields[] = { "Code",  "AccessKeyId", "SecretAccessKey",
		                              "Token", "Expiration",  NULL };
	struct mtk__token_doc d = { 0 };
	const char *key, *secret, *token, *expiration, *code;
	enum mtk_status st;
	int64_t exp_ms, left_s;
	cJSON *root;

	/* Which of two "SecretAccessKey"s wins differs between parsers: the
	 * object parser refuses a document with one. */
	if ((st = mtk__json_object_parse(body, len, fields, &root, why, whylen)) != MTK_OK)
		return st;
	code = string_field(root, "Code");
	key = string_field(root, "AccessKeyId");
	secret = string_field(root, "SecretAccessKey");
	token = string_field(root, "Token");
	expiration = string_field(root, "Expiration");
	/* Absent (the container endpoint sends none) or the string "Success". */
	if (cJSON_GetObjectItemCaseSensitive(root, "Code") &&
	    (!code || strcmp(code, "Success") != 0)) {
		set_why(why, whylen, "Code is not Success");
		st = MTK_ERR_MISSING_FIELD;
		goto out;
	}
	if (!key || !secret || !token || !expiration) {
		set_why(
		    why, whylen,
		    "AccessKeyId, SecretAccessKey, Token or Expiration is missing or not a string");
		st = MTK_ERR_MISSING_FIELD;
		goto out;
	}
	exp_ms = mtk__rfc3339_ms(expiration, strlen(expiration), false);
	left_s = exp_ms < 0 ? -1 : (exp_ms - now_wall_ms) / 1000;
	if (left_s < 1 || left_s > MTK__MAX_EXPIRES_IN_S) {
		set_why(why, whylen,
		        exp_ms < 0 ? "Expiration is not YYYY-MM-DDTHH:MM:SSZ"
		                   : "Expiration is not in the future (or over 10 years away)");
		st = MTK_ERR_BAD_EXPIRATION;
		goto out;
	}
	d.aws_key_id = dup_checked(key, KEY_FIELD_MAX);
	d.aws_secret = dup_checked(secret, KEY_FIELD_MAX);
	d.access_token = dup_checked(token, MTK_MAX_ACCESS_TOKEN);
	if (!d.aws_key_id || !d.aws_secret || !d.access_token) {
		set_why(why, whylen,
		        "AccessKeyId, SecretAccessKey or Token is empty, too long or not printable "
		        "ASCII");
		st = MTK_ERR_BAD_ACCESS_TOKEN;
		goto out;
	}
	d.access_token_len = strlen(d.access_token);
	d.expires_in_s = left_s;
	*out = d;
	memset(&d, 0, sizeof(d));
	st = MTK_OK;
out:
	mtk__token_doc_release(&d);
	/* The tree holds SecretAccessKey and Token: wiped, not just freed. */
	mtk__json_delete_wiped(root);
	return st;
}

/* ---- the public accessors ---- */

const char *mtk_token_aws_access_key_id(const struct mtk_token *t)
{
	return t ? t->aws_key_id : NULL;
}

const char *mtk_token_aws_secret_access_key(const struct mtk_token *t)
{
	return t ? t->aws_secret : NULL;
}

const char *mtk_token_aws_session_token(const struct mtk_token *t)
{
	return t && t->aws_key_id ? t->access_token : NULL;
}
