/*
 * The invocation context (include/metatoken/context.h): fields, deadline,
 * token, and the JSON a non-C runtime would receive.
 */
#include "metatoken/context.h"
#include "private/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

struct mtk_context {
	char *fields[MTK_CTX_FIELD_COUNT_];
	int64_t memory_limit_mb; /* 0: unset */
	int64_t deadline_ms;     /* 0: unset */
	cJSON *custom;           /* client_context.custom, an object, or NULL */
	cJSON *env;              /* client_context.env, an object, or NULL */
	char *token;             /* NULL: no token */
	size_t token_len;
	int64_t token_expires_in_s;
	char *trace_id; /* not in the JSON */
};

static const char *const field_paths[] = {
#define PATH_(name, path) [name] = path,
	MTK_CONTEXT_FIELD_MAP(PATH_)
#undef PATH_
};

/* The JSON member name of a field: its path's last component. */
static const char *leaf(enum mtk_context_field f)
{
	const char *dot = strrchr(field_paths[f], '.');

	return dot ? dot + 1 : field_paths[f];
}

static int field_ok(enum mtk_context_field f)
{
	return (unsigned)f < MTK_CTX_FIELD_COUNT_;
}

enum mtk_status mtk_context_new(struct mtk_context **out)
{
	struct mtk_context *ctx;

	if (!out)
		return MTK_ERR_INVALID_ARGUMENT;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return MTK_ERR_NO_MEMORY;
	*out = ctx;
	return MTK_OK;
}

void mtk_context_clear_token(struct mtk_context *ctx)
{
	if (!ctx || !ctx->token)
		return;
	OPENSSL_cleanse(ctx->token, ctx->token_len);
	free(ctx->token);
	ctx->token = NULL;
	ctx->token_len = 0;
	ctx->token_expires_in_s = 0;
}

void mtk_context_free(struct mtk_context *ctx)
{
	size_t i;

	if (!ctx)
		return;
	mtk_context_clear_token(ctx);
	for (i = 0; i < MTK_CTX_FIELD_COUNT_; i++)
		free(ctx->fields[i]);
	cJSON_Delete(ctx->custom);
	cJSON_Delete(ctx->env);
	free(ctx->trace_id);
	free(ctx);
}

enum mtk_status mtk_context_set(struct mtk_context *ctx, enum mtk_context_field f,
                                const char *value)
{
	char *copy = NULL;

	if (!ctx || !field_ok(f))
		return MTK_ERR_INVALID_ARGUMENT;
	if (value && !(copy = strdup(value)))
		return MTK_ERR_NO_MEMORY;
	free(ctx->fields[f]);
	ctx->fields[f] = copy;
	return MTK_OK;
}

const char *mtk_context_get(const struct mtk_context *ctx, enum mtk_context_field f)
{
	if (!ctx || !field_ok(f))
		return NULL;
	return ctx->fields[f];
}

const char *mtk_context_field_name(enum mtk_context_field f)
{
	return field_ok(f) ? field_paths[f] : NULL;
}

enum mtk_status mtk_context_set_memory_limit_mb(struct mtk_context *ctx, int64_t mb)
{
	if (!ctx || mb < 0)
		return MTK_ERR_INVALID_ARGUMENT;
	ctx->memory_limit_mb = mb;
	return MTK_OK;
}

enum mtk_status mtk_context_set_trace_id(struct mtk_context *ctx, const char *value)
{
	char *copy = NULL;

	if (!ctx)
		return MTK_ERR_INVALID_ARGUMENT;
	if (value && !(copy = strdup(value)))
		return MTK_ERR_NO_MEMORY;
	free(ctx->trace_id);
	ctx->trace_id = copy;
	return MTK_OK;
}

const char *mtk_context_trace_id(const struct mtk_context *ctx)
{
	return ctx ? ctx->trace_id : NULL;
}

int64_t mtk_context_memory_limit_mb(const struct mtk_context *ctx)
{
	return ctx ? ctx->memory_limit_mb : 0;
}

