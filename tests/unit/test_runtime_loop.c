/*
 * The runtime loop (metatoken/runtime.h): what it posts for each kind of
 * handler outcome, and how it survives a failing Runtime API, through the
 * fake of test_runtime_fake.h. No test sleeps: backoff is on a fake clock.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metatoken/context.h"
#include "metatoken/runtime.h"
#include "test_runtime_fake.h"

TestSuite(runtime, .init = setup, .fini = teardown);

static const char bytes4[] = { 'a', '\0', 'b', '\n' };

static int answer_bytes(const char *event, size_t len, const struct mtk_context *ctx,
                        struct mtk_result *out, void *arg)
{
	(void)event, (void)len, (void)ctx, (void)arg;
	return mtk_result_set(out, bytes4, 4) != MTK_OK;
}

Test(runtime, the_response_goes_to_the_request_ids_url_byte_for_byte)
{
	struct mtk_runtime_options o = options(1);

	push_event("Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4", "{}");
	cr_assert_eq(mtk_runtime_run(&o, answer_bytes, NULL), MTK_OK);
	cr_assert_eq(F.ncalls, 2);
	cr_assert_str_eq(F.calls[0].method, "GET");
	cr_assert_str_eq(F.calls[0].url,
	                 "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next");
	cr_assert_eq(F.calls[0].timeout_ms, 0, "/next is a long poll without a timeout");
	cr_assert_str_eq(F.calls[1].url, "http://127.0.0.1:9001/2018-06-01/runtime/invocation/"
	                                 "8476a536-e9f4/response");
	cr_assert_gt(F.calls[1].timeout_ms, 0, "every other request has a timeout");
	cr_assert_eq(F.calls[1].body_len, 4);
	cr_assert_eq(memcmp(F.calls[1].body, bytes4, 4), 0);
	cr_assert_null(strstr(F.calls[1].headers, "Error-Type"));
}

static int take_string(const char *event, size_t len, const struct mtk_context *ctx,
                       struct mtk_result *out, void *arg)
{
	(void)event, (void)len, (void)ctx, (void)arg;
	mtk_result_set_string(out, "first"); /* the last call wins */
	return mtk_result_take(out, strdup("handed over"), 11) != MTK_OK;
}

Test(runtime, a_taken_buffer_is_posted_and_freed_by_the_loop)
{
	struct mtk_runtime_options o = options(1);

	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");
	cr_assert_eq(mtk_runtime_run(&o, take_string, NULL), MTK_OK);
	cr_assert_str_eq(last_post()->body, "handed over");
}

/* Checks the last POST is r1's error with this type and message. */
static void expect_error(const char *type, const char *message_part)
{
	const struct call *c = last_post();
	char want[256];
	cJSON *doc = cJSON_Parse(c->body);
	const cJSON *trace;

	cr_assert_str_eq(c->url, "http://127.0.0.1:9001/2018-06-01/runtime/invocation/r1/error");
	snprintf(want, sizeof(want), "Lambda-Runtime-Function-Error-Type: %s\n", type);
	cr_assert(strstr(c->headers, want), "headers: %s", c->headers);
	cr_assert(cJSON_IsObject(doc), "not JSON: %s", c->body);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(doc, "errorType")->valuestring, type);
	cr_assert(strstr(cJSON_GetObjectItemCaseSensitive(doc, "errorMessage")->valuestring,
	                 message_part),
	          "%s", c->body);
	trace = cJSON_GetObjectItemCaseSensitive(doc, "stackTrace");
	cr_assert(cJSON_IsArray(trace) && cJSON_GetArraySize(trace) == 0, "%s", c->body);
	cJSON_Delete(doc);
}

static int fail_validation(const char *event, size_t len, const struct mtk_context *ctx,
                           struct mtk_result *out, void *arg)
{
	(void)event, (void)ctx, (void)arg;
	mtk_result_set_string(out, "not this");
	mtk_result_error(out, "ValidationError", "bad \"event\" of %zu bytes", len);
	return 0;
}

Test(runtime, a_handler_error_is_posted_to_error_with_the_document_and_header)
{
	struct mtk_runtime_options o = options(1);

	push_event("Lambda-Runtime-Aws-Request-Id: r1", "12345");
	cr_assert_eq(mtk_runtime_run(&o, fail_validation, NULL), MTK_OK);
	cr_assert_eq(posts(), 1);
	expect_error("ValidationError", "bad \"event\" of 5 bytes");
}

