/*
 * metatoken invoke LIB.so:SYMBOL or MODULE.FUNCTION: one invocation with no
 * server running. It writes a private configuration with one function named
 * "function" (the C runtime, metatoken-bootstrap, loads a C handler; the
 * Python runtime, metatoken-python-runtime, a Python one), starts
 * `metatokend --listen 127.0.0.1:0 --config FILE --no-control` as a child,
 * learns its port from the first line of its banner, invokes the function
 * once through the Invoke API, and stops the child.
 *
 * metatokend's log (the function's output, START/END/REPORT) is passed
 * through to stderr, without its one line per HTTP request unless
 * --verbose. The child never outlives us: it is stopped on every path, a
 * signal we catch stops it, and PR_SET_PDEATHSIG stops it if we are killed
 * (cli_private.c, shared with `metatoken exec`).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_invoke.h"
#include "cli_private.h"
#include "handlername.h"

#define LOG_LINGER_MS     1000  /* the log may still flow after the daemon exits */
#define INVOKE_SLACK_MS   60000 /* beyond the function's timeout: a safety net only */
#define DEFAULT_TIMEOUT_S 3.0   /* the server's default, to size the safety net */
#define LOG_LINE_MAX      8192
#define WHO               "metatoken invoke"

static volatile sig_atomic_t got_signal;
static struct private_daemon priv;

/* Only async-signal-safe calls: the child is told at once, the rest of the
 * clean-up runs on the main path when the wait it interrupts returns. */
static void on_signal(int sig)
{
	if (!got_signal)
		got_signal = sig;
	if (priv.pid > 0)
		kill((pid_t)priv.pid, SIGTERM);
}

const char *invoke_handler_kind(const char *h, int *python)
{
	const char *colon = strrchr(h, ':'), *file = h, *p;
	size_t n = colon ? (size_t)(colon - h) : strlen(h);
	int so = n >= 3 && memcmp(h + n - 3, ".so", 3) == 0;

	for (p = h; p < h + n; p++)
		if (*p == '/')
			file = p + 1;
	for (p = file; !so && p + 4 <= h + n; p++)
		so = memcmp(p, ".so.", 4) == 0; /* libfn.so.1 */
	if (colon || so) {
		if (colon && (colon == h || !colon[1]))
			return "expected LIB.so or LIB.so:SYMBOL, got";
		*python = 0;
		return NULL;
	}
	if (n > 3 && strcmp(h + n - 3, ".py") == 0)
		return "a Python handler is module.function (index.handler for def handler "
		       "in index.py), not a file:";
	if (!handlername_python_ok(h))
		return "not a handler: expected module.function (Python) or LIB.so[:SYMBOL] "
		       "(C), got";
	*python = 1;
	return NULL;
}

/* path made absolute against cwd (malloc'd), or NULL when out of memory. */
static char *absolute(const char *cwd, const char *path)
{
	char *out;

	if (path[0] == '/')
		return strdup(path);
	return asprintf(&out, "%s/%s", cwd, path) < 0 ? NULL : out;
}

