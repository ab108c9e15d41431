/*
 * HTTP calls into a function, Yandex style (issue 12): /functions/<name>.
 * In-process on fake clocks, the test is the function's runtime, attached
 * at the root Runtime API (the configured function `function`), so that
 * it sees the very event a call becomes and answers whatever it likes:
 * each field of the event, each part of the answer's mapping, and each
 * error, with the call after every failure answered as usual. A timeout
 * ends when the test moves the wait clock.
 */
#include "cr_shim.h"
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "inproc.h"
#include "log.h"

#define NEXT      "/2018-06-01/runtime/invocation/next"
#define MAX_EVENT 8192
#define MALFORMED "Malformed serverless function response: "

static const char config[] =
    "{\"functions\": [{\"name\": \"function\", \"runtime\": \"external\", \"timeout_s\": 2,"
    " \"max_event_bytes\": 8192}]}";

static struct test_inproc ip;
static char log_path[64];
static FILE *log_fp;

static void setup(void)
{
	snprintf(log_path, sizeof(log_path), "/tmp/mtk-http-invoke-XXXXXX");
	cr_assert_neq(mkstemp(log_path), -1);
	log_fp = fopen(log_path, "w");
	cr_assert_not_null(log_fp);
	setvbuf(log_fp, NULL, _IOLBF, 0);
	log_set_file(log_fp);
	cr_assert_eq(test_inproc_start(&ip, config, NULL), 0);
}

static void teardown(void)
{
	if (ip.daemon)
		test_inproc_stop(&ip, 1000);
	log_set_file(NULL);
	if (log_fp)
		fclose(log_fp);
	log_fp = NULL;
	unlink(log_path);
}

TestSuite(http_invoke, .init = setup, .fini = teardown, .timeout = 60);

/* A call made on a thread of its own: it is held until the runtime answers. */
struct bg {
	pthread_t thread;
	const char *method;
	char url[512];
	const char *const *headers;
	const char *body;
	struct test_response r;
	int rc;
};

static void *bg_run(void *arg)
{
	struct bg *b = arg;

	b->rc = test_http(b->method, b->url, b->headers, b->body, &b->r);
	return NULL;
}

static void bg_start(struct bg *b, const char *method, const char *path, const char *const *headers,
                     const char *body)
{
	b->method = method;
	b->headers = headers;
	b->body = body;
	snprintf(b->url, sizeof(b->url), "%s%s", ip.base, path);
	cr_assert_eq(pthread_create(&b->thread, NULL, bg_run, b), 0);
}

static void bg_join(struct bg *b)
{
	pthread_join(b->thread, NULL);
	cr_assert_eq(b->rc, 0, "no response to %s %s", b->method, b->url);
}

/* Makes one call and checks its status (the response in *r). */
static void expect(const char *method, const char *path, const char *const *headers,
                   const char *body, long want, struct test_response *r)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", ip.base, path);
	cr_assert_eq(test_http(method, url, headers, body, r), 0, "%s %s", method, path);
	cr_assert_eq(r->status, want, "%s %s: %s", method, path, r->body);
}

static const char *hdr(const struct test_response *r, const char *name, char *buf, size_t n)
{
	const char *v = test_response_header(r, name, buf, n);

	cr_assert_not_null(v, "no %s header in\n%s", name, r->headers);
	return v;
}

/* Takes the next invocation as a runtime: its request id into id, its
 * event (malloc'd) as the answer. */
static char *take_next(char id[64])
{
	struct test_response r;
	char *event;

	expect("GET", NEXT, NULL, NULL, 200, &r);
	cr_assert_not_null(test_response_header(&r, "Lambda-Runtime-Aws-Request-Id", id, 64));
	event = strdup(r.body);
	test_response_free(&r);
	return event;
}

static void post_answer(const char *id, const char *what, const char *body, long want)
{
	struct test_response r;
	char path[256];

	snprintf(path, sizeof(path), "/2018-06-01/runtime/invocation/%s/%s", id, what);
	expect("POST", path, NULL, body, want, &r);
	test_response_free(&r);
}

/*
 * One call: method path as the caller, the runtime answering `answer` to
 * /response (or to /error when `error`). Returns the event the runtime
 * got, parsed; the caller's response in *out, the request id in id.
 */