enum mtk_status mtk_context_set_deadline_ms(struct mtk_context *ctx, int64_t epoch_ms)
{
	if (!ctx || epoch_ms < 0)
		return MTK_ERR_INVALID_ARGUMENT;
	ctx->deadline_ms = epoch_ms;
	return MTK_OK;
}

int64_t mtk_context_deadline_ms(const struct mtk_context *ctx)
{
	return ctx ? ctx->deadline_ms : 0;
}

int64_t mtk_context_remaining_ms_at(const struct mtk_context *ctx, int64_t now_ms)
{
	if (!ctx || ctx->deadline_ms <= 0 || now_ms >= ctx->deadline_ms)
		return 0;
	return ctx->deadline_ms - now_ms;
}

int64_t mtk_context_remaining_ms(const struct mtk_context *ctx)
{
	return mtk_context_remaining_ms_at(ctx, mtk__wall_ms(NULL));
}

/* A positive decimal integer, nothing else, or -1. */
static int64_t parse_positive(const char *s)
{
	int64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v > 0 ? v : -1;
}

static const char *env_or_null(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

enum mtk_status mtk_context_from_env(const struct mtk_context_overrides *ov,
                                     struct mtk_context **out)
{
	static const struct mtk_context_overrides none = { 0 };
	const struct {
		enum mtk_context_field f;
		const char *over;
		const char *var;
	} strings[] = {
		{ MTK_CTX_FUNCTION_NAME, (ov ? ov : &none)->function_name,
		  "AWS_LAMBDA_FUNCTION_NAME" },
		{ MTK_CTX_FUNCTION_VERSION, (ov ? ov : &none)->function_version,
		  "AWS_LAMBDA_FUNCTION_VERSION" },
		{ MTK_CTX_LOG_GROUP_NAME, (ov ? ov : &none)->log_group_name,
		  "AWS_LAMBDA_LOG_GROUP_NAME" },
		{ MTK_CTX_LOG_STREAM_NAME, (ov ? ov : &none)->log_stream_name,
		  "AWS_LAMBDA_LOG_STREAM_NAME" },
		{ MTK_CTX_REQUEST_ID, (ov ? ov : &none)->request_id, NULL },
		{ MTK_CTX_AWS_REQUEST_ID, (ov ? ov : &none)->aws_request_id, NULL },
		{ MTK_CTX_INVOKED_FUNCTION_ARN, (ov ? ov : &none)->invoked_function_arn, NULL },
	};
	struct mtk_context *ctx;
	enum mtk_status st;
	const char *v;
	int64_t mb;
	size_t i;

	if (!out)
		return MTK_ERR_INVALID_ARGUMENT;
	if (!ov)
		ov = &none;
	if (ov->memory_limit_in_mb < 0 || ov->deadline_ms < 0)
		return MTK_ERR_INVALID_ARGUMENT;
	mb = ov->memory_limit_in_mb;
	if (!mb && (v = env_or_null("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")) &&
	    (mb = parse_positive(v)) < 0)
		return MTK_ERR_BAD_ENVIRONMENT;

	if ((st = mtk_context_new(&ctx)) != MTK_OK)
		return st;
	for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		v = strings[i].over  ? strings[i].over
		    : strings[i].var ? env_or_null(strings[i].var)
		                     : NULL;
		if (v && (st = mtk_context_set(ctx, strings[i].f, v)) != MTK_OK) {
			mtk_context_free(ctx);
			return st;
		}
	}
	ctx->memory_limit_mb = mb;
	ctx->deadline_ms = ov->deadline_ms;
	*out = ctx;
	return MTK_OK;
}

/* The string member `name` of obj: NULL if absent or null, *bad if another type. */
static const char *opt_string(const cJSON *obj, const char *name, int *bad)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (!item || cJSON_IsNull(item))
		return NULL;
	if (!cJSON_IsString(item)) {
		*bad = 1;
		return NULL;
	}
	return item->valuestring;
}

/*
 * Sets the fields [first, last] from the members of obj (NULL: unset them
 * all). All or nothing.
 */
static enum mtk_status set_group(struct mtk_context *ctx, const cJSON *obj,
                                 enum mtk_context_field first, enum mtk_context_field last)
{
	char *vals[MTK_CTX_FIELD_COUNT_] = { 0 };
	const char *v;
	int bad = 0, f;

