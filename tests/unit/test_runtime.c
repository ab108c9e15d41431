/*
 * The runtime loop (metatoken/runtime.h): the context it builds from /next's
 * headers, the environment and the metadata client, through the fake
 * Runtime API of test_runtime_fake.h.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metatoken/context.h"
#include "metatoken/runtime.h"
#include "test_client_fake.h"
#include "test_runtime_fake.h"

TestSuite(runtime, .init = setup, .fini = teardown);

Test(runtime, every_context_field_comes_from_the_headers)
{
	struct mtk_runtime_options o = options(1);

	setenv("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]abc", 1);
	setenv("AWS_LAMBDA_FUNCTION_NAME", "from-env", 1); /* the header wins */
	push((struct next_answer){
	    .headers = { "Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd",
	                 "Lambda-Runtime-Deadline-Ms: 1795000003000",
	                 "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:1:function:f",
	                 "Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700",
	                 "Lambda-Runtime-Client-Context: {\"client\":{\"installation_id\":\"i1\","
	                 "\"app_title\":\"t\",\"app_version_name\":\"vn\",\"app_version_code\":\"vc\","
	                 "\"app_package_name\":\"p\"},\"custom\":{\"k\":\"v\"},\"env\":{\"e\":\"1\"}}",
	                 "Lambda-Runtime-Cognito-Identity: {\"cognitoIdentityId\":\"us-east-1:id\","
	                 "\"cognitoIdentityPoolId\":\"us-east-1:pool\"}",
	                 "lambda-runtime-function-name: d4e00000000000000000", /* any case */
	                 "Lambda-Runtime-Function-Version: d4e11111111111111111",
	                 "Lambda-Runtime-Memory-Limit: 256",
	                 "Lambda-Runtime-Log-Group-Name: /aws/lambda/f",
	                 "Lambda-Runtime-Token-Json: " TOKEN_DOC, NULL },
	    .body = "{\"x\":1}" });

	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK, "%s", F.log);
	cr_assert_eq(F.invocations, 1);
	cr_assert_str_eq(F.event, "{\"x\":1}");
	/* Every seed field, under the seeds' name. */
	expect_string("request_id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
	expect_string("aws_request_id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
	expect_number("deadline_ms", 1795000003000.0);
	expect_string("invoked_function_arn", "arn:aws:lambda:us-east-1:1:function:f");
	expect_string("function_name", "d4e00000000000000000");
	expect_string("function_version", "d4e11111111111111111");
	expect_number("memory_limit_in_mb", 256);
	expect_string("log_group_name", "/aws/lambda/f");
	expect_string("log_stream_name", "2026/01/01/[$LATEST]abc");
	expect_string("identity.cognito_identity_id", "us-east-1:id");
	expect_string("identity.cognito_identity_pool_id", "us-east-1:pool");
	expect_string("client_context.client.installation_id", "i1");
	expect_string("client_context.client.app_title", "t");
	expect_string("client_context.client.app_version_name", "vn");
	expect_string("client_context.client.app_version_code", "vc");
	expect_string("client_context.client.app_package_name", "p");
	expect_string("client_context.custom.k", "v");
	expect_string("client_context.env.e", "1");
	expect_string("token.access_token", "t1.abc");
	expect_number("token.expires_in", 3600);
	expect_string("token.token_type", "Bearer");
	cr_assert_str_eq(F.trace_id, "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700");
	cr_assert_str_eq(F.trace_env, "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700");
}

Test(runtime, the_environment_fills_in_what_the_headers_lack)
{
	struct mtk_runtime_options o = options(2);

	setenv("AWS_LAMBDA_FUNCTION_NAME", "fn", 1);
	setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST", 1);
	setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512", 1);
	setenv("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/fn", 1);
	setenv("_X_AMZN_TRACE_ID", "stale", 1);
	push((struct next_answer){ .headers = { "Lambda-Runtime-Aws-Request-Id: r1",
	                                        "Lambda-Runtime-Trace-Id: Root=1", NULL } });
	push_event("Lambda-Runtime-Aws-Request-Id: r2", "{}");

	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK, "%s", F.log);
	cr_assert_eq(F.invocations, 2);
	expect_string("request_id", "r2");
	expect_string("function_name", "fn");
	expect_string("function_version", "$LATEST");
	expect_number("memory_limit_in_mb", 512);
	expect_string("log_group_name", "/aws/lambda/fn");
	cr_assert(cJSON_IsNull(at("token")));
	cr_assert(cJSON_IsNull(at("deadline_ms")));
	/* The second invocation had no trace header: none is left over. */
	cr_assert_str_eq(F.trace_id, "(none)");
	cr_assert_str_eq(F.trace_env, "(none)");
	cr_assert_eq(F.event_len, 2);
}