static cJSON *round_trip(const char *method, const char *path, const char *const *headers,
                         const char *body, const char *answer, int error, struct test_response *out,
                         char id[64])
{
	struct bg b = { 0 };
	char *text;
	cJSON *event;

	bg_start(&b, method, path, headers, body);
	text = take_next(id);
	event = cJSON_Parse(text);
	post_answer(id, error ? "error" : "response", answer, 202);
	bg_join(&b);
	*out = b.r;
	if (!strstr(path, "integration=raw"))
		cr_assert_not_null(event, "the event is not JSON: %s", text);
	free(text);
	return event;
}

/* A plain call answered 200 "fine": the function works (after a failure). */
static void still_works(void)
{
	struct test_response r;
	char id[64];

	cJSON_Delete(round_trip("GET", "/functions/function", NULL, NULL,
	                        "{\"statusCode\":200,\"body\":\"fine\"}", 0, &r, id));
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(r.body, "fine");
	test_response_free(&r);
}

static const char *str(const cJSON *o, const char *path)
{
	char buf[256], *save = NULL;
	const cJSON *at = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
		at = cJSON_GetObjectItemCaseSensitive(at, k);
	cr_assert(cJSON_IsString(at), "%s is not a string", path);
	return at->valuestring;
}

/* The members of an object in order, "a=1,b=2"; lists as "a=[1|2]". */
static void members(const cJSON *o, char *out, size_t n)
{
	const cJSON *m, *v;
	size_t len = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(m, o)
	{
		len += (size_t)snprintf(out + len, n - len, "%s%s=", len ? "," : "", m->string);
		if (cJSON_IsString(m)) {
			len += (size_t)snprintf(out + len, n - len, "%s", m->valuestring);
			continue;
		}
		len += (size_t)snprintf(out + len, n - len, "[");
		cJSON_ArrayForEach(v, m) len += (size_t)snprintf(
		    out + len, n - len, "%s%s", v == m->child ? "" : "|", v->valuestring);
		len += (size_t)snprintf(out + len, n - len, "]");
	}
}

