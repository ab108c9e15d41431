/*
 * Functions (issue 11): what the Invoke API (invoke_api.c) asks to run and
 * the Runtime API (runtime_api.c) hands to runtimes. One subsystem that owns
 * every function's invocations, its runtime slots and its processes:
 *
 * - an invocation is queued (sync ones ahead of async ones), handed to the
 *   first runtime that asks for /next, and finished by the runtime's
 *   /response or /error, by its process dying, or by its deadline;
 * - each function has `concurrency` slots. A slot is a loopback listener of
 *   its own (its Runtime API, so that the process on it is known by the
 *   address it polls; its connections are served by the main daemon's
 *   threads) and, unless the runtime is external, a process that
 *   metatokend starts on demand and restarts with backoff after a crash or
 *   a timeout. The root listener's Runtime API is the function `function`
 *   (RIE's convention), implicit when none is configured;
 * - one supervisor thread reads the processes' output into the log
 *   (prefixed with function and request id, with START/END/REPORT lines),
 *   reaps them, and ends invocations whose time is up, on the wait clock.
 *
 * Requests that wait (a sync invoker, a runtime's /next) are held by the
 * daemon and woken here (daemon_wake) when their invocation moves; their
 * flavour's ended hook tells this module a request is gone.
 */
#ifndef METATOKEN_SERVER_FUNCTION_H
#define METATOKEN_SERVER_FUNCTION_H

#include <stddef.h>
#include <stdint.h>

struct clock;
struct daemon;
struct request;
struct server;
struct functions;
struct function;
struct invocation;

/* Builds the functions of srv->cfg (and the implicit `function`). Returns
 * NULL with the reason in err. */
struct functions *functions_new(struct server *srv, struct clock *wait_clock, char *err,
                                size_t errlen);
/* Opens each slot's listener (on d's host), whose connections d serves,
 * and starts the supervisor thread. */
int functions_start(struct functions *fs, struct daemon *d, char *err, size_t errlen);
/* d is stopping: no connection is handed to it from here. Idempotent. */
void functions_detach(struct functions *fs);
/* The slot a connection came to (the site of its requests), from its
 * socket, or NULL: not a slot's. Safe from any thread once started; NULL
 * fs is no slot. */
void *functions_site_of(struct functions *fs, int fd);
/* Ends every invocation ("metatokend is stopping"), stops the processes
 * (SIGTERM, then SIGKILL after grace_ms) and the slot listeners. */
void functions_stop(struct functions *fs, int64_t grace_ms);
void functions_free(struct functions *fs);

/* The largest body any function accepts (event or response). */
/* Invocations ended, by outcome: answered, a function or runtime error, the
 * timeout. */
struct function_outcomes {
	uint64_t ok, error, timeout;
};
/* Calls each(arg, name, outcomes) for every function, the root's `function`
 * included, under the functions' lock: each must be quick and must not call
 * into the functions. */
void functions_outcomes(struct functions *fs,
                        void (*each)(void *arg, const char *name,
                                     const struct function_outcomes *o),
                        void *arg);
size_t functions_body_max(const struct functions *fs);

/* The function of that name, or NULL. */
struct function *functions_find(struct functions *fs, const char *name, size_t len);
/* The function whose Runtime API a request is on: rq->site's slot, or the
 * root's `function`. */
struct function *functions_of_site(struct functions *fs, void *site);

const char *function_name(const struct function *fn);
int64_t function_max_event(const struct function *fn);
int64_t function_timeout_ms(const struct function *fn);
int64_t function_concurrency(const struct function *fn);
/* A queued invocation waits this long past its timeout for a runtime to
 * take it (a cold start's allowance) before it fails. */
#define FN_QUEUE_WAIT_MS 10000
int64_t function_max_response(const struct function *fn);

/* ---- the Invoke API's side ---- */

struct invoke_args {
	const char *event;
	size_t event_len;
	const char *client_context; /* decoded JSON, or NULL */
	int async;
	const char *request_id; /* from function_request_id(), or NULL for a new one */
};

/* A new request id (a version 4 UUID, as Lambda's are), for an invoker
 * that puts it in the event before invoking (http_invoke.c). Returns 0, or
 * -1 when the random generator fails. */
int function_request_id(char out[37]);

enum invoke_result {
	INVOKE_QUEUED,   /* sync: *out is the invocation; hold rq until woken */
	INVOKE_ACCEPTED, /* async: runs later */
	INVOKE_TOO_MANY, /* over the function's concurrency (or the async queue) */
	INVOKE_NOMEM,
	INVOKE_STOPPING,
};

