/*
 * Functions over the wire (issue 11): the Runtime API a runtime polls and
 * the Invoke API a caller uses, in-process with both clocks in the test's
 * hands. The runtime here is the test itself, attached from outside at the
 * root Runtime API (RIE's convention: the function `function`), so every
 * step is visible: what /next carries, what an invoker gets, and what a
 * late or wrong answer is told. Timeouts end when the test moves the wait
 * clock, never in real time.
 */
#include "cr_shim.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "inproc.h"

static struct test_inproc ip;

static void stop(void)
{
	if (ip.daemon)
		test_inproc_stop(&ip, 1000);
}

TestSuite(functions, .fini = stop, .timeout = 60);

/* A request made on a thread of its own, for one that is held. */
struct bg {
	pthread_t thread;
	const char *method;
	char url[512];
	const char *headers[4];
	const char *body;
	struct test_response r;
	int rc;
	_Atomic int done;
};

static void *bg_run(void *arg)
{
	struct bg *b = arg;

	b->rc = test_http(b->method, b->url, b->headers[0] ? b->headers : NULL, b->body, &b->r);
	atomic_store(&b->done, 1);
	return NULL;
}

/* test_inproc_until: the request on its thread is held, or answered. */
static int held_or_done(const struct daemon_counts *c, void *arg)
{
	return c->held >= 1 || atomic_load(&((struct bg *)arg)->done);
}

static void bg_start(struct bg *b, const char *method, const char *path, const char *body)
{
	b->method = method;
	b->body = body;
	snprintf(b->url, sizeof(b->url), "%s%s", ip.base, path);
	cr_assert_eq(pthread_create(&b->thread, NULL, bg_run, b), 0);
}

static void bg_join(struct bg *b)
{
	pthread_join(b->thread, NULL);
	cr_assert_eq(b->rc, 0, "no response to %s %s", b->method, b->url);
}

static long call(const char *method, const char *path, const char *const *headers, const char *body,
                 struct test_response *r)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", ip.base, path);
	cr_assert_eq(test_http(method, url, headers, body, r), 0, "%s %s", method, path);
	return r->status;
}

#define NEXT   "/2018-06-01/runtime/invocation/next"
#define INVOKE "/2015-03-31/functions/function/invocations"

/* Takes the next invocation as a runtime would; returns its request id. */
static void take_next(struct test_response *r, char *id, size_t idlen)
{
	cr_assert_eq(call("GET", NEXT, NULL, NULL, r), 200, "%s", r->body);
	cr_assert_not_null(test_response_header(r, "Lambda-Runtime-Aws-Request-Id", id, idlen));
}

static void post_answer(const char *id, const char *what, const char *body, long want)
{
	struct test_response r;
	char path[256];

	snprintf(path, sizeof(path), "/2018-06-01/runtime/invocation/%s/%s", id, what);
	cr_assert_eq(call("POST", path, NULL, body, &r), want, "%s", r.body);
	test_response_free(&r);
}

static const char *hdr(const struct test_response *r, const char *name, char *buf, size_t n)
{
	const char *v = test_response_header(r, name, buf, n);

	cr_assert_not_null(v, "no %s header", name);
	return v;
}

