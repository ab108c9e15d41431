/*
 * The one interface behind which every source of credentials sits: the
 * cache (client/cache.c) calls fetch() when it needs a new token and knows
 * nothing else of where tokens come from. A source is one file that fills
 * a struct mtk__fetcher; client.c picks which and owns it. Never installed.
 *
 *	cache.c --> struct mtk__fetcher --> fetch_gce.c, fetch_imds.c, fetch_iam.c
 *	                                        |
 *	                                        v
 *	                                retry.c --> struct mtk_transport
 */
#ifndef METATOKEN_CLIENT_FETCHER_H
#define METATOKEN_CLIENT_FETCHER_H

#include <stddef.h>
#include <stdint.h>

#include "metatoken/metatoken.h"

struct mtk__token_doc;
struct mtk__retry;

struct mtk__fetcher {
	/*
	 * One fetch. On MTK_OK *doc holds the token (or the AWS set) and
	 * *sent_ms the monotonic time the request that got it was sent: its
	 * lifetime counts from then, the conservative end. Otherwise detail
	 * says what failed, where and why (never a secret), and *doc is
	 * untouched. Called by one thread at a time, under no lock.
	 */
	enum mtk_status (*fetch)(void *self, struct mtk__token_doc *doc, int64_t *sent_ms,
	                         char *detail, size_t detail_len);
	/* Wipes and frees self. Called once, after the last fetch ended. */
	void (*free)(void *self);
	void *self;
	/* Where tokens come from, for messages (mtk_client_token_url). Valid
	 * until free. */
	const char *where;
};

/*
 * The GCE (and Yandex) metadata service (fetch_gce.c): GET
 * <endpoint>/computeMetadata/v1/instance/service-accounts/<account>/token.
 * endpoint as in mtk_client_options (NULL: the environment, then the
 * link-local address); account already checked. r is borrowed: it must
 * outlive the fetcher.
 */
enum mtk_status mtk__fetcher_gce_new(const char *endpoint, const char *account,
                                     struct mtk__retry *r, struct mtk__fetcher *out);

/*
 * EC2 IMDS role credentials (fetch_imds.c), as metatoken/aws.h describes:
 * role NULL to look it up. min_refresh_interval_ms sets how long a failed
 * IMDSv2 PUT is not tried again. r is borrowed.
 */
enum mtk_status mtk__fetcher_imds_new(const char *endpoint, const char *role, int64_t session_ttl_s,
                                      int64_t min_refresh_interval_ms, struct mtk__retry *r,
                                      struct mtk__fetcher *out);

/*
 * The Yandex IAM exchange (fetch_iam.c): the authorized-key file at
 * key_file is read now (common/authkey.h); each fetch signs a PS256 JWT
 * with it and POSTs {"jwt"} to the endpoint (NULL: $METATOKEN_IAM_ENDPOINT,
 * else MTK__IAM_DEFAULT_ENDPOINT), as mtk_client_options.key_file
 * describes. MTK_ERR_BAD_KEY_FILE or MTK_ERR_BAD_ENDPOINT (the option's
 * or the variable's) with a one-line reason in err.
 * r is borrowed.
 */
#define MTK__IAM_DEFAULT_ENDPOINT "https://iam.api.cloud.yandex.net/iam/v1/tokens"
#define MTK__IAM_AUDIENCE         "https://iam.api.cloud.yandex.net/iam/v1/tokens"
#define MTK__IAM_JWT_LIFETIME_S   3600
#define MTK__IAM_MAX_LIFETIME_S   (12 * 3600) /* IAM tokens live at most 12 h */
enum mtk_status mtk__fetcher_iam_new(const char *key_file, const char *endpoint,
                                     struct mtk__retry *r, struct mtk__fetcher *out, char *err,
                                     size_t errlen);

/* MTK_OK when url is http(s)://host[:port][/path] with no user info,
 * query, fragment, space or control character, at most 2048 bytes. */
enum mtk_status mtk__iam_endpoint_check(const char *url);

/*
 * Parses an IAM answer {"iamToken","expiresAt"} (len bytes, untrusted)
 * into a token doc whose lifetime is expiresAt - sent_wall_ms, cut to
 * MTK__IAM_MAX_LIFETIME_S. MTK_ERR_BAD_JSON, MTK_ERR_IAM_MISSING_FIELD,
 * MTK_ERR_BAD_ACCESS_TOKEN, MTK_ERR_BAD_EXPIRES_AT (also when expiresAt
 * is not at least 1 s after sent_wall_ms), with a reason in why.
 */
enum mtk_status mtk__iam_parse(const char *body, size_t len, int64_t sent_wall_ms,
                               struct mtk__token_doc *out, char *why, size_t whylen);

#endif
