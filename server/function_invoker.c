/*
 * Functions (function.h), the invoker's side once its invocation is
 * queued: collecting the outcome, a held invoker woken, and the error
 * document and answer every flavour that runs functions shares.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "function_internal.h"

char *function_error_doc(const char *type, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *doc = NULL;

	if (o && cJSON_AddStringToObject(o, "errorMessage", msg) &&
	    cJSON_AddStringToObject(o, "errorType", type))
		doc = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return doc;
}

void function_error_reply(struct request *rq, unsigned status, const char *type, const char *fmt,
                          ...)
{
	char msg[512];
	char *doc;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	doc = function_error_doc(type, msg);
	if (doc)
		reply_owned(rq, status, CT_JSON, doc, strlen(doc));
	else
		reply_static(
		    rq, 500, CT_JSON,
		    "{\"errorMessage\":\"out of memory\",\"errorType\":\"InternalError\"}");
}

void function_collect(struct invocation *inv, int give_up, struct invoke_outcome *o)
{
	struct functions *fs = inv->fn->fs;

	memset(o, 0, sizeof(*o));
	pthread_mutex_lock(&fs->lock);
	snprintf(o->request_id, sizeof(o->request_id), "%s", inv->id);
	o->version = inv->fn->version;
	if (inv->state == INV_DONE) {
		o->done = 1;
		o->how = inv->how;
		o->error = inv->error;
		o->body = inv->body;
		o->body_len = inv->body_len;
		inv->body = NULL;
		fn_invocation_free(inv);
	} else if (give_up) {
		/* Runs on alone and frees itself (fn_finish). It stays in the
		 * queue it is in: `async` names that queue, so it never changes. */
		inv->invoker = NULL;
	}
	pthread_mutex_unlock(&fs->lock);
}

#define INVOKER_BACKSTOP_MS 15000 /* past the hold's due time, should the supervisor stall */

int64_t function_invoker_hold_ms(const struct function *fn)
{
	return fn->timeout_ms + FN_QUEUE_WAIT_MS + INVOKER_BACKSTOP_MS;
}

enum invoker_woken function_invoker_woken(struct request *rq, struct invoke_outcome *o)
{
	int give_up = rq->close || rq->hold_refused;

	function_collect(rq->hstate, give_up, o);
	if (o->done || give_up) {
		rq->hstate = NULL;
		return o->done ? INVOKER_ANSWER : INVOKER_GAVE_UP;
	}
	rq->hold_ms = INVOKER_BACKSTOP_MS;
	return INVOKER_WAITS;
}

void function_invoker_gone(struct invocation *inv)
{
	struct functions *fs = inv->fn->fs;

	pthread_mutex_lock(&fs->lock);
	if (inv->state == INV_DONE)
		fn_invocation_free(inv);
	else
		inv->invoker = NULL; /* as give_up in function_collect */
	pthread_mutex_unlock(&fs->lock);
}

void function_invoker_ended(struct request *rq)
{
	if (rq->hstate) {
		function_invoker_gone(rq->hstate);
		rq->hstate = NULL;
	}
}