/* The configuration: {"functions":[{...}]}, or NULL with the reason printed. */
static char *config_json(const struct invoke_local *lo)
{
	char cwd[PATH_MAX], code_dir[PATH_MAX], *handler = NULL, *python = NULL, *text = NULL;
	cJSON *root = cJSON_CreateObject(), *fns, *fn, *env;

	if (!getcwd(cwd, sizeof(cwd)) || !realpath(lo->code_dir ? lo->code_dir : ".", code_dir)) {
		fprintf(stderr, "metatoken invoke: --code-dir %s: %s\n",
		        lo->code_dir ? lo->code_dir : ".", strerror(errno));
		goto out;
	}
	/* A C handler's file is taken relative to where the user is, not to
	 * code_dir; and a bare "libfn.so" must not become a dlopen() search.
	 * A Python handler is a module name, found in code_dir. An
	 * interpreter named by a path is taken relative to where the user
	 * is too; a bare name is looked up in the PATH. */
	handler = lo->python ? strdup(lo->handler) : absolute(cwd, lo->handler);
	if (!handler)
		goto out_oom;
	if (lo->python_path && strchr(lo->python_path, '/') &&
	    !(python = absolute(cwd, lo->python_path)))
		goto out_oom;
	if (!root || !(fns = cJSON_AddArrayToObject(root, "functions")) ||
	    !(fn = cJSON_CreateObject()) || !cJSON_AddItemToArray(fns, fn) ||
	    !cJSON_AddStringToObject(fn, "name", "function") ||
	    !cJSON_AddStringToObject(fn, "handler", handler) ||
	    !cJSON_AddStringToObject(fn, "runtime", lo->python ? "python" : "c") ||
	    !cJSON_AddStringToObject(fn, "code_dir", code_dir))
		goto out_oom;
	if (lo->python_path &&
	    !cJSON_AddStringToObject(fn, "python", python ? python : lo->python_path))
		goto out_oom;
	if (lo->timeout_s && !cJSON_AddNumberToObject(fn, "timeout_s", strtod(lo->timeout_s, NULL)))
		goto out_oom;
	if (lo->memory_mb && !cJSON_AddNumberToObject(fn, "memory_mb", (double)lo->memory_mb))
		goto out_oom;
	if (lo->no_token && !cJSON_AddNullToObject(fn, "service_account"))
		goto out_oom;
	if (lo->service_account &&
	    !cJSON_AddStringToObject(fn, "service_account", lo->service_account))
		goto out_oom;
	if (lo->n_env) {
		if (!(env = cJSON_AddObjectToObject(fn, "environment")))
			goto out_oom;
		for (size_t i = 0; i < lo->n_env; i++) {
			const char *eq = strchr(lo->env[i], '=');
			char *key = strndup(lo->env[i], (size_t)(eq - lo->env[i]));
			cJSON *v = cJSON_CreateString(eq + 1);

			/* A repeated --env: the last one wins, as in a shell. */
			if (key)
				cJSON_DeleteItemFromObjectCaseSensitive(env, key);
			if (!key || !v || !cJSON_AddItemToObject(env, key, v)) {
				free(key);
				cJSON_Delete(v);
				goto out_oom;
			}
			free(key);
		}
	}
	text = cJSON_PrintUnformatted(root);
	if (text)
		goto out;
out_oom:
	fprintf(stderr, "metatoken invoke: out of memory\n");
out:
	free(handler);
	free(python);
	cJSON_Delete(root);
	return text;
}

/* The child's stdout (its banner) and stderr (its log), line by line. */
struct pump {
	int out_fd, err_fd, wake_fd;
	int verbose;
	char line[LOG_LINE_MAX];
	size_t len;
};

/* Whether a log line is metatokend's one line per request
 * ("<time> info  POST /path 200 41us"): those are --verbose only. */
static int is_request_line(const char *l, size_t n)
{
	const char *p = l, *end = l + n;

	for (int field = 0; field < 2; field++) {
		while (p < end && *p != ' ')
			p++;
		while (p < end && *p == ' ')
			p++;
	}
	if (p == end || *p < 'A' || *p > 'Z')
		return 0;
	while (p < end && *p >= 'A' && *p <= 'Z')
		p++;
	if (end - p < 2 || p[0] != ' ' || p[1] != '/')
		return 0;
	for (p += 2; p < end && *p != ' '; p++)
		;
	/* The status: three digits, or 0 for a request that got no answer
	 * ("... 0 11508us (connection ended early: 1)"). */
	if (end - p < 3 || p[0] != ' ')
		return 0;
	p++;
	if (*p == '0' && p[1] == ' ') {
		p += 2;
	} else {
		if (end - p < 4 || p[3] != ' ')
			return 0;
		for (int i = 0; i < 3; i++)
			if (p[i] < '0' || p[i] > '9')
				return 0;
		p += 4;
	}
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return end - p >= 2 && p[0] == 'u' && p[1] == 's' && (end - p == 2 || p[2] == ' ');
}

static void pump_emit(struct pump *p)
{
	if (p->len && (p->verbose || !is_request_line(p->line, p->len))) {
		/* A whole line: the main thread writes the result's error
		 * document to stderr meanwhile. */
		flockfile(stderr);
		fwrite(p->line, 1, p->len, stderr);
		fputc('\n', stderr);
		fflush(stderr);
		funlockfile(stderr);
	}
	p->len = 0;
}

/* Reads once from the log (fd) and passes whole lines on. Returns 0 at EOF. */
static int pump_log(int fd, void *arg)
{
	struct pump *p = arg;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n' || p->len == sizeof(p->line))
			pump_emit(p);
		if (buf[i] != '\n')
			p->line[p->len++] = buf[i];
	}
	return n > 0;
}

/*
 * Passes the log on until both pipes are closed, or for LOG_LINGER_MS after
 * the wake (at once when lingering): the daemon is gone by then, but a
 * runtime it left behind may hold the pipes open.
 */
