#include "server_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 64

const char *test_server_binary(void)
{
	const char *env = getenv("METATOKEND");

	return env && *env ? env : METATOKEND_PATH;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Forks and execs metatokend with `head` then `argv`; the child's stdout
 * goes to *out_fd and, when err_fd is non-NULL, its stderr to *err_fd. */
static pid_t spawn(const char *const *head, const char *const *argv, int *out_fd, int *err_fd,
                   const char *log_path, const char *runtime_dir)
{
	const char *args[MAX_ARGS + 1];
	int out[2], err[2] = { -1, -1 };
	size_t n = 0;
	pid_t pid;

	args[n++] = test_server_binary();
	for (; head && *head && n < MAX_ARGS; head++)
		args[n++] = *head;
	for (; argv && *argv && n < MAX_ARGS; argv++)
		args[n++] = *argv;
	args[n] = NULL;

	if (pipe2(out, O_CLOEXEC) != 0)
		return -1;
	if (err_fd && pipe2(err, O_CLOEXEC) != 0) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* The admin secret file goes to a private folder, not the user's. */
		if (runtime_dir)
			setenv("XDG_RUNTIME_DIR", runtime_dir, 1);
		dup2(out[1], STDOUT_FILENO);
		if (err_fd)
			dup2(err[1], STDERR_FILENO);
		if (log_path) {
			int lfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

			if (lfd >= 0)
				dup2(lfd, STDERR_FILENO);
		}
		execv(args[0], (char *const *)args);
		fprintf(stderr, "test_server: cannot run %s: %s\n", args[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	if (err_fd)
		close(err[1]);
	if (pid < 0) {
		close(out[0]);
		if (err_fd)
			close(err[0]);
		return -1;
	}
	*out_fd = out[0];
	if (err_fd)
		*err_fd = err[0];
	return pid;
}

/* Reads from fd into buf (NUL-terminated) until `done` finds what it wants,
 * EOF, or the deadline. Returns bytes read. */
static size_t read_until(int fd, char *buf, size_t cap, int64_t deadline_ms,
                         int (*done)(const char *buf))
{
	size_t len = 0;

	buf[0] = '\0';
	while (len + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline_ms - now_ms();
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		r = read(fd, buf + len, cap - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		if (done && done(buf))
			break;
	}
	return len;
}

/* The banner's last line: everything we parse has been printed. */
static int has_banner(const char *buf)
{
	return strstr(buf, "# Ctrl-C stops it.\n") != NULL;
}

int test_server_start(struct test_server *s, const char *const *argv)
{
	return test_server_start_logged(s, argv, NULL);
}

int test_server_start_logged(struct test_server *s, const char *const *argv, const char *log_path)
{
	static const char *const quiet[] = { "--listen", "127.0.0.1:0", "--log-level", "warn",
		                             NULL };
	static const char *const logged[] = { "--listen", "127.0.0.1:0", "--log-level", "info",
		                              NULL };
	const char *const *head = log_path ? logged : quiet;
	char buf[4096];
	const char *p;
	int fd;

	memset(s, 0, sizeof(*s));
	snprintf(s->runtime_dir, sizeof(s->runtime_dir), "/tmp/metatoken-run-XXXXXX");
	if (!mkdtemp(s->runtime_dir)) {
		fprintf(stderr, "test_server: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	s->pid = spawn(head, argv, &fd, NULL, log_path, s->runtime_dir);
	if (s->pid < 0) {
		fprintf(stderr, "test_server: spawn failed: %s\n", strerror(errno));
		return -1;
	}
	read_until(fd, buf, sizeof(buf), now_ms() + 10000, has_banner);
	close(fd); /* later stdout writes by the server go nowhere: it ignores SIGPIPE */
	p = strstr(buf, "export GCE_METADATA_HOST=");
	if (p) {
		size_t len;

		p += strlen("export GCE_METADATA_HOST=");
		len = strcspn(p, "\n");
		if (len < sizeof(s->host_port))
			snprintf(s->host_port, sizeof(s->host_port), "%.*s", (int)len, p);
		p = strrchr(s->host_port, ':');
		s->port = p ? atoi(p + 1) : 0;
	}
	if (s->port <= 0) {
		fprintf(stderr, "test_server: no address from metatokend; stdout was:\n%s\n", buf);
		test_server_stop(s);
		return -1;
	}
	snprintf(s->base_url, sizeof(s->base_url), "http://%s", s->host_port);
	p = strstr(buf, "export METATOKEN_ADMIN_SECRET=");
	if (p) {
		p += strlen("export METATOKEN_ADMIN_SECRET=");
		snprintf(s->admin_secret, sizeof(s->admin_secret), "%.*s", (int)strcspn(p, "\n"),
		         p);
	}
	return 0;
}

int test_server_start_config(struct test_server *s, const char *config_json)
{
	char path[] = "/tmp/metatoken-config-XXXXXX";
	const char *argv[] = { "--config", path, NULL };
	size_t len;
	int fd, rc;

	if (!config_json)
		return test_server_start(s, NULL);
	fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "test_server: mkstemp: %s\n", strerror(errno));
		return -1;
	}
	len = strlen(config_json);
	if (write(fd, config_json, len) != (ssize_t)len) {
		fprintf(stderr, "test_server: writing %s: %s\n", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	rc = test_server_start(s, argv); /* the banner comes after the config is read */
	unlink(path);
	return rc;
}

/* Waits for pid up to timeout_ms; returns the wait status or -1. */
static int wait_for(pid_t pid, int64_t timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 || now_ms() >= deadline)
			return -1;
		usleep(2000);
	}
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int test_server_stop(struct test_server *s)
{
	int status;

	if (s->pid <= 0) {
		/* Already reaped by the test: only the folder is left to remove. */
		if (s->runtime_dir[0])
			nftw(s->runtime_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
		s->runtime_dir[0] = '\0';
		return -1;
	}
	kill(s->pid, SIGTERM);
	status = wait_for(s->pid, 8000);
	if (status < 0) {
		fprintf(stderr, "test_server: metatokend ignored SIGTERM for 5 s; killing\n");
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
	}
	s->pid = 0;
	if (s->runtime_dir[0])
		nftw(s->runtime_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	s->runtime_dir[0] = '\0';
	return status;
}

static int never(const char *buf)
{
	(void)buf;
	return 0;
}

int test_server_run_to_exit(const char *const *argv, char *err, size_t errlen)
{
	char out[4096];
	int out_fd, err_fd, status;
	pid_t pid;

	pid = spawn(NULL, argv, &out_fd, &err_fd, NULL, NULL);
	if (pid < 0)
		return -1;
	read_until(err_fd, err, errlen, now_ms() + 10000, never);
	read_until(out_fd, out, sizeof(out), now_ms() + 100, never);
	close(out_fd);
	close(err_fd);
	status = wait_for(pid, 10000);
	if (status < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
