/*
 * Functions: invocations, runtime slots and their processes (function.h).
 * One lock guards it all; the supervisor thread (function_run.c) and the
 * request threads of every listener take it. Lock order: this lock, then
 * the daemon's timer lock (daemon_wake).
 */
#include "function_internal.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gce_token.h"
#include "log.h"
#include "server.h"
#include "upstream.h"

int64_t fn_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fn_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * n random bytes for ids (n at most ID_RANDOM_POOL), from RAND_bytes a pool
 * at a time: each call of it costs a system call (its fork check), and an
 * invocation needs two ids. Per thread, so no lock (a runtime is forked
 * to exec at once: no child draws from it). Returns 0, or -1.
 */
#define ID_RANDOM_POOL 1024
static int id_random(unsigned char *out, size_t n)
{
	static __thread unsigned char pool[ID_RANDOM_POOL];
	static __thread size_t left;

	if (n > left) {
		if (RAND_bytes(pool, sizeof(pool)) != 1)
			return -1;
		left = sizeof(pool);
	}
	memcpy(out, pool + sizeof(pool) - left, n);
	left -= n;
	return 0;
}

/* A version 4 UUID, as Lambda's request ids are. */
static int make_uuid(char out[37])
{
	unsigned char b[16];
	char h[33];

	if (id_random(b, sizeof(b)) != 0)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	hex(b, sizeof(b), h);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
	return 0;
}

int function_request_id(char out[37])
{
	return make_uuid(out);
}

/* An X-Ray trace header as Lambda passes it. */
static void make_trace_id(char *out, size_t len)
{
	unsigned char b[20];
	char h[41];

	if (id_random(b, sizeof(b)) != 0)
		memset(b, 0, sizeof(b));
	hex(b, sizeof(b), h);
	snprintf(out, len, "Root=1-%08llx-%.24s;Parent=%.16s;Sampled=0",
	         (unsigned long long)(fn_wall_ms() / 1000), h, h + 24);
}

/* ---- queues ---- */

static void list_push(struct inv_list *l, struct invocation *inv, int front)
{
	inv->prev = inv->next = NULL;
	if (!l->head) {
		l->head = l->tail = inv;
	} else if (front) {
		inv->next = l->head;
		l->head->prev = inv;
		l->head = inv;
	} else {
		inv->prev = l->tail;
		l->tail->next = inv;
		l->tail = inv;
	}
	l->n++;
}

static void list_remove(struct inv_list *l, struct invocation *inv)
{
	if (inv->prev)
		inv->prev->next = inv->next;
	else
		l->head = inv->next;
	if (inv->next)
		inv->next->prev = inv->prev;
	else
		l->tail = inv->prev;
	inv->prev = inv->next = NULL;
	l->n--;
}

static struct inv_list *queue_of(struct function *fn, const struct invocation *inv)
{
	return inv->async ? &fn->async_q : &fn->sync_q;
}

void fn_invocation_free(struct invocation *inv)
{
	if (!inv)
		return;
	free(inv->event);
	free(inv->client_context);
	free(inv->body);
	free(inv);
}

/* ---- ending an invocation ---- */

static void remember(struct function *fn, const char *id, const char *how)
{
	struct recent *r = &fn->recent[fn->recent_next];

	fn->recent_next = (fn->recent_next + 1) % FN_RECENT;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->how = how;
}

/*
 * Ends inv with body (taken: malloc'd, or NULL for an empty one), wherever
 * it stands, logs END and REPORT for a run one, and gives the outcome to
 * its invoker (woken) or frees it. Caller holds the lock.
 */
