/*
 * Functions, the running side (function.h): set-up from the configuration,
 * starting and restarting runtime processes, and the supervisor thread that
 * relays their output, reaps them, ends invocations whose time is up and
 * accepts the slots' connections (function_slots.c).
 */
#include "function_env.h"
#include "function_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "log.h"
#include "server.h"

#define BACKOFF_MAX_MS 5000
#define POLL_MAX_MS    FN_POLL_MAX_MS
#define POLL_FAKE_MS   10 /* on a test's fake wait clock: look this often */

/* ---- set-up ---- */

static int account_index(const struct server *srv, const struct config_function *c)
{
	const char *name = c->account ? c->account : "default";

	if (c->no_account)
		return -1;
	return server_find_account(srv, name, strlen(name), 0) >= 0
	           ? server_find_account(srv, name, strlen(name), 0)
	           : server_find_account(srv, name, strlen(name), 1);
}

static int setup_function(struct functions *fs, struct function *fn,
                          const struct config_function *c, char *err, size_t errlen)
{
	const struct config *cfg = &fs->srv->cfg;

	fn->fs = fs;
	fn->cfg = c;
	snprintf(fn->name, sizeof(fn->name), "%s", c ? c->name : "function");
	fn->version = c ? c->version : "$LATEST";
	fn->timeout_ms = c ? c->timeout_ms : CONFIG_DEFAULT_FUNCTION_TIMEOUT_S * 1000;
	fn->memory_mb = c ? c->memory_mb : 128;
	fn->concurrency = c ? c->concurrency : 1;
	fn->max_event = c ? c->max_event_bytes : CONFIG_DEFAULT_PAYLOAD_MAX;
	fn->max_response = c ? c->max_response_bytes : CONFIG_DEFAULT_PAYLOAD_MAX;
	fn->account = c ? account_index(fs->srv, c) : (fs->srv->n_accounts ? 0 : -1);
	fn->external = !c || c->runtime == CONFIG_RUNTIME_EXTERNAL;
	snprintf(fn->arn, sizeof(fn->arn), "arn:aws:lambda:%s:%s:function:%s", cfg->aws_region,
	         cfg->aws_account_id, fn->name);
	snprintf(fn->log_group, sizeof(fn->log_group), "/aws/lambda/%s", fn->name);
	if (!c)
		return 0; /* the implicit one: runtimes attach at the root */
	fn->n_slots = (size_t)c->concurrency;
	fn->slots = calloc(fn->n_slots, sizeof(*fn->slots));
	if (!fn->slots) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < fn->n_slots; i++) {
		fn->slots[i].fn = fn;
		fn->slots[i].index = (unsigned)i;
		fn->slots[i].proc.out_fd = fn->slots[i].proc.err_fd = -1;
		fn->slots[i].listener.fd = -1;
	}
	fs->n_slots += fn->n_slots;
	return 0;
}

struct functions *functions_new(struct server *srv, struct clock *wait_clock, char *err,
                                size_t errlen)
{
	const struct config *cfg = &srv->cfg;
	struct functions *fs = calloc(1, sizeof(*fs));

	if (!fs || !(fs->fns = calloc(cfg->n_functions + 1, sizeof(*fs->fns)))) {
		free(fs);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	fs->srv = srv;
	fs->wait = wait_clock;
	fs->wake[0] = fs->wake[1] = -1;
	pthread_mutex_init(&fs->lock, NULL);
	fn_find_runtimes(fs);
	fs->body_max = CONFIG_DEFAULT_PAYLOAD_MAX;
	for (size_t i = 0; i < cfg->n_functions; i++) {
		const struct config_function *c = &cfg->functions[i];

		if (setup_function(fs, &fs->fns[i], c, err, errlen) != 0)
			goto fail;
		fs->n = i + 1;
		if ((size_t)c->max_event_bytes > fs->body_max)
			fs->body_max = (size_t)c->max_event_bytes;
		if ((size_t)c->max_response_bytes > fs->body_max)
			fs->body_max = (size_t)c->max_response_bytes;
		if (strcmp(c->name, "function") == 0)
			fs->root = &fs->fns[i];
	}
	if (!fs->root) {
		if (setup_function(fs, &fs->fns[fs->n], NULL, err, errlen) != 0)
			goto fail;
		fs->root = &fs->fns[fs->n++];
	}
	/* Room for an error document on top of the largest payload. */
	fs->body_max += 64 * 1024;
	return fs;
fail:
	functions_free(fs);
	return NULL;
}

/* ---- processes ---- */

static void new_log_stream(struct fn_slot *s)
{
	unsigned char b[16];
	char h[33];
	time_t now = time(NULL);
	struct tm tm;

	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0, sizeof(b));
	for (size_t i = 0; i < 16; i++)
		snprintf(h + 2 * i, 3, "%02x", b[i]);
	gmtime_r(&now, &tm);
	snprintf(s->log_stream, sizeof(s->log_stream), "%04d/%02d/%02d/[%s]%s", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, s->fn->version, h);
}

