/*
 * libmetatoken's AWS flavour: role credentials from the EC2 instance
 * metadata service (IMDS), from metatokend, or from a real EC2 instance.
 *
 *	struct mtk_client_options o = MTK_CLIENT_OPTIONS_INIT;
 *	struct mtk_client *c;
 *	struct mtk_token *t;
 *
 *	o.flavour = MTK_FLAVOUR_AWS;
 *	if (mtk_client_new(&o, &c))
 *		...;
 *	if (mtk_client_get_token(c, &t) == MTK_OK) {
 *		sign_with(mtk_token_aws_access_key_id(t), mtk_token_aws_secret_access_key(t),
 *		          mtk_token_aws_session_token(t));
 *		mtk_token_free(t);
 *	}
 *
 * The flavour is chosen by the .flavour option, or, when that is left at
 * MTK_FLAVOUR_AUTO, by $AWS_EC2_METADATA_SERVICE_ENDPOINT being set (and
 * neither $YC_METADATA_ADDR nor $GCE_METADATA_HOST, which metatokend's
 * banner exports alongside it and which keep the GCE flavour). The
 * endpoint is .endpoint, else $AWS_EC2_METADATA_SERVICE_ENDPOINT (a URL
 * such as http://127.0.0.1:8169/), else 169.254.169.254.
 *
 * A fetch, as botocore does it:
 * 1. IMDSv2 session: PUT /latest/api/token with
 *    X-aws-ec2-metadata-token-ttl-seconds (.aws_session_ttl_s, 21600). The
 *    session is kept and reused until less than a tenth of its TTL (at most
 *    60 s) is left, then renewed. Like the SDKs, the PUT gets one attempt
 *    of at most 1 s (less if .request_timeout_ms is). A 400 ends the fetch
 *    with MTK_ERR_HTTP_CLIENT: no credentials (the SDKs give up too). 401,
 *    5xx and other answers make this fetch go on without a session
 *    (IMDSv1); the next fetch tries the PUT again. No answer (a timeout or
 *    a refused connection), 403, 404 or 405 make it go on without one too,
 *    and no PUT is tried for 10 * .min_refresh_interval_ms (5 minutes by
 *    default; the Node SDK never tries again): a stalled PUT does not cost
 *    every fetch its second. A 401 to a request without a session (the
 *    server is IMDSv2-only) ends that pause: a fetch that had skipped the
 *    PUT starts over with one, once.
 * 2. GET /latest/meta-data/iam/security-credentials/ for the role name
 *    (once; then kept), unless .account names the role.
 * 3. GET .../security-credentials/<role>: AccessKeyId, SecretAccessKey,
 *    Token and Expiration ("YYYY-MM-DDTHH:MM:SSZ") must all be strings; the
 *    credentials' remaining life is Expiration minus the wall clock.
 * A 401 on 2 or 3 while using a session (the server forgot it, or it
 * expired early) drops the session and runs the fetch once more with a new
 * one. Requests 2 and 3 have the fetch's retry rules; all share its
 * budget.
 *
 * Caching is the GCE flavour's (metatoken.h): one set per client, single
 * flight, refresh ahead of expiry, the last good set kept on failure,
 * min_refresh_interval_ms between attempts. mtk_client_authorization_header
 * answers MTK_ERR_WRONG_FLAVOUR: AWS requests are signed, not bearer.
 */
#ifndef METATOKEN_AWS_H
#define METATOKEN_AWS_H

#include "metatoken/metatoken.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The client's flavour, after MTK_FLAVOUR_AUTO was resolved. */
MTK_EXPORT enum mtk_flavour mtk_client_flavour(const struct mtk_client *c);

/* The set's parts, NUL-terminated; NULL for a token of the GCE flavour.
 * The session token is also mtk_token_access_token(t). Expiry: see
 * mtk_token_expires_at_ms() and mtk_token_expires_in_ms(). */
MTK_EXPORT const char *mtk_token_aws_access_key_id(const struct mtk_token *t);
MTK_EXPORT const char *mtk_token_aws_secret_access_key(const struct mtk_token *t);
MTK_EXPORT const char *mtk_token_aws_session_token(const struct mtk_token *t);

#ifdef __cplusplus
}
#endif

#endif
