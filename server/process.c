/* Child processes for runtimes (process.h). */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int process_spawn(struct process *p, char *const argv[], char *const envp[], const char *dir,
                  char *err, size_t errlen)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	int rc;

	p->pid = 0;
	p->out_fd = p->err_fd = -1;
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot make pipes: %s", strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	/* Listening sockets, client connections, keys: none of ours. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (dir)
		posix_spawn_file_actions_addchdir_np(&fa, dir);
	/* The server's threads block the stop signals; a runtime must not. */
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	rc = posix_spawnp(&p->pid, argv[0], &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		snprintf(err, errlen, "cannot run %s%s%s: %s", argv[0], dir ? " in " : "",
		         dir ? dir : "", strerror(rc));
		p->pid = 0;
		goto fail;
	}
	close(out[1]);
	close(errp[1]);
	p->out_fd = out[0];
	p->err_fd = errp[0];
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return -1;
}

int process_reap(struct process *p, int *status)
{
	pid_t r;

	if (p->pid <= 0)
		return 1;
	do
		r = waitpid(p->pid, status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (r < 0)
		*status = 0; /* reaped elsewhere: say nothing of how */
	p->pid = 0;
	return 1;
}

void process_describe(int status, char *out, size_t outlen)
{
	if (WIFSIGNALED(status)) {
		const char *name = sigdescr_np(WTERMSIG(status));
		char lower[64];
		size_t i;

		for (i = 0; name && name[i] && i + 1 < sizeof(lower); i++)
			lower[i] =
			    (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
		lower[i] = '\0';
		snprintf(out, outlen, "signal: %s", name ? lower : "unknown");
	} else if (WIFEXITED(status)) {
		snprintf(out, outlen, "exit status %d", WEXITSTATUS(status));
	} else {
		snprintf(out, outlen, "ended");
	}
}

long process_peak_rss_mb(const struct process *p)
{
	char path[64], line[128];
	long kb = -1;
	FILE *f;

	if (p->pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)p->pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : (kb + 1023) / 1024;
}

void process_close(struct process *p)
{
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->err_fd >= 0)
		close(p->err_fd);
	p->out_fd = p->err_fd = -1;
}

int process_read(int fd, struct linebuf *lb, void (*line)(void *cls, const char *s, size_t n),
                 void *cls)
{
	for (;;) {
		ssize_t n = read(fd, lb->buf + lb->len, sizeof(lb->buf) - lb->len);
		size_t start = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		if (n == 0) {
			if (lb->len)
				line(cls, lb->buf, lb->len);
			lb->len = 0;
			return -1;
		}
		lb->len += (size_t)n;
		for (size_t i = 0; i < lb->len; i++) {
			if (lb->buf[i] != '\n')
				continue;
			line(cls, lb->buf + start, i - start);
			start = i + 1;
		}
		if (start == 0 && lb->len == sizeof(lb->buf)) {
			line(cls, lb->buf, lb->len); /* a line too long: cut */
			start = lb->len;
		}
		memmove(lb->buf, lb->buf + start, lb->len - start);
		lb->len -= start;
	}
}