Test(functions, an_invocation_reaches_the_runtime_with_every_header_and_comes_back)
{
	struct test_response next, tok, prot;
	struct bg inv = { 0 };
	char id[64], v[1024], auth[600];
	cJSON *t, *m;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	bg_start(&inv, "POST", INVOKE, "{\"n\": 1}");
	take_next(&next, id, sizeof(id));
	cr_assert_str_eq(next.body, "{\"n\": 1}");
	cr_assert_eq(strlen(id), 36, "a UUID: %s", id);
	cr_assert(atoll(hdr(&next, "Lambda-Runtime-Deadline-Ms", v, sizeof(v))) > 1700000000000LL,
	          "wall-clock epoch ms: %s", v);
	cr_assert_str_eq(hdr(&next, "Lambda-Runtime-Invoked-Function-Arn", v, sizeof(v)),
	                 "arn:aws:lambda:us-east-1:123456789012:function:function");
	cr_assert(strncmp(hdr(&next, "Lambda-Runtime-Trace-Id", v, sizeof(v)), "Root=1-", 7) == 0);
	cr_assert_str_eq(hdr(&next, "Lambda-Runtime-Function-Name", v, sizeof(v)), "function");
	cr_assert_str_eq(hdr(&next, "Lambda-Runtime-Function-Version", v, sizeof(v)), "$LATEST");
	cr_assert_str_eq(hdr(&next, "Lambda-Runtime-Memory-Limit", v, sizeof(v)), "128");
	cr_assert_str_eq(hdr(&next, "Lambda-Runtime-Log-Group-Name", v, sizeof(v)),
	                 "/aws/lambda/function");
	cr_assert_null(test_response_header(&next, "Lambda-Runtime-Client-Context", v, sizeof(v)));
	cr_assert_null(
	    test_response_header(&next, "Lambda-Runtime-Cognito-Identity", v, sizeof(v)));

	/* The token is the one the metadata path serves, with its true life. */
	t = cJSON_Parse(hdr(&next, "Lambda-Runtime-Token-Json", v, sizeof(v)));
	cr_assert_not_null(t, "%s", v);
	cr_assert_eq(call("GET", "/computeMetadata/v1/instance/service-accounts/default/token",
	                  (const char *const[]){ "Metadata-Flavor: Google", NULL }, NULL, &tok),
	             200);
	m = cJSON_Parse(tok.body);
	cr_assert_str_eq(cJSON_GetObjectItem(t, "access_token")->valuestring,
	                 cJSON_GetObjectItem(m, "access_token")->valuestring);
	cr_assert_eq(cJSON_GetObjectItem(t, "expires_in")->valueint,
	             cJSON_GetObjectItem(m, "expires_in")->valueint);
	cr_assert_str_eq(cJSON_GetObjectItem(t, "token_type")->valuestring, "Bearer");
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	         cJSON_GetObjectItem(t, "access_token")->valuestring);
	cr_assert_eq(call("GET", "/protected/x", (const char *const[]){ auth, NULL }, NULL, &prot),
	             200, "%s", prot.body);

	post_answer(id, "response", "{\"ok\":true}", 202);
	bg_join(&inv);
	cr_assert_eq(inv.r.status, 200);
	cr_assert_str_eq(inv.r.body, "{\"ok\":true}");
	cr_assert_str_eq(hdr(&inv.r, "X-Amzn-RequestId", v, sizeof(v)), id);
	cr_assert_null(test_response_header(&inv.r, "X-Amz-Function-Error", v, sizeof(v)));
	/* The invocation is over: a second answer is refused, clearly. */
	post_answer(id, "response", "again", 403);
	cJSON_Delete(t);
	cJSON_Delete(m);
	test_response_free(&next);
	test_response_free(&tok);
	test_response_free(&prot);
	test_response_free(&inv.r);
}

Test(functions, a_function_error_is_200_with_the_error_document)
{
	static const char doc[] =
	    "{\"errorMessage\":\"boom\",\"errorType\":\"ValueError\",\"stackTrace\":[]}";
	struct test_response next;
	struct bg inv = { 0 };
	char id[64], v[64];

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	bg_start(&inv, "POST", INVOKE, "{}");
	take_next(&next, id, sizeof(id));
	post_answer(id, "error", doc, 202);
	bg_join(&inv);
	cr_assert_eq(inv.r.status, 200);
	cr_assert_str_eq(hdr(&inv.r, "X-Amz-Function-Error", v, sizeof(v)), "Unhandled");
	cr_assert_str_eq(inv.r.body, doc);
	test_response_free(&next);
	test_response_free(&inv.r);
}

Test(functions, an_error_with_no_body_takes_its_type_from_the_header)
{
	struct test_response next, r;
	struct bg inv = { 0 };
	char id[64], path[128];

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	bg_start(&inv, "POST", INVOKE, "{}");
	take_next(&next, id, sizeof(id));
	snprintf(path, sizeof(path), "/2018-06-01/runtime/invocation/%s/error", id);
	cr_assert_eq(
	    call("POST", path,
	         (const char *const[]){ "Lambda-Runtime-Function-Error-Type: Oops.Bad", NULL },
	         NULL, &r),
	    202);
	bg_join(&inv);
	cr_assert(strstr(inv.r.body, "\"errorType\":\"Oops.Bad\""), "%s", inv.r.body);
	test_response_free(&r);
	test_response_free(&next);
	test_response_free(&inv.r);
}