/* Starts slot s's process. Caller holds the lock. On failure the queued
 * invocation it was for fails with the reason. */
static void spawn(struct fn_slot *s)
{
	struct function *fn = s->fn;
	const struct config_function *c = fn->cfg;
	char *argv_room[FN_ARGV_MAX];
	char task_root[PATH_MAX], err[PATH_MAX + 128];
	char **env;
	int rc;

	if (!realpath(c->code_dir, task_root))
		snprintf(task_root, sizeof(task_root), "%s", c->code_dir);
	new_log_stream(s);
	env = fn_build_env(s, task_root);
	if (!env) {
		snprintf(err, sizeof(err), "out of memory");
		rc = -1;
	} else {
		rc = process_spawn(&s->proc, fn_runtime_argv(s, argv_room), env, task_root, err,
		                   sizeof(err));
		fn_env_free(env);
	}
	s->served = s->polled = s->init_failed = s->killed = s->retire = 0;
	s->out_lb.len = s->err_lb.len = 0;
	if (rc == 0) {
		s->spawned_us = fn_mono_us();
		fn_wake_supervisor(fn->fs); /* its output pipes to watch */
		log_msg(LOG_INFO, "function %s: runtime %u started (pid %d) on %s", fn->name,
		        s->index, (int)s->proc.pid, s->addr);
		return;
	}
	log_msg(LOG_ERROR, "function %s: %s", fn->name, err);
	s->failures++;
	s->next_spawn_ms = clock_now_ms(fn->fs->wait) + BACKOFF_MAX_MS;
	{
		struct invocation *inv = fn->sync_q.head ? fn->sync_q.head : fn->async_q.head;

		if (inv)
			fn_fail(inv, "Runtime.InvalidEntrypoint", "runtime did not start", "%s",
			        err);
	}
}

