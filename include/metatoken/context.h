/*
 * The invocation context: what a function handler receives as its second
 * argument, with the fields of Yandex Cloud Functions' and AWS Lambda's
 * context objects, a deadline, and the service account's token for this
 * invocation.
 *
 *	struct mtk_context *ctx;
 *
 *	mtk_context_from_env(&(struct mtk_context_overrides){
 *		.request_id = id, .aws_request_id = id, .deadline_ms = deadline }, &ctx);
 *	mtk_context_inject_token(ctx, client);   // client shared by invocations
 *	handler(event, ctx);
 *	mtk_context_free(ctx);
 *
 * Ownership: a context owns copies of every string set on it; getters return
 * pointers valid until the field is set again or the context is freed.
 * Contexts are cheap (one small allocation per set field) and meant to be
 * made per invocation. Calls on one context are not synchronised: one
 * invocation, one thread, or the caller's own lock.
 *
 * JSON shape (mtk_context_to_json), the field names of the seeds; an unset
 * string field is null, as AWS's log_stream_name is when there is none:
 *
 *   {"function_name": s, "function_version": s, "memory_limit_in_mb": n,
 *    "request_id": s,
 *    "token": {"access_token": s, "expires_in": n, "token_type": "Bearer"},
 *    "invoked_function_arn": s, "aws_request_id": s,
 *    "log_group_name": s, "log_stream_name": s,
 *    "identity": {"cognito_identity_id": s, "cognito_identity_pool_id": s},
 *    "client_context": {"client": {"installation_id": s, "app_title": s,
 *        "app_version_name": s, "app_version_code": s, "app_package_name": s},
 *        "custom": {...}, "env": {...}},
 *    "deadline_ms": n}
 *
 * A function without a service account has no token: "token" is null, never
 * an empty object or an empty string. "identity" and "client_context" are
 * null when none of their fields is set (the AWS "It can be null").
 * "memory_limit_in_mb" and "deadline_ms" are null when unset.
 */
#ifndef METATOKEN_CONTEXT_H
#define METATOKEN_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "metatoken/metatoken.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The string fields: X(enumerator, JSON path). Append-only. */
#define MTK_CONTEXT_FIELD_MAP(X)                                                                   \
	X(MTK_CTX_FUNCTION_NAME, "function_name")                                                  \
	X(MTK_CTX_FUNCTION_VERSION, "function_version")                                            \
	X(MTK_CTX_REQUEST_ID, "request_id")                                                        \
	X(MTK_CTX_INVOKED_FUNCTION_ARN, "invoked_function_arn")                                    \
	X(MTK_CTX_AWS_REQUEST_ID, "aws_request_id")                                                \
	X(MTK_CTX_LOG_GROUP_NAME, "log_group_name")                                                \
	X(MTK_CTX_LOG_STREAM_NAME, "log_stream_name")                                              \
	X(MTK_CTX_COGNITO_IDENTITY_ID, "identity.cognito_identity_id")                             \
	X(MTK_CTX_COGNITO_IDENTITY_POOL_ID, "identity.cognito_identity_pool_id")                   \
	X(MTK_CTX_CLIENT_INSTALLATION_ID, "client_context.client.installation_id")                 \
	X(MTK_CTX_CLIENT_APP_TITLE, "client_context.client.app_title")                             \
	X(MTK_CTX_CLIENT_APP_VERSION_NAME, "client_context.client.app_version_name")               \
	X(MTK_CTX_CLIENT_APP_VERSION_CODE, "client_context.client.app_version_code")               \
	X(MTK_CTX_CLIENT_APP_PACKAGE_NAME, "client_context.client.app_package_name")

enum mtk_context_field {
#define MTK_CONTEXT_FIELD_ENUM_(name, path) name,
	MTK_CONTEXT_FIELD_MAP(MTK_CONTEXT_FIELD_ENUM_)
#undef MTK_CONTEXT_FIELD_ENUM_
	    MTK_CTX_FIELD_COUNT_ /* not a field */
};

struct mtk_context;

/* Creates an empty context: every field unset, no token, no deadline. */
MTK_EXPORT enum mtk_status mtk_context_new(struct mtk_context **out);

/*
 * Values that take precedence over the environment in
 * mtk_context_from_env(). NULL strings and zero numbers mean "not
 * overridden"; designated initializers work.
 */
struct mtk_context_overrides {
	const char *function_name;
	const char *function_version;
	int64_t memory_limit_in_mb;
	const char *log_group_name;
	const char *log_stream_name;
	const char *request_id;
	const char *aws_request_id;
	const char *invoked_function_arn;
	int64_t deadline_ms; /* ms since the Unix epoch */
};

/*
 * Creates a context from the variables the real runtimes set:
 * AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION,
 * AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME and
 * AWS_LAMBDA_LOG_STREAM_NAME, then applies ov (may be NULL). Empty variables
 * count as unset. MTK_ERR_BAD_ENVIRONMENT when AWS_LAMBDA_FUNCTION_MEMORY_SIZE
 * is set, not overridden, and not a positive integer.
 */
MTK_EXPORT enum mtk_status mtk_context_from_env(const struct mtk_context_overrides *ov,
                                                struct mtk_context **out);