Test(http_invoke, the_request_becomes_the_yandex_event_field_by_field)
{
	static const char *const headers[] = { "Content-Type: application/json",
		                               "x-multi: one",
		                               "X-Multi: two",
		                               "User-Agent: tester/1.0",
		                               "Authorization: Bearer s3cret-token",
		                               "Cookie: session=1",
		                               "X-Forwarded-For: 10.1.2.3",
		                               NULL };
	struct test_response r;
	char id[64], v[128], want[160], got[1024], line[256];
	time_t t0 = time(NULL), t1;
	struct tm tm;
	cJSON *ev, *ctx;
	FILE *f;
	int started = 0;

	ev = round_trip("POST", "/functions/function/a/b%20c?x=1&x=2&y=z+w&flag", headers,
	                "{\"k\": [1, 2]}", "{\"statusCode\": 200, \"body\": \"ok\"}", 0, &r, id);
	t1 = time(NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(r.body, "ok");
	cr_assert_str_eq(str(ev, "httpMethod"), "POST");
	cr_assert_str_eq(str(ev, "path"), "/a/b c");
	cr_assert_str_eq(str(ev, "url"), "/a/b%20c?x=1&x=2&y=z%20w&flag");
	/* Canonical names, sorted; the last value in headers, all in
	 * multiValueHeaders; Authorization and Cookie never reach it. */
	cr_assert_str_eq(str(ev, "headers.X-Multi"), "two");
	members(cJSON_GetObjectItem(ev, "multiValueHeaders"), got, sizeof(got));
	snprintf(want, sizeof(want), "X-Multi=[one|two],X-Real-Remote-Address=[[127.0.0.1]:");
	cr_assert(strstr(got, want), "%s", got);
	cr_assert(strstr(got, "Accept=[*/*],Content-Length=[13],Content-Type=[application/json],"
	                      "Host=[127.0.0.1:"),
	          "%s", got);
	cr_assert(strstr(got, "User-Agent=[tester/1.0],X-Forwarded-For=[10.1.2.3, 127.0.0.1],"
	                      "X-Multi=[one|two]"),
	          "%s", got);
	cr_assert(!strstr(got, "Authorization") && !strstr(got, "s3cret") && !strstr(got, "Cookie"),
	          "%s", got);
	members(cJSON_GetObjectItem(ev, "headers"), got, sizeof(got));
	cr_assert(!strstr(got, "Authorization") && !strstr(got, "Cookie"), "%s", got);
	/* Query arguments: the last value, and all of them. */
	members(cJSON_GetObjectItem(ev, "queryStringParameters"), got, sizeof(got));
	cr_assert_str_eq(got, "flag=,x=2,y=z w");
	members(cJSON_GetObjectItem(ev, "multiValueQueryStringParameters"), got, sizeof(got));
	cr_assert_str_eq(got, "flag=[],x=[1|2],y=[z w]");
	members(cJSON_GetObjectItem(ev, "params"), got, sizeof(got));
	cr_assert_str_eq(got, "");
	cr_assert(cJSON_IsObject(cJSON_GetObjectItem(ev, "pathParams")));
	cr_assert(cJSON_IsObject(cJSON_GetObjectItem(ev, "multiValueParams")));
	/* The JSON body as it came. */
	cr_assert_str_eq(str(ev, "body"), "{\"k\": [1, 2]}");
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(ev, "isBase64Encoded")));
	/* The context: the caller, the method, this invocation's id, the time. */
	ctx = cJSON_GetObjectItem(ev, "requestContext");
	cr_assert_str_eq(str(ctx, "identity.sourceIp"), "127.0.0.1");
	cr_assert_str_eq(str(ctx, "identity.userAgent"), "tester/1.0");
	cr_assert_str_eq(str(ctx, "httpMethod"), "POST");
	cr_assert_str_eq(str(ctx, "requestId"), id);
	cr_assert_str_eq(str(ev, "headers.X-Request-Id"), id);
	cr_assert_str_eq(hdr(&r, "X-Request-Id", v, sizeof(v)), id);
	{
		time_t at = (time_t)cJSON_GetObjectItem(ctx, "requestTimeEpoch")->valuedouble;
		static const char months[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
			                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

		cr_assert(at >= t0 && at <= t1, "requestTimeEpoch %lld", (long long)at);
		gmtime_r(&at, &tm);
		snprintf(want, sizeof(want), "%02d/%s/%d:%02d:%02d:%02d +0000", tm.tm_mday,
		         months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		cr_assert_str_eq(str(ctx, "requestTime"), want);
	}
	/* The log's START line has the same id, and no line has the token. */
	snprintf(want, sizeof(want), "fn    function START RequestId: %s", id);
	f = fopen(log_path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		started |= strstr(line, want) != NULL;
		cr_assert(!strstr(line, "s3cret"), "the log shows the token: %s", line);
	}
	fclose(f);
	cr_assert(started, "no \"%s\" in the log", want);
	cJSON_Delete(ev);
	test_response_free(&r);
}

Test(http_invoke, bodies_not_sent_as_json_are_base64)
{
	static const char *const octets[] = { "Content-Type: application/octet-stream", NULL };
	static const char *const json_utf8[] = { "Content-Type: Application/JSON; charset=utf-8",
		                                 NULL };
	static const char *const json_latin1[] = { "Content-Type: application/json", NULL };
	static const char *const form[] = { "Content-Type: application/x-www-form-urlencoded",
		                            NULL };
	static const struct {
		const char *method;
		const char *const *headers;
		const char *body, *want;
		int b64;
	} cases[] = {
		{ "POST", octets, "\x01\x02\xfe\xff", "AQL+/w==", 1 },
		{ "PUT", json_utf8, "{\"caf\xc3\xa9\": 1}", "{\"caf\xc3\xa9\": 1}", 0 },
		{ "POST", json_latin1, "{\"caf\xe9\": 1}", "eyJjYWbpIjogMX0=", 1 },
		{ "POST", form, "hello, world!", "aGVsbG8sIHdvcmxkIQ==", 1 },
		{ "GET", NULL, NULL, "", 1 },
	};
	struct test_response r;
	char id[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *ev = round_trip(cases[i].method, "/functions/function", cases[i].headers,
		                       cases[i].body, "{}", 0, &r, id);

		cr_assert_str_eq(str(ev, "httpMethod"), cases[i].method);
		cr_assert_str_eq(str(ev, "body"), cases[i].want, "case %zu", i);
		cr_assert_eq(cJSON_IsTrue(cJSON_GetObjectItem(ev, "isBase64Encoded")), cases[i].b64,
		             "case %zu", i);
		/* An answer of {} is 200 with nothing in it. */
		cr_assert_eq(r.status, 200);
		cr_assert_eq(r.body_len, 0);
		cJSON_Delete(ev);
		test_response_free(&r);
	}
}

Test(http_invoke, text_that_is_not_utf8_gets_replacement_characters)
{
	static const char *const headers[] = { "X-Bin: a\xff", NULL };
	struct test_response r;
	char id[64];
	cJSON *ev =
	    round_trip("GET", "/functions/function/p%FF?q=%FE", headers, NULL, "{}", 0, &r, id);

	cr_assert_str_eq(str(ev, "path"), "/p\xef\xbf\xbd");
	cr_assert_str_eq(str(ev, "url"), "/p%FF?q=%FE");
	cr_assert_str_eq(str(ev, "headers.X-Bin"), "a\xef\xbf\xbd");
	cr_assert_str_eq(str(ev, "queryStringParameters.q"), "\xef\xbf\xbd");
	cJSON_Delete(ev);
	test_response_free(&r);
}

Test(http_invoke, every_method_reaches_the_function)
{
	static const char *const methods[] = { "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD" };
	struct test_response r;
	char id[64];

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		cJSON *ev = round_trip(methods[i], "/functions/function/x", NULL, NULL,
		                       "{\"statusCode\": 202, \"body\": \"b\"}", 0, &r, id);

		cr_assert_str_eq(str(ev, "httpMethod"), methods[i]);
		cr_assert_str_eq(str(ev, "requestContext.httpMethod"), methods[i]);
		cr_assert_eq(r.status, 202);
		cr_assert_str_eq(r.body, strcmp(methods[i], "HEAD") ? "b" : "");
		cJSON_Delete(ev);
		test_response_free(&r);
	}
}

