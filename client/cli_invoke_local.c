/*
 * metatoken invoke --handler LIB.so:SYMBOL: one invocation with no server
 * running. It writes a private configuration with one function named
 * "function" (the C runtime, metatoken-bootstrap, loads the handler), starts
 * `metatokend --listen 127.0.0.1:0 --config FILE --no-control` as a child,
 * learns its port from the first line of its banner, invokes the function
 * once through the Invoke API, and stops the child.
 *
 * metatokend's log (the function's output, START/END/REPORT) is passed
 * through to stderr, without its one line per HTTP request unless
 * --verbose. The child never outlives us: it is stopped on every path, a
 * signal we catch stops it, and PR_SET_PDEATHSIG stops it if we are killed.
 *
 * The daemon is $METATOKEN_DAEMON, else metatokend next to this program,
 * else ../server/metatokend from it (the build tree), else from PATH.
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
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_invoke.h"

#define START_TIMEOUT_MS  10000 /* for the banner's first line */
#define STOP_GRACE_MS     8000  /* SIGTERM, then SIGKILL; metatokend drains in 5 s */
#define LOG_LINGER_MS     1000  /* the log may still flow after the daemon exits */
#define INVOKE_SLACK_MS   60000 /* beyond the function's timeout: a safety net only */
#define DEFAULT_TIMEOUT_S 3.0   /* the server's default, to size the safety net */
#define LOG_LINE_MAX      8192
#define BANNER_PREFIX     "metatokend listening on http://"

static volatile sig_atomic_t got_signal;
static volatile sig_atomic_t daemon_pid; /* 0 when there is no child to stop */

/* Only async-signal-safe calls: the child is told at once, the rest of the
 * clean-up runs on the main path when the wait it interrupts returns. */
static void on_signal(int sig)
{
	if (!got_signal)
		got_signal = sig;
	if (daemon_pid > 0)
		kill((pid_t)daemon_pid, SIGTERM);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The configuration: {"functions":[{...}]}, or NULL with the reason printed. */
static char *config_json(const struct invoke_local *lo)
{
	char cwd[PATH_MAX], code_dir[PATH_MAX], *handler = NULL, *text = NULL;
	const char *colon = strrchr(lo->handler, ':');
	cJSON *root = cJSON_CreateObject(), *fns, *fn, *env;

	/* LIB.so alone means its symbol `handler`, as metatoken-bootstrap reads it. */
	if (colon && (colon == lo->handler || !colon[1])) {
		fprintf(stderr,
		        "metatoken invoke: --handler \"%s\": expected LIB.so or LIB.so:SYMBOL\n",
		        lo->handler);
		goto out;
	}
	if (!getcwd(cwd, sizeof(cwd)) || !realpath(lo->code_dir ? lo->code_dir : ".", code_dir)) {
		fprintf(stderr, "metatoken invoke: --code-dir %s: %s\n",
		        lo->code_dir ? lo->code_dir : ".", strerror(errno));
		goto out;
	}
	/* The handler's file is taken relative to where the user is, not to
	 * code_dir; and a bare "libfn.so" must not become a dlopen() search. */
	if (asprintf(&handler, "%s%s%s", lo->handler[0] == '/' ? "" : cwd,
	             lo->handler[0] == '/' ? "" : "/", lo->handler) < 0) {
		handler = NULL;
		goto out;
	}
	if (!root || !(fns = cJSON_AddArrayToObject(root, "functions")) ||
	    !(fn = cJSON_CreateObject()) || !cJSON_AddItemToArray(fns, fn) ||
	    !cJSON_AddStringToObject(fn, "name", "function") ||
	    !cJSON_AddStringToObject(fn, "handler", handler) ||
	    !cJSON_AddStringToObject(fn, "runtime", "c") ||
	    !cJSON_AddStringToObject(fn, "code_dir", code_dir))
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
	cJSON_Delete(root);
	return text;
}

/* A private folder (0700) holding the configuration (0600). */
struct scratch {
	char dir[PATH_MAX];
	char config[PATH_MAX + 16];
};

static int scratch_make(struct scratch *s, const char *text)
{
	const char *tmp = getenv("TMPDIR");
	size_t len = strlen(text);
	int fd;

	snprintf(s->dir, sizeof(s->dir), "%s/metatoken-invoke-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(s->dir)) {
		fprintf(stderr, "metatoken invoke: cannot make a temporary folder %s: %s\n", s->dir,
		        strerror(errno));
		s->dir[0] = '\0';
		return -1;
	}
	snprintf(s->config, sizeof(s->config), "%s/config.json", s->dir);
	fd = open(s->config, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) != 0) {
		fprintf(stderr, "metatoken invoke: cannot write %s: %s\n", s->config,
		        strerror(errno));
		return -1;
	}
	return 0;
}

/* No operation when scratch_make() made nothing. */
static void scratch_remove(struct scratch *s)
{
	if (!s->dir[0])
		return;
	unlink(s->config);
	if (rmdir(s->dir) != 0)
		fprintf(stderr, "metatoken invoke: cannot remove %s: %s\n", s->dir,
		        strerror(errno));
}

