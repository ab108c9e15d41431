/*
 * The Yandex IAM exchange source (PROTOCOL.md §4): a service account's IAM
 * token for an authorized key. Each fetch signs a PS256 JWT with the key
 * (common/jwt.h) and POSTs {"jwt"} to the IAM endpoint through the retry
 * loop; the answer {"iamToken","expiresAt"} becomes a token doc. Errors in
 * Yandex's shape {"code","message"} are not retried (they are 4xx) and
 * their message goes into the fetch's detail.
 */
#include "private/fetcher.h"
#include "private/internal.h"
#include "private/retry.h"

#include "authkey.h"
#include "jwt.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define URL_MAX      2048
#define ENV_ENDPOINT "METATOKEN_IAM_ENDPOINT"
/* The most of a server's error message quoted in a detail. */
#define MESSAGE_MAX 200

struct iam {
	struct mtk__retry *retry;
	struct mtk__authkey key;
	char *url;
};

enum mtk_status mtk__iam_endpoint_check(const char *url)
{
	size_t len = strlen(url), skip;
	const char *p, *host;

	if (strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else
		return MTK_ERR_BAD_ENDPOINT;
	if (len > URL_MAX)
		return MTK_ERR_BAD_ENDPOINT;
	host = url + skip;
	if (*host == '[') {
		p = strchr(host, ']');
		if (!p || p == host + 1)
			return MTK_ERR_BAD_ENDPOINT;
		for (const char *q = host + 1; q < p; q++)
			if (!strchr("0123456789abcdefABCDEF:.", *q))
				return MTK_ERR_BAD_ENDPOINT;
		p++;
	} else {
		for (p = host; *p && (strchr("-._", *p) || (*p >= 'a' && *p <= 'z') ||
		                      (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'));
		     p++)
			;
		if (p == host)
			return MTK_ERR_BAD_ENDPOINT;
	}
	if (*p == ':') {
		long port = 0;

		if (p[1] < '0' || p[1] > '9')
			return MTK_ERR_BAD_ENDPOINT;
		for (p++; *p >= '0' && *p <= '9'; p++)
			if ((port = port * 10 + (*p - '0')) > 65535)
				return MTK_ERR_BAD_ENDPOINT;
		if (port == 0)
			return MTK_ERR_BAD_ENDPOINT;
	}
	if (*p && *p != '/')
		return MTK_ERR_BAD_ENDPOINT; /* user info, a query, junk */
	/* The path: RFC 3986 pchars and '/', no '%' escapes, no '?' or '#'. */
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("/-._~!$&'()*+,;=:@", *p)))
			return MTK_ERR_BAD_ENDPOINT;
	return MTK_OK;
}

static void set_why(char *why, size_t whylen, const char *msg)
{
	snprintf(why, whylen, "%s", msg);
}

enum mtk_status mtk__iam_parse(const char *body, size_t len, int64_t sent_wall_ms,
                               struct mtk__token_doc *out, char *why, size_t whylen)
{
	static const char *const fields[] = { "iamToken", "expiresAt", NULL };
	const cJSON *tok, *exp;
	cJSON *root = NULL;
	enum mtk_status st;
	int64_t at_ms, life_s;
	size_t tok_len;
	char *copy;

	if ((st = mtk__json_object_parse(body, len, fields, &root, why, whylen)) != MTK_OK)
		return st;
	tok = cJSON_GetObjectItemCaseSensitive(root, "iamToken");
	exp = cJSON_GetObjectItemCaseSensitive(root, "expiresAt");
	if (!tok || !exp) {
		set_why(why, whylen, !tok ? "no iamToken" : "no expiresAt");
		st = MTK_ERR_IAM_MISSING_FIELD;
		goto out_delete;
	}
	if (!cJSON_IsString(tok) ||
	    mtk__access_token_check(tok->valuestring, tok_len = strlen(tok->valuestring)) !=
	        MTK_OK) {
		set_why(why, whylen,
		        "iamToken is not a string of 1..4096 printable ASCII characters");
		st = MTK_ERR_BAD_ACCESS_TOKEN;
		goto out_delete;
	}
	at_ms = cJSON_IsString(exp)
	            ? mtk__rfc3339_ms(exp->valuestring, strlen(exp->valuestring), true)
	            : -1;
	if (at_ms < 0) {
		set_why(why, whylen,
		        "expiresAt is not a string \"YYYY-MM-DDTHH:MM:SS[.fraction]Z\"");
		st = MTK_ERR_BAD_EXPIRES_AT;
		goto out_delete;
	}
	/* Whole seconds left, counted down: the conservative end. */
	life_s = at_ms > sent_wall_ms ? (at_ms - sent_wall_ms) / 1000 : 0;
	if (life_s < 1) {
		set_why(why, whylen, "expiresAt is not at least 1 s after the request was sent");
		st = MTK_ERR_BAD_EXPIRES_AT;
		goto out_delete;
	}
	/* A server clock ahead of ours must not make a token outlive what
	 * Yandex promises of any: 12 h. */
	if (life_s > MTK__IAM_MAX_LIFETIME_S)
		life_s = MTK__IAM_MAX_LIFETIME_S;
	copy = malloc(tok_len + 1);
	if (!copy) {
		st = MTK_ERR_NO_MEMORY;
		goto out_delete;
	}
	memcpy(copy, tok->valuestring, tok_len + 1);
	out->access_token = copy;
	out->access_token_len = tok_len;
	out->expires_in_s = life_s;
	st = MTK_OK;

out_delete:
	mtk__json_delete_wiped(root);
	return st;
}

/*
 * Appends ": <code>: <message>" from a Yandex error answer
 * {"code":16,"message":"..."} to detail: printable ASCII only, cut to
 * MESSAGE_MAX. Other bodies add nothing.
 */
static void append_server_message(const char *body, size_t len, char *detail, size_t detail_len)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "message");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "code");
	char clean[MESSAGE_MAX + 4];
	size_t n = 0, at = strlen(detail);

	if (cJSON_IsObject(root) && cJSON_IsString(msg)) {
		const char *m = msg->valuestring;

		for (; *m && n < MESSAGE_MAX; m++)
			clean[n++] = (*m >= 0x20 && *m < 0x7f) ? *m : '?';
		if (*m) {
			memcpy(clean + n, "...", 3);
			n += 3;
		}
		clean[n] = '\0';
		if (cJSON_IsNumber(code) && code->valuedouble >= 0 && code->valuedouble < 1000)
			snprintf(detail + at, detail_len - at, ": code %d: %s",
			         (int)code->valuedouble, clean);
		else
			snprintf(detail + at, detail_len - at, ": %s", clean);
	}
	mtk__json_delete_wiped(root);
}

