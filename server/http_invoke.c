/*
 * HTTP calls into a function, Yandex style (http_invoke.h, PROTOCOL.md §3).
 */
#include "http_invoke.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "function.h"
#include "grow.h"
#include "http_proxy.h"
#include "reply.h"
#include "server.h"

#define FIELDS_MAX 4096 /* headers or query arguments read from one request */
#define MALFORMED  "Malformed serverless function response: "

void http_invoke_flavour_error(struct request *rq, unsigned status, const char *text)
{
	size_t len = strlen(text);

	if (len && text[len - 1] == '\n')
		len--;
	function_error_reply(rq, status,
	                     status == 400   ? "BadRequest"
	                     : status == 403 ? "Forbidden"
	                     : status == 404 ? "NotFound"
	                     : status == 413 ? "PayloadTooLarge"
	                     : status == 429 ? "TooManyRequests"
	                     : status == 503 ? "ServiceUnavailable"
	                     : status >= 500 ? "InternalError"
	                                     : "BadRequest",
	                     "%.*s", (int)len, text);
}

/* ---- the event ---- */

/* The request's headers or query arguments, borrowed from the request. */
struct fields {
	struct http_kv *kv;
	size_t n, cap;
	int failed;
};

static void add_field(void *arg, const char *name, const char *value)
{
	struct fields *f = arg;

	if (f->failed ||
	    grow_reserve(&f->kv, &f->cap, f->n + 1, FIELDS_MAX, sizeof(f->kv[0])) != 0) {
		f->failed = 1;
		return;
	}
	f->kv[f->n].name = name;
	f->kv[f->n++].value = value;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether the call asks for ?integration=raw. */
static int raw_call(const struct request *rq)
{
	const char *v = request_query(rq, "integration");

	return v && strcmp(v, "raw") == 0;
}

/* The event for rq (malloc'd), its length in *len; NULL when out of
 * memory or the request has too many headers or arguments. */
static char *make_event(struct request *rq, const char *request_id, size_t *len)
{
	struct fields headers = { 0 }, query = { 0 };
	struct http_call c = { 0 };
	char ip[64] = "";
	char *event = NULL;

	request_each_header(rq, add_field, &headers);
	request_each_query(rq, add_field, &query);
	if (headers.failed || query.failed || request_peer(rq, ip, sizeof(ip), &c.source_port) != 0)
		goto out;
	c.method = rq->method;
	/* What follows /functions/<name>: "" or "/...". */
	c.path = rq->arg[0] + rq->arg_len[0];
	c.headers = headers.kv;
	c.n_headers = headers.n;
	c.query = query.kv;
	c.n_query = query.n;
	c.body = rq->req_body;
	c.body_len = rq->req_body_len;
	c.source_ip = ip;
	c.request_id = request_id;
	c.time_ms = wall_ms();
	event = http_proxy_event(&c, len);
out:
	free(headers.kv);
	free(query.kv);
	return event;
}

/* ---- the answer ---- */

/* 502 ProxyIntegrationError for an answer that cannot be a response, with
 * the answer itself as Yandex shows it. */
static void malformed(struct request *rq, const char *why, const char *answer, size_t len)
{
	cJSON *o = cJSON_CreateObject();
	char msg[512], *payload = http_proxy_utf8(answer, len), *doc = NULL;

	snprintf(msg, sizeof(msg), MALFORMED "%s", why);
	if (o && payload && cJSON_AddStringToObject(o, "errorMessage", msg) &&
	    cJSON_AddStringToObject(o, "errorType", "ProxyIntegrationError") &&
	    cJSON_AddStringToObject(o, "payload", payload))
		doc = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	free(payload);
	if (doc)
		reply_owned(rq, 502, CT_JSON, doc, strlen(doc));
	else
		function_error_reply(rq, 502, "ProxyIntegrationError", MALFORMED "%s", why);
}

/* The function's answer as the response. Returns whether it set its own
 * X-Request-Id. */
static int proxy_reply(struct request *rq, const struct invoke_outcome *o)
{
	const char *text = o->body ? o->body : "";
	struct http_answer a;
	char why[256];
	int own_id = 0;

	if (http_proxy_answer(text, o->body_len, &a, why, sizeof(why)) != 0) {
		malformed(rq, why, text, o->body_len);
		return 0;
	}
	reply_owned(rq, a.status, NULL, a.body, a.body_len);
	a.body = NULL;
	for (size_t i = 0; i < a.n_headers; i++) {
		own_id |= strcasecmp(a.headers[i].name, "X-Request-Id") == 0;
		if (reply_header_copy(rq, a.headers[i].name, a.headers[i].value) != 0) {
			reply_reset(rq);
			function_error_reply(rq, 500, "InternalError", "out of memory");
			own_id = 0;
			break;
		}
	}
	http_answer_release(&a);
	return own_id;
}

/* The invoker's answer from the outcome of its invocation. */
static void reply_outcome(struct request *rq, struct invoke_outcome *o)
{
	int own_id = 0;

	if (!o->error && !raw_call(rq)) {
		own_id = proxy_reply(rq, o);
	} else {
		/* The result of a raw call, or the error document as it is. */
		unsigned status = !o->error                                    ? 200
		                  : o->how && strcmp(o->how, "timed out") == 0 ? 504
		                  : o->how && strcmp(o->how, "stopped") == 0   ? 503
		                                                               : 502;
		char *body = o->body ? o->body : strdup("");

		if (!body) {
			function_error_reply(rq, 500, "InternalError", "out of memory");
		} else {
			reply_owned(rq, status, CT_JSON, body, o->body ? o->body_len : 0);
			o->body = NULL;
		}
		if (status == 502)
			reply_header(rq, "X-Function-Error", "true");
	}
	free(o->body);
	o->body = NULL;
	if (!own_id)
		reply_header(rq, "X-Request-Id", "%s", o->request_id);
	rq->secret = 1; /* a function's answer may hold anything */
}

/* ---- the handler ---- */

/* Invokes fn with rq's call and holds rq until it ends. */
static void start(struct request *rq, struct function *fn)
{
	struct invoke_args a = { 0 };
	struct invocation *inv = NULL;
	int raw = raw_call(rq);
	char id[37], *event = NULL;
	size_t len = rq->req_body_len;

	if (rq->req_body_len > (size_t)function_max_event(fn)) {
		function_error_reply(
		    rq, 413, "PayloadTooLarge",
		    "the request body (%zu bytes) is over function %s's maximum event of "
		    "%lld bytes",
		    rq->req_body_len, function_name(fn), (long long)function_max_event(fn));
		return;
	}
	if (function_request_id(id) != 0 || (!raw && !(event = make_event(rq, id, &len)))) {
		function_error_reply(
		    rq, 500, "InternalError",
		    "could not make the event (out of memory, or over %d headers or query "
		    "arguments)",
		    FIELDS_MAX);
		return;
	}
	if (len > (size_t)function_max_event(fn)) {
		function_error_reply(
		    rq, 413, "PayloadTooLarge",
		    "the event (%zu bytes, the body in base64 and the request's headers) is "
		    "over function %s's maximum of %lld bytes",
		    len, function_name(fn), (long long)function_max_event(fn));
		free(event);
		return;
	}
	a.event = raw ? rq->req_body : event;
	a.event_len = len;
	a.request_id = id;
	switch (function_invoke(fn, &a, rq, &inv)) {
	case INVOKE_QUEUED:
		rq->hstate = inv;
		rq->hold_ms = function_invoker_hold_ms(fn);
		break;
	case INVOKE_ACCEPTED: /* never: the call is synchronous */
	case INVOKE_NOMEM:
		function_error_reply(rq, 500, "InternalError", "out of memory");
		break;
	case INVOKE_TOO_MANY:
		function_error_reply(rq, 429, "TooManyRequests",
		                     "function %s runs at most %lld invocations at once",
		                     function_name(fn), (long long)function_concurrency(fn));
		reply_header(rq, "Retry-After", "1");
		break;
	case INVOKE_STOPPING:
		function_error_reply(rq, 503, "ServiceUnavailable", "metatokend is stopping");
		break;
	}
	free(event);
}

void http_invoke_handle(struct request *rq)
{
	struct functions *fs = rq->srv->functions;
	struct invocation *inv = rq->hstate;
	struct invoke_outcome o;
	struct function *fn;

	if (inv) {
		/* Woken: the invocation ended, or the caller cannot wait on. */
		switch (function_invoker_woken(rq, &o)) {
		case INVOKER_ANSWER:
			reply_outcome(rq, &o);
			break;
		case INVOKER_GAVE_UP:
			function_error_reply(rq, rq->close ? 503 : 429,
			                     rq->close ? "ServiceUnavailable" : "TooManyRequests",
			                     "%s; invocation %s goes on without an answer",
			                     rq->close ? "metatokend is stopping"
			                               : "too many requests are waiting",
			                     o.request_id);
			break;
		case INVOKER_WAITS:
			break;
		}
		return;
	}
	fn = fs ? functions_find(fs, rq->arg[0], rq->arg_len[0]) : NULL;
	if (!fn) {
		char *name = http_proxy_utf8(rq->arg[0], rq->arg_len[0] > 64 ? 64 : rq->arg_len[0]);

		function_error_reply(rq, 404, "NotFound", "no function named \"%s\" is configured",
		                     name ? name : "?");
		free(name);
		return;
	}
	start(rq, fn);
}
