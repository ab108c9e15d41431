/*
 * The AWS flavour: role credentials from IMDS, fetched the way botocore
 * does (metatoken/aws.h): an IMDSv2 session kept across fetches, the role
 * name, then the credentials. The cache around it is client.c's.
 *
 * Everything here runs in the one fetching thread, without the client's
 * lock, so struct mtk__aws needs no lock of its own.
 */
#include "private/internal.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metatoken/aws.h"

#define DEFAULT_SESSION_TTL_S 21600
#define PUT_TIMEOUT_MS        1000  /* the SDKs': one attempt of 1 s */
#define PUT_SKIP_INTERVALS    10    /* no PUT for this many min_refresh_interval_ms */
#define SESSION_RENEW_MAX_MS  60000 /* renew at most this long before the TTL ends */
#define KEY_FIELD_MAX         128   /* AccessKeyId, SecretAccessKey */
#define TOKEN_HEADER          "X-aws-ec2-metadata-token: "
#define CREDS_PATH            "/latest/meta-data/iam/security-credentials/"

struct mtk__aws {
	char *token_url; /* base + /latest/api/token */
	char *creds_url; /* base + CREDS_PATH */
	char role[MTK__AWS_ROLE_MAX + 1];
	bool role_fixed; /* given by the caller: never rediscovered */
	int64_t ttl_s;
	/* The IMDSv2 session: a header line ready to send, or "" for none. */
	char session_header[sizeof(TOKEN_HEADER) + MTK_MAX_ACCESS_TOKEN];
	int64_t session_renew_at_ms; /* monotonic */
	/* After a PUT that got no answer, or 403/404/405: no PUT before this
	 * (monotonic), so that a stalled PUT does not cost every fetch its
	 * timeout. put_skip_ms is how long that lasts. */
	int64_t put_skip_until_ms;
	int64_t put_skip_ms;
};

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

enum mtk_status mtk__aws_new(const char *endpoint, const char *role, int64_t session_ttl_s,
                             int64_t min_refresh_interval_ms, struct mtk__aws **out)
{
	const char *env = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	struct mtk__aws *a;
	enum mtk_status st;
	char *base = NULL;

	if (session_ttl_s < 0 || session_ttl_s > DEFAULT_SESSION_TTL_S)
		return MTK_ERR_INVALID_ARGUMENT;
	if (role && !role_ok(role, strlen(role)))
		return MTK_ERR_BAD_ACCOUNT;
	if (!endpoint)
		endpoint = env && *env ? env : MTK__DEFAULT_ENDPOINT;
	if ((st = mtk__endpoint_parse(endpoint, &base)) != MTK_OK)
		return st;
	a = calloc(1, sizeof(*a));
	if (!a || asprintf(&a->token_url, "%s/latest/api/token", base) < 0) {
		free(a);
		free(base);
		return MTK_ERR_NO_MEMORY;
	}
	if (asprintf(&a->creds_url, "%s" CREDS_PATH, base) < 0) {
		free(a->token_url);
		free(a);
		free(base);
		return MTK_ERR_NO_MEMORY;
	}
	free(base);
	a->ttl_s = session_ttl_s ? session_ttl_s : DEFAULT_SESSION_TTL_S;
	a->put_skip_ms = min_refresh_interval_ms > INT64_MAX / 4 / PUT_SKIP_INTERVALS
	                     ? INT64_MAX / 4
	                     : min_refresh_interval_ms * PUT_SKIP_INTERVALS;
	if (role) {
		snprintf(a->role, sizeof(a->role), "%s", role);
		a->role_fixed = true;
	}
	*out = a;
	return MTK_OK;
}

void mtk__aws_free(struct mtk__aws *a)
{
	if (!a)
		return;
	OPENSSL_cleanse(a->session_header, sizeof(a->session_header));
	free(a->token_url);
	free(a->creds_url);
	free(a);
}

const char *mtk__aws_url(const struct mtk__aws *a)
{
	return a->creds_url;
}

static void drop_session(struct mtk__aws *a)
{
	OPENSSL_cleanse(a->session_header, sizeof(a->session_header));
	a->session_renew_at_ms = 0;
}

/*
 * Makes sure a session is held if the server gives one, as the SDKs do.
 * Returns MTK_OK with a->session_header set, or "" to go on without a
 * session (IMDSv1); *skipped says the PUT was not even tried, because one
 * failed lately. The PUT gets one attempt of at most 1 s (the SDKs'). No
 * answer (timeout, refused connection), 403, 404 or 405: IMDSv1, and no
 * PUT for put_skip_ms. 401, 5xx and anything else: IMDSv1 for this fetch
 * only. 400: the fetch ends, no credentials (the SDKs give up too).
 */
