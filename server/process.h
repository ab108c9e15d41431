/*
 * Child processes for function runtimes (function.c): spawn one with its
 * own argv, environment and working directory, its stdout and stderr on
 * pipes the caller reads, and nothing else of ours inherited; split what
 * it writes into lines; reap it. Knows nothing of functions.
 */
#ifndef METATOKEN_SERVER_PROCESS_H
#define METATOKEN_SERVER_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

struct process {
	pid_t pid;  /* 0: none */
	int out_fd; /* read ends of its stdout and stderr; -1 once closed */
	int err_fd;
};

/*
 * Starts argv[0] (looked up in PATH when it has no '/') with envp, in dir,
 * stdin from /dev/null. Returns 0, or -1 with the reason in err ("cannot
 * run ./bootstrap: No such file or directory"). On failure p is empty.
 */
int process_spawn(struct process *p, char *const argv[], char *const envp[], const char *dir,
                  char *err, size_t errlen);

/* Whether it has ended: 1 (and *status is waitpid's), or 0 while it runs. */
int process_reap(struct process *p, int *status);

/* Describes a waitpid status as a runtime's exit error does:
 * "exit status 2", "signal: segmentation fault". */
void process_describe(int status, char *out, size_t outlen);

/* Peak resident memory in MiB (VmHWM), or -1 when it is not known. */
long process_peak_rss_mb(const struct process *p);

/* Closes the pipes it has left. */
void process_close(struct process *p);

/*
 * A line splitter for one pipe: process_read() reads what is there and
 * calls line() for each whole line (without its newline; a line longer
 * than LINEBUF_MAX is cut into pieces). Returns 0, or -1 at end of file
 * (what is left is flushed as a last line).
 */
#define LINEBUF_MAX 4096
struct linebuf {
	char buf[LINEBUF_MAX];
	size_t len;
};
int process_read(int fd, struct linebuf *lb, void (*line)(void *cls, const char *s, size_t n),
                 void *cls);

#endif