static int64_t backoff_ms(unsigned failures)
{
	int64_t ms = 50;

	if (failures <= 1)
		return 0;
	for (unsigned i = 2; i < failures && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

void fn_supervise(struct function *fn)
{
	struct functions *fs = fn->fs;
	size_t waiting, ready = 0;
	int64_t now;

	if (fn->external || fs->stopping || !fs->thread_started)
		return;
	waiting = fn->sync_q.n + fn->async_q.n;
	for (size_t i = 0; i < fn->n_slots; i++)
		ready += fn->slots[i].proc.pid > 0 && !fn->slots[i].running;
	now = clock_now_ms(fs->wait);
	for (size_t i = 0; i < fn->n_slots && ready < waiting; i++) {
		struct fn_slot *s = &fn->slots[i];

		if (s->proc.pid > 0 || s->proc.out_fd >= 0 || s->proc.err_fd >= 0 ||
		    now < s->next_spawn_ms)
			continue;
		spawn(s);
		ready += s->proc.pid > 0;
		waiting = fn->sync_q.n + fn->async_q.n;
	}
}

void fn_wake_supervisor(struct functions *fs)
{
	if (fs->wake[1] >= 0) {
		ssize_t n = write(fs->wake[1], "", 1);
		(void)n; /* a full pipe is a wake pending already */
	}
}

/* ---- the supervisor thread ---- */

struct line_ctx {
	struct fn_slot *s;
};

static void on_line(void *cls, const char *line, size_t n)
{
	struct fn_slot *s = ((struct line_ctx *)cls)->s;

	if (s->running)
		log_function(s->fn->name, "%s %.*s", s->running->id, (int)n, line);
	else
		log_function(s->fn->name, "%.*s", (int)n, line);
}

void fn_relay_output(struct fn_slot *s)
{
	struct line_ctx lc = { s };

	/* An end of file is left for the supervisor to see and close. */
	if (s->proc.out_fd >= 0)
		process_read(s->proc.out_fd, &s->out_lb, on_line, &lc);
	if (s->proc.err_fd >= 0)
		process_read(s->proc.err_fd, &s->err_lb, on_line, &lc);
}

/* Slot s's process has ended: what it ran fails, and it is started again
 * (after the backoff) if anything waits. */
static void on_exit_status(struct fn_slot *s, int status)
{
	struct function *fn = s->fn;
	char how[96];

	process_describe(status, how, sizeof(how));
	process_close(&s->proc);
	if (!s->killed || s->running)
		log_msg(s->killed ? LOG_INFO : LOG_WARN, "function %s: runtime %u exited (%s)",
		        fn->name, s->index, how);
	if (!s->killed && !(s->served && status == 0))
		s->failures++;
	s->next_spawn_ms = clock_now_ms(fn->fs->wait) + backoff_ms(s->failures);
	if (!s->running && !s->polled && !s->killed && !s->init_failed) {
		/* It ended before asking for work (an init failure that posted
		 * no /init/error): what waits would otherwise wait on restarts. */
		struct invocation *inv = fn->sync_q.head ? fn->sync_q.head : fn->async_q.head;

		if (inv)
			fn_fail(inv, "Runtime.ExitError", "runtime exited",
			        "Runtime exited before taking an invocation: %s", how);
	} else if (s->running && s->running->state == INV_GIVEN) {
		/* Given to its /next, never delivered: it never ran. */
		fn_requeue_given(s->running);
	} else if (s->running) {
		struct invocation *inv = s->running;

		s->running = NULL;
		fn_fail(inv, "Runtime.ExitError", "runtime exited",
		        "RequestId: %s Error: Runtime exited with error: %s", inv->id, how);
	}
	fn_dispatch(fn);
}

void fn_kill_slot(struct fn_slot *s, int sig)
{
	if (s->proc.pid > 0) {
		s->killed = 1;
		kill(-s->proc.pid, sig); /* its process group: what it started too */
		kill(s->proc.pid, sig);
	}
}

static void end_overdue(struct function *fn, int64_t now, int64_t *next)
{
	struct invocation *inv, *nxt;
	int ended = 0;

	for (inv = fn->running.head; inv; inv = nxt) {
		nxt = inv->next;
		if (inv->deadline_ms > now) {
			if (inv->deadline_ms < *next)
				*next = inv->deadline_ms;
			continue;
		}
		if (inv->slot)
			fn_kill_slot(inv->slot, SIGKILL);
		fn_fail(inv, "Sandbox.Timedout", "timed out", "Task timed out after %.2f seconds",
		        fn->timeout_ms / 1000.0);
		ended = 1;
	}
	if (ended)
		fn_dispatch(fn); /* a waiting runtime may take what is queued */
	/* Queued invocations wait for a runtime as long as one is at work or
	 * polling (async ones queue behind busy runtimes, as AWS's do); only
	 * with none, for a cold start's allowance past their timeout. */
	if (fn->running.n || fn->n_pollers)
		return;
	for (int q = 0; q < 2; q++) {
		struct inv_list *l = q ? &fn->async_q : &fn->sync_q;

		for (inv = l->head; inv; inv = nxt) {
			int64_t due = inv->queued_ms + fn->timeout_ms + FN_QUEUE_WAIT_MS;

			nxt = inv->next;
			if (due > now) {
				if (due < *next)
					*next = due;
				continue;
			}
			fn_fail(inv, "Sandbox.Timedout", "timed out",
			        "Task timed out after %.2f seconds: no runtime took the invocation "
			        "(is one polling http://%s/2018-06-01/runtime/invocation/next?)",
			        fn->timeout_ms / 1000.0,
			        fn->n_slots ? fn->slots[0].addr : fn->fs->srv->bound);
		}
	}
}

/* Reads what is left in s's pipes (without waiting) and closes them. */
static void drain_output(struct fn_slot *s)
{
	struct line_ctx lc = { s };

	if (s->proc.out_fd >= 0)
		process_read(s->proc.out_fd, &s->out_lb, on_line, &lc);
	if (s->proc.err_fd >= 0)
		process_read(s->proc.err_fd, &s->err_lb, on_line, &lc);
	process_close(&s->proc);
}

static void *supervisor(void *arg)
{
	struct functions *fs = arg;
	struct pollfd *pfd;
	struct fn_slot **owner;
	size_t cap = 1;

	for (size_t i = 0; i < fs->n; i++)
		cap += 3 * fs->fns[i].n_slots; /* two pipes and a listener each */
	pfd = calloc(cap, sizeof(*pfd));
	owner = calloc(cap, sizeof(*owner));
	if (!pfd || !owner) {
		log_msg(LOG_ERROR, "functions: out of memory: no supervisor");
		free(pfd);
		free(owner);
		return NULL;
	}
	pthread_mutex_lock(&fs->lock);
	while (!fs->stopping) {
		int64_t now = clock_now_ms(fs->wait), next = now + POLL_MAX_MS;
		size_t n = 1, n_pipes;
		int timeout, reap_soon = 0;

		for (size_t i = 0; i < fs->n; i++) {
			struct function *fn = &fs->fns[i];

			end_overdue(fn, now, &next);
			for (size_t k = 0; k < fn->n_slots; k++) {
				struct fn_slot *s = &fn->slots[k];
				int status;

				if (s->proc.pid > 0) {
					pid_t pid = s->proc.pid;

					if (process_reap(&s->proc, &status)) {
						/* Its last lines, then what it left behind
						 * holding its pipes goes with it. */
						drain_output(s);
						kill(-pid, SIGKILL);
						on_exit_status(s, status);
					} else if (s->proc.out_fd < 0 && s->proc.err_fd < 0) {
						reap_soon = 1; /* its pipes ended: so will it */
					}
				}
				if (s->proc.pid <= 0 && (fn->sync_q.n || fn->async_q.n) &&
				    s->next_spawn_ms > now && s->next_spawn_ms < next)
					next = s->next_spawn_ms;
				if (s->proc.out_fd >= 0) {
					pfd[n] = (struct pollfd){ .fd = s->proc.out_fd,
						                  .events = POLLIN };
					owner[n++] = s;
				}
				if (s->proc.err_fd >= 0) {
					pfd[n] = (struct pollfd){ .fd = s->proc.err_fd,
						                  .events = POLLIN };
					owner[n++] = s;
				}
			}
			fn_supervise(fn);
		}
		pfd[0] = (struct pollfd){ .fd = fs->wake[0], .events = POLLIN };
		timeout = (int)(next - now);
		if (fs->wait->source_ms && timeout > POLL_FAKE_MS)
			timeout = POLL_FAKE_MS;
		/* A process that ended is seen by its pipes' end of file, or
		 * failing that (something of its holds them) here, soon. */
		if (reap_soon && timeout > 20)
			timeout = 20;
		n_pipes = n;
		n += fn_slots_poll(fs, pfd + n, owner + n, &timeout);
		pthread_mutex_unlock(&fs->lock);
		poll(pfd, n, timeout < 0 ? 0 : timeout);
		pthread_mutex_lock(&fs->lock);
		if (pfd[0].revents) {
			char buf[64];

			while (read(fs->wake[0], buf, sizeof(buf)) > 0)
				;
		}
		for (size_t i = n_pipes; i < n; i++)
			if (pfd[i].revents)
				fn_slots_accept(owner[i]);
		for (size_t i = 1; i < n_pipes; i++) {
			struct fn_slot *s = owner[i];
			int *fd = pfd[i].fd == s->proc.out_fd ? &s->proc.out_fd : &s->proc.err_fd;
			struct linebuf *lb = fd == &s->proc.out_fd ? &s->out_lb : &s->err_lb;
			struct line_ctx lc = { s };

			if (!pfd[i].revents || *fd != pfd[i].fd)
				continue;
			if (process_read(*fd, lb, on_line, &lc) < 0) {
				close(*fd);
				*fd = -1;
			}
		}
	}
	pthread_mutex_unlock(&fs->lock);
	free(pfd);
	free(owner);
	return NULL;
}

/* ---- start and stop ---- */

int functions_start(struct functions *fs, struct daemon *d, char *err, size_t errlen)
{
	if (pipe2(fs->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
		return -1;
	}
	if (fn_slots_open(fs, daemon_bound_host(d), err, errlen) != 0)
		return -1;
	fs->daemon = d;
	/* Set before the thread runs: fn_supervise reads it under the lock. */
	pthread_mutex_lock(&fs->lock);
	fs->thread_started = 1;
	pthread_mutex_unlock(&fs->lock);
	if (pthread_create(&fs->thread, NULL, supervisor, fs) != 0) {
		pthread_mutex_lock(&fs->lock);
		fs->thread_started = 0;
		pthread_mutex_unlock(&fs->lock);
		snprintf(err, errlen, "cannot start the function supervisor thread");
		return -1;
	}
	return 0;
}

static void fail_all(struct function *fn)
{
	/* Given to a /next not yet answered: in no list, so first. */
	for (size_t i = 0; i < fn->n_pollers; i++)
		if (fn->pollers[i].given)
			fn_fail(fn->pollers[i].given, "Runtime.Unavailable", "stopped",
			        "metatokend is stopping");
	while (fn->running.head)
		fn_fail(fn->running.head, "Runtime.Unavailable", "stopped",
		        "metatokend is stopping");
	while (fn->sync_q.head)
		fn_fail(fn->sync_q.head, "Runtime.Unavailable", "stopped",
		        "metatokend is stopping");
	while (fn->async_q.head)
		fn_fail(fn->async_q.head, "Runtime.Unavailable", "stopped",
		        "metatokend is stopping");
}

void functions_stop(struct functions *fs, int64_t grace_ms)
{
	int64_t until = fn_mono_us() + grace_ms * 1000;
	int alive, joinable;

	if (!fs)
		return;
	functions_detach(fs);
	pthread_mutex_lock(&fs->lock);
	fs->stopping = 1;
	for (size_t i = 0; i < fs->n; i++)
		fail_all(&fs->fns[i]);
	for (size_t i = 0; i < fs->n; i++)
		for (size_t k = 0; k < fs->fns[i].n_slots; k++)
			fn_kill_slot(&fs->fns[i].slots[k], SIGTERM);
	joinable = fs->thread_started;
	fs->thread_started = 0;
	pthread_mutex_unlock(&fs->lock);
	fn_wake_supervisor(fs);
	if (joinable)
		pthread_join(fs->thread, NULL);
	/* The runtimes: a grace to end on SIGTERM, then SIGKILL. */
	do {
		alive = 0;
		for (size_t i = 0; i < fs->n; i++)
			for (size_t k = 0; k < fs->fns[i].n_slots; k++) {
				struct fn_slot *s = &fs->fns[i].slots[k];
				int status;

				if (s->proc.pid > 0 && !process_reap(&s->proc, &status))
					alive++;
			}
		if (alive && fn_mono_us() < until)
			usleep(2000);
	} while (alive && fn_mono_us() < until);
	for (size_t i = 0; i < fs->n; i++)
		for (size_t k = 0; k < fs->fns[i].n_slots; k++) {
			struct fn_slot *s = &fs->fns[i].slots[k];
			int status;

			if (s->proc.pid > 0) {
				fn_kill_slot(s, SIGKILL);
				while (!process_reap(&s->proc, &status))
					usleep(1000);
			}
			process_close(&s->proc);
		}
	fn_slots_close(fs);
}

void functions_free(struct functions *fs)
{
	if (!fs)
		return;
	functions_stop(fs, 0);
	for (size_t i = 0; i < fs->n; i++)
		free(fs->fns[i].slots);
	free(fs->fns);
	for (int i = 0; i < 2; i++)
		if (fs->wake[i] >= 0)
			close(fs->wake[i]);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}