static int held_at_least(const struct daemon_counts *c, void *arg)
{
	return c->held >= *(unsigned *)arg;
}

Test(functions, a_timeout_ends_the_invocation_and_refuses_the_late_answer)
{
	struct test_response next;
	struct bg inv = { 0 };
	char id[64], v[64];
	unsigned one = 1;
	cJSON *doc;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	bg_start(&inv, "POST", INVOKE, "{}");
	take_next(&next, id, sizeof(id));
	cr_assert_eq(test_inproc_until(&ip, held_at_least, &one), 0);
	/* 3 s is the default timeout: just before it nothing ends. */
	fake_clock_advance(&ip.wait_time, 2990);
	test_inproc_wait(&ip, 0);
	cr_assert_eq(test_inproc_until(&ip, held_at_least, &one), 0);
	fake_clock_advance(&ip.wait_time, 20);
	bg_join(&inv);
	cr_assert_eq(inv.r.status, 200);
	cr_assert_str_eq(hdr(&inv.r, "X-Amz-Function-Error", v, sizeof(v)), "Unhandled");
	doc = cJSON_Parse(inv.r.body);
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "errorType")->valuestring, "Sandbox.Timedout");
	cr_assert(strstr(cJSON_GetObjectItem(doc, "errorMessage")->valuestring,
	                 "timed out after 3.00 seconds"),
	          "%s", inv.r.body);
	post_answer(id, "response", "{\"late\":true}", 403);
	cJSON_Delete(doc);
	test_response_free(&next);
	test_response_free(&inv.r);
}

Test(functions, unknown_ids_and_paths_get_clear_errors)
{
	struct test_response r;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	cr_assert_eq(call("POST", "/2018-06-01/runtime/invocation/nope/response", NULL, "{}", &r),
	             400);
	cr_assert(strstr(r.body, "\"errorType\":\"InvalidRequestID\""), "%s", r.body);
	test_response_free(&r);
	cr_assert_eq(call("POST", "/2015-03-31/functions/nosuch/invocations", NULL, "{}", &r), 404);
	cr_assert(strstr(r.body, "Function not found: nosuch"), "%s", r.body);
	cr_assert(strstr(r.headers, "X-Amzn-ErrorType: ResourceNotFoundException"), "%s",
	          r.headers);
	test_response_free(&r);
	/* An event that is not JSON, or JSON and more: AWS's 400. */
	cr_assert_eq(call("POST", INVOKE, NULL, "not json", &r), 400);
	cr_assert(strstr(r.headers, "X-Amzn-ErrorType: InvalidRequestContentException"), "%s",
	          r.headers);
	test_response_free(&r);
	cr_assert_eq(call("POST", INVOKE, NULL, "{} {}", &r), 400);
	test_response_free(&r);
	cr_assert_eq(call("GET", INVOKE, NULL, NULL, &r), 405);
	test_response_free(&r);
	cr_assert_eq(call("GET", "/2018-06-01/runtime/whatever", NULL, NULL, &r), 404);
	cr_assert(strstr(r.body, "errorType"), "%s", r.body);
	test_response_free(&r);
	cr_assert_eq(call("POST", INVOKE,
	                  (const char *const[]){ "X-Amz-Invocation-Type: Sometimes", NULL }, "{}",
	                  &r),
	             400);
	test_response_free(&r);
}

Test(functions, over_the_concurrency_a_caller_gets_429_not_a_queue)
{
	struct test_response r, next;
	struct bg inv = { 0 };
	unsigned one = 1;
	char id[64];

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	bg_start(&inv, "POST", INVOKE, "{}");
	cr_assert_eq(test_inproc_until(&ip, held_at_least, &one), 0);
	cr_assert_eq(call("POST", INVOKE, NULL, "{}", &r), 429);
	cr_assert(strstr(r.headers, "X-Amzn-ErrorType: TooManyRequestsException"), "%s", r.headers);
	test_response_free(&r);
	take_next(&next, id, sizeof(id));
	post_answer(id, "response", "1", 202);
	bg_join(&inv);
	cr_assert_str_eq(inv.r.body, "1");
	test_response_free(&inv.r);
	test_response_free(&next);
	/* Free again. */
	memset(&inv, 0, sizeof(inv));
	bg_start(&inv, "POST", INVOKE, "{}");
	take_next(&next, id, sizeof(id));
	post_answer(id, "response", "2", 202);
	bg_join(&inv);
	cr_assert_str_eq(inv.r.body, "2");
	test_response_free(&next);
	test_response_free(&inv.r);
}