Test(http_invoke, the_answer_becomes_the_response)
{
	static const char answer[] =
	    "{\"statusCode\": 201,"
	    " \"headers\": {\"Content-Type\": \"image/png\", \"X-One\": \"1\","
	    "  \"X-Both\": \"from headers\", \"Date\": \"yesterday\", \"Host\": \"h\","
	    "  \"Content-Length\": \"999\", \"Connection\": \"close\"},"
	    " \"multiValueHeaders\": {\"x-both\": [\"m1\", \"m2\"],"
	    "  \"Set-Cookie\": [\"a=1\", \"b=2\"]},"
	    " \"body\": \"iVBORw0KGgoA/w==\", \"isBase64Encoded\": true, \"extra\": [1]}";
	static const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0xff };
	struct test_response r;
	char id[64], v[128];

	cJSON_Delete(round_trip("GET", "/functions/function", NULL, NULL, answer, 0, &r, id));
	cr_assert_eq(r.status, 201, "%s", r.body);
	cr_assert_eq(r.body_len, sizeof(png));
	cr_assert(memcmp(r.body, png, sizeof(png)) == 0);
	cr_assert_str_eq(hdr(&r, "Content-Type", v, sizeof(v)), "image/png");
	cr_assert_str_eq(hdr(&r, "X-One", v, sizeof(v)), "1");
	cr_assert_str_eq(hdr(&r, "Content-Length", v, sizeof(v)), "10");
	/* multiValueHeaders wins for a name in both, in any case. */
	cr_assert(strstr(r.headers, "x-both: m1\r\nx-both: m2\r\n"), "%s", r.headers);
	cr_assert(!strstr(r.headers, "from headers"), "%s", r.headers);
	cr_assert(strstr(r.headers, "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n"), "%s", r.headers);
	/* Yandex's filter: Date renamed, Host and Connection dropped. */
	cr_assert_str_eq(hdr(&r, "X-Yf-Remapped-Date", v, sizeof(v)), "yesterday");
	cr_assert(!strstr(r.headers, "Host:") && !strstr(r.headers, "onnection: close"), "%s",
	          r.headers);
	cr_assert_str_eq(hdr(&r, "X-Request-Id", v, sizeof(v)), id);
	test_response_free(&r);

	/* No status: 200; the function's own X-Request-Id is kept. */
	cJSON_Delete(round_trip("GET", "/functions/function", NULL, NULL,
	                        "{\"headers\": {\"x-request-id\": \"mine\"}, \"body\": \"hi\"}", 0,
	                        &r, id));
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "hi");
	cr_assert_str_eq(hdr(&r, "X-Request-Id", v, sizeof(v)), "mine");
	cr_assert_null(strstr(r.headers, id));
	cr_assert_null(test_response_header(&r, "Content-Type", v, sizeof(v)));
	test_response_free(&r);
}