static enum mtk_status ensure_session(struct mtk_client *c, struct mtk__aws *a, int64_t start,
                                      bool *skipped, char *detail, size_t detail_len)
{
	char ttl[64];
	const char *headers[] = { ttl, NULL };
	enum mtk_status st;
	int64_t now = mtk__client_mono(c), sent_ms, renew_ms;
	size_t len;
	char *body;
	long http = 0;

	*skipped = false;
	if (a->session_header[0] && now < a->session_renew_at_ms)
		return MTK_OK;
	drop_session(a);
	if (now < a->put_skip_until_ms) {
		*skipped = true;
		return MTK_OK;
	}
	snprintf(ttl, sizeof(ttl), "X-aws-ec2-metadata-token-ttl-seconds: %lld",
	         (long long)a->ttl_s);
	st = mtk__client_request_once(c, "PUT", a->token_url, headers, start, PUT_TIMEOUT_MS, &http,
	                              &body, &len, &sent_ms, detail, detail_len);
	if (st == MTK_ERR_NO_MEMORY)
		return st;
	if (st == MTK_OK && http == 400) {
		OPENSSL_cleanse(body, len);
		snprintf(detail, detail_len,
		         "PUT %s: HTTP 400: the server refused to open an IMDSv2 session; "
		         "no credentials (as the AWS SDKs)",
		         a->token_url);
		return MTK_ERR_HTTP_CLIENT;
	}
	if (st != MTK_OK || http != 200) {
		if (st == MTK_OK)
			OPENSSL_cleanse(body, len);
		if (st == MTK_ERR_TIMEOUT || st == MTK_ERR_CONNECT ||
		    (st == MTK_OK && (http == 403 || http == 404 || http == 405)))
			a->put_skip_until_ms = mtk__client_mono(c) + a->put_skip_ms;
		detail[0] = '\0';
		return MTK_OK;
	}
	if (mtk__access_token_check(body, len) != MTK_OK) {
		OPENSSL_cleanse(body, len);
		snprintf(detail, detail_len,
		         "PUT %s: the session token is empty, too long or not printable ASCII",
		         a->token_url);
		return MTK_ERR_BAD_ACCESS_TOKEN;
	}
	memcpy(a->session_header, TOKEN_HEADER, sizeof(TOKEN_HEADER) - 1);
	memcpy(a->session_header + sizeof(TOKEN_HEADER) - 1, body, len);
	a->session_header[sizeof(TOKEN_HEADER) - 1 + len] = '\0';
	OPENSSL_cleanse(body, len);
	/* Renew ahead of the end: a tenth of the TTL, at most a minute. */
	renew_ms = a->ttl_s * 100 < SESSION_RENEW_MAX_MS ? a->ttl_s * 100 : SESSION_RENEW_MAX_MS;
	a->session_renew_at_ms = sent_ms + a->ttl_s * 1000 - renew_ms;
	return MTK_OK;
}

/*
 * After a 401 to a GET: the server no longer knows the session (it expired
 * early, or the server restarted), or, without one, it wants one (IMDSv2
 * only). Either way the next try opens a new session, even if a PUT failed
 * lately. Returns true when this fetch should start over for it: once, and
 * not when its own PUT just failed.
 */
static bool start_over_after_401(struct mtk__aws *a, bool had_session, bool put_skipped, int round)
{
	drop_session(a);
	a->put_skip_until_ms = 0;
	return round == 0 && (had_session || put_skipped);
}

/* GET url with the session (if any). On MTK_OK *http, *body, *len are set. */
static enum mtk_status get(struct mtk_client *c, struct mtk__aws *a, const char *url, int64_t start,
                           long *http, char **body, size_t *len, int64_t *sent_ms, char *detail,
                           size_t detail_len)
{
	const char *headers[] = { a->session_header[0] ? a->session_header : NULL, NULL };

	return mtk__client_request(c, NULL, url, headers, start, http, body, len, sent_ms, detail,
	                           detail_len);
}

/* Turns a non-200 answer into a status; detail was written by the request. */
static enum mtk_status http_status(long http)
{
	if (http == 404)
		return MTK_ERR_NO_SUCH_ACCOUNT;
	if (http == 429)
		return MTK_ERR_HTTP_THROTTLED;
	if (http >= 500 && http <= 599)
		return MTK_ERR_HTTP_SERVER;
	if (http >= 400 && http <= 499)
		return MTK_ERR_HTTP_CLIENT;
	return MTK_ERR_HTTP_UNEXPECTED;
}