/* Wipes the token and frees the context. No operation is performed if ctx is NULL. */
MTK_EXPORT void mtk_context_free(struct mtk_context *ctx);

/* Sets a string field to a copy of value; NULL unsets it. */
MTK_EXPORT enum mtk_status mtk_context_set(struct mtk_context *ctx, enum mtk_context_field f,
                                           const char *value);
/* The field's value, or NULL when unset (or f is out of range). */
MTK_EXPORT const char *mtk_context_get(const struct mtk_context *ctx, enum mtk_context_field f);
/* The field's JSON path ("identity.cognito_identity_id"), or NULL. */
MTK_EXPORT const char *mtk_context_field_name(enum mtk_context_field f);

/* Memory limit in MB: > 0 sets it, 0 unsets it, negative is invalid. */
MTK_EXPORT enum mtk_status mtk_context_set_memory_limit_mb(struct mtk_context *ctx, int64_t mb);
MTK_EXPORT int64_t mtk_context_memory_limit_mb(const struct mtk_context *ctx); /* 0: unset */

/* The invocation's deadline, ms since the Unix epoch (the runtime API's
 * Lambda-Runtime-Deadline-Ms). 0 unsets it; negative is invalid. */
MTK_EXPORT enum mtk_status mtk_context_set_deadline_ms(struct mtk_context *ctx, int64_t epoch_ms);
MTK_EXPORT int64_t mtk_context_deadline_ms(const struct mtk_context *ctx); /* 0: unset */

/*
 * get_remaining_time_in_millis(): the deadline minus the wall clock now, in
 * ms, clamped at 0; 0 when no deadline is set. The deadline is an epoch
 * time, so this reads the wall clock, never a monotonic one.
 */
MTK_EXPORT int64_t mtk_context_remaining_ms(const struct mtk_context *ctx);
/* The same at a given wall time (ms since the epoch). */
MTK_EXPORT int64_t mtk_context_remaining_ms_at(const struct mtk_context *ctx, int64_t now_ms);

/*
 * Sets the AWS client_context from the JSON document of the runtime API's
 * Lambda-Runtime-Client-Context header: {"client": {...}, "custom": {...},
 * "env": {...}}, every member optional. Unknown members are ignored; custom
 * and env are kept as given (objects only). NULL clears client_context.
 * MTK_ERR_BAD_JSON when the text is not such an object (nothing changes).
 */
MTK_EXPORT enum mtk_status mtk_context_set_client_context_json(struct mtk_context *ctx,
                                                               const char *json);

/*
 * Sets identity from the Lambda-Runtime-Cognito-Identity header's document
 * {"cognitoIdentityId": s, "cognitoIdentityPoolId": s}, as AWS sends it, or
 * {"cognito_identity_id": s, "cognito_identity_pool_id": s}. NULL clears it.
 */
MTK_EXPORT enum mtk_status mtk_context_set_identity_json(struct mtk_context *ctx, const char *json);

/*
 * Fills the context's token from the client for this invocation, with
 * expires_in computed now from the client's cached expiry. On failure the
 * context has no token (a token from an earlier call is removed) and the
 * client's status is returned; MTK_ERR_NO_SUCH_ACCOUNT means the function
 * has no service account.
 */
MTK_EXPORT enum mtk_status mtk_context_inject_token(struct mtk_context *ctx,
                                                    struct mtk_client *client);

/*
 * Sets the token from a token document {"access_token","expires_in",
 * "token_type"} (Yandex's Lambda-Runtime-Token-Json header), validated as a
 * metadata response is. On failure the context has no token.
 */
MTK_EXPORT enum mtk_status mtk_context_set_token_json(struct mtk_context *ctx, const char *json);

/*
 * The invocation's X-Ray trace header (the Runtime API's
 * Lambda-Runtime-Trace-Id), copied; NULL unsets it. It is not part of the
 * JSON shape: no seed names it (AWS runtimes hand it over in
 * $_X_AMZN_TRACE_ID instead).
 */
MTK_EXPORT enum mtk_status mtk_context_set_trace_id(struct mtk_context *ctx, const char *value);
/* The trace header, or NULL when unset. */
MTK_EXPORT const char *mtk_context_trace_id(const struct mtk_context *ctx);

/* Removes (and wipes) the token. */
MTK_EXPORT void mtk_context_clear_token(struct mtk_context *ctx);

MTK_EXPORT bool mtk_context_has_token(const struct mtk_context *ctx);
/* The token's fields, or NULL / 0 when the context has none. */
MTK_EXPORT const char *mtk_context_token_access_token(const struct mtk_context *ctx);
MTK_EXPORT const char *mtk_context_token_type(const struct mtk_context *ctx);
MTK_EXPORT int64_t mtk_context_token_expires_in_s(const struct mtk_context *ctx);

/*
 * Serialises the context (shape above) into *json, a NUL-terminated string
 * the caller frees with mtk_json_free() (it may hold the token).
 */
MTK_EXPORT enum mtk_status mtk_context_to_json(const struct mtk_context *ctx, char **json);

#ifdef __cplusplus
}
#endif

#endif