	for (f = first; f <= (int)last; f++) {
		v = obj ? opt_string(obj, leaf(f), &bad) : NULL;
		if (bad)
			goto out_free;
		if (v && !(vals[f] = strdup(v)))
			goto out_free;
	}
	for (f = first; f <= (int)last; f++) {
		free(ctx->fields[f]);
		ctx->fields[f] = vals[f];
	}
	return MTK_OK;

out_free:
	for (f = first; f <= (int)last; f++)
		free(vals[f]);
	return bad ? MTK_ERR_BAD_JSON : MTK_ERR_NO_MEMORY;
}

/*
 * *out = a deep copy of obj's member `name` when it is an object, NULL when
 * absent or null. Returns MTK_OK, MTK_ERR_BAD_JSON for another type, or
 * MTK_ERR_NO_MEMORY.
 */
static enum mtk_status opt_object(const cJSON *obj, const char *name, cJSON **out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = NULL;
	if (!item || cJSON_IsNull(item))
		return MTK_OK;
	if (!cJSON_IsObject(item))
		return MTK_ERR_BAD_JSON;
	*out = cJSON_Duplicate(item, 1);
	return *out ? MTK_OK : MTK_ERR_NO_MEMORY;
}

enum mtk_status mtk_context_set_client_context_json(struct mtk_context *ctx, const char *json)
{
	cJSON *root = NULL, *custom = NULL, *env = NULL;
	const cJSON *client = NULL;
	enum mtk_status st = MTK_ERR_BAD_JSON;

	if (!ctx)
		return MTK_ERR_INVALID_ARGUMENT;
	if (json) {
		root = cJSON_Parse(json);
		if (!cJSON_IsObject(root))
			goto out_delete;
		client = cJSON_GetObjectItemCaseSensitive(root, "client");
		if (cJSON_IsNull(client))
			client = NULL;
		if (client && !cJSON_IsObject(client))
			goto out_delete;
		if ((st = opt_object(root, "custom", &custom)) != MTK_OK ||
		    (st = opt_object(root, "env", &env)) != MTK_OK)
			goto out_delete;
	}
	st =
	    set_group(ctx, client, MTK_CTX_CLIENT_INSTALLATION_ID, MTK_CTX_CLIENT_APP_PACKAGE_NAME);
	if (st != MTK_OK)
		goto out_delete;
	cJSON_Delete(ctx->custom);
	cJSON_Delete(ctx->env);
	ctx->custom = custom;
	ctx->env = env;
	custom = env = NULL;

out_delete:
	cJSON_Delete(custom);
	cJSON_Delete(env);
	cJSON_Delete(root);
	return st;
}

/* Renames obj's member camel to snake unless snake is there. 0: out of memory. */
static int camel_to_snake(cJSON *obj, const char *camel, const char *snake)
{
	cJSON *item;

	if (cJSON_GetObjectItemCaseSensitive(obj, snake) ||
	    !(item = cJSON_DetachItemFromObjectCaseSensitive(obj, camel)))
		return 1;
	if (!cJSON_AddItemToObject(obj, snake, item)) {
		cJSON_Delete(item);
		return 0;
	}
	return 1;
}

enum mtk_status mtk_context_set_identity_json(struct mtk_context *ctx, const char *json)
{
	enum mtk_status st;
	cJSON *root = NULL;

	if (!ctx)
		return MTK_ERR_INVALID_ARGUMENT;
	if (json) {
		root = cJSON_Parse(json);
		if (!cJSON_IsObject(root)) {
			cJSON_Delete(root);
			return MTK_ERR_BAD_JSON;
		}
		/* AWS's header spells them cognitoIdentityId and
		 * cognitoIdentityPoolId (awslambdaric reads those). */
		if (!camel_to_snake(root, "cognitoIdentityId", "cognito_identity_id") ||
		    !camel_to_snake(root, "cognitoIdentityPoolId", "cognito_identity_pool_id")) {
			cJSON_Delete(root);
			return MTK_ERR_NO_MEMORY;
		}
	}
	st = set_group(ctx, root, MTK_CTX_COGNITO_IDENTITY_ID, MTK_CTX_COGNITO_IDENTITY_POOL_ID);
	cJSON_Delete(root);
	return st;
}