void fn_finish(struct invocation *inv, int error, char *body, size_t len, const char *how)
{
	struct function *fn = inv->fn;

	if (inv->state == INV_QUEUED) {
		list_remove(queue_of(fn, inv), inv);
	} else if (inv->state == INV_RUNNING) {
		int64_t us = fn_mono_us() - inv->started_us;
		/* Reading /proc costs more than the rest of an invocation: only
		 * for a REPORT line that is shown. */
		long mb = inv->slot && log_function_enabled()
		              ? process_peak_rss_mb(&inv->slot->proc)
		              : -1;
		char mem[48] = "", init[48] = "";

		list_remove(&fn->running, inv);
		if (inv->slot && inv->slot->running == inv) {
			/* Its last lines, tagged with its id, before its END. */
			fn_relay_output(inv->slot);
			inv->slot->running = NULL;
		}
		if (mb >= 0)
			snprintf(mem, sizeof(mem), "\tMax Memory Used: %ld MB", mb);
		if (inv->init_us > 0)
			snprintf(init, sizeof(init), "\tInit Duration: %.2f ms",
			         inv->init_us / 1000.0);
		log_function(fn->name, "END RequestId: %s", inv->id);
		log_function(fn->name,
		             "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %lld "
		             "ms\tMemory Size: %lld MB%s%s%s%s",
		             inv->id, us / 1000.0, (long long)((us + 999) / 1000),
		             (long long)fn->memory_mb, mem, init, error ? "\tStatus: " : "",
		             error ? how : "");
	} else if (inv->state == INV_GIVEN) {
		/* Given to a /next not yet answered: that request forgets it. */
		for (size_t i = 0; i < fn->n_pollers; i++)
			if (fn->pollers[i].given == inv)
				fn->pollers[i].given = NULL;
		if (inv->slot && inv->slot->running == inv)
			inv->slot->running = NULL;
	}
	remember(fn, inv->id, how);
	if (!error)
		fn->n_ok++;
	else if (strcmp(how, "timed out") == 0)
		fn->n_timeout++;
	else
		fn->n_error++;
	inv->state = INV_DONE;
	inv->how = how;
	inv->error = error;
	inv->body = body;
	inv->body_len = body ? len : 0;
	if (!inv->async && inv->invoker) {
		daemon_wake(inv->invoker);
		return; /* function_collect frees it */
	}
	/* Nobody waits for it (async, or its invoker could not): a failure
	 * is only in the log. */
	if (error)
		log_function(fn->name, "invocation %s failed with no one waiting: %.*s", inv->id,
		             (int)(len > 300 ? 300 : len), body ? body : "");
	fn_invocation_free(inv);
}

void fn_fail(struct invocation *inv, const char *type, const char *how, const char *fmt, ...)
{
	char msg[512];
	char *doc;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	doc = function_error_doc(type, msg);
	fn_finish(inv, 1, doc, doc ? strlen(doc) : 0, how);
}

/* ---- handing invocations to runtimes ---- */

static struct poller *poller_of(struct function *fn, const struct request *rq)
{
	for (size_t i = 0; i < fn->n_pollers; i++)
		if (fn->pollers[i].rq == rq)
			return &fn->pollers[i];
	return NULL;
}

static void poller_drop(struct function *fn, struct poller *p)
{
	*p = fn->pollers[--fn->n_pollers];
}

/* Invocations handed out and not finished. */
static size_t in_flight(const struct function *fn)
{
	size_t n = fn->running.n;

	for (size_t i = 0; i < fn->n_pollers; i++)
		n += fn->pollers[i].given != NULL;
	return n;
}

/* Gives queued invocations (sync first) to waiting runtimes, up to the
 * function's concurrency, and starts processes for what is left. Caller
 * holds the lock. */
void fn_dispatch(struct function *fn)
{
	for (size_t i = 0; i < fn->n_pollers; i++) {
		struct poller *p = &fn->pollers[i];
		struct invocation *inv = fn->sync_q.head ? fn->sync_q.head : fn->async_q.head;

		if (!inv || in_flight(fn) >= (size_t)fn->concurrency)
			break;
		if (p->given || (p->slot && (p->slot->running || p->slot->retire)))
			continue;
		list_remove(queue_of(fn, inv), inv);
		inv->state = INV_GIVEN;
		inv->slot = p->slot;
		if (p->slot)
			p->slot->running = inv;
		p->given = inv;
		daemon_wake(p->rq);
	}
	fn_retire_idle(fn);
	fn_supervise(fn);
}

enum invoke_result function_invoke(struct function *fn, const struct invoke_args *a,
                                   struct request *rq, struct invocation **out)
{
	struct functions *fs = fn->fs;
	struct invocation *inv = calloc(1, sizeof(*inv));
	enum invoke_result res = a->async ? INVOKE_ACCEPTED : INVOKE_QUEUED;
	/* Looked at before the lock: a walk of the code directory. */
	uint64_t sig = fn_reloads(fn) ? fn_code_signature(fn) : 0;