Test(runtime, an_unparsable_token_header_means_no_token)
{
	struct fake meta;
	struct mtk_client *client;
	struct mtk_runtime_options o = options(1);

	fake_init(&meta);
	fake_otherwise(&meta, fake_token("from-metadata", 3600));
	client = fake_client(&meta, NULL);
	o.no_metadata_token = false;
	o.metadata_client = client;
	push((struct next_answer){
	    .headers = { "Lambda-Runtime-Aws-Request-Id: r1",
	                 "Lambda-Runtime-Token-Json: {\"access_token\":", NULL },
	    .body = "{}" });

	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK);
	cr_assert(cJSON_IsNull(at("token")), "an unparsable header gave a token");
	cr_assert_eq(fake_calls(&meta), 0, "a token header, even a bad one, is the answer");
	cr_assert(strstr(F.log, "Lambda-Runtime-Token-Json"), "%s", F.log);
	cr_assert_null(strstr(F.log, "access_token\":"), "the header leaked into the log");
	mtk_client_free(client);
	fake_release_all(&meta);
}

Test(runtime, without_a_token_header_the_token_comes_from_the_metadata_client)
{
	struct fake meta;
	struct mtk_client *client;
	struct mtk_runtime_options o = options(2);

	fake_init(&meta);
	fake_otherwise(&meta, fake_token("from-metadata", 3600));
	client = fake_client(&meta, NULL);
	o.no_metadata_token = false;
	o.metadata_client = client;
	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");
	push_event("Lambda-Runtime-Aws-Request-Id: r2", "{}");

	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK, "%s", F.log);
	expect_string("token.access_token", "from-metadata");
	expect_string("token.token_type", "Bearer");
	cr_assert_eq(fake_calls(&meta), 1, "the client's cache serves the second invocation");
	mtk_client_free(client);
	fake_release_all(&meta);
}

Test(runtime, a_failing_metadata_service_means_no_token_and_is_not_asked_every_time)
{
	struct fake meta;
	struct mtk_client *client;
	struct mtk_runtime_options o = options(3);

	fake_init(&meta);
	fake_otherwise(&meta, (struct fake_answer){ .st = MTK_OK, .status = 404 });
	meta.seams.random_u64 = NULL; /* real jitter, as before the seams moved */
	client = fake_client(
	    &meta, &(struct mtk_client_options){ .struct_size = sizeof(struct mtk_client_options),
	                                         .endpoint = "127.0.0.1:1",
	                                         .max_attempts = 1,
	                                         .testing = &meta.seams });
	o.no_metadata_token = false;
	o.metadata_client = client;
	o.metadata_retry_ms = 30000;
	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");
	push_event("Lambda-Runtime-Aws-Request-Id: r2", "{}");
	push_event("Lambda-Runtime-Aws-Request-Id: r3", "{}");

	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK, "%s", F.log);
	cr_assert_eq(F.invocations, 3);
	cr_assert(cJSON_IsNull(at("token")));
	cr_assert_eq(posts(), 3);
	cr_assert_eq(fake_calls(&meta), 1, "asked again within metadata_retry_ms");
	mtk_client_free(client);
	fake_release_all(&meta);
}

Test(runtime, the_lazily_made_metadata_client_failing_is_no_token_not_a_crash)
{
	struct mtk_runtime_options o = options(1);

	o.no_metadata_token = false;
	setenv("YC_METADATA_ADDR", "127.0.0.1:1", 1); /* nothing listens: refused */
	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");

	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK, "%s", F.log);
	cr_assert_eq(F.invocations, 1);
	cr_assert(cJSON_IsNull(at("token")));
	cr_assert(strstr(last_post()->url, "/r1/response"));
	cr_assert(strstr(F.log, "no token from the metadata service"), "%s", F.log);
}

Test(runtime, bad_number_headers_are_ignored_not_fatal)
{
	struct mtk_runtime_options o = options(1);

	push((struct next_answer){ .headers = { "Lambda-Runtime-Aws-Request-Id: r1",
	                                        "Lambda-Runtime-Deadline-Ms: soon",
	                                        "Lambda-Runtime-Memory-Limit: -5", NULL } });
	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK);
	cr_assert(cJSON_IsNull(at("deadline_ms")));
	cr_assert(cJSON_IsNull(at("memory_limit_in_mb")));
	cr_assert(strstr(F.log, "Lambda-Runtime-Deadline-Ms"), "%s", F.log);
	cr_assert_eq(posts(), 1);
}