/* Queues an invocation; a sync one remembers rq to wake it when it ends. */
enum invoke_result function_invoke(struct function *fn, const struct invoke_args *a,
                                   struct request *rq, struct invocation **out);

/* How an invocation ended, for the invoker's answer. */
struct invoke_outcome {
	int done;   /* 0: still running */
	int error;  /* a function error: body is the error document */
	char *body; /* malloc'd; the caller frees it */
	size_t body_len;
	char request_id[40];
	const char *version;
	/* How it ended (done only), a static string: "answered", "error",
	 * "timed out", "runtime exited", "stopped"... as the REPORT line says. */
	const char *how;
};
/*
 * Called from the invoker's handler when it runs again: fills *o. When the
 * invocation is done, the invoker gets its body and the invocation is
 * freed: the caller forgets inv. When it is not, the invoker holds again;
 * `give_up` (the invoker cannot wait: stopping, hold refused) detaches the
 * invoker and lets the invocation run on alone.
 */
void function_collect(struct invocation *inv, int give_up, struct invoke_outcome *o);
/* The invoker's request ended before it collected: forget it. */
void function_invoker_gone(struct invocation *inv);
/* The ended hook of every flavour that invokes: a held invoker's request
 * (rq->hstate its invocation) ended, answered or not. */
void function_invoker_ended(struct request *rq);

/* How long a sync invoker's request is held: the function's timeout, a
 * cold start's allowance (FN_QUEUE_WAIT_MS) and a backstop should the
 * supervisor stall. */
int64_t function_invoker_hold_ms(const struct function *fn);

enum invoker_woken {
	INVOKER_ANSWER,  /* done: answer from *o (the caller frees o->body) */
	INVOKER_GAVE_UP, /* cannot wait on (rq->close: stopping; else the hold was
	                  * refused): the invocation goes on alone */
	INVOKER_WAITS,   /* not yet: held again */
};
/* A held invoker's handler runs again (rq->hstate is its invocation):
 * collects the outcome into *o and says what to do. For every flavour that
 * invokes (invoke_api.c, http_invoke.c). */
enum invoker_woken function_invoker_woken(struct request *rq, struct invoke_outcome *o);

/* {"errorMessage": msg, "errorType": type}, malloc'd; NULL when out of
 * memory. The shape of every error a runtime or invoker gets from here. */
char *function_error_doc(const char *type, const char *msg);
/* Answers rq with status and that document, the message from fmt: the
 * Runtime API's errors and those of HTTP calls into a function. */
__attribute__((format(printf, 4, 5))) void
function_error_reply(struct request *rq, unsigned status, const char *type, const char *fmt, ...);

/* ---- the Runtime API's side ---- */

/* What a runtime gets from /next: the event and the headers' values. */
struct next_invocation {
	char request_id[40];
	int64_t deadline_ms; /* wall clock */
	char arn[200];
	char trace_id[96];
	char *client_context; /* malloc'd or NULL */
	char *event;          /* malloc'd */
	size_t event_len;
	char *token_json; /* malloc'd; NULL: no service account */
	const char *function_name, *version, *log_group;
	int64_t memory_mb;
};
/*
 * A runtime on fn asks for the next invocation. Returns 1 with *out filled
 * (the caller frees it with function_next_release) and the invocation
 * running; 0 when none is queued: rq is registered and woken when one is
 * (then ask again); -1 when the runtime cannot wait (stopping).
 */
int function_next(struct function *fn, void *site, struct request *rq, struct next_invocation *out);
void function_next_release(struct next_invocation *n);
/* The /next request ended: unregisters it (an invocation given to it and
 * not yet delivered goes back to the head of the queue). */
void function_next_gone(struct function *fn, struct request *rq);

enum answer_result {
	ANSWER_OK,
	ANSWER_UNKNOWN,   /* no such invocation of this function */
	ANSWER_FINISHED,  /* answered already, timed out or failed */
	ANSWER_TOO_LARGE, /* the invocation fails with Function.ResponseSizeTooLarge */
	ANSWER_NOMEM,
};
/* A runtime's /response (error 0) or /error (error 1) for id. why gets
 * what a refusal says. */
enum answer_result function_answer(struct function *fn, const char *id, size_t id_len,
                                   const char *body, size_t len, int error, const char *err_type,
                                   char *why, size_t whylen);
/* A runtime's /init/error: the oldest queued invocation fails with doc. */
void function_init_error(struct function *fn, void *site, const char *doc, size_t len);

#endif