Test(functions, event_invocations_are_accepted_and_run_later_dry_runs_not_at_all)
{
	static const char *const event_hdr[] = { "X-Amz-Invocation-Type: Event", NULL };
	static const char *const dry_hdr[] = { "X-Amz-Invocation-Type: DryRun", NULL };
	struct test_response r, next;
	char id[64];

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	cr_assert_eq(call("POST", INVOKE, dry_hdr, "{\"dry\":1}", &r), 204);
	test_response_free(&r);
	cr_assert_eq(call("POST", INVOKE, event_hdr, "{\"a\":1}", &r), 202);
	test_response_free(&r);
	cr_assert_eq(call("POST", INVOKE, event_hdr, "{\"a\":2}", &r), 202);
	test_response_free(&r);
	/* In order, each once; the dry run never. */
	take_next(&next, id, sizeof(id));
	cr_assert_str_eq(next.body, "{\"a\":1}");
	post_answer(id, "response", "", 202);
	test_response_free(&next);
	take_next(&next, id, sizeof(id));
	cr_assert_str_eq(next.body, "{\"a\":2}");
	post_answer(id, "response", "", 202);
	test_response_free(&next);
}

Test(functions, the_client_context_reaches_the_runtime_and_bad_ones_are_refused)
{
	struct test_response r, next;
	struct bg inv = { 0 };
	char id[64], v[256];

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	/* base64 of {"custom":{"k":"v"}} */
	inv.headers[0] = "X-Amz-Client-Context: eyJjdXN0b20iOnsiayI6InYifX0=";
	bg_start(&inv, "POST", INVOKE, "{}");
	take_next(&next, id, sizeof(id));
	cr_assert_str_eq(hdr(&next, "Lambda-Runtime-Client-Context", v, sizeof(v)),
	                 "{\"custom\":{\"k\":\"v\"}}");
	post_answer(id, "response", "{}", 202);
	bg_join(&inv);
	test_response_free(&inv.r);
	test_response_free(&next);
	cr_assert_eq(call("POST", INVOKE,
	                  (const char *const[]){ "X-Amz-Client-Context: bm90IGpzb24=", NULL }, "{}",
	                  &r),
	             400);
	cr_assert(strstr(r.headers, "InvalidRequestContentException"), "%s", r.headers);
	test_response_free(&r);
	cr_assert_eq(call("POST", INVOKE,
	                  (const char *const[]){ "X-Amz-Client-Context: !!!!", NULL }, "{}", &r),
	             400);
	test_response_free(&r);
}

Test(functions, events_and_responses_over_the_caps_are_refused)
{
	static const char cfg[] =
	    "{\"functions\": [{\"name\": \"function\", \"runtime\": \"external\","
	    " \"max_event_bytes\": 16, \"max_response_bytes\": 8}]}";
	struct test_response r, next;
	struct bg inv = { 0 };
	char id[64], v[64];

	cr_assert_eq(test_inproc_start(&ip, cfg, NULL), 0);
	cr_assert_eq(call("POST", INVOKE, NULL, "{\"this is\":\"too long\"}", &r), 413);
	cr_assert(strstr(r.headers, "RequestEntityTooLargeException"), "%s", r.headers);
	test_response_free(&r);
	bg_start(&inv, "POST", INVOKE, "{}");
	take_next(&next, id, sizeof(id));
	post_answer(id, "response", "123456789", 413);
	bg_join(&inv);
	cr_assert_str_eq(hdr(&inv.r, "X-Amz-Function-Error", v, sizeof(v)), "Unhandled");
	cr_assert(strstr(inv.r.body, "Function.ResponseSizeTooLarge"), "%s", inv.r.body);
	test_response_free(&next);
	test_response_free(&inv.r);

	/* Larger than the daemon reads at all (the largest cap and a margin):
	 * refused before any handler, and still the invocation ends now. */
	{
		size_t big = 6 * 1024 * 1024 + 128 * 1024;
		char *body = malloc(big + 1);

		cr_assert_not_null(body);
		memset(body, 'x', big);
		body[big] = '\0';
		memset(&inv, 0, sizeof(inv));
		bg_start(&inv, "POST", INVOKE, "{}");
		take_next(&next, id, sizeof(id));
		post_answer(id, "response", body, 413);
		bg_join(&inv);
		cr_assert(strstr(inv.r.body, "Function.ResponseSizeTooLarge"), "%s", inv.r.body);
		free(body);
		test_response_free(&next);
		test_response_free(&inv.r);
	}
}