	if (!inv ||
	    (a->request_id ? snprintf(inv->id, sizeof(inv->id), "%s", a->request_id) < 0
	                   : make_uuid(inv->id) != 0) ||
	    !(inv->event = malloc(a->event_len + 1)) ||
	    (a->client_context && !(inv->client_context = strdup(a->client_context)))) {
		fn_invocation_free(inv);
		return INVOKE_NOMEM;
	}
	memcpy(inv->event, a->event, a->event_len);
	inv->event[a->event_len] = '\0';
	inv->event_len = a->event_len;
	inv->fn = fn;
	inv->async = a->async;
	inv->invoker = a->async ? NULL : rq;
	make_trace_id(inv->trace_id, sizeof(inv->trace_id));
	pthread_mutex_lock(&fs->lock);
	inv->queued_ms = clock_now_ms(fs->wait);
	if (fs->stopping) {
		res = INVOKE_STOPPING;
	} else if (a->async ? fn->async_q.n >= FN_ASYNC_MAX
	                    : fn->sync_q.n + in_flight(fn) >= (size_t)fn->concurrency) {
		res = INVOKE_TOO_MANY;
	} else {
		if (sig)
			fn_reload_check(fn, sig);
		list_push(queue_of(fn, inv), inv, 0);
		inv->state = INV_QUEUED;
		if (!a->async)
			*out = inv;
		inv = NULL;
		/* No wake for the supervisor here: it looks at least every
		 * FN_POLL_MAX_MS, past any queued invocation's deadline; a
		 * process started (spawn) or a short timeout begun (deliver)
		 * wakes it. A wake per invocation is a context switch each. */
		fn_dispatch(fn);
	}
	pthread_mutex_unlock(&fs->lock);
	fn_invocation_free(inv);
	return res;
}

/* ---- the Runtime API's side ---- */

/* The account's token answer now, or NULL for none. Caller holds the lock
 * (the slot has its own; this takes it). */
static char *token_json(struct function *fn)
{
	struct server *srv = fn->fs->srv;
	struct account_token *a;
	char buf[UPSTREAM_ANSWER_MAX + 1], why[256];
	char *out = NULL;
	uint64_t gen;
	int n;

	if (fn->account < 0 || (size_t)fn->account >= srv->n_accounts)
		return NULL;
	a = &srv->accounts[fn->account];
	/* An upstream account's token is the real one, as its token route
	 * serves it; none usable: the invocation runs without (the upstream
	 * logs why it failed). */
	if (a->upstream) {
		n = upstream_answer(a->upstream, NULL, buf, sizeof(buf), why, sizeof(why));
		if (n <= 0)
			log_msg(LOG_WARN, "function %s: no token to give its invocation: %s",
			        fn->name, why);
	} else
		n = gce_token_answer(&a->slot, clock_now_ms(&srv->clock), 0, buf, sizeof(buf),
		                     &gen);
	if (n > 0)
		out = strndup(buf, (size_t)n);
	OPENSSL_cleanse(buf, sizeof(buf));
	return out;
}

/* Starts inv on its runtime and fills what /next answers. */
static int deliver(struct function *fn, struct invocation *inv, struct next_invocation *out)
{
	struct fn_slot *s = inv->slot;

	memset(out, 0, sizeof(*out));
	out->event = malloc(inv->event_len + 1);
	if (!out->event)
		return -1;
	memcpy(out->event, inv->event, inv->event_len + 1);
	out->event_len = inv->event_len;
	if (inv->client_context && !(out->client_context = strdup(inv->client_context))) {
		free(out->event);
		return -1;
	}
	inv->state = INV_RUNNING;
	list_push(&fn->running, inv, 0);
	inv->started_us = fn_mono_us();
	inv->deadline_ms = clock_now_ms(fn->fs->wait) + fn->timeout_ms;
	if (fn->timeout_ms < FN_POLL_MAX_MS)
		fn_wake_supervisor(fn->fs); /* due before its next look */
	if (s && s->spawned_us && !s->served) {
		inv->init_us = inv->started_us - s->spawned_us;
		s->served = 1;
	}
	out->deadline_ms = fn_wall_ms() + fn->timeout_ms;
	snprintf(out->request_id, sizeof(out->request_id), "%s", inv->id);
	snprintf(out->arn, sizeof(out->arn), "%s", fn->arn);
	snprintf(out->trace_id, sizeof(out->trace_id), "%s", inv->trace_id);
	out->token_json = token_json(fn);
	out->function_name = fn->name;
	out->version = fn->version;
	out->log_group = fn->log_group;
	out->memory_mb = fn->memory_mb;
	log_function(fn->name, "START RequestId: %s Version: %s", inv->id, fn->version);
	return 0;
}