static int fail_with_newline_type(const char *event, size_t len, const struct mtk_context *ctx,
                                  struct mtk_result *out, void *arg)
{
	(void)event, (void)len, (void)ctx, (void)arg;
	mtk_result_error(out, "Bad\r\nX-Injected: 1", "m");
	return 0;
}

Test(runtime, an_error_type_cannot_inject_a_header)
{
	struct mtk_runtime_options o = options(1);

	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");
	cr_assert_eq(mtk_runtime_run(&o, fail_with_newline_type, NULL), MTK_OK);
	expect_error("Bad__X-Injected:_1", "m");
}

static int return_nothing(const char *event, size_t len, const struct mtk_context *ctx,
                          struct mtk_result *out, void *arg)
{
	(void)event, (void)len, (void)ctx, (void)out, (void)arg;
	return 0;
}

static int return_failure(const char *event, size_t len, const struct mtk_context *ctx,
                          struct mtk_result *out, void *arg)
{
	(void)event, (void)len, (void)ctx, (void)arg;
	mtk_result_set_string(out, "half done");
	return 7;
}

Test(runtime, a_handler_that_returns_nothing_is_an_error)
{
	struct mtk_runtime_options o = options(1);

	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");
	cr_assert_eq(mtk_runtime_run(&o, return_nothing, NULL), MTK_OK);
	expect_error("Runtime.NoResult", "mtk_result_set");
}

Test(runtime, a_handler_that_fails_without_an_error_is_an_error)
{
	struct mtk_runtime_options o = options(1);

	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");
	cr_assert_eq(mtk_runtime_run(&o, return_failure, NULL), MTK_OK);
	expect_error("Runtime.HandlerFailed", "returned 7");
}

Test(runtime, an_answer_without_a_usable_request_id_is_reported_and_skipped)
{
	struct mtk_runtime_options o = options(3);

	push((struct next_answer){ .headers = { "Content-Type: application/json", NULL },
	                           .body = "{}" });
	push_event("Lambda-Runtime-Aws-Request-Id: ../../init/error", "{}");
	push_event("Lambda-Runtime-Aws-Request-Id: r3", "{}");
	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK, "%s", F.log);
	cr_assert_eq(F.invocations, 1, "the handler ran for a bad id");
	cr_assert_eq(posts(), 1);
	cr_assert(strstr(last_post()->url, "/invocation/r3/response"));
	cr_assert(strstr(F.log, "no Lambda-Runtime-Aws-Request-Id"), "%s", F.log);
	cr_assert(
	    strstr(F.log, "unusable Lambda-Runtime-Aws-Request-Id (got \"../../init/error\")"),
	    "%s", F.log);
}

Test(runtime, a_refused_next_is_retried_with_backoff_then_gives_up_naming_the_address)
{
	struct mtk_runtime_options o = options(0);
	int i;

	o.next_attempts = 4;
	for (i = 0; i < 4; i++)
		push((struct next_answer){ .st = MTK_ERR_CONNECT });
	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_ERR_CONNECT);
	cr_assert_eq(F.ncalls, 4);
	cr_assert_eq(F.nsleeps, 3);
	cr_assert_eq(F.sleeps[0], 100);
	cr_assert_eq(F.sleeps[1], 200);
	cr_assert_eq(F.sleeps[2], 400);
	cr_assert(
	    strstr(F.log, "giving up: the Runtime API at http://127.0.0.1:9001 failed 4 times"),
	    "%s", F.log);
}

Test(runtime, a_success_resets_the_failure_count_and_418_is_not_a_failure)
{
	struct mtk_runtime_options o = options(2);

	o.next_attempts = 2;
	push((struct next_answer){ .st = MTK_ERR_CONNECT });
	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");
	push((struct next_answer){ .st = MTK_ERR_CONNECT });
	push((struct next_answer){ .status = 418 });
	push((struct next_answer){ .status = 418 });
	push_event("Lambda-Runtime-Aws-Request-Id: r2", "{}");
	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK, "%s", F.log);
	cr_assert_eq(F.invocations, 2);
	cr_assert_eq(F.sleeps[2], 100, "418: retried after 100 ms");
}

Test(runtime, a_failing_response_post_is_logged_and_the_loop_goes_on)
{
	struct mtk_runtime_options o = options(2);

	F.post_st = MTK_ERR_TIMEOUT;
	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");
	push_event("Lambda-Runtime-Aws-Request-Id: r2", "{}");
	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK);
	cr_assert_eq(F.invocations, 2);
	cr_assert(strstr(F.log, "POST http://127.0.0.1:9001/2018-06-01/runtime/invocation/r1/"
	                        "response: no answer in time"),
	          "%s", F.log);
}