Test(functions, a_new_token_reaches_the_next_invocation_after_the_clock_moves)
{
	struct test_response next;
	struct bg inv = { 0 };
	char id[64], v1[1024], v2[1024];
	cJSON *a, *b;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	bg_start(&inv, "POST", INVOKE, "{}");
	take_next(&next, id, sizeof(id));
	hdr(&next, "Lambda-Runtime-Token-Json", v1, sizeof(v1));
	post_answer(id, "response", "{}", 202);
	bg_join(&inv);
	test_response_free(&inv.r);
	test_response_free(&next);

	fake_clock_advance(&ip.server_time, 43201 * 1000LL); /* past the 12 h life */
	memset(&inv, 0, sizeof(inv));
	bg_start(&inv, "POST", INVOKE, "{}");
	take_next(&next, id, sizeof(id));
	hdr(&next, "Lambda-Runtime-Token-Json", v2, sizeof(v2));
	post_answer(id, "response", "{}", 202);
	bg_join(&inv);
	a = cJSON_Parse(v1);
	b = cJSON_Parse(v2);
	cr_assert_str_neq(cJSON_GetObjectItem(a, "access_token")->valuestring,
	                  cJSON_GetObjectItem(b, "access_token")->valuestring);
	cr_assert_eq(cJSON_GetObjectItem(b, "expires_in")->valueint, 43200);
	cJSON_Delete(a);
	cJSON_Delete(b);
	test_response_free(&inv.r);
	test_response_free(&next);
}

Test(functions, a_function_without_an_account_gets_no_token_header)
{
	static const char cfg[] =
	    "{\"functions\": [{\"name\": \"function\", \"runtime\": \"external\","
	    " \"service_account\": null, \"memory_mb\": 256, \"version\": \"7\"}]}";
	struct test_response next;
	struct bg inv = { 0 };
	char id[64], v[64];

	cr_assert_eq(test_inproc_start(&ip, cfg, NULL), 0);
	bg_start(&inv, "POST", INVOKE, "{}");
	take_next(&next, id, sizeof(id));
	cr_assert_null(test_response_header(&next, "Lambda-Runtime-Token-Json", v, sizeof(v)));
	cr_assert_str_eq(hdr(&next, "Lambda-Runtime-Memory-Limit", v, sizeof(v)), "256");
	cr_assert_str_eq(hdr(&next, "Lambda-Runtime-Function-Version", v, sizeof(v)), "7");
	post_answer(id, "response", "{}", 202);
	bg_join(&inv);
	cr_assert_str_eq(hdr(&inv.r, "X-Amz-Executed-Version", v, sizeof(v)), "7");
	test_response_free(&next);
	test_response_free(&inv.r);
}

Test(functions, an_init_error_fails_the_waiting_invocation)
{
	static const char doc[] = "{\"errorMessage\":\"no such handler\","
	                          "\"errorType\":\"Runtime.HandlerNotFound\"}";
	struct test_response r;
	struct bg inv = { 0 };
	unsigned one = 1;
	char v[64];

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	bg_start(&inv, "POST", INVOKE, "{}");
	cr_assert_eq(test_inproc_until(&ip, held_at_least, &one), 0);
	cr_assert_eq(call("POST", "/2018-06-01/runtime/init/error", NULL, doc, &r), 202);
	bg_join(&inv);
	cr_assert_str_eq(hdr(&inv.r, "X-Amz-Function-Error", v, sizeof(v)), "Unhandled");
	cr_assert_str_eq(inv.r.body, doc);
	test_response_free(&r);
	test_response_free(&inv.r);
}