/* Takes ownership of token (malloc'd). */
static void set_token(struct mtk_context *ctx, char *token, size_t len, int64_t expires_in_s)
{
	mtk_context_clear_token(ctx);
	ctx->token = token;
	ctx->token_len = len;
	ctx->token_expires_in_s = expires_in_s;
}

enum mtk_status mtk_context_inject_token(struct mtk_context *ctx, struct mtk_client *client)
{
	struct mtk_token *t = NULL;
	enum mtk_status st;
	int64_t expires_in_s;
	size_t len;
	char *copy;

	if (!ctx || !client)
		return MTK_ERR_INVALID_ARGUMENT;
	mtk_context_clear_token(ctx);
	if ((st = mtk_client_get_token(client, &t)) != MTK_OK)
		return st;
	len = mtk_token_access_token_len(t);
	copy = malloc(len + 1);
	if (!copy) {
		mtk_token_free(t);
		return MTK_ERR_NO_MEMORY;
	}
	memcpy(copy, mtk_token_access_token(t), len + 1);
	/* Whole seconds left now; never 0, which some clients read as "never
	 * expires". */
	expires_in_s = mtk_token_expires_in_ms(t) / 1000;
	set_token(ctx, copy, len, expires_in_s > 0 ? expires_in_s : 1);
	mtk_token_free(t);
	return MTK_OK;
}

enum mtk_status mtk_context_set_token_json(struct mtk_context *ctx, const char *json)
{
	struct mtk__token_doc doc = { 0 };
	enum mtk_status st;

	if (!ctx)
		return MTK_ERR_INVALID_ARGUMENT;
	mtk_context_clear_token(ctx);
	if (!json)
		return MTK_ERR_INVALID_ARGUMENT;
	st = mtk__token_parse(json, strlen(json), &doc, NULL, 0);
	if (st != MTK_OK)
		return st;
	set_token(ctx, doc.access_token, doc.access_token_len, doc.expires_in_s);
	return MTK_OK;
}

bool mtk_context_has_token(const struct mtk_context *ctx)
{
	return ctx && ctx->token;
}

const char *mtk_context_token_access_token(const struct mtk_context *ctx)
{
	return ctx ? ctx->token : NULL;
}

const char *mtk_context_token_type(const struct mtk_context *ctx)
{
	return ctx && ctx->token ? "Bearer" : NULL;
}

int64_t mtk_context_token_expires_in_s(const struct mtk_context *ctx)
{
	return ctx && ctx->token ? ctx->token_expires_in_s : 0;
}

/* Adds value (or null) under name. Returns 0, or -1 when out of memory. */
static int add_string(cJSON *obj, const char *name, const char *value)
{
	return (value ? cJSON_AddStringToObject(obj, name, value)
	              : cJSON_AddNullToObject(obj, name))
	           ? 0
	           : -1;
}

static int add_number(cJSON *obj, const char *name, int64_t v)
{
	return (v ? cJSON_AddNumberToObject(obj, name, (double)v)
	          : cJSON_AddNullToObject(obj, name))
	           ? 0
	           : -1;
}

static int any_set(const struct mtk_context *ctx, int first, int last)
{
	int f;

	for (f = first; f <= last; f++)
		if (ctx->fields[f])
			return 1;
	return 0;
}

/* Adds the fields [first, last] to obj under their leaf names. */
static int add_group(cJSON *obj, const struct mtk_context *ctx, int first, int last)
{
	int f;

	for (f = first; f <= last; f++)
		if (add_string(obj, leaf(f), ctx->fields[f]))
			return -1;
	return 0;
}

/*
 * Builds the tree. Each object is attached to its parent as soon as it is
 * made, so one cJSON_Delete(root) frees everything on any path.
 */
