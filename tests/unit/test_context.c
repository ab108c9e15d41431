/*
 * The invocation context: fields, JSON shape (the seeds' names), remaining
 * time, the environment, and token injection.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metatoken/context.h"
#include "metatoken/metatoken.h"
#include "test_client_fake.h"

static struct mtk_context *ctx;
static cJSON *doc;

static void setup(void)
{
	static const char *const vars[] = { "AWS_LAMBDA_FUNCTION_NAME",
		                            "AWS_LAMBDA_FUNCTION_VERSION",
		                            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
		                            "AWS_LAMBDA_LOG_GROUP_NAME",
		                            "AWS_LAMBDA_LOG_STREAM_NAME" };
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	ctx = NULL;
	doc = NULL;
}

static void teardown(void)
{
	mtk_context_free(ctx);
	cJSON_Delete(doc);
}

TestSuite(context, .init = setup, .fini = teardown);

/* Serialises ctx and parses the result back into doc. */
static const cJSON *json_of(const struct mtk_context *x)
{
	char *text = NULL;

	cr_assert_eq(mtk_context_to_json(x, &text), MTK_OK);
	cJSON_Delete(doc);
	doc = cJSON_Parse(text);
	cr_assert_not_null(doc, "not JSON: %s", text);
	mtk_json_free(text);
	return doc;
}

/* The member at a dotted path, or NULL. */
static const cJSON *at(const cJSON *root, const char *path)
{
	char buf[128], *save = NULL, *part;
	const cJSON *node = root;

	strcpy(buf, path);
	for (part = strtok_r(buf, ".", &save); part && node; part = strtok_r(NULL, ".", &save))
		node = cJSON_GetObjectItemCaseSensitive(node, part);
	return node;
}

static void expect_string(const cJSON *root, const char *path, const char *want)
{
	const cJSON *n = at(root, path);

	cr_assert(cJSON_IsString(n), "%s is not a string", path);
	cr_assert_str_eq(n->valuestring, want, "%s", path);
}

Test(context, an_empty_context_has_every_seed_field_as_null)
{
	static const char *const keys[] = {
		"function_name",
		"function_version",
		"memory_limit_in_mb",
		"request_id",
		"token",
		"invoked_function_arn",
		"aws_request_id",
		"log_group_name",
		"log_stream_name",
		"identity",
		"client_context",
		"deadline_ms",
	};
	const cJSON *root;
	size_t i;

	cr_assert_eq(mtk_context_new(&ctx), MTK_OK);
	root = json_of(ctx);
	cr_assert_eq(cJSON_GetArraySize(root), (int)(sizeof(keys) / sizeof(keys[0])));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cr_assert(cJSON_IsNull(at(root, keys[i])), "%s is not null", keys[i]);
}

Test(context, every_field_serialises_under_the_seeds_name)
{
	const cJSON *root;
	int f;

	cr_assert_eq(mtk_context_new(&ctx), MTK_OK);
	for (f = 0; f < MTK_CTX_FIELD_COUNT_; f++)
		cr_assert_eq(mtk_context_set(ctx, f, mtk_context_field_name(f)), MTK_OK);
	cr_assert_eq(mtk_context_set_memory_limit_mb(ctx, 128), MTK_OK);
	cr_assert_eq(mtk_context_set_deadline_ms(ctx, 1700000003000), MTK_OK);
	root = json_of(ctx);
	/* Each field's value is its own path: it must sit at that path. */
	for (f = 0; f < MTK_CTX_FIELD_COUNT_; f++)
		expect_string(root, mtk_context_field_name(f), mtk_context_field_name(f));
	expect_string(root, "client_context.client.app_package_name",
	              "client_context.client.app_package_name");
	cr_assert_eq(at(root, "memory_limit_in_mb")->valuedouble, 128);
	cr_assert_eq(at(root, "deadline_ms")->valuedouble, 1700000003000.0);
	cr_assert(cJSON_IsObject(at(root, "client_context.custom")));
	cr_assert(cJSON_IsObject(at(root, "client_context.env")));
	cr_assert(cJSON_IsNull(at(root, "token")));
}