Test(functions, an_invocation_nobody_takes_times_out_saying_so)
{
	struct bg inv = { 0 };
	unsigned one = 1;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	bg_start(&inv, "POST", INVOKE, "{}");
	cr_assert_eq(test_inproc_until(&ip, held_at_least, &one), 0);
	fake_clock_advance(&ip.wait_time, 3000 + 10000 + 1);
	bg_join(&inv);
	cr_assert_eq(inv.r.status, 200);
	cr_assert(strstr(inv.r.body, "Sandbox.Timedout"), "%s", inv.r.body);
	cr_assert(strstr(inv.r.body, "no runtime took the invocation"), "%s", inv.r.body);
	test_response_free(&inv.r);
}

/* A /next sent on a raw connection, which the test then closes. */
static int raw_next(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	static const char req[] = "GET " NEXT " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_port = htons((uint16_t)atoi(strrchr(ip.base, ':') + 1));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(write(fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
	return fd;
}

Test(functions, a_runtime_that_goes_away_before_its_invocation_loses_nothing)
{
	struct test_response next;
	struct bg inv = { 0 };
	unsigned one = 1;
	char id[64];
	int fd;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	/* A runtime waits on /next, then goes away while it waits. */
	fd = raw_next();
	cr_assert_eq(test_inproc_until(&ip, held_at_least, &one), 0);
	close(fd);
	/* The invocation is offered to it first, and comes back to the
	 * runtime still there. */
	bg_start(&inv, "POST", INVOKE, "{\"x\":1}");
	take_next(&next, id, sizeof(id));
	cr_assert_str_eq(next.body, "{\"x\":1}");
	post_answer(id, "response", "ok", 202);
	bg_join(&inv);
	cr_assert_str_eq(inv.r.body, "ok");
	test_response_free(&next);
	test_response_free(&inv.r);
}

Test(functions, an_invoker_that_cannot_wait_leaves_its_invocation_to_run_alone)
{
	static const char rule[] =
	    "{\"path\": \"/computeMetadata/v1/project/\", \"latency_ms\": 60000, \"count\": 1}";
	struct daemon_limits l = { .held = 1 };
	struct test_response r, next;
	struct bg held = { 0 }, inv = { 0 };
	unsigned one = 1;
	char err[256], id[64];
	uint64_t rule_id;

	cr_assert_eq(test_inproc_start(&ip, NULL, &l), 0);
	/* The one hold the daemon grants goes to a latency fault. */
	cr_assert_eq(
	    faults_add_json(&ip.srv.faults, rule, strlen(rule), &rule_id, err, sizeof(err)), 0,
	    "%s", err);
	held.headers[0] = "Metadata-Flavor: Google";
	bg_start(&held, "GET", "/computeMetadata/v1/project/project-id", NULL);
	cr_assert_eq(test_inproc_until(&ip, held_at_least, &one), 0);
	/* An invoker that cannot be held is told so; its invocation stays
	 * queued for a runtime, with nobody waiting for it. */
	cr_assert_eq(call("POST", INVOKE, NULL, "{\"alone\":1}", &r), 429, "%s", r.body);
	cr_assert(strstr(r.body, "goes on without an answer"), "%s", r.body);
	test_response_free(&r);
	/* A runtime takes it and answers; the function is then free again. */
	take_next(&next, id, sizeof(id));
	cr_assert_str_eq(next.body, "{\"alone\":1}");
	post_answer(id, "response", "{}", 202);
	test_response_free(&next);
	/* And one more left alone, this time to time out in the queue; the
	 * clock also ends the fault's hold. */
	cr_assert_eq(call("POST", INVOKE, NULL, "{\"late\":1}", &r), 429, "%s", r.body);
	test_response_free(&r);
	fake_clock_advance(&ip.wait_time, 60001);
	test_inproc_wait(&ip, 0);
	bg_join(&held);
	test_response_free(&held.r);
	/* Once the supervisor has ended it (it looks every few ms on a fake
	 * clock), the function takes a new invocation, and the queue is sound:
	 * the runtime gets the new one, not the one that timed out. */
	for (int i = 0;; i++) {
		memset(&inv, 0, sizeof(inv));
		bg_start(&inv, "POST", INVOKE, "{\"after\":1}");
		cr_assert_eq(test_inproc_until(&ip, held_or_done, &inv), 0);
		if (!atomic_load(&inv.done))
			break;
		bg_join(&inv);
		cr_assert_eq(inv.r.status, 429, "%s", inv.r.body);
		test_response_free(&inv.r);
		cr_assert(i < 500, "the timed-out invocation was never ended");
		usleep(10000);
	}
	take_next(&next, id, sizeof(id));
	cr_assert_str_eq(next.body, "{\"after\":1}");
	post_answer(id, "response", "{\"ok\":1}", 202);
	bg_join(&inv);
	cr_assert_str_eq(inv.r.body, "{\"ok\":1}");
	test_response_free(&inv.r);
	test_response_free(&next);
}