/* Fills path with the daemon to run; returns 1 when PATH is to be searched. */
static int find_daemon(char *path, size_t cap)
{
	static const char *const near[] = { "metatokend", "../server/metatokend" };
	const char *env = getenv("METATOKEN_DAEMON");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(path, cap, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
			int len = snprintf(path, cap, "%s/%s", self, near[i]);

			if (len > 0 && (size_t)len < cap && access(path, X_OK) == 0)
				return 0;
		}
	}
	snprintf(path, cap, "metatokend");
	return 1;
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
		fwrite(p->line, 1, p->len, stderr);
		fputc('\n', stderr);
		fflush(stderr);
	}
	p->len = 0;
}

/* Reads once from the log and passes whole lines on. Returns 0 at EOF. */
static int pump_log(struct pump *p)
{
	char buf[4096];
	ssize_t n = read(p->err_fd, buf, sizeof(buf));

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
	int64_t linger_until = lingering ? now_ms() + LOG_LINGER_MS : -1;
	char sink[4096];

	while (p->out_fd >= 0 || p->err_fd >= 0) {
		struct pollfd fds[3] = { { .fd = p->out_fd, .events = POLLIN },
			                 { .fd = p->err_fd, .events = POLLIN },
			                 { .fd = linger_until < 0 ? p->wake_fd : -1,
			                   .events = POLLIN } };
		int64_t left = linger_until < 0 ? -1 : linger_until - now_ms();
		int n = poll(fds, 3, left < 0 ? (linger_until < 0 ? -1 : 0) : (int)left);

		if (n == 0)
			break;
		if (n < 0)
			continue;
		if (fds[2].revents)
			linger_until = now_ms() + LOG_LINGER_MS;
		if (fds[0].revents && read(p->out_fd, sink, sizeof(sink)) <= 0) {
			close(p->out_fd);
			p->out_fd = -1;
		}
		if (fds[1].revents && !pump_log(p)) {
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

/*
 * Waits for the banner's first line and copies its HOST:PORT into addr,
 * passing the log on meanwhile. Returns 0, or -1 with the reason printed
 * (nothing printed when a signal came).
 */
static int read_banner(struct pump *p, const char *daemon, char *addr, size_t cap)
{
	int64_t deadline = now_ms() + START_TIMEOUT_MS;
	char line[512];
	size_t len = 0;

	for (;;) {
		struct pollfd fds[2] = { { .fd = p->out_fd, .events = POLLIN },
			                 { .fd = p->err_fd, .events = POLLIN } };
		int64_t left = deadline - now_ms();
		char *nl, *end;
		ssize_t n;

		if (got_signal)
			return -1;
		if (left <= 0) {
			fprintf(stderr, "metatoken invoke: %s said nothing in %d s\n", daemon,
			        START_TIMEOUT_MS / 1000);
			return -1;
		}
		if (poll(fds, 2, (int)left) < 0)
			continue;
		if (fds[1].revents && !pump_log(p)) {
			close(p->err_fd);
			p->err_fd = -1;
		}
		if (!fds[0].revents)
			continue;
		n = read(p->out_fd, line + len, sizeof(line) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "metatoken invoke: %s exited before it was ready\n",
			        daemon);
			return -1;
		}
		len += (size_t)n;
		line[len] = '\0';
		if (!(nl = strchr(line, '\n')) && len < sizeof(line) - 1)
			continue;
		if (strncmp(line, BANNER_PREFIX, strlen(BANNER_PREFIX)) != 0 ||
		    !(end = strpbrk(line + strlen(BANNER_PREFIX), " \n")) ||
		    end == line + strlen(BANNER_PREFIX)) {
			fprintf(stderr, "metatoken invoke: %s: unexpected first line: %.*s\n",
			        daemon, (int)strcspn(line, "\n"), line);
			return -1;
		}
		snprintf(addr, cap, "%.*s", (int)(end - line - strlen(BANNER_PREFIX)),
		         line + strlen(BANNER_PREFIX));
		return 0;
	}
}

/* Starts the daemon with its stdout and stderr on pipes; -1 on failure. */
static pid_t spawn_daemon(const char *daemon, int use_path, const char *config, struct pump *p)
{
	const char *argv[] = { daemon,         "--listen",    "127.0.0.1:0", "--config", config,
		               "--no-control", "--log-level", "info",        NULL };
	int out[2], err[2], null_fd;
	sigset_t set, old;
	pid_t parent = getpid(), pid;

	if (pipe2(out, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(err, O_CLOEXEC) != 0) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	/* Blocked until daemon_pid is set: a signal in between stops the child too. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL); /* an ignored signal stays ignored across exec */
		sigprocmask(SIG_SETMASK, &old, NULL);
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		/* Neither it nor a runtime may read the terminal or our event. */
		null_fd = open("/dev/null", O_RDONLY);
		if (null_fd >= 0)
			dup2(null_fd, STDIN_FILENO);
		if (use_path)
			execvp(daemon, (char *const *)argv);
		else
			execv(daemon, (char *const *)argv);
		fprintf(stderr, "metatoken invoke: cannot run %s: %s%s\n", daemon, strerror(errno),
		        use_path ? " (set METATOKEN_DAEMON to its path)" : "");
		_exit(127);
	}
	if (pid > 0)
		daemon_pid = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(out[1]);
	close(err[1]);
	if (pid < 0) {
		close(out[0]);
		close(err[0]);
		return -1;
	}
	p->out_fd = out[0];
	p->err_fd = err[0];
	return pid;
}

/* Reaps the child if it has exited; then it is no longer signalled. */
static int reaped(pid_t pid, int *status)
{
	sigset_t set, old;
	pid_t r;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	r = waitpid(pid, status, WNOHANG);
	if (r == pid || (r < 0 && errno == ECHILD))
		daemon_pid = 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return daemon_pid == 0;
}

/* Waits up to ms for the child to exit, on a pidfd where there is one. */
static int wait_exit(pid_t pid, int ms, int *status)
{
	int64_t deadline = now_ms() + ms;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	while (!reaped(pid, status)) {
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			if (pidfd >= 0)
				close(pidfd);
			return -1;
		}
		if (pidfd >= 0) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

			poll(&pfd, 1, (int)left);
		} else {
			struct timespec ts = { 0, 10 * 1000 * 1000 }; /* kernels before 5.3 */

			nanosleep(&ts, NULL);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return 0;
}

/* SIGTERM, a grace period, SIGKILL; reaps it. */
static void stop_daemon(pid_t pid, const char *daemon)
{
	int status = 0;

	kill(pid, SIGTERM);
	if (wait_exit(pid, STOP_GRACE_MS, &status) == 0)
		return;
	fprintf(stderr, "metatoken invoke: %s did not stop within %d s; killing it\n", daemon,
	        STOP_GRACE_MS / 1000);
	kill(pid, SIGKILL);
	while (!reaped(pid, &status))
		wait_exit(pid, STOP_GRACE_MS, &status);
}

int invoke_local_run(const struct invoke_local *lo, struct invoke_request *rq)
{
	static const int caught[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_signal }, old_sa[3],
	                 ign = { .sa_handler = SIG_IGN }, old_pipe;
	struct scratch scratch = { .dir = "" };
	struct pump pump = { .out_fd = -1, .err_fd = -1, .wake_fd = -1, .verbose = lo->verbose };
	char daemon[PATH_MAX], addr[128], *text;
	int wake[2] = { -1, -1 }, use_path, rc = INVOKE_UNREACHABLE, started = 0;
	pthread_t thread;
	sigset_t block, old_mask;
	pid_t pid;

	text = config_json(lo);
	if (!text)
		return INVOKE_USAGE;
	use_path = find_daemon(daemon, sizeof(daemon));

	/* No SA_RESTART: the waits that a signal interrupts look at got_signal. */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 3; i++)
		sigaction(caught[i], &sa, &old_sa[i]);
	sigaction(SIGPIPE, &ign, &old_pipe);

	if (scratch_make(&scratch, text) != 0)
		goto out;
	pid = spawn_daemon(daemon, use_path, scratch.config, &pump);
	if (pid < 0) {
		fprintf(stderr, "metatoken invoke: cannot start %s: %s\n", daemon, strerror(errno));
		goto out;
	}
	if (read_banner(&pump, daemon, addr, sizeof(addr)) == 0 && pipe2(wake, O_CLOEXEC) == 0) {
		/* The pump takes none of our signals: they must reach curl's wait here. */
		pump.wake_fd = wake[0];
		sigemptyset(&block);
		for (size_t i = 0; i < 3; i++)
			sigaddset(&block, caught[i]);
		pthread_sigmask(SIG_BLOCK, &block, &old_mask);
		started = pthread_create(&thread, NULL, pump_thread, &pump) == 0;
		pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	}
	if (started) {
		double timeout_s = lo->timeout_s ? strtod(lo->timeout_s, NULL) : DEFAULT_TIMEOUT_S;

		rq->address = addr;
		rq->name = "function";
		rq->stop = &got_signal;
		rq->timeout_ms = (long)(timeout_s * 1000) + INVOKE_SLACK_MS;
		rc = invoke_call(rq);
	}
	stop_daemon(pid, daemon);
	if (started) {
		if (write(wake[1], "", 1) != 1)
			fprintf(stderr, "metatoken invoke: cannot wake the log reader\n");
		pthread_join(thread, NULL);
	} else {
		pump_run(&pump, 1); /* what it said as it went: a configuration error, say */
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
	scratch_remove(&scratch);
	free(text);
	sigaction(SIGPIPE, &old_pipe, NULL);
	for (size_t i = 0; i < 3; i++)
		sigaction(caught[i], &old_sa[i], NULL);
	return got_signal ? 128 + got_signal : rc;
}