static int build(cJSON *root, const struct mtk_context *ctx)
{
	cJSON *tok, *identity, *cc, *client, *copy;

	if (add_string(root, "function_name", ctx->fields[MTK_CTX_FUNCTION_NAME]) ||
	    add_string(root, "function_version", ctx->fields[MTK_CTX_FUNCTION_VERSION]) ||
	    add_number(root, "memory_limit_in_mb", ctx->memory_limit_mb) ||
	    add_string(root, "request_id", ctx->fields[MTK_CTX_REQUEST_ID]))
		return -1;
	if (ctx->token) {
		if (!(tok = cJSON_AddObjectToObject(root, "token")) ||
		    !cJSON_AddStringToObject(tok, "access_token", ctx->token) ||
		    !cJSON_AddNumberToObject(tok, "expires_in", (double)ctx->token_expires_in_s) ||
		    !cJSON_AddStringToObject(tok, "token_type", "Bearer"))
			return -1;
	} else if (!cJSON_AddNullToObject(root, "token")) {
		return -1;
	}
	if (add_string(root, "invoked_function_arn", ctx->fields[MTK_CTX_INVOKED_FUNCTION_ARN]) ||
	    add_string(root, "aws_request_id", ctx->fields[MTK_CTX_AWS_REQUEST_ID]) ||
	    add_string(root, "log_group_name", ctx->fields[MTK_CTX_LOG_GROUP_NAME]) ||
	    add_string(root, "log_stream_name", ctx->fields[MTK_CTX_LOG_STREAM_NAME]))
		return -1;

	if (any_set(ctx, MTK_CTX_COGNITO_IDENTITY_ID, MTK_CTX_COGNITO_IDENTITY_POOL_ID)) {
		if (!(identity = cJSON_AddObjectToObject(root, "identity")) ||
		    add_group(identity, ctx, MTK_CTX_COGNITO_IDENTITY_ID,
		              MTK_CTX_COGNITO_IDENTITY_POOL_ID))
			return -1;
	} else if (!cJSON_AddNullToObject(root, "identity")) {
		return -1;
	}

	if (any_set(ctx, MTK_CTX_CLIENT_INSTALLATION_ID, MTK_CTX_CLIENT_APP_PACKAGE_NAME) ||
	    ctx->custom || ctx->env) {
		if (!(cc = cJSON_AddObjectToObject(root, "client_context")) ||
		    !(client = cJSON_AddObjectToObject(cc, "client")) ||
		    add_group(client, ctx, MTK_CTX_CLIENT_INSTALLATION_ID,
		              MTK_CTX_CLIENT_APP_PACKAGE_NAME))
			return -1;
		copy = ctx->custom ? cJSON_Duplicate(ctx->custom, 1) : cJSON_CreateObject();
		if (!copy || !cJSON_AddItemToObject(cc, "custom", copy)) {
			cJSON_Delete(copy);
			return -1;
		}
		copy = ctx->env ? cJSON_Duplicate(ctx->env, 1) : cJSON_CreateObject();
		if (!copy || !cJSON_AddItemToObject(cc, "env", copy)) {
			cJSON_Delete(copy);
			return -1;
		}
	} else if (!cJSON_AddNullToObject(root, "client_context")) {
		return -1;
	}
	return add_number(root, "deadline_ms", ctx->deadline_ms);
}

enum mtk_status mtk_context_to_json(const struct mtk_context *ctx, char **json)
{
	cJSON *root, *tok, *item;
	enum mtk_status st = MTK_OK;
	char *text = NULL;

	if (!ctx || !json)
		return MTK_ERR_INVALID_ARGUMENT;
	root = cJSON_CreateObject();
	if (!root)
		return MTK_ERR_NO_MEMORY;
	if (build(root, ctx) || !(text = cJSON_PrintUnformatted(root)))
		st = MTK_ERR_NO_MEMORY;
	/* The tree's copy of the token must not linger in freed memory. */
	tok = cJSON_GetObjectItemCaseSensitive(root, "token");
	item = cJSON_GetObjectItemCaseSensitive(tok, "access_token");
	if (cJSON_IsString(item))
		OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
	cJSON_Delete(root);
	if (st == MTK_OK)
		*json = text;
	return st;
}