static void pump_run(struct pump *p, int lingering)
{
	int64_t linger_until = lingering ? private_now_ms() + LOG_LINGER_MS : -1;
	char sink[4096];

	while (p->out_fd >= 0 || p->err_fd >= 0) {
		struct pollfd fds[3] = { { .fd = p->out_fd, .events = POLLIN },
			                 { .fd = p->err_fd, .events = POLLIN },
			                 { .fd = linger_until < 0 ? p->wake_fd : -1,
			                   .events = POLLIN } };
		int64_t left = linger_until < 0 ? -1 : linger_until - private_now_ms();
		int n = poll(fds, 3, left < 0 ? (linger_until < 0 ? -1 : 0) : (int)left);

		if (n == 0)
			break;
		if (n < 0)
			continue;
		if (fds[2].revents)
			linger_until = private_now_ms() + LOG_LINGER_MS;
		if (fds[0].revents && read(p->out_fd, sink, sizeof(sink)) <= 0) {
			close(p->out_fd);
			p->out_fd = -1;
		}
		if (fds[1].revents && !pump_log(p->err_fd, p)) {
			close(p->err_fd);
			p->err_fd = -1;
		}
	}
	pump_emit(p);
}

static void *pump_thread(void *arg)
{
	pump_run(arg, 0);
	return NULL;
}

int invoke_local_run(const struct invoke_local *lo, struct invoke_request *rq)
{
	static const int caught[] = { SIGINT, SIGTERM, SIGHUP };
	const char *args[] = { "--config", NULL, "--no-control", "--log-level", "info", NULL };
	struct sigaction sa = { .sa_handler = on_signal }, old_sa[3],
	                 ign = { .sa_handler = SIG_IGN }, old_pipe;
	struct private_scratch scratch = { .dir = "" };
	struct pump pump = { .out_fd = -1, .err_fd = -1, .wake_fd = -1, .verbose = lo->verbose };
	char *text, how[64];
	int wake[2] = { -1, -1 }, rc = INVOKE_UNREACHABLE, started = 0, status = 0, banner;
	pthread_t thread;
	sigset_t block, old_mask;

	text = config_json(lo);
	if (!text)
		return INVOKE_USAGE;
	private_init(&priv, WHO);

	/* No SA_RESTART: the waits that a signal interrupts look at got_signal. */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 3; i++)
		sigaction(caught[i], &sa, &old_sa[i]);
	sigaction(SIGPIPE, &ign, &old_pipe);

	if (private_scratch_make(&scratch, WHO) != 0 ||
	    private_scratch_config(&scratch, WHO, text) != 0)
		goto out;
	args[1] = scratch.config;
	if (private_start(&priv, args, -1) != 0)
		goto out;
	pump.err_fd = priv.err_fd;
	banner = private_read_banner(&priv, &got_signal, pump_log, &pump, &status);
	/* The pump owns the pipes from here. */
	pump.out_fd = priv.out_fd;
	pump.err_fd = priv.err_fd;
	priv.out_fd = priv.err_fd = -1;
	if (banner == PRIVATE_READY && pipe2(wake, O_CLOEXEC) == 0) {
		/* The pump takes none of our signals: they must reach curl's wait here. */
		pump.wake_fd = wake[0];
		private_signals(&block);
		pthread_sigmask(SIG_BLOCK, &block, &old_mask);
		started = pthread_create(&thread, NULL, pump_thread, &pump) == 0;
		pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	}
	if (started) {
		double timeout_s = lo->timeout_s ? strtod(lo->timeout_s, NULL) : DEFAULT_TIMEOUT_S;

		rq->address = priv.addr;
		rq->name = "function";
		rq->stop = &got_signal;
		rq->timeout_ms = (long)(timeout_s * 1000) + INVOKE_SLACK_MS;
		rc = invoke_call(rq);
	}
	private_stop(&priv);
	if (started) {
		if (write(wake[1], "", 1) != 1)
			fprintf(stderr, WHO ": cannot wake the log reader\n");
		pthread_join(thread, NULL);
	} else {
		pump_run(&pump, 1); /* what it said as it went: a configuration error, say */
		if (banner == PRIVATE_EXITED) {
			private_describe_status(status, how, sizeof(how));
			fprintf(stderr, WHO ": %s exited before it was ready (%s)\n", priv.path,
			        how);
		}
	}
	if (pump.out_fd >= 0)
		close(pump.out_fd);
	if (pump.err_fd >= 0)
		close(pump.err_fd);
out:
	if (wake[0] >= 0) {
		close(wake[0]);
		close(wake[1]);
	}
	private_release(&priv);
	private_scratch_remove(&scratch, WHO);
	free(text);
	sigaction(SIGPIPE, &old_pipe, NULL);
	for (size_t i = 0; i < 3; i++)
		sigaction(caught[i], &old_sa[i], NULL);
	return got_signal ? 128 + got_signal : rc;
}
