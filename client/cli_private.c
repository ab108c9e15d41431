/*
 * A private metatokend for one command of the CLI (cli_private.h): finding
 * it, starting it on 127.0.0.1:0, reading its banner, stopping and reaping
 * it, and the scratch folder its configuration and log live in.
 */
#include "cli_private.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 10000 /* for the whole banner */
#define STOP_GRACE_MS    8000  /* SIGTERM, then SIGKILL; metatokend drains in 5 s */
#define BANNER_MAX       8192
#define ARGS_MAX         12
#define BANNER_FIRST     "metatokend listening on http://"
#define BANNER_LAST      "# Ctrl-C stops it." /* server/main.c print_banner() */

const int private_caught[PRIVATE_CAUGHT_N] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

void private_signals(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < PRIVATE_CAUGHT_N; i++)
		sigaddset(set, private_caught[i]);
}

int64_t private_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void private_init(struct private_daemon *d, const char *who)
{
	static const char *const near[] = { "metatokend", "../server/metatokend" };
	const char *env = getenv("METATOKEN_DAEMON");
	char self[PATH_MAX];
	ssize_t n;

	memset(d, 0, sizeof(*d));
	d->who = who;
	d->out_fd = d->err_fd = -1;
	if (env && *env) {
		snprintf(d->path, sizeof(d->path), "%s", env);
		d->found = "from $METATOKEN_DAEMON";
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
			int len = snprintf(d->path, sizeof(d->path), "%s/%s", self, near[i]);

			if (len > 0 && (size_t)len < sizeof(d->path) &&
			    access(d->path, X_OK) == 0) {
				d->found = "next to this program";
				return;
			}
		}
	}
	snprintf(d->path, sizeof(d->path), "metatokend");
	d->found = "not next to this program, looked up in PATH; set METATOKEN_DAEMON to its path";
	d->use_path = 1;
}

int private_reaped(struct private_daemon *d, int *status)
{
	sigset_t set, old;
	pid_t r;

	if (d->pid <= 0)
		return 1;
	private_signals(&set);
	sigprocmask(SIG_BLOCK, &set, &old);
	r = waitpid((pid_t)d->pid, status, WNOHANG);
	if (r == d->pid || (r < 0 && errno == ECHILD))
		d->pid = 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return d->pid == 0;
}

