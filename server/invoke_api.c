/*
 * The Lambda Invoke API flavour (invoke_api.h, PROTOCOL.md §3).
 */
#include "invoke_api.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "function.h"
#include "reply.h"
#include "server.h"

#define CLIENT_CONTEXT_MAX 3583 /* AWS's cap on the base64 text */

void invoke_api_error(struct request *rq, unsigned status, const char *type, const char *fmt, ...)
{
	char msg[512];
	char *doc = NULL;
	cJSON *o = cJSON_CreateObject();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The member name is AWS's for that error, as its API model (and so
	 * every SDK's parser) has it: "Message" for these two, else "message". */
	if (o && cJSON_AddStringToObject(o, "Type", status >= 500 ? "Service" : "User") &&
	    cJSON_AddStringToObject(o,
	                            strcmp(type, "ResourceNotFoundException") == 0 ||
	                                    strcmp(type, "ServiceException") == 0
	                                ? "Message"
	                                : "message",
	                            msg))
		doc = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	reply_header(rq, "X-Amzn-ErrorType", "%s", type);
	if (doc)
		reply_owned(rq, status, CT_JSON, doc, strlen(doc));
	else
		reply_static(rq, 500, CT_JSON, "{\"message\":\"out of memory\"}");
}

void invoke_api_flavour_error(struct request *rq, unsigned status, const char *text)
{
	size_t len = strlen(text);

	if (len && text[len - 1] == '\n')
		len--;
	invoke_api_error(rq, status,
	                 status == 404   ? "ResourceNotFoundException"
	                 : status == 413 ? "RequestEntityTooLargeException"
	                 : status == 429 ? "TooManyRequestsException"
	                 : status >= 500 ? "ServiceException"
	                                 : "InvalidRequestContentException",
	                 "%.*s", (int)len, text);
}

/* X-Amz-Client-Context: base64 of a JSON object. Returns the decoded
 * text (malloc'd), NULL when absent; *bad when it is not that. */
static char *client_context(struct request *rq, int *bad)
{
	const char *b64 = request_header(rq, "X-Amz-Client-Context");
	size_t len, pad = 0;
	unsigned char *out;
	char *compact;
	cJSON *o;
	int n;

	*bad = 0;
	if (!b64 || !*b64)
		return NULL;
	len = strlen(b64);
	if (len > CLIENT_CONTEXT_MAX || len % 4 != 0) {
		*bad = 1;
		return NULL;
	}
	out = malloc(len / 4 * 3 + 1);
	if (!out) {
		*bad = 1;
		return NULL;
	}
	n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
	while (pad < 2 && len > pad && b64[len - 1 - pad] == '=')
		pad++;
	if (n < 0 || (size_t)n < pad) {
		free(out);
		*bad = 1;
		return NULL;
	}
	out[n - (int)pad] = '\0';
	/* One JSON object and nothing after it; handed on compact, as a
	 * header value cannot hold the line breaks pretty JSON has. */
	o = strlen((char *)out) == (size_t)n - pad
	        ? cJSON_ParseWithLengthOpts((const char *)out, (size_t)n - pad + 1, NULL, 1)
	        : NULL;
	free(out);
	compact = cJSON_IsObject(o) ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!compact)
		*bad = 1;
	return compact;
}

/* Whether text is one JSON value and nothing else (cJSON's nesting limit
 * bounds its depth). */
static int is_json(const char *text, size_t len)
{
	cJSON *v;

	/* text[len] is the request body's NUL: cJSON's "nothing after the
	 * value" check wants to see it; a NUL inside is not JSON. */
	if (memchr(text, '\0', len))
		return 0;
	v = cJSON_ParseWithLengthOpts(text, len + 1, NULL, 1);

	cJSON_Delete(v);
	return v != NULL;
}

/* The invoker's answer from the outcome of its invocation. */
static void reply_outcome(struct request *rq, struct invoke_outcome *o)
{
	reply_owned(rq, 200, CT_JSON, o->body ? o->body : strdup(""), o->body ? o->body_len : 0);
	o->body = NULL;
	rq->secret = 1; /* a function's answer may hold anything */
	reply_header(rq, "X-Amzn-RequestId", "%s", o->request_id);
	reply_header(rq, "X-Amz-Executed-Version", "%s", o->version);
	if (o->error)
		reply_header(rq, "X-Amz-Function-Error", "Unhandled");
}

