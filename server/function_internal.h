/*
 * Shared by function.c (invocations and the Runtime API's side),
 * function_run.c (set-up, processes, the supervisor thread) and
 * function_env.c (what a runtime process starts with), and by nothing else.
 */
#ifndef METATOKEN_SERVER_FUNCTION_INTERNAL_H
#define METATOKEN_SERVER_FUNCTION_INTERNAL_H

#include <cjson/cJSON.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "daemon.h"
#include "function.h"
#include "listener.h"
#include "process.h"
#include "reply.h"

#define FN_POLLERS_MAX 128  /* /next requests waiting on one function */
#define FN_ASYNC_MAX   1024 /* async invocations queued on one function */
#define FN_RECENT      64   /* ended invocation ids remembered, for clear refusals */
#define FN_POLL_MAX_MS 1000 /* the supervisor looks at least this often */

enum inv_state { INV_QUEUED, INV_GIVEN, INV_RUNNING, INV_DONE };

struct fn_slot;

struct invocation {
	struct invocation *prev, *next; /* in a queue or the running list */
	struct function *fn;
	char id[40];
	char *event;
	size_t event_len;
	char *client_context;
	char trace_id[96];
	int async;
	enum inv_state state;
	struct request *invoker; /* a sync invoker waiting; NULL once gone */
	struct fn_slot *slot;    /* the slot running it; NULL: the root's runtime */
	int64_t queued_ms;       /* wait clock */
	int64_t deadline_ms;     /* wait clock, once running */
	int64_t started_us;      /* monotonic, for REPORT */
	int64_t init_us;         /* a cold start's spawn to /next */
	/* The outcome, once done. */
	const char *how; /* fn_finish's, static */
	int error;
	char *body;
	size_t body_len;
};

struct inv_list {
	struct invocation *head, *tail;
	size_t n;
};

/* A /next request waiting for an invocation. */
struct poller {
	struct request *rq;
	struct fn_slot *slot;
	struct invocation *given; /* handed to it, not yet delivered */
};

struct recent {
	char id[40];
	const char *how; /* static */
};

/* A runtime's place: its own listener and, unless external, a process. */
struct fn_slot {
	struct function *fn;
	unsigned index;
	struct listener listener; /* fd -1: not open */
	uint16_t port;            /* the listener's, which tells its connections */
	char addr[80];            /* what AWS_LAMBDA_RUNTIME_API says */
	struct process proc;
	struct linebuf out_lb, err_lb;
	struct invocation *running; /* given or running on it */
	int64_t spawned_us;         /* monotonic; 0: never */
	int served;                 /* the process has had an invocation */
	int polled;                 /* the process has asked for /next */
	int init_failed;
	int killed; /* we killed it (timeout, stop) */
	int retire; /* its code changed: restart it before its next invocation */
	unsigned failures;
	int64_t next_spawn_ms; /* wait clock: backoff after a failure */
	char log_stream[96];
};

struct function {
	struct functions *fs;
	const struct config_function *cfg; /* NULL for the implicit `function` */
	char name[72];
	const char *version;
	int64_t timeout_ms, memory_mb, concurrency, max_event, max_response;
	int account; /* index in srv->accounts; -1: none */
	int external;
	int reload_truncated_said; /* the walk's cap was logged */
	uint64_t code_sig;         /* function_reload.c; 0: not looked yet */
	/* Invocations ended (fn_finish), by outcome; under the lock. */
	uint64_t n_ok, n_error, n_timeout;
	char arn[200];
	char log_group[96];
	struct inv_list sync_q, async_q, running;
	struct poller pollers[FN_POLLERS_MAX];
	size_t n_pollers;
	struct recent recent[FN_RECENT];
	size_t recent_next;
	struct fn_slot *slots;
	size_t n_slots;
};

struct functions {
	struct server *srv;
	struct clock *wait;
	pthread_mutex_t lock;
	struct function *fns;
	size_t n;
	struct function *root; /* `function`: the root Runtime API's */
	size_t body_max;
	char bootstrap[4096];      /* function_env.h: the C runtime's program */
	char python_runtime[4096]; /* and the Python runtime's script */
	struct daemon *daemon;     /* serves the slots' connections; NULL once it stops */
	size_t n_slots;            /* of every function */
	int64_t accept_retry_us;   /* monotonic: accepting failed (no fds); retry then */
	pthread_t thread;
	int thread_started;
	int wake[2]; /* the supervisor's self-pipe */
	int stopping;
};

int64_t fn_wall_ms(void);
int64_t fn_mono_us(void);
void fn_invocation_free(struct invocation *inv);
void fn_finish(struct invocation *inv, int error, char *body, size_t len, const char *how);
__attribute__((format(printf, 4, 5))) void fn_fail(struct invocation *inv, const char *type,
                                                   const char *how, const char *fmt, ...);
void fn_dispatch(struct function *fn);
/* An invocation given to a /next that will not take it (its runtime
 * ended): back to the head of its queue. */
void fn_requeue_given(struct invocation *inv);
/* function_run.c: starts processes for what is queued (caller holds the
 * lock), and wakes the supervisor to look again. */
void fn_supervise(struct function *fn);
void fn_wake_supervisor(struct functions *fs);
/* Kills slot s's process group with sig; the supervisor reaps it. */
void fn_kill_slot(struct fn_slot *s, int sig);

/* function_reload.c. Whether fn restarts its runtimes on a code change. */
int fn_reloads(const struct function *fn);
/* The code's signature now (no lock needed; 0 never). */
uint64_t fn_code_signature(const struct function *fn);
/* Caller holds the lock: with a new signature, every live runtime is
 * marked to retire and the idle ones are killed (started again on demand). */
void fn_reload_check(struct function *fn, uint64_t sig);
/* Caller holds the lock: kills retiring runtimes that are idle. */
void fn_retire_idle(struct function *fn);
/* function_run.c: relays to the log, now, the lines slot s's runtime has
 * written (without waiting for more), tagged with what it runs: its
 * supervisor may not have read them yet when the answer arrives. Caller
 * holds the lock. */
void fn_relay_output(struct fn_slot *s);

/* function_slots.c: the slots' listeners. */
int fn_slots_open(struct functions *fs, const char *host, char *err, size_t errlen);
/* Adds the listeners to poll (caller holds the lock): at most fs->n_slots
 * entries at pfd, each slot in owner; returns how many, and lowers
 * *timeout_ms while accepting waits out a shortage. */
size_t fn_slots_poll(struct functions *fs, struct pollfd *pfd, struct fn_slot **owner,
                     int *timeout_ms);
/* Accepts what waits on s's listener and hands it to the daemon (caller
 * holds the lock). */
void fn_slots_accept(struct fn_slot *s);
/* Closes the listeners (after the supervisor has stopped). */
void fn_slots_close(struct functions *fs);

#endif