Test(functions, an_init_error_body_is_passed_on_byte_for_byte)
{
	static const char doc[] = "{\"errorMessage\":\"a\\u0000b\"}\0and more after a NUL";
	struct bg inv = { 0 }, init = { 0 };
	unsigned one = 1;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	bg_start(&inv, "POST", INVOKE, "{}");
	cr_assert_eq(test_inproc_until(&ip, held_at_least, &one), 0);
	/* test_http sends a C string: post the bytes with curl's binary mode. */
	{
		char path[64], cmd[512];
		FILE *f;

		snprintf(path, sizeof(path), "/tmp/mtk-init-%d", (int)getpid());
		f = fopen(path, "w");
		cr_assert_not_null(f);
		fwrite(doc, 1, sizeof(doc) - 1, f);
		fclose(f);
		snprintf(cmd, sizeof(cmd),
		         "curl -s -o /dev/null --data-binary @%s %s/2018-06-01/runtime/init/error",
		         path, ip.base);
		cr_assert_eq(system(cmd), 0);
		unlink(path);
	}
	bg_join(&inv);
	cr_assert_eq(inv.r.body_len, sizeof(doc) - 1, "%zu bytes", inv.r.body_len);
	cr_assert_eq(memcmp(inv.r.body, doc, sizeof(doc) - 1), 0);
	test_response_free(&inv.r);
	(void)init;
}

Test(functions, after_a_timeout_a_waiting_runtime_gets_what_is_queued)
{
	static const char *const event_hdr[] = { "X-Amz-Invocation-Type: Event", NULL };
	struct test_response r, first;
	struct bg second = { 0 };
	unsigned one = 1;
	char id[64];

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	cr_assert_eq(call("POST", INVOKE, event_hdr, "{\"n\":1}", &r), 202);
	test_response_free(&r);
	cr_assert_eq(call("POST", INVOKE, event_hdr, "{\"n\":2}", &r), 202);
	test_response_free(&r);
	/* A runtime takes the first and never answers; another waits. */
	take_next(&first, id, sizeof(id));
	cr_assert_str_eq(first.body, "{\"n\":1}");
	bg_start(&second, "GET", NEXT, NULL);
	cr_assert_eq(test_inproc_until(&ip, held_at_least, &one), 0);
	/* The first times out: the waiting runtime gets the second. */
	fake_clock_advance(&ip.wait_time, 3001);
	bg_join(&second);
	cr_assert_eq(second.r.status, 200);
	cr_assert_str_eq(second.r.body, "{\"n\":2}");
	test_response_free(&first);
	test_response_free(&second.r);
}

Test(functions, a_pretty_printed_client_context_reaches_the_runtime_compact)
{
	struct test_response next;
	struct bg inv = { 0 };
	char id[64], v[256];

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	/* base64 of "{\n  \"custom\": {\"a\": 1}\n}" */
	inv.headers[0] = "X-Amz-Client-Context: ewogICJjdXN0b20iOiB7ImEiOiAxfQp9";
	bg_start(&inv, "POST", INVOKE, "{}");
	take_next(&next, id, sizeof(id));
	cr_assert_str_eq(hdr(&next, "Lambda-Runtime-Client-Context", v, sizeof(v)),
	                 "{\"custom\":{\"a\":1}}");
	post_answer(id, "response", "{}", 202);
	bg_join(&inv);
	test_response_free(&next);
	test_response_free(&inv.r);
}
