/* The fake Runtime API of the runtime loop's tests (test_runtime_fake.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_runtime_fake.h"

struct runtime_fake F;

static enum mtk_status fake_perform(void *arg, const struct mtk_runtime_request *req,
                                    const struct mtk_runtime_sink *sink, long *status)
{
	struct call *c;
	const struct next_answer *a;
	const char *const *h;
	const char *colon;
	size_t n;

	(void)arg;
	cr_assert_lt(F.ncalls, MAX_CALLS);
	c = &F.calls[F.ncalls++];
	snprintf(c->method, sizeof(c->method), "%s", req->method);
	snprintf(c->url, sizeof(c->url), "%s", req->url);
	for (h = req->headers; h && *h; h++) {
		strncat(c->headers, *h, sizeof(c->headers) - strlen(c->headers) - 2);
		strcat(c->headers, "\n");
	}
	c->timeout_ms = req->timeout_ms;
	if (strcmp(req->method, "POST") == 0) {
		c->body = malloc(req->body_len + 1);
		memcpy(c->body, req->body, req->body_len);
		c->body[req->body_len] = '\0';
		c->body_len = req->body_len;
		if (F.post_st != MTK_OK)
			return F.post_st;
		*status = F.post_status ? F.post_status : 202;
		return sink->body(sink->arg, "{\"status\":\"OK\"}", 15) ? MTK_ERR_BODY_TOO_LARGE
		                                                        : MTK_OK;
	}
	if (F.next >= F.nscript)
		return MTK_ERR_CONNECT;
	a = &F.script[F.next++];
	if (a->st != MTK_OK)
		return a->st;
	for (h = a->headers; *h; h++) {
		colon = strchr(*h, ':');
		if (sink->header(sink->arg, *h, (size_t)(colon - *h), colon + 2, strlen(colon + 2)))
			return MTK_ERR_BODY_TOO_LARGE;
	}
	if (a->body) {
		/* In two pieces, as a network delivers it. */
		n = a->body_len ? a->body_len : strlen(a->body);
		if (sink->body(sink->arg, a->body, n / 2) ||
		    sink->body(sink->arg, a->body + n / 2, n - n / 2))
			return MTK_ERR_BODY_TOO_LARGE;
	}
	*status = a->status ? a->status : 200;
	return MTK_OK;
}

static int64_t fake_mono(void *arg)
{
	(void)arg;
	return F.mono_ms;
}

static void fake_sleep(void *arg, int64_t ms)
{
	(void)arg;
	cr_assert_lt(F.nsleeps, MAX_CALLS);
	F.sleeps[F.nsleeps++] = ms;
	F.mono_ms += ms;
}

static void fake_log(void *arg, const char *line)
{
	(void)arg;
	strncat(F.log, line, sizeof(F.log) - strlen(F.log) - 2);
	strcat(F.log, "\n");
}

static const struct mtk_runtime_transport transport = { .perform = fake_perform };
static const struct mtk_clock rt_clock = { .monotonic_ms = fake_mono, .sleep_ms = fake_sleep };

struct mtk_runtime_options options(uint64_t max)
{
	static const struct mtk_testing_runtime_seams seams = { .transport = &transport,
		                                                .clock = &rt_clock,
		                                                .log = fake_log };

	return (struct mtk_runtime_options){ .struct_size = sizeof(struct mtk_runtime_options),
		                             .runtime_api = "127.0.0.1:9001",
		                             .max_invocations = max,
		                             .no_metadata_token = true,
		                             .testing = &seams };
}

void setup(void)
{
	static const char *const vars[] = {
		"AWS_LAMBDA_FUNCTION_NAME",
		"AWS_LAMBDA_FUNCTION_VERSION",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
		"AWS_LAMBDA_LOG_GROUP_NAME",
		"AWS_LAMBDA_LOG_STREAM_NAME",
		"AWS_LAMBDA_RUNTIME_API",
		"_X_AMZN_TRACE_ID",
		"YC_METADATA_ADDR",
		"GCE_METADATA_HOST",
	};
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	memset(&F, 0, sizeof(F));
}

void teardown(void)
{
	int i;

	for (i = 0; i < F.ncalls; i++)
		free(F.calls[i].body);
	cJSON_Delete(F.ctx_json);
}

void push(struct next_answer a)
{
	cr_assert_lt(F.nscript, MAX_SCRIPT);
	F.script[F.nscript++] = a;
}

/* A /next answer with a request id and the given event. */
void push_event(const char *id_header, const char *body)
{
	push((struct next_answer){ .headers = { id_header, NULL }, .body = body });
}

/* The handler of most tests: records what it saw, answers the context. */
int record(const char *event, size_t len, const struct mtk_context *ctx, struct mtk_result *out,
           void *arg)
{
	const char *env = getenv("_X_AMZN_TRACE_ID");
	char *json = NULL;

	(void)arg;
	F.invocations++;
	cr_assert_eq(event[len], '\0', "the event is NUL-terminated");
	F.event_len = len;
	memcpy(F.event, event, len < sizeof(F.event) ? len : sizeof(F.event) - 1);
	snprintf(F.trace_id, sizeof(F.trace_id), "%s",
	         mtk_context_trace_id(ctx) ? mtk_context_trace_id(ctx) : "(none)");
	snprintf(F.trace_env, sizeof(F.trace_env), "%s", env ? env : "(none)");
	cr_assert_eq(mtk_context_to_json(ctx, &json), MTK_OK);
	cJSON_Delete(F.ctx_json);
	F.ctx_json = cJSON_Parse(json);
	mtk_json_free(json);
	return mtk_result_set_string(out, "{\"ok\":true}") == MTK_OK ? 0 : -1;
}

/* The member at a dotted path, or NULL. */
const cJSON *at(const char *path)
{
	char buf[128], *save = NULL, *part;
	const cJSON *node = F.ctx_json;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part && node; part = strtok_r(NULL, ".", &save))
		node = cJSON_GetObjectItemCaseSensitive(node, part);
	return node;
}

void expect_string(const char *path, const char *want)
{
	const cJSON *n = at(path);

	cr_assert(cJSON_IsString(n), "%s is not a string", path);
	cr_assert_str_eq(n->valuestring, want, "%s", path);
}

void expect_number(const char *path, double want)
{
	const cJSON *n = at(path);

	cr_assert(cJSON_IsNumber(n), "%s is not a number", path);
	cr_assert_eq(n->valuedouble, want, "%s: %f", path, n->valuedouble);
}

const struct call *last_post(void)
{
	int i;

	for (i = F.ncalls - 1; i >= 0; i--)
		if (strcmp(F.calls[i].method, "POST") == 0)
			return &F.calls[i];
	cr_assert_fail("nothing was posted");
	return NULL;
}

int posts(void)
{
	int i, n = 0;

	for (i = 0; i < F.ncalls; i++)
		n += strcmp(F.calls[i].method, "POST") == 0;
	return n;
}