/* Puts an invocation given to a runtime back at the head of its queue. */
static void requeue(struct function *fn, struct invocation *inv);

void fn_requeue_given(struct invocation *inv)
{
	struct function *fn = inv->fn;

	for (size_t i = 0; i < fn->n_pollers; i++)
		if (fn->pollers[i].given == inv)
			fn->pollers[i].given = NULL;
	requeue(fn, inv);
}

static void requeue(struct function *fn, struct invocation *inv)
{
	if (inv->slot && inv->slot->running == inv)
		inv->slot->running = NULL;
	inv->slot = NULL;
	inv->state = INV_QUEUED;
	list_push(queue_of(fn, inv), inv, 1);
}

/* The poller p's given invocation starts: 1 with *out filled, or -1 (out
 * of memory) with it back in its queue. p is gone either way. */
static int take_given(struct function *fn, struct poller *p, struct next_invocation *out)
{
	struct invocation *inv = p->given;

	poller_drop(fn, p);
	if (deliver(fn, inv, out) == 0)
		return 1;
	requeue(fn, inv);
	return -1;
}

int function_next(struct function *fn, void *site, struct request *rq, struct next_invocation *out)
{
	struct functions *fs = fn->fs;
	struct fn_slot *slot = site;
	struct poller *p;
	int ret = 0;

	pthread_mutex_lock(&fs->lock);
	p = poller_of(fn, rq);
	if (p && p->given) {
		ret = take_given(fn, p, out);
		goto out;
	}
	if (fs->stopping) {
		if (p)
			poller_drop(fn, p);
		ret = -1;
		goto out;
	}
	if (slot && slot->proc.pid > 0)
		slot->polled = 1;
	if (!p) {
		/* Full: a held /next is not watched, so some may be runtimes
		 * that went away; their places go first. */
		for (size_t i = fn->n_pollers; i-- > 0 && fn->n_pollers == FN_POLLERS_MAX;)
			if (!fn->pollers[i].given && request_peer_gone(fn->pollers[i].rq))
				poller_drop(fn, &fn->pollers[i]);
		if (fn->n_pollers == FN_POLLERS_MAX) {
			ret = -1;
			goto out;
		}
		p = &fn->pollers[fn->n_pollers++];
		p->rq = rq;
		p->slot = slot;
		p->given = NULL;
	}
	fn_dispatch(fn);
	/* Given at once? Then answer now rather than hold. */
	if ((p = poller_of(fn, rq)) != NULL && p->given) {
		ret = take_given(fn, p, out);
		rq->woken = 0; /* the wake dispatch sent is spent */
	}
out:
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

void function_next_release(struct next_invocation *n)
{
	free(n->event);
	free(n->client_context);
	if (n->token_json) {
		memset(n->token_json, 0, strlen(n->token_json));
		free(n->token_json);
	}
	memset(n, 0, sizeof(*n));
}

void function_next_gone(struct function *fn, struct request *rq)
{
	struct functions *fs = fn->fs;
	struct poller *p;

	pthread_mutex_lock(&fs->lock);
	if ((p = poller_of(fn, rq)) != NULL) {
		struct invocation *inv = p->given;

		poller_drop(fn, p);
		if (inv) {
			/* Given, never delivered: back to the head of its queue. */
			requeue(fn, inv);
			fn_dispatch(fn);
		}
	}
	pthread_mutex_unlock(&fs->lock);
}

static struct invocation *running_by_id(struct function *fn, const char *id, size_t len)
{
	for (struct invocation *inv = fn->running.head; inv; inv = inv->next)
		if (strlen(inv->id) == len && memcmp(inv->id, id, len) == 0)
			return inv;
	return NULL;
}

static const char *recent_how(struct function *fn, const char *id, size_t len)
{
	for (size_t i = 0; i < FN_RECENT; i++)
		if (fn->recent[i].how && strlen(fn->recent[i].id) == len &&
		    memcmp(fn->recent[i].id, id, len) == 0)
			return fn->recent[i].how;
	return NULL;
}

enum answer_result function_answer(struct function *fn, const char *id, size_t id_len,
                                   const char *body, size_t len, int error, const char *err_type,
                                   char *why, size_t whylen)
{
	struct functions *fs = fn->fs;
	struct invocation *inv;
	enum answer_result res = ANSWER_OK;
	char *copy = NULL;
	const char *how;

	pthread_mutex_lock(&fs->lock);
	inv = running_by_id(fn, id, id_len);
	if (!inv) {
		how = recent_how(fn, id, id_len);
		snprintf(why, whylen,
		         how ? "invocation %.*s of function %s has ended already (%s)"
		             : "invocation %.*s is not running on function %s%s",
		         (int)(id_len > 64 ? 64 : id_len), id, fn->name, how ? how : "");
		res = how ? ANSWER_FINISHED : ANSWER_UNKNOWN;
		goto out;
	}
	if (!error && len > (size_t)fn->max_response) {
		snprintf(why, whylen,
		         "response of %zu bytes is over the function's maximum of %lld", len,
		         (long long)fn->max_response);
		fn_fail(inv, "Function.ResponseSizeTooLarge", "response too large",
		        "Response payload size (%zu bytes) exceeded maximum allowed payload size "
		        "(%lld bytes).",
		        len, (long long)fn->max_response);
		res = ANSWER_TOO_LARGE;
		fn_dispatch(fn);
		goto out;
	}
	if (error && len == 0) {
		copy = function_error_doc(err_type ? err_type : "Unhandled", "");
		len = copy ? strlen(copy) : 0;
	} else if ((copy = malloc(len + 1)) != NULL) {
		memcpy(copy, body, len);
		copy[len] = '\0';
	}
	if (!copy) {
		res = ANSWER_NOMEM;
		goto out;
	}
	if (inv->slot && !error)
		inv->slot->failures = 0;
	fn_finish(inv, error, copy, len, error ? "error" : "answered");
	fn_dispatch(fn);
out:
	pthread_mutex_unlock(&fs->lock);
	return res;
}

void function_init_error(struct function *fn, void *site, const char *doc, size_t len)
{
	struct functions *fs = fn->fs;
	struct invocation *inv;
	char *copy;

	pthread_mutex_lock(&fs->lock);
	log_function(fn->name, "runtime init error: %.*s", (int)(len > 400 ? 400 : len), doc);
	if (site)
		((struct fn_slot *)site)->init_failed = 1;
	inv = fn->sync_q.head ? fn->sync_q.head : fn->async_q.head;
	/* The body is bytes, NULs and all: copied whole. */
	if (inv && (copy = malloc(len + 1)) != NULL) {
		memcpy(copy, doc, len);
		copy[len] = '\0';
		fn_finish(inv, 1, copy, len, "init error");
	}
	pthread_mutex_unlock(&fs->lock);
}

/* ---- lookups ---- */

struct function *functions_find(struct functions *fs, const char *name, size_t len)
{
	for (size_t i = 0; i < fs->n; i++)
		if (strlen(fs->fns[i].name) == len && memcmp(fs->fns[i].name, name, len) == 0)
			return &fs->fns[i];
	return NULL;
}

struct function *functions_of_site(struct functions *fs, void *site)
{
	return site ? ((struct fn_slot *)site)->fn : fs->root;
}

const char *function_name(const struct function *fn)
{
	return fn->name;
}

int64_t function_max_event(const struct function *fn)
{
	return fn->max_event;
}

int64_t function_timeout_ms(const struct function *fn)
{
	return fn->timeout_ms;
}

int64_t function_concurrency(const struct function *fn)
{
	return fn->concurrency;
}

int64_t function_max_response(const struct function *fn)
{
	return fn->max_response;
}

void functions_outcomes(struct functions *fs,
                        void (*each)(void *arg, const char *name,
                                     const struct function_outcomes *o),
                        void *arg)
{
	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < fs->n; i++) {
		const struct function *fn = &fs->fns[i];
		struct function_outcomes o = { fn->n_ok, fn->n_error, fn->n_timeout };

		each(arg, fn->name, &o);
	}
	pthread_mutex_unlock(&fs->lock);
}

size_t functions_body_max(const struct functions *fs)
{
	return fs->body_max;
}