/* Waits up to ms for the child to exit, on a pidfd where there is one. */
static int wait_exit(struct private_daemon *d, int ms, int *status)
{
	int64_t deadline = private_now_ms() + ms;
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)d->pid, 0);

	while (!private_reaped(d, status)) {
		int64_t left = deadline - private_now_ms();

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

/* The child's side of private_start(); never returns. */
static void exec_child(const struct private_daemon *d, const char *const *argv, pid_t parent,
                       int out_fd, int log_fd, int report_fd, const sigset_t *old_mask)
{
	int null_fd, e;
	ssize_t w;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	/* A group of its own: a terminal's signals are for the command, and
	 * we stop the daemon. One that came before this is dropped by
	 * ignoring it; the caller's stop does not depend on it. */
	setpgid(0, 0);
	for (size_t i = 0; i < PRIVATE_CAUGHT_N; i++) {
		signal(private_caught[i], SIG_IGN);
		signal(private_caught[i], SIG_DFL);
	}
	signal(SIGPIPE, SIG_DFL); /* an ignored signal stays ignored across exec */
	/* Its log may go to our terminal from a background group. */
	signal(SIGTTOU, SIG_IGN);
	sigprocmask(SIG_SETMASK, old_mask, NULL);
	/* Above 2 first: when we were started with a standard fd closed, a
	 * pipe may be 0, 1 or 2, and one dup2 would undo another. */
	out_fd = fcntl(out_fd, F_DUPFD_CLOEXEC, 3);
	log_fd = fcntl(log_fd, F_DUPFD_CLOEXEC, 3);
	report_fd = fcntl(report_fd, F_DUPFD_CLOEXEC, 3);
	/* Neither it nor a runtime may read the terminal or our input. */
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (out_fd < 0 || log_fd < 0 || null_fd < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(log_fd, STDERR_FILENO) < 0 || dup2(null_fd, STDIN_FILENO) < 0) {
		e = errno;
		w = write(report_fd, &e, sizeof(e));
		_exit(127);
	}
	if (d->use_path)
		execvp(d->path, (char *const *)argv);
	else
		execv(d->path, (char *const *)argv);
	e = errno;
	w = write(report_fd, &e, sizeof(e));
	(void)w;
	_exit(127);
}

int private_start(struct private_daemon *d, const char *const *args, int log_fd)
{
	const char *argv[ARGS_MAX + 4] = { d->path, "--listen", "127.0.0.1:0" };
	int out[2], err[2] = { -1, -1 }, report[2], e = 0, status;
	size_t n = 3;
	sigset_t block, old;
	ssize_t got;
	pid_t parent = getpid(), pid;

	for (size_t i = 0; args && args[i]; i++) {
		if (i == ARGS_MAX) {
			fprintf(stderr, "%s: too many arguments for metatokend\n", d->who);
			return -1;
		}
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	if (pipe2(out, O_CLOEXEC) != 0)
		goto out_errno;
	if ((log_fd < 0 && pipe2(err, O_CLOEXEC) != 0) || pipe2(report, O_CLOEXEC) != 0) {
		e = errno;
		close(out[0]);
		close(out[1]);
		if (err[0] >= 0) {
			close(err[0]);
			close(err[1]);
		}
		errno = e;
		goto out_errno;
	}
	/* Blocked until d->pid is set: a handler that stops the child sees it. */
	private_signals(&block);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid = fork();
	if (pid == 0)
		exec_child(d, argv, parent, out[1], log_fd >= 0 ? log_fd : err[1], report[1], &old);
	e = errno;
	if (pid > 0)
		d->pid = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(out[1]);
	close(report[1]);
	if (err[1] >= 0)
		close(err[1]);
	if (pid < 0) {
		close(out[0]);
		close(report[0]);
		if (err[0] >= 0)
			close(err[0]);
		errno = e;
		goto out_errno;
	}
	d->out_fd = out[0];
	d->err_fd = err[0];
	/* The report pipe closes on a successful exec, or carries its errno. */
	do
		got = read(report[0], &e, sizeof(e));
	while (got < 0 && errno == EINTR);
	close(report[0]);
	if (got != (ssize_t)sizeof(e))
		return 0;
	while (wait_exit(d, STOP_GRACE_MS, &status) != 0) /* it is in _exit() */
		;
	fprintf(stderr, "%s: cannot run %s (%s): %s\n", d->who, d->path, d->found, strerror(e));
	return -1;
out_errno:
	fprintf(stderr, "%s: cannot start metatokend: %s\n", d->who, strerror(errno));
	return -1;
}

/* Keeps `export K=V` and `# export K=V` lines; -1 when there are too many. */
static int keep_export(struct private_daemon *d, const char *line)
{
	if (strncmp(line, "# ", 2) == 0)
		line += 2;
	if (strncmp(line, "export ", 7) != 0 || !strchr(line + 7, '='))
		return 0;
	if (d->n_exports == PRIVATE_EXPORTS_MAX)
		return -1;
	d->exports[d->n_exports] = strdup(line + 7);
	if (!d->exports[d->n_exports])
		return -1;
	d->n_exports++;
	return 0;
}

/*
 * Looks at the banner read so far (buf, NUL-terminated): returns 1 once it
 * is whole (d->addr and d->exports filled, buf cut into lines), 0 while
 * more is to come, -1 on a bad banner (printed).
 */
static int parse_banner(struct private_daemon *d, char *buf)
{
	size_t first = strlen(BANNER_FIRST);
	char *nl = strchr(buf, '\n'), *end, *line;

	if (!nl)
		return 0;
	if (strncmp(buf, BANNER_FIRST, first) != 0 || !(end = strpbrk(buf + first, " \n")) ||
	    end == buf + first) {
		fprintf(stderr, "%s: %s: unexpected first line: %.*s\n", d->who, d->path,
		        (int)(nl - buf), buf);
		return -1;
	}
	if (!strstr(nl, "\n" BANNER_LAST "\n"))
		return 0;
	snprintf(d->addr, sizeof(d->addr), "%.*s", (int)(end - buf - first), buf + first);
	for (line = nl + 1; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		if (strcmp(line, BANNER_LAST) == 0)
			break;
		if (keep_export(d, line) != 0) {
			fprintf(stderr, "%s: %s: too many lines in its banner\n", d->who, d->path);
			return -1;
		}
	}
	return 1;
}

int private_read_banner(struct private_daemon *d, const volatile sig_atomic_t *stop,
                        int (*on_log)(int fd, void *arg), void *arg, int *status)
{
	int64_t deadline = private_now_ms() + START_TIMEOUT_MS;
	char buf[BANNER_MAX];
	size_t len = 0;

	for (;;) {
		struct pollfd fds[2] = { { .fd = d->out_fd, .events = POLLIN },
			                 { .fd = on_log ? d->err_fd : -1, .events = POLLIN } };
		int64_t left = deadline - private_now_ms();
		ssize_t n;
		int done;

		if (stop && *stop)
			return PRIVATE_STOPPED;
		if (left <= 0) {
			fprintf(stderr, "%s: %s said nothing in %d s\n", d->who, d->path,
			        START_TIMEOUT_MS / 1000);
			return PRIVATE_FAILED;
		}
		if (poll(fds, 2, (int)left) < 0)
			continue;
		if (fds[1].revents && !on_log(d->err_fd, arg)) {
			close(d->err_fd);
			d->err_fd = -1;
		}
		if (!fds[0].revents)
			continue;
		n = read(d->out_fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Its stdout closed: it is ending, or ended. */
			if (wait_exit(d, STOP_GRACE_MS, status) != 0) {
				fprintf(stderr, "%s: %s closed its output before it was ready\n",
				        d->who, d->path);
				return PRIVATE_FAILED;
			}
			return PRIVATE_EXITED;
		}
		len += (size_t)n;
		buf[len] = '\0';
		done = parse_banner(d, buf);
		if (done)
			return done > 0 ? PRIVATE_READY : PRIVATE_FAILED;
		if (len == sizeof(buf) - 1) {
			fprintf(stderr, "%s: %s: its banner has no end (\"%s\")\n", d->who, d->path,
			        BANNER_LAST);
			return PRIVATE_FAILED;
		}
	}
}

const char *private_export(const struct private_daemon *d, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < d->n_exports; i++)
		if (strncmp(d->exports[i], key, klen) == 0 && d->exports[i][klen] == '=')
			return d->exports[i] + klen + 1;
	return NULL;
}

void private_describe_status(int status, char *out, size_t cap)
{
	if (WIFSIGNALED(status))
		snprintf(out, cap, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(out, cap, "exit status %d", WEXITSTATUS(status));
}

int private_stop(struct private_daemon *d)
{
	int status = 0;

	if (d->pid <= 0)
		return -1;
	kill((pid_t)d->pid, SIGTERM);
	if (wait_exit(d, STOP_GRACE_MS, &status) == 0)
		return status;
	fprintf(stderr, "%s: %s did not stop within %d s; killing it\n", d->who, d->path,
	        STOP_GRACE_MS / 1000);
	kill((pid_t)d->pid, SIGKILL);
	while (wait_exit(d, STOP_GRACE_MS, &status) != 0)
		;
	return status;
}

void private_release(struct private_daemon *d)
{
	if (d->out_fd >= 0)
		close(d->out_fd);
	if (d->err_fd >= 0)
		close(d->err_fd);
	d->out_fd = d->err_fd = -1;
	for (size_t i = 0; i < d->n_exports; i++) {
		OPENSSL_cleanse(d->exports[i], strlen(d->exports[i]));
		free(d->exports[i]);
	}
	d->n_exports = 0;
}

int private_scratch_make(struct private_scratch *s, const char *who)
{
	const char *tmp = getenv("TMPDIR");

	s->config[0] = s->log[0] = '\0';
	snprintf(s->dir, sizeof(s->dir), "%s/metatoken-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(s->dir)) {
		fprintf(stderr, "%s: cannot make a temporary folder %s: %s\n", who, s->dir,
		        strerror(errno));
		s->dir[0] = '\0';
		return -1;
	}
	return 0;
}

int private_scratch_config(struct private_scratch *s, const char *who, const char *text)
{
	size_t len = strlen(text);
	int fd;

	snprintf(s->config, sizeof(s->config), "%s/config.json", s->dir);
	fd = open(s->config, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) != 0) {
		fprintf(stderr, "%s: cannot write %s: %s\n", who, s->config, strerror(errno));
		return -1;
	}
	return 0;
}

int private_scratch_log(struct private_scratch *s, const char *who)
{
	int fd;

	snprintf(s->log, sizeof(s->log), "%s/metatokend.log", s->dir);
	fd = open(s->log, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_APPEND, 0600);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot create %s: %s\n", who, s->log, strerror(errno));
		s->log[0] = '\0';
	}
	return fd;
}

void private_scratch_remove(struct private_scratch *s, const char *who)
{
	if (!s->dir[0])
		return;
	if (s->config[0])
		unlink(s->config);
	if (s->log[0])
		unlink(s->log);
	if (rmdir(s->dir) != 0)
		fprintf(stderr, "%s: cannot remove %s: %s\n", who, s->dir, strerror(errno));
	s->dir[0] = '\0';
}