Test(runtime, a_refused_response_post_is_logged_with_the_servers_answer)
{
	struct mtk_runtime_options o = options(1);

	F.post_status = 413;
	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");
	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK);
	cr_assert(strstr(F.log, "/r1/response: HTTP 413"), "%s", F.log);
}

Test(runtime, an_event_over_the_cap_is_that_invocations_error)
{
	struct mtk_runtime_options o = options(1);

	o.max_event_bytes = 8;
	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{\"0123456789\":1}");
	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK);
	cr_assert_eq(F.invocations, 0);
	expect_error("Runtime.EventTooLarge", "limit");
}

Test(runtime, the_address_comes_from_the_environment_and_must_be_there)
{
	struct mtk_runtime_options o = options(1);

	o.runtime_api = NULL;
	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_ERR_BAD_ENVIRONMENT);
	cr_assert_eq(F.ncalls, 0);
	cr_assert(strstr(F.log, "AWS_LAMBDA_RUNTIME_API"), "%s", F.log);

	setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9002", 1);
	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");
	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_OK);
	cr_assert_str_eq(F.calls[0].url,
	                 "http://127.0.0.1:9002/2018-06-01/runtime/invocation/next");
	cr_assert_eq(mtk_runtime_run(&o, NULL, NULL), MTK_ERR_INVALID_ARGUMENT);
}

Test(runtime, init_error_posts_the_document_to_init_error)
{
	struct mtk_runtime_options o = options(0);
	const struct call *c;
	cJSON *doc;

	cr_assert_eq(
	    mtk_runtime_init_error(&o, "Runtime.ImportModuleError", "cannot load %s", "libfn.so"),
	    MTK_OK);
	cr_assert_eq(F.ncalls, 1);
	c = last_post();
	cr_assert_str_eq(c->url, "http://127.0.0.1:9001/2018-06-01/runtime/init/error");
	cr_assert(
	    strstr(c->headers, "Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError"));
	doc = cJSON_Parse(c->body);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(doc, "errorMessage")->valuestring,
	                 "cannot load libfn.so");
	cJSON_Delete(doc);
	cr_assert(strstr(F.log, "cannot load libfn.so"), "%s", F.log);
}

Test(runtime, a_bad_memory_size_in_the_environment_is_an_init_error)
{
	struct mtk_runtime_options o = options(1);

	setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots", 1);
	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");
	cr_assert_eq(mtk_runtime_run(&o, record, NULL), MTK_ERR_BAD_ENVIRONMENT);
	cr_assert_eq(F.invocations, 0);
	cr_assert_str_eq(last_post()->url, "http://127.0.0.1:9001/2018-06-01/runtime/init/error");
	cr_assert(strstr(last_post()->body, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
}

/* struct_size, as for the client's options (test_client_abi.c): a caller
 * built with a newer header is served when its new fields are zero; a
 * missing size is refused before anything is sent. */
struct newer_runtime_options {
	struct mtk_runtime_options known;
	int64_t added_later;
};

Test(runtime, the_options_struct_size_is_checked)
{
	struct newer_runtime_options n = { .known = options(1) };
	struct mtk_runtime_options o = options(1), init;

	mtk_runtime_options_init(&init);
	cr_assert_eq(init.struct_size, sizeof(struct mtk_runtime_options));
	cr_assert_null(init.testing);

	o.struct_size = 0;
	cr_assert_eq(mtk_runtime_run(&o, answer_bytes, NULL), MTK_ERR_BAD_STRUCT_SIZE);
	cr_assert_eq(mtk_runtime_init_error(&o, NULL, "x"), MTK_ERR_BAD_STRUCT_SIZE);
	cr_assert_eq(F.ncalls, 0);

	n.known.struct_size = sizeof(n);
	n.added_later = 1;
	cr_assert_eq(mtk_runtime_run(&n.known, answer_bytes, NULL), MTK_ERR_BAD_STRUCT_SIZE);
	cr_assert_eq(F.ncalls, 0);
	n.added_later = 0;
	push_event("Lambda-Runtime-Aws-Request-Id: r1", "{}");
	cr_assert_eq(mtk_runtime_run(&n.known, answer_bytes, NULL), MTK_OK, "%s", F.log);
	cr_assert_eq(F.ncalls, 2);
}