void invoke_post(struct request *rq)
{
	struct functions *fs = rq->srv->functions;
	struct invocation *inv = rq->hstate;
	struct invoke_outcome o;
	struct function *fn;
	struct invoke_args a = { 0 };
	const char *type;
	char *cc;
	int bad;

	if (inv) {
		/* Woken: the invocation ended, or the invoker cannot wait on. */
		switch (function_invoker_woken(rq, &o)) {
		case INVOKER_ANSWER:
			reply_outcome(rq, &o);
			break;
		case INVOKER_GAVE_UP:
			invoke_api_error(
			    rq, rq->close ? 503 : 429,
			    rq->close ? "ServiceException" : "TooManyRequestsException",
			    "%s; invocation %s goes on without an answer",
			    rq->close ? "metatokend is stopping" : "too many requests are waiting",
			    o.request_id);
			break;
		case INVOKER_WAITS:
			break;
		}
		return;
	}
	fn = fs ? functions_find(fs, rq->arg[0], rq->arg_len[0]) : NULL;
	if (!fn) {
		invoke_api_error(rq, 404, "ResourceNotFoundException", "Function not found: %.*s",
		                 (int)(rq->arg_len[0] > 64 ? 64 : rq->arg_len[0]), rq->arg[0]);
		return;
	}
	type = request_header(rq, "X-Amz-Invocation-Type");
	if (type && strcmp(type, "RequestResponse") != 0 && strcmp(type, "Event") != 0 &&
	    strcmp(type, "DryRun") != 0) {
		invoke_api_error(rq, 400, "InvalidParameterValueException",
		                 "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun");
		return;
	}
	if (rq->req_body_len > (size_t)function_max_event(fn)) {
		invoke_api_error(rq, 413, "RequestEntityTooLargeException",
		                 "Request must be smaller than %lld bytes for the InvokeFunction "
		                 "operation",
		                 (long long)function_max_event(fn));
		return;
	}
	/* AWS's API takes a JSON event only; runtimes parse it as JSON (a
	 * runtime fed anything else crashes, and the invoker waits out the
	 * timeout). An empty body is let through, as AWS does. */
	if (rq->req_body_len && !is_json(rq->req_body, rq->req_body_len)) {
		invoke_api_error(rq, 400, "InvalidRequestContentException",
		                 "Could not parse request body into json: the event must be a JSON "
		                 "value");
		return;
	}
	cc = client_context(rq, &bad);
	if (bad) {
		invoke_api_error(
		    rq, 400, "InvalidRequestContentException",
		    "Client context must be a valid Base64-encoded JSON object (at most "
		    "%d characters)",
		    CLIENT_CONTEXT_MAX);
		return;
	}
	if (type && strcmp(type, "DryRun") == 0) {
		free(cc);
		reply_static(rq, 204, CT_JSON, "");
		return;
	}
	a.event = rq->req_body;
	a.event_len = rq->req_body_len;
	a.client_context = cc;
	a.async = type && strcmp(type, "Event") == 0;
	switch (function_invoke(fn, &a, rq, &inv)) {
	case INVOKE_QUEUED:
		rq->hstate = inv;
		rq->hold_ms = function_invoker_hold_ms(fn);
		break;
	case INVOKE_ACCEPTED:
		reply_static(rq, 202, CT_JSON, "");
		break;
	case INVOKE_TOO_MANY:
		if (a.async)
			invoke_api_error(rq, 429, "TooManyRequestsException",
			                 "Rate Exceeded: function %s's queue of asynchronous "
			                 "invocations is full",
			                 function_name(fn));
		else
			invoke_api_error(rq, 429, "TooManyRequestsException",
			                 "Rate Exceeded: function %s runs at most %lld at once",
			                 function_name(fn), (long long)function_concurrency(fn));
		reply_header(rq, "Retry-After", "1");
		break;
	case INVOKE_STOPPING:
		invoke_api_error(rq, 503, "ServiceException", "metatokend is stopping");
		break;
	case INVOKE_NOMEM:
		invoke_api_error(rq, 500, "ServiceException", "out of memory");
		break;
	}
	free(cc);
}