Test(http_invoke, an_unhandled_error_is_502_with_x_function_error)
{
	static const char doc[] =
	    "{\"errorMessage\":\"boom\",\"errorType\":\"ValueError\",\"stackTrace\":[\"x\"]}";
	struct test_response r;
	char id[64], v[64];

	cJSON_Delete(round_trip("POST", "/functions/function", NULL, "{}", doc, 1, &r, id));
	cr_assert_eq(r.status, 502);
	cr_assert_str_eq(hdr(&r, "X-Function-Error", v, sizeof(v)), "true");
	cr_assert_str_eq(hdr(&r, "Content-Type", v, sizeof(v)), "application/json");
	cr_assert_str_eq(r.body, doc);
	test_response_free(&r);
	still_works();
}

Test(http_invoke, each_malformed_answer_is_502_proxy_integration_error)
{
	static const struct {
		const char *answer, *what;
	} cases[] = {
		{ "hello", "not a valid json" },
		{ "{\"statusCode\": 200", "not a valid json" },
		{ "[1, 2]", "not a json object" },
		{ "{\"statusCode\": \"200\"}", "statusCode must be an integer from 200 to 599" },
		{ "{\"statusCode\": 99}", "statusCode must be an integer from 200 to 599" },
		{ "{\"statusCode\": 200.5}", "statusCode must be an integer from 200 to 599" },
		{ "{\"body\": {\"a\": 1}}", "body must be a string" },
		{ "{\"isBase64Encoded\": \"yes\"}", "isBase64Encoded must be true or false" },
		{ "{\"isBase64Encoded\": true, \"body\": \"not base64!\"}",
		  "body is not valid base64" },
		{ "{\"isBase64Encoded\": true, \"body\": \"YQ\"}", "body is not valid base64" },
		{ "{\"headers\": [\"a\"]}", "headers must be an object of strings" },
		{ "{\"headers\": {\"X-N\": 1}}", "headers.X-N must be a string" },
		{ "{\"multiValueHeaders\": {\"X-M\": \"a\"}}",
		  "multiValueHeaders.X-M must be a list of strings" },
		{ "{\"multiValueHeaders\": {\"X-M\": [1]}}",
		  "multiValueHeaders.X-M must be a list of strings" },
		{ "{\"headers\": {\"X-Evil\": \"a\\r\\nSet-Cookie: stolen=1\"}}",
		  "the value of header X-Evil holds a line break" },
		{ "{\"multiValueHeaders\": {\"X-Evil\": [\"ok\", \"a\\nb\"]}}",
		  "the value of header X-Evil holds a line break" },
		{ "{\"headers\": {\"Bad Name\": \"a\"}}",
		  "header name \"Bad Name\" is not a valid HTTP header name" },
		{ "{\"headers\": {\"X-A\\r\\nSet-Cookie: stolen=1\": \"a\"}}",
		  "is not a valid HTTP header name" },
		{ "{\"headers\": {\"Via\": \"proxy\"}}", "header Via cannot be set by a function" },
		{ "{\"headers\": {\"Transfer-Encoding\": \"chunked\"}}",
		  "header Transfer-Encoding cannot be set by a function" },
		{ "{\"body\": \"a\\u0000b\"}", "a \\u0000 escape cannot be passed on" },
	};
	struct test_response r;
	char id[64], v[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *doc;

		cJSON_Delete(round_trip("GET", "/functions/function", NULL, NULL, cases[i].answer,
		                        0, &r, id));
		cr_assert_eq(r.status, 502, "case %zu: %s", i, r.body);
		cr_assert_null(strstr(r.headers, "stolen"), "case %zu: %s", i, r.headers);
		cr_assert_str_eq(hdr(&r, "X-Request-Id", v, sizeof(v)), id);
		doc = cJSON_Parse(r.body);
		cr_assert_not_null(doc, "case %zu: %s", i, r.body);
		cr_assert_str_eq(str(doc, "errorType"), "ProxyIntegrationError");
		cr_assert(strncmp(str(doc, "errorMessage"), MALFORMED, strlen(MALFORMED)) == 0 &&
		              strstr(str(doc, "errorMessage"), cases[i].what),
		          "case %zu: %s", i, r.body);
		cr_assert_str_eq(str(doc, "payload"), cases[i].answer);
		cJSON_Delete(doc);
		test_response_free(&r);
		still_works();
	}
}