Test(context, fields_are_copied_and_can_be_unset)
{
	char name[] = "fn";

	cr_assert_eq(mtk_context_new(&ctx), MTK_OK);
	cr_assert_eq(mtk_context_set(ctx, MTK_CTX_FUNCTION_NAME, name), MTK_OK);
	name[0] = 'X';
	cr_assert_str_eq(mtk_context_get(ctx, MTK_CTX_FUNCTION_NAME), "fn");
	cr_assert_eq(mtk_context_set(ctx, MTK_CTX_FUNCTION_NAME, NULL), MTK_OK);
	cr_assert_null(mtk_context_get(ctx, MTK_CTX_FUNCTION_NAME));
	cr_assert_eq(mtk_context_set(ctx, MTK_CTX_FIELD_COUNT_, "x"), MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(mtk_context_set(ctx, (enum mtk_context_field) - 1, "x"),
	             MTK_ERR_INVALID_ARGUMENT);
	cr_assert_null(mtk_context_field_name(MTK_CTX_FIELD_COUNT_));
	cr_assert_eq(mtk_context_set_memory_limit_mb(ctx, -1), MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(mtk_context_set_deadline_ms(ctx, -1), MTK_ERR_INVALID_ARGUMENT);
}

Test(context, remaining_time_is_the_deadline_minus_now_clamped_at_zero)
{
	cr_assert_eq(mtk_context_new(&ctx), MTK_OK);
	cr_assert_eq(mtk_context_remaining_ms_at(ctx, 1700000000000), 0, "no deadline: 0");
	mtk_context_set_deadline_ms(ctx, 1700000003000);
	cr_assert_eq(mtk_context_remaining_ms_at(ctx, 1700000000000), 3000);
	cr_assert_eq(mtk_context_remaining_ms_at(ctx, 1700000002999), 1);
	cr_assert_eq(mtk_context_remaining_ms_at(ctx, 1700000003000), 0);
	cr_assert_eq(mtk_context_remaining_ms_at(ctx, 1700000009000), 0, "never negative");
	cr_assert_eq(mtk_context_remaining_ms(NULL), 0);
}

Test(context, remaining_time_reads_the_wall_clock)
{
	struct timespec ts;
	int64_t now_ms, left;

	/* An epoch deadline a minute away: a monotonic clock (time since boot)
	 * or returning the deadline itself would be off by decades. */
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	cr_assert_eq(mtk_context_new(&ctx), MTK_OK);
	mtk_context_set_deadline_ms(ctx, now_ms + 60000);
	left = mtk_context_remaining_ms(ctx);
	cr_assert(left > 55000 && left <= 60000, "remaining %lld", (long long)left);
}

Test(context, from_env_reads_the_lambda_variables)
{
	const cJSON *root;

	setenv("AWS_LAMBDA_FUNCTION_NAME", "d4e1gq", 1);
	setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST", 1);
	setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256", 1);
	setenv("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/fn", 1);
	setenv("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/21/[$LATEST]abc", 1);
	cr_assert_eq(mtk_context_from_env(NULL, &ctx), MTK_OK);
	root = json_of(ctx);
	expect_string(root, "function_name", "d4e1gq");
	expect_string(root, "function_version", "$LATEST");
	expect_string(root, "log_group_name", "/aws/lambda/fn");
	expect_string(root, "log_stream_name", "2026/11/21/[$LATEST]abc");
	cr_assert_eq(mtk_context_memory_limit_mb(ctx), 256);
	cr_assert(cJSON_IsNull(at(root, "request_id")));
}

Test(context, overrides_beat_the_environment)
{
	setenv("AWS_LAMBDA_FUNCTION_NAME", "from-env", 1);
	setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256", 1);
	setenv("AWS_LAMBDA_LOG_STREAM_NAME", "", 1); /* empty: unset */
	cr_assert_eq(
	    mtk_context_from_env(
	        &(struct mtk_context_overrides){ .function_name = "explicit",
	                                         .memory_limit_in_mb = 1024,
	                                         .request_id = "r-1",
	                                         .aws_request_id = "r-1",
	                                         .invoked_function_arn = "arn:aws:lambda:x",
	                                         .deadline_ms = 1700000003000 },
	        &ctx),
	    MTK_OK);
	cr_assert_str_eq(mtk_context_get(ctx, MTK_CTX_FUNCTION_NAME), "explicit");
	cr_assert_eq(mtk_context_memory_limit_mb(ctx), 1024);
	cr_assert_str_eq(mtk_context_get(ctx, MTK_CTX_REQUEST_ID), "r-1");
	cr_assert_str_eq(mtk_context_get(ctx, MTK_CTX_AWS_REQUEST_ID), "r-1");
	cr_assert_str_eq(mtk_context_get(ctx, MTK_CTX_INVOKED_FUNCTION_ARN), "arn:aws:lambda:x");
	cr_assert_null(mtk_context_get(ctx, MTK_CTX_LOG_STREAM_NAME));
	cr_assert_eq(mtk_context_deadline_ms(ctx), 1700000003000);
}

Test(context, a_bad_memory_size_in_the_environment_is_refused)
{
	static const char *const bad[] = { "abc",  "-5",  "0",
		                           "12MB", "1e3", "99999999999999999999999" };
	struct mtk_context *x = (struct mtk_context *)&doc;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", bad[i], 1);
		cr_assert_eq(mtk_context_from_env(NULL, &x), MTK_ERR_BAD_ENVIRONMENT, "%s", bad[i]);
		cr_assert_eq(x, (struct mtk_context *)&doc, "out written on failure");
	}
	/* An override makes the variable irrelevant. */
	cr_assert_eq(
	    mtk_context_from_env(&(struct mtk_context_overrides){ .memory_limit_in_mb = 64 }, &ctx),
	    MTK_OK);
}

/* A client on the fake clock holding "tok-1" (3600 s) fetched at f's now. */
static struct mtk_client *client_with_token(struct fake *f)
{
	struct mtk_client *c;
	enum mtk_status st;

	fake_init(f);
	c = fake_client(f, NULL);
	fake_push(f, fake_token("tok-1", 3600));
	free(get_text(c, &st));
	cr_assert_eq(st, MTK_OK);
	return c;
}

Test(context, inject_token_computes_expires_in_at_injection)
{
	struct fake f;
	struct mtk_client *c = client_with_token(&f);
	const cJSON *root;

	cr_assert_eq(mtk_context_new(&ctx), MTK_OK);
	fake_advance(&f, 1000 * 1000);
	cr_assert_eq(mtk_context_inject_token(ctx, c), MTK_OK);
	cr_assert(mtk_context_has_token(ctx));
	cr_assert_eq(mtk_context_token_expires_in_s(ctx), 2600);
	root = json_of(ctx);
	expect_string(root, "token.access_token", "tok-1");
	expect_string(root, "token.token_type", "Bearer");
	cr_assert_eq(at(root, "token.expires_in")->valuedouble, 2600);
	cr_assert_eq(cJSON_GetArraySize(at(root, "token")), 3);

	/* The next invocation's context: less life left, same cached token. */
	mtk_context_free(ctx);
	cr_assert_eq(mtk_context_new(&ctx), MTK_OK);
	fake_advance(&f, 600 * 1000);
	cr_assert_eq(mtk_context_inject_token(ctx, c), MTK_OK);
	cr_assert_eq(mtk_context_token_expires_in_s(ctx), 2000);
	cr_assert_eq(fake_calls(&f), 1);
	mtk_client_free(c);
	fake_release_all(&f);
}

Test(context, without_a_service_account_there_is_no_token_not_an_empty_one)
{
	struct fake f;
	struct mtk_client *c = client_with_token(&f);
	const cJSON *root;

	cr_assert_eq(mtk_context_new(&ctx), MTK_OK);
	cr_assert_eq(mtk_context_inject_token(ctx, c), MTK_OK);
	/* The account is gone: the next injection must not leave the old token. */
	mtk_client_invalidate(c, NULL);
	fake_otherwise(&f, (struct fake_answer){ .st = MTK_OK, .status = 404 });
	cr_assert_eq(mtk_context_inject_token(ctx, c), MTK_ERR_NO_SUCH_ACCOUNT);
	cr_assert_not(mtk_context_has_token(ctx));
	cr_assert_null(mtk_context_token_access_token(ctx));
	root = json_of(ctx);
	cr_assert(cJSON_IsNull(at(root, "token")));
	mtk_client_free(c);
	fake_release_all(&f);
}

Test(context, token_json_from_the_runtime_is_validated)
{
	cr_assert_eq(mtk_context_new(&ctx), MTK_OK);
	cr_assert_eq(
	    mtk_context_set_token_json(
	        ctx,
	        "{\"access_token\":\"t1.abc\",\"expires_in\":42617,\"token_type\":\"Bearer\"}"),
	    MTK_OK);
	cr_assert_str_eq(mtk_context_token_access_token(ctx), "t1.abc");
	cr_assert_eq(mtk_context_token_expires_in_s(ctx), 42617);
	cr_assert_eq(
	    mtk_context_set_token_json(
	        ctx,
	        "{\"access_token\":\"t1 abc\",\"expires_in\":42617,\"token_type\":\"Bearer\"}"),
	    MTK_ERR_BAD_ACCESS_TOKEN);
	cr_assert_not(mtk_context_has_token(ctx));
	cr_assert_eq(mtk_context_set_token_json(ctx, "{\"access_token\":\"x\",\"expires_in\":0,"
	                                             "\"token_type\":\"Bearer\"}"),
	             MTK_ERR_BAD_EXPIRES_IN);
}

Test(context, client_context_from_the_runtime_header)
{
	const cJSON *root;

	cr_assert_eq(mtk_context_new(&ctx), MTK_OK);
	cr_assert_eq(mtk_context_set_client_context_json(
	                 ctx, "{\"client\":{\"installation_id\":\"i-1\",\"app_title\":\"App\","
	                      "\"app_version_code\":\"7\",\"unknown\":1},"
	                      "\"custom\":{\"k\":\"v\",\"n\":[1,2]},\"env\":{\"locale\":\"en\"}}"),
	             MTK_OK);
	root = json_of(ctx);
	expect_string(root, "client_context.client.installation_id", "i-1");
	expect_string(root, "client_context.client.app_title", "App");
	cr_assert(cJSON_IsNull(at(root, "client_context.client.app_version_name")));
	expect_string(root, "client_context.custom.k", "v");
	cr_assert_eq(cJSON_GetArraySize(at(root, "client_context.custom.n")), 2);
	expect_string(root, "client_context.env.locale", "en");
	cr_assert_null(at(root, "client_context.client.unknown"));

	/* Wrong types: refused, nothing changes. */
	cr_assert_eq(mtk_context_set_client_context_json(ctx, "{\"custom\":[1]}"),
	             MTK_ERR_BAD_JSON);
	cr_assert_eq(mtk_context_set_client_context_json(ctx, "{\"client\":{\"app_title\":5}}"),
	             MTK_ERR_BAD_JSON);
	cr_assert_eq(mtk_context_set_client_context_json(ctx, "not json"), MTK_ERR_BAD_JSON);
	cr_assert_str_eq(mtk_context_get(ctx, MTK_CTX_CLIENT_APP_TITLE), "App");
	/* NULL clears it: client_context is null again. */
	cr_assert_eq(mtk_context_set_client_context_json(ctx, NULL), MTK_OK);
	root = json_of(ctx);
	cr_assert(cJSON_IsNull(at(root, "client_context")));
}

Test(context, identity_from_the_runtime_header)
{
	const cJSON *root;

	cr_assert_eq(mtk_context_new(&ctx), MTK_OK);
	cr_assert_eq(
	    mtk_context_set_identity_json(ctx, "{\"cognito_identity_id\":\"us-east-1:abc\","
	                                       "\"cognito_identity_pool_id\":\"us-east-1:pool\"}"),
	    MTK_OK);
	root = json_of(ctx);
	expect_string(root, "identity.cognito_identity_id", "us-east-1:abc");
	expect_string(root, "identity.cognito_identity_pool_id", "us-east-1:pool");
	cr_assert_eq(mtk_context_set_identity_json(ctx, "[]"), MTK_ERR_BAD_JSON);
	cr_assert_eq(mtk_context_set_identity_json(ctx, NULL), MTK_OK);
	root = json_of(ctx);
	cr_assert(cJSON_IsNull(at(root, "identity")));
}
