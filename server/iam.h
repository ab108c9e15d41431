/*
 * The Yandex IAM flavour (PROTOCOL.md §4): POST /iam/v1/tokens exchanges a
 * JWT signed with a service account's authorized key (authkeys.h) for that
 * account's access token, the very token its GCE token endpoint serves (the
 * account's reissuing slot), so that /protected/, /tokeninfo and the
 * control API's revoke and expire apply to it.
 *
 *   request  {"jwt": "<header>.<claims>.<signature>"}
 *   200      {"iamToken": "t1...", "expiresAt": "2026-11-30T20:51:08.123000000Z"}
 *   400/401  {"code": 3|16, "message": "<which check failed>",
 *             "details": [{"@type": "type.googleapis.com/google.rpc.RequestInfo",
 *                          "requestId": "<uuid>"}]}
 *
 * Errors have the shape of Yandex's REST APIs (google.rpc.Status as JSON):
 * 400 with code 3 (INVALID_ARGUMENT) when the request is malformed, 401
 * with code 16 (UNAUTHENTICATED) when a well-formed JWT is refused.
 */
#ifndef METATOKEN_SERVER_IAM_H
#define METATOKEN_SERVER_IAM_H

#include <stdint.h>

#define IAM_AUDIENCE       "https://iam.api.cloud.yandex.net/iam/v1/tokens"
#define IAM_JWT_MAX_LIFE_S 3600  /* exp - iat, at most */
#define IAM_SKEW_MS        60000 /* how far in the future iat may be */
#define IAM_REPLAY_MAX     16384 /* JWTs remembered (until their exp) against replay */
#define IAM_TIME_SIZE      48    /* room for any iam_format_time() answer */

struct request;
struct iam; /* the exchange's state: the JWTs seen */

/* New state, or NULL when out of memory. */
struct iam *iam_new(void);
/* No operation is performed if iam is NULL. */
void iam_free(struct iam *iam);

/*
 * Writes ms since the epoch as Yandex writes times: RFC 3339 in UTC with
 * nine digits of fraction, "2026-11-30T20:51:08.123000000Z".
 */
void iam_format_time(int64_t ms, char out[IAM_TIME_SIZE]);

/* POST /iam/v1/tokens. */
void iam_tokens_post(struct request *rq);

/* The flavour's error shape (route.h) for 404, 405, refusals and faults. */
void iam_flavour_error(struct request *rq, unsigned status, const char *text);

#endif
