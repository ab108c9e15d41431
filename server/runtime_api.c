/*
 * The Lambda Runtime API flavour (runtime_api.h, PROTOCOL.md §3): what a
 * function's runtime polls. The function is the one whose slot listener
 * the request came to, or on the root listener `function`.
 */
#include "runtime_api.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "function.h"
#include "reply.h"
#include "route.h"
#include "server.h"

/* A /next waits this long, then looks whether its runtime is still there
 * and waits again: a runtime that went away frees its place within it. */
#define NEXT_HOLD_MS (60 * 1000)

/* The function whose Runtime API rq is on; NULL for a server built
 * without functions (an embedder's app, no app_start). */
static struct function *function_of(struct request *rq)
{
	return rq->srv->functions ? functions_of_site(rq->srv->functions, rq->site) : NULL;
}

/* Answers 404 when there are no functions; returns whether it did. */
static int no_functions(struct request *rq, struct function *fn)
{
	if (fn)
		return 0;
	function_error_reply(rq, 404, "NotFound", "this server runs no functions");
	return 1;
}

/* The flavour's shape for the route layer's errors (404, 405, refusals). */
void runtime_api_flavour_error(struct request *rq, unsigned status, const char *text)
{
	size_t len = strlen(text);

	/* A response too large for the daemon even to read: its invocation
	 * fails now, as one over the function's own cap does, rather than
	 * wait out its timeout. */
	if (status == 413 && rq->route && rq->route->handle == runtime_response && rq->srv &&
	    rq->srv->functions && rq->arg[0]) {
		struct function *fn = function_of(rq);
		const char *cl = request_header(rq, "Content-Length");
		char why[256];
		size_t n = cl ? strtoull(cl, NULL, 10) : 0;

		if (n <= (size_t)function_max_response(fn))
			n = (size_t)function_max_response(fn) + 1;
		function_answer(fn, rq->arg[0], rq->arg_len[0], NULL, n, 0, NULL, why, sizeof(why));
	}

	if (len && text[len - 1] == '\n')
		len--;
	function_error_reply(rq, status,
	                     status == 404   ? "NotFound"
	                     : status == 405 ? "MethodNotAllowed"
	                     : status == 413 ? "RequestEntityTooLarge"
	                     : status >= 500 ? "ServiceException"
	                                     : "BadRequest",
	                     "%.*s", (int)len, text);
}

void runtime_next(struct request *rq)
{
	struct function *fn = function_of(rq);
	struct next_invocation n;
	int got;

	if (no_functions(rq, fn))
		return;
	if (request_peer_gone(rq)) {
		/* Its runtime went away while it waited: what was given to it
		 * goes back to the queue, and nothing is answered. */
		function_next_gone(fn, rq);
		rq->drop = 1;
		return;
	}
	got = function_next(fn, rq->site, rq, &n);
	if (got < 0 || (got == 0 && (rq->close || rq->hold_refused))) {
		if (got == 0)
			function_next_gone(fn, rq);
		function_error_reply(rq, 503, "ServiceException",
		                     rq->close ? "metatokend is stopping"
		                               : "too many runtimes are waiting for invocations");
		reply_header(rq, "Retry-After", "1");
		return;
	}
	if (got == 0) {
		rq->hold_ms = NEXT_HOLD_MS;
		return;
	}
	reply_owned(rq, 200, CT_JSON, n.event, n.event_len);
	n.event = NULL;
	reply_header(rq, "Lambda-Runtime-Aws-Request-Id", "%s", n.request_id);
	reply_header(rq, "Lambda-Runtime-Deadline-Ms", "%lld", (long long)n.deadline_ms);
	reply_header(rq, "Lambda-Runtime-Invoked-Function-Arn", "%s", n.arn);
	reply_header(rq, "Lambda-Runtime-Trace-Id", "%s", n.trace_id);
	reply_header(rq, "Lambda-Runtime-Function-Name", "%s", n.function_name);
	reply_header(rq, "Lambda-Runtime-Function-Version", "%s", n.version);
	reply_header(rq, "Lambda-Runtime-Memory-Limit", "%lld", (long long)n.memory_mb);
	reply_header(rq, "Lambda-Runtime-Log-Group-Name", "%s", n.log_group);
	if (n.client_context)
		reply_header_long(rq, "Lambda-Runtime-Client-Context", n.client_context,
		                  strlen(n.client_context));
	if (n.token_json)
		reply_header_long(rq, "Lambda-Runtime-Token-Json", n.token_json,
		                  strlen(n.token_json));
	function_next_release(&n);
}

static void answer(struct request *rq, int error)
{
	struct function *fn = function_of(rq);
	const char *type = request_header(rq, "Lambda-Runtime-Function-Error-Type");
	char why[256];

	if (no_functions(rq, fn))
		return;
	switch (function_answer(fn, rq->arg[0], rq->arg_len[0], rq->req_body, rq->req_body_len,
	                        error, type, why, sizeof(why))) {
	case ANSWER_OK:
		reply_static(rq, 202, CT_JSON, "{\"status\":\"OK\"}");
		return;
	case ANSWER_UNKNOWN:
		function_error_reply(rq, 400, "InvalidRequestID", "%s", why);
		return;
	case ANSWER_FINISHED:
		function_error_reply(rq, 403, "InvalidStateTransition", "%s", why);
		return;
	case ANSWER_TOO_LARGE:
		function_error_reply(rq, 413, "RequestEntityTooLarge", "%s", why);
		return;
	case ANSWER_NOMEM:
		break;
	}
	function_error_reply(rq, 500, "ServiceException", "out of memory");
}

void runtime_response(struct request *rq)
{
	answer(rq, 0);
}

void runtime_error(struct request *rq)
{
	answer(rq, 1);
}

void runtime_init_error(struct request *rq)
{
	struct function *fn = function_of(rq);
	const char *type = request_header(rq, "Lambda-Runtime-Function-Error-Type");
	char doc[256];

	if (no_functions(rq, fn))
		return;
	if (rq->req_body_len) {
		function_init_error(fn, rq->site, rq->req_body, rq->req_body_len);
	} else {
		snprintf(doc, sizeof(doc), "{\"errorMessage\":\"\",\"errorType\":\"%s\"}",
		         type && strlen(type) < 100 && !strpbrk(type, "\"\\") ? type
		                                                              : "Runtime.Unknown");
		function_init_error(fn, rq->site, doc, strlen(doc));
	}
	reply_static(rq, 202, CT_JSON, "{\"status\":\"OK\"}");
}

void runtime_api_ended(struct request *rq)
{
	if (rq->route && rq->leaf == RUNTIME_LEAF_NEXT && rq->srv && rq->srv->functions)
		function_next_gone(function_of(rq), rq);
}