enum mtk_status mtk__aws_fetch(struct mtk_client *c, struct mtk__aws *a, struct mtk__token_doc *doc,
                               int64_t *sent_ms, char *detail, size_t detail_len)
{
	int64_t start = mtk__client_mono(c);
	enum mtk_status st = MTK_ERR_HTTP_CLIENT;
	char url[1024], why[160];
	size_t len;
	char *body;
	long http;

	/* A second round only after a 401 (start_over_after_401). */
	for (int round = 0; round < 2; round++) {
		bool had_session, put_skipped;

		st = ensure_session(c, a, start, &put_skipped, detail, detail_len);
		if (st != MTK_OK)
			return st;
		had_session = a->session_header[0] != '\0';
		if (!a->role[0]) {
			st = get(c, a, a->creds_url, start, &http, &body, &len, sent_ms, detail,
			         detail_len);
			if (st != MTK_OK)
				return st;
			if (http == 401 &&
			    start_over_after_401(a, had_session, put_skipped, round)) {
				OPENSSL_cleanse(body, len);
				continue;
			}
			if (http != 200) {
				OPENSSL_cleanse(body, len);
				return http_status(http);
			}
			st = mtk__aws_role_parse(body, len, a->role, sizeof(a->role));
			if (st != MTK_OK) {
				snprintf(detail, detail_len, "GET %s: not one IAM role name",
				         a->creds_url);
				return MTK_ERR_HTTP_UNEXPECTED;
			}
		}
		snprintf(url, sizeof(url), "%s%s", a->creds_url, a->role);
		st = get(c, a, url, start, &http, &body, &len, sent_ms, detail, detail_len);
		if (st != MTK_OK)
			return st;
		if (http == 401 && start_over_after_401(a, had_session, put_skipped, round)) {
			OPENSSL_cleanse(body, len);
			continue;
		}
		if (http != 200) {
			OPENSSL_cleanse(body, len);
			/* The instance's role changed: look it up again next time. */
			if (http == 404 && !a->role_fixed)
				a->role[0] = '\0';
			return http_status(http);
		}
		st = mtk__aws_creds_parse(body, len, mtk__client_wall(c), doc, why, sizeof(why));
		OPENSSL_cleanse(body, len);
		if (st != MTK_OK)
			snprintf(detail, detail_len, "GET %s: malformed credentials: %s", url, why);
		return st;
	}
	return MTK_ERR_HTTP_CLIENT; /* not reached: round 1 returns */
}

/* ---- parsing ---- */

static void set_why(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
}

/* "YYYY-MM-DDTHH:MM:SSZ" exactly, to ms since the epoch; -1 if not. */
static int64_t parse_time(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm tm = { 0 };

	if (strlen(s) != sizeof(shape) - 1)
		return -1;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
			return -1;
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	tm.tm_hour = atoi(s + 11);
	tm.tm_min = atoi(s + 14);
	tm.tm_sec = atoi(s + 17);
	if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	return (int64_t)timegm(&tm) * 1000;
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
	const char *key, *secret, *token, *expiration, *code, *dup;
	const char *end = NULL;
	enum mtk_status st;
	int64_t exp_ms, left_s;
	cJSON *root;

	set_why(why, whylen, "");
	if (len > MTK_MAX_BODY) {
		set_why(why, whylen, "body larger than 64 KiB");
		return MTK_ERR_BODY_TOO_LARGE;
	}
	if (memchr(body, '\0', len) || memmem(body, len, "\\u0000", 6)) {
		set_why(why, whylen, "body contains a NUL character");
		return MTK_ERR_BAD_JSON;
	}
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root)
		while (end < body + len && strchr(" \t\r\n", *end))
			end++;
	if (!cJSON_IsObject(root) || end != body + len) {
		set_why(why, whylen, "body is not one JSON object");
		st = MTK_ERR_BAD_JSON;
		goto out;
	}
	/* Which of two "SecretAccessKey"s wins differs between parsers. */
	if ((dup = mtk__json_duplicate_key(root, fields)) != NULL) {
		if (why && whylen)
			snprintf(why, whylen, "%s appears twice", dup);
		st = MTK_ERR_BAD_JSON;
		goto out;
	}
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
	exp_ms = parse_time(expiration);
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