/* The JWT for this fetch, signed at the wall time now_ms; NULL with err. */
static char *make_jwt(const struct iam *s, int64_t now_ms, char *err, size_t errlen)
{
	char claims[512];
	long long iat = (long long)(now_ms / 1000);

	/* The ids are plain printable ASCII without quotes (authkey.h). */
	snprintf(claims, sizeof(claims),
	         "{\"aud\":\"" MTK__IAM_AUDIENCE "\",\"iss\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
	         s->key.service_account_id, iat, iat + MTK__IAM_JWT_LIFETIME_S);
	return mtk__jwt_sign_ps256(s->key.private_key, s->key.id, claims, err, errlen);
}

static void free_wiped(char *p)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, strlen(p));
	free(p);
}

static enum mtk_status iam_fetch(void *self, struct mtk__token_doc *doc, int64_t *sent_ms,
                                 char *detail, size_t detail_len)
{
	static const char *const headers[] = { "Content-Type: application/json",
		                               "Accept: application/json", NULL };
	struct iam *s = self;
	struct mtk__answer a;
	enum mtk_status st;
	char why[160] = "", *jwt, *body = NULL;
	int64_t start = mtk__retry_mono(s->retry), sent_wall;
	size_t n;

	jwt = make_jwt(s, mtk__retry_wall(s->retry), why, sizeof(why));
	if (!jwt) {
		snprintf(detail, detail_len, "POST %s: cannot sign the JWT: %s", s->url, why);
		return MTK_ERR_BAD_KEY_FILE;
	}
	n = strlen(jwt) + sizeof("{\"jwt\":\"\"}");
	body = malloc(n);
	if (!body) {
		free_wiped(jwt);
		return MTK_ERR_NO_MEMORY;
	}
	snprintf(body, n, "{\"jwt\":\"%s\"}", jwt);
	free_wiped(jwt);
	st = mtk__retry_request_body(s->retry, "POST", s->url, headers, body, strlen(body), start,
	                             &a, detail, detail_len);
	free_wiped(body);
	if (st != MTK_OK)
		return st;
	if (a.http != 200) {
		append_server_message(a.body, a.len, detail, detail_len);
		OPENSSL_cleanse(a.body, a.len);
		/* A 404 here is a wrong URL, not a missing account. */
		return a.http == 404 ? MTK_ERR_HTTP_CLIENT : mtk__http_status(a.http);
	}
	/* The wall time the answering request was sent, by the monotonic
	 * distance from now. */
	sent_wall = mtk__retry_wall(s->retry) - (mtk__retry_mono(s->retry) - a.sent_ms);
	st = mtk__iam_parse(a.body, a.len, sent_wall, doc, why, sizeof(why));
	OPENSSL_cleanse(a.body, a.len);
	if (st != MTK_OK)
		snprintf(detail, detail_len, "POST %s: malformed IAM response: %s", s->url, why);
	else
		*sent_ms = a.sent_ms;
	return st;
}

static void iam_free(void *self)
{
	struct iam *s = self;

	if (!s)
		return;
	mtk__authkey_release(&s->key);
	free(s->url);
	free(s);
}

enum mtk_status mtk__fetcher_iam_new(const char *key_file, const char *endpoint,
                                     struct mtk__retry *r, struct mtk__fetcher *out, char *err,
                                     size_t errlen)
{
	const char *env = getenv(ENV_ENDPOINT), *url = endpoint;
	struct iam *s;

	if (!url)
		url = env && *env ? env : MTK__IAM_DEFAULT_ENDPOINT;
	if (mtk__iam_endpoint_check(url) != MTK_OK) {
		snprintf(err, errlen,
		         "%s \"%.300s\": not an http:// or https:// URL with a host and a path "
		         "only",
		         endpoint ? "IAM endpoint" : "$" ENV_ENDPOINT, url);
		return MTK_ERR_BAD_ENDPOINT;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->url = strdup(url))) {
		free(s);
		return MTK_ERR_NO_MEMORY;
	}
	if (mtk__authkey_load(key_file, &s->key, err, errlen) != 0) {
		iam_free(s);
		return MTK_ERR_BAD_KEY_FILE;
	}
	s->retry = r;
	*out = (struct mtk__fetcher){
		.fetch = iam_fetch, .free = iam_free, .self = s, .where = s->url
	};
	return MTK_OK;
}
