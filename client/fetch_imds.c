/*
 * The IMDS source: AWS role credentials, fetched the way botocore does
 * (metatoken/aws.h): an IMDSv2 session kept across fetches, the role name,
 * then the credentials. Parsing the answers is aws.c's; the cache around
 * this source is cache.c's.
 *
 * The cache calls fetch from one thread at a time, under no lock, so
 * struct imds needs no lock of its own.
 */
#include "private/fetcher.h"
#include "private/internal.h"
#include "private/retry.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SESSION_TTL_S 21600
#define PUT_TIMEOUT_MS        1000  /* the SDKs': one attempt of 1 s */
#define PUT_SKIP_INTERVALS    10    /* no PUT for this many min_refresh_interval_ms */
#define SESSION_RENEW_MAX_MS  60000 /* renew at most this long before the TTL ends */
#define TOKEN_HEADER          "X-aws-ec2-metadata-token: "
#define CREDS_PATH            "/latest/meta-data/iam/security-credentials/"

struct imds {
	struct mtk__retry *retry;
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

static void drop_session(struct imds *a)
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
static enum mtk_status ensure_session(struct imds *a, int64_t start, bool *skipped, char *detail,
                                      size_t detail_len)
{
	char ttl[64];
	const char *headers[] = { ttl, NULL };
	struct mtk__answer ans;
	enum mtk_status st;
	int64_t now = mtk__retry_mono(a->retry), renew_ms;

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
	st = mtk__retry_request_once(a->retry, "PUT", a->token_url, headers, start, PUT_TIMEOUT_MS,
	                             &ans, detail, detail_len);
	if (st == MTK_ERR_NO_MEMORY)
		return st;
	if (st == MTK_OK && ans.http == 400) {
		OPENSSL_cleanse(ans.body, ans.len);
		snprintf(detail, detail_len,
		         "PUT %s: HTTP 400: the server refused to open an IMDSv2 session; "
		         "no credentials (as the AWS SDKs)",
		         a->token_url);
		return MTK_ERR_HTTP_CLIENT;
	}
	if (st != MTK_OK || ans.http != 200) {
		if (st == MTK_OK)
			OPENSSL_cleanse(ans.body, ans.len);
		if (st == MTK_ERR_TIMEOUT || st == MTK_ERR_CONNECT ||
		    (st == MTK_OK && (ans.http == 403 || ans.http == 404 || ans.http == 405)))
			a->put_skip_until_ms = mtk__retry_mono(a->retry) + a->put_skip_ms;
		detail[0] = '\0';
		return MTK_OK;
	}
	if (mtk__access_token_check(ans.body, ans.len) != MTK_OK) {
		OPENSSL_cleanse(ans.body, ans.len);
		snprintf(detail, detail_len,
		         "PUT %s: the session token is empty, too long or not printable ASCII",
		         a->token_url);
		return MTK_ERR_BAD_ACCESS_TOKEN;
	}
	memcpy(a->session_header, TOKEN_HEADER, sizeof(TOKEN_HEADER) - 1);
	memcpy(a->session_header + sizeof(TOKEN_HEADER) - 1, ans.body, ans.len);
	a->session_header[sizeof(TOKEN_HEADER) - 1 + ans.len] = '\0';
	OPENSSL_cleanse(ans.body, ans.len);
	/* Renew ahead of the end: a tenth of the TTL, at most a minute. */
	renew_ms = a->ttl_s * 100 < SESSION_RENEW_MAX_MS ? a->ttl_s * 100 : SESSION_RENEW_MAX_MS;
	a->session_renew_at_ms = ans.sent_ms + a->ttl_s * 1000 - renew_ms;
	return MTK_OK;
}

/*
 * After a 401 to a GET: the server no longer knows the session (it expired
 * early, or the server restarted), or, without one, it wants one (IMDSv2
 * only). Either way the next try opens a new session, even if a PUT failed
 * lately. Returns true when this fetch should start over for it: once, and
 * not when its own PUT just failed.
 */
static bool start_over_after_401(struct imds *a, bool had_session, bool put_skipped, int round)
{
	drop_session(a);
	a->put_skip_until_ms = 0;
	return round == 0 && (had_session || put_skipped);
}

/* GET url with the session (if any). */
static enum mtk_status get(struct imds *a, const char *url, int64_t start, struct mtk__answer *ans,
                           char *detail, size_t detail_len)
{
	const char *headers[] = { a->session_header[0] ? a->session_header : NULL, NULL };

	return mtk__retry_request(a->retry, NULL, url, headers, start, ans, detail, detail_len);
}

static enum mtk_status imds_fetch(void *self, struct mtk__token_doc *doc, int64_t *sent_ms,
                                  char *detail, size_t detail_len)
{
	struct imds *a = self;
	int64_t start = mtk__retry_mono(a->retry);
	enum mtk_status st = MTK_ERR_HTTP_CLIENT;
	struct mtk__answer ans;
	char url[1024], why[160];

	/* A second round only after a 401 (start_over_after_401). */
	for (int round = 0; round < 2; round++) {
		bool had_session, put_skipped;

		st = ensure_session(a, start, &put_skipped, detail, detail_len);
		if (st != MTK_OK)
			return st;
		had_session = a->session_header[0] != '\0';
		if (!a->role[0]) {
			st = get(a, a->creds_url, start, &ans, detail, detail_len);
			if (st != MTK_OK)
				return st;
			if (ans.http == 401 &&
			    start_over_after_401(a, had_session, put_skipped, round)) {
				OPENSSL_cleanse(ans.body, ans.len);
				continue;
			}
			if (ans.http != 200) {
				OPENSSL_cleanse(ans.body, ans.len);
				return mtk__http_status(ans.http);
			}
			st = mtk__aws_role_parse(ans.body, ans.len, a->role, sizeof(a->role));
			if (st != MTK_OK) {
				snprintf(detail, detail_len, "GET %s: not one IAM role name",
				         a->creds_url);
				return MTK_ERR_HTTP_UNEXPECTED;
			}
		}
		snprintf(url, sizeof(url), "%s%s", a->creds_url, a->role);
		st = get(a, url, start, &ans, detail, detail_len);
		if (st != MTK_OK)
			return st;
		if (ans.http == 401 && start_over_after_401(a, had_session, put_skipped, round)) {
			OPENSSL_cleanse(ans.body, ans.len);
			continue;
		}
		if (ans.http != 200) {
			OPENSSL_cleanse(ans.body, ans.len);
			/* The instance's role changed: look it up again next time. */
			if (ans.http == 404 && !a->role_fixed)
				a->role[0] = '\0';
			return mtk__http_status(ans.http);
		}
		st = mtk__aws_creds_parse(ans.body, ans.len, mtk__retry_wall(a->retry), doc, why,
		                          sizeof(why));
		OPENSSL_cleanse(ans.body, ans.len);
		if (st != MTK_OK)
			snprintf(detail, detail_len, "GET %s: malformed credentials: %s", url, why);
		else
			*sent_ms = ans.sent_ms;
		return st;
	}
	return MTK_ERR_HTTP_CLIENT; /* not reached: round 1 returns */
}

static void imds_free(void *self)
{
	struct imds *a = self;

	if (!a)
		return;
	OPENSSL_cleanse(a->session_header, sizeof(a->session_header));
	free(a->token_url);
	free(a->creds_url);
	free(a);
}

enum mtk_status mtk__fetcher_imds_new(const char *endpoint, const char *role, int64_t session_ttl_s,
                                      int64_t min_refresh_interval_ms, struct mtk__retry *r,
                                      struct mtk__fetcher *out)
{
	const char *env = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	char checked[MTK__AWS_ROLE_MAX + 1];
	struct imds *a;
	enum mtk_status st;
	char *base = NULL;

	if (session_ttl_s < 0 || session_ttl_s > DEFAULT_SESSION_TTL_S)
		return MTK_ERR_INVALID_ARGUMENT;
	/* The rules of a role IMDS lists, without the line end it may add. */
	if (role && (mtk__aws_role_parse(role, strlen(role), checked, sizeof(checked)) != MTK_OK ||
	             strcmp(checked, role) != 0))
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
	a->retry = r;
	a->ttl_s = session_ttl_s ? session_ttl_s : DEFAULT_SESSION_TTL_S;
	a->put_skip_ms = min_refresh_interval_ms > INT64_MAX / 4 / PUT_SKIP_INTERVALS
	                     ? INT64_MAX / 4
	                     : min_refresh_interval_ms * PUT_SKIP_INTERVALS;
	if (role) {
		snprintf(a->role, sizeof(a->role), "%s", role);
		a->role_fixed = true;
	}
	*out = (struct mtk__fetcher){
		.fetch = imds_fetch, .free = imds_free, .self = a, .where = a->creds_url
	};
	return MTK_OK;
}