Test(http_invoke, headers_past_the_cap_are_a_malformed_answer)
{
	char *answer = malloc(16384), id[64];
	struct test_response r;
	size_t n = 0;

	n += (size_t)sprintf(answer, "{\"headers\": {");
	for (int i = 0; i < 80; i++)
		n += (size_t)sprintf(answer + n, "%s\"X-H%02d\": \"%0100d\"", i ? ", " : "", i, 0);
	sprintf(answer + n, "}}");
	cJSON_Delete(round_trip("GET", "/functions/function", NULL, NULL, answer, 0, &r, id));
	cr_assert_eq(r.status, 502, "%s", r.body);
	cr_assert(strstr(r.body, MALFORMED "the headers take more than 8192 bytes"), "%s", r.body);
	test_response_free(&r);
	/* Just under the cap goes out whole. */
	n = (size_t)sprintf(answer, "{\"headers\": {");
	for (int i = 0; i < 70; i++)
		n += (size_t)sprintf(answer + n, "%s\"X-H%02d\": \"%0100d\"", i ? ", " : "", i, 0);
	sprintf(answer + n, "}, \"body\": \"ok\"}");
	cJSON_Delete(round_trip("GET", "/functions/function", NULL, NULL, answer, 0, &r, id));
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(strstr(r.headers, "X-H69: 0000"), "%s", r.headers);
	test_response_free(&r);
	free(answer);
}

static int held_at_least_one(const struct daemon_counts *c, void *arg)
{
	(void)arg;
	return c->held >= 1;
}

Test(http_invoke, a_timeout_is_504_and_the_late_answer_is_refused)
{
	struct bg b = { 0 };
	char id[64], v[64];
	cJSON *doc;

	bg_start(&b, "GET", "/functions/function", NULL, NULL);
	free(take_next(id));
	cr_assert_eq(test_inproc_until(&ip, held_at_least_one, NULL), 0);
	/* The function's timeout is 2 s of the wait clock. */
	fake_clock_advance(&ip.wait_time, 1990);
	test_inproc_wait(&ip, 0);
	cr_assert_eq(test_inproc_until(&ip, held_at_least_one, NULL), 0);
	fake_clock_advance(&ip.wait_time, 20);
	bg_join(&b);
	cr_assert_eq(b.r.status, 504, "%s", b.r.body);
	cr_assert_null(test_response_header(&b.r, "X-Function-Error", v, sizeof(v)));
	doc = cJSON_Parse(b.r.body);
	cr_assert_str_eq(str(doc, "errorType"), "Sandbox.Timedout");
	cr_assert_str_eq(hdr(&b.r, "X-Request-Id", v, sizeof(v)), id);
	post_answer(id, "response", "{\"statusCode\": 200}", 403);
	cJSON_Delete(doc);
	test_response_free(&b.r);
	still_works();
}

Test(http_invoke, integration_raw_passes_the_body_both_ways)
{
	struct test_response r, next;
	struct bg b = { 0 };
	char id[64], v[64];

	/* The body is the event, not JSON at all; the answer is the body,
	 * not read as a response structure, and the status is 200. */
	bg_start(&b, "POST", "/functions/function/p?integration=raw", NULL, "plain text\n\tbody");
	expect("GET", NEXT, NULL, NULL, 200, &next);
	cr_assert_str_eq(next.body, "plain text\n\tbody");
	cr_assert_not_null(test_response_header(&next, "Lambda-Runtime-Aws-Request-Id", id, 64));
	post_answer(id, "response", "{\"statusCode\": 404, \"body\": \"x\"}", 202);
	bg_join(&b);
	cr_assert_eq(b.r.status, 200);
	cr_assert_str_eq(b.r.body, "{\"statusCode\": 404, \"body\": \"x\"}");
	cr_assert_str_eq(hdr(&b.r, "X-Request-Id", v, sizeof(v)), id);
	test_response_free(&next);
	test_response_free(&b.r);
	/* A function error is still one. */
	cJSON_Delete(round_trip("POST", "/functions/function?integration=raw", NULL, "x",
	                        "{\"errorMessage\":\"no\",\"errorType\":\"E\"}", 1, &r, id));
	cr_assert_eq(r.status, 502);
	cr_assert_str_eq(hdr(&r, "X-Function-Error", v, sizeof(v)), "true");
	test_response_free(&r);
	still_works();
}

Test(http_invoke, an_unknown_function_is_404_in_json)
{
	static const char *const paths[] = { "/functions/nope", "/functions/nope/deeper?x=1",
		                             "/functions/", "/functions//x" };
	struct test_response r;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		cJSON *doc;

		expect("POST", paths[i], NULL, "{}", 404, &r);
		doc = cJSON_Parse(r.body);
		cr_assert_not_null(doc, "%s", r.body);
		cr_assert_str_eq(str(doc, "errorType"), "NotFound");
		cr_assert(strlen(str(doc, "errorMessage")) > 0);
		cJSON_Delete(doc);
		test_response_free(&r);
	}
	expect("GET", "/functions/nope", NULL, NULL, 404, &r);
	cr_assert(strstr(r.body, "no function named \\\"nope\\\""), "%s", r.body);
	test_response_free(&r);
	still_works();
}

Test(http_invoke, bodies_over_the_cap_are_413)
{
	static const char *const octets[] = { "Content-Type: application/octet-stream", NULL };
	size_t big = 7 * 1024 * 1024;
	char *body = malloc(big + 1);
	struct test_response r;

	/* Over the function's max_event_bytes; under it, but over once the
	 * event has it in base64; over every function's cap (the daemon's
	 * refusal, in the same shape). */
	memset(body, 'a', big);
	body[MAX_EVENT + 1] = '\0';
	expect("POST", "/functions/function", NULL, body, 413, &r);
	cr_assert(strstr(r.body, "\"errorType\":\"PayloadTooLarge\""), "%s", r.body);
	test_response_free(&r);
	body[MAX_EVENT + 1] = 'a';
	body[MAX_EVENT - 1000] = '\0';
	expect("POST", "/functions/function", octets, body, 413, &r);
	cr_assert(strstr(r.body, "the event ("), "%s", r.body);
	test_response_free(&r);
	body[MAX_EVENT - 1000] = 'a';
	body[big] = '\0';
	expect("POST", "/functions/function/x", NULL, body, 413, &r);
	cr_assert(strstr(r.body, "\"errorType\":\"PayloadTooLarge\""), "%s", r.body);
	test_response_free(&r);
	free(body);
	still_works();
}

Test(http_invoke, more_calls_than_the_concurrency_are_429)
{
	struct test_response r;
	struct bg b = { 0 };
	char id[64], v[64], *event;

	bg_start(&b, "GET", "/functions/function/first", NULL, NULL);
	cr_assert_eq(test_inproc_until(&ip, held_at_least_one, NULL), 0);
	expect("GET", "/functions/function/second", NULL, NULL, 429, &r);
	cr_assert(strstr(r.body, "\"errorType\":\"TooManyRequests\""), "%s", r.body);
	cr_assert_str_eq(hdr(&r, "Retry-After", v, sizeof(v)), "1");
	test_response_free(&r);
	/* The first goes on and is answered. */
	event = take_next(id);
	cr_assert(strstr(event, "\"path\":\"/first\""), "%s", event);
	free(event);
	post_answer(id, "response", "{\"body\": \"first\"}", 202);
	bg_join(&b);
	cr_assert_str_eq(b.r.body, "first");
	test_response_free(&b.r);
	still_works();
}

Test(http_invoke, the_host_rules_apply_and_no_metadata_header_is_needed)
{
	static const char *const rebound[] = { "Host: attacker.example", NULL };
	struct test_response r;

	expect("GET", "/functions/function", rebound, NULL, 403, &r);
	cr_assert(strstr(r.body, "\"errorType\":\"Forbidden\""), "%s", r.body);
	cr_assert(strstr(r.body, "DNS rebinding"), "%s", r.body);
	test_response_free(&r);
	/* Every call above went without Metadata-Flavor. */
	still_works();
}
