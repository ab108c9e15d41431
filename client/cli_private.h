/*
 * A private metatokend for one command of the metatoken CLI
 * (client/cli_private.c): `metatoken invoke --handler` and `metatoken exec`
 * start one on a free loopback port, learn its address and exports from its
 * banner, and stop and reap it on every path. Never installed.
 *
 * The daemon is $METATOKEN_DAEMON, else metatokend next to this program,
 * else ../server/metatokend from it (the build tree), else from PATH. It
 * runs in a process group of its own, so that a terminal's Ctrl-C reaches
 * the command and not it (the caller stops it), and PR_SET_PDEATHSIG stops
 * it if the caller is killed.
 */
#ifndef METATOKEN_CLIENT_CLI_PRIVATE_H
#define METATOKEN_CLIENT_CLI_PRIVATE_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define PRIVATE_EXPORTS_MAX 32

struct private_daemon {
	/*
	 * > 0 while there is a child to stop. A signal handler may read it to
	 * kill the child: it is cleared with private_signals() blocked as the
	 * child is reaped, so a handler never signals a reused pid.
	 */
	volatile sig_atomic_t pid;
	const char *who;     /* "metatoken invoke": the prefix of every message */
	char path[PATH_MAX]; /* the program run */
	const char *found;   /* where path came from, for messages */
	int use_path;        /* path is a bare name, looked up in PATH */
	int out_fd;          /* its stdout (the banner), or -1 */
	int err_fd;          /* its stderr when private_start had no log_fd, or -1 */
	char addr[128];      /* HOST:PORT, from the banner's first line */
	/* "K=V" of each `export K=V` or `# export K=V` line of the banner.
	 * They include secrets (the admin secret): wiped by private_release. */
	char *exports[PRIVATE_EXPORTS_MAX];
	size_t n_exports;
};

/* The signals the CLI's commands catch: SIGINT, SIGTERM, SIGHUP, SIGQUIT,
 * SIGUSR1, SIGUSR2. They are blocked around a fork and a reap. */
#define PRIVATE_CAUGHT_N 6
extern const int private_caught[PRIVATE_CAUGHT_N];

/* Fills set with private_caught. */
void private_signals(sigset_t *set);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t private_now_ms(void);

/* Zeroes d and finds the daemon to run; who prefixes every message. */
void private_init(struct private_daemon *d, const char *who);

/*
 * Runs `DAEMON --listen 127.0.0.1:0 ARGS...` (args NULL-terminated, at most
 * 12) with stdin on /dev/null, stdout on a pipe (d->out_fd) and stderr on
 * log_fd, or on a pipe (d->err_fd) when log_fd is -1. Returns 0, or -1 with
 * the reason printed (a daemon that cannot be run is named, with where it
 * was looked for).
 */
int private_start(struct private_daemon *d, const char *const *args, int log_fd);

enum private_banner {
	PRIVATE_READY = 0,
	PRIVATE_FAILED = -1,  /* no banner in time, or not one: the reason is printed */
	PRIVATE_EXITED = -2,  /* it ended first (reaped, *status set): nothing printed */
	PRIVATE_STOPPED = -3, /* *stop became non-zero: nothing printed */
};

/*
 * Reads the banner up to its last line, filling d->addr and d->exports.
 * While it waits, on_log (when not NULL) is called whenever d->err_fd has
 * data: it reads from the fd once and returns 0 at its end (then the fd is
 * closed). Returns an enum private_banner; status gets the daemon's wait
 * status for PRIVATE_EXITED.
 */
int private_read_banner(struct private_daemon *d, const volatile sig_atomic_t *stop,
                        int (*on_log)(int fd, void *arg), void *arg, int *status);

/* The value of export key from the banner, or NULL. */
const char *private_export(const struct private_daemon *d, const char *key);

/* Reaps the child if it has exited (1, with *status), else 0. 1 also when
 * there is no child. */
int private_reaped(struct private_daemon *d, int *status);

/* Writes "exit status N" or "killed by signal N" into out. */
void private_describe_status(int status, char *out, size_t cap);

/*
 * Stops the child: SIGTERM, a grace period (it drains in 5 s), then
 * SIGKILL; reaps it. No operation when there is none. Returns its wait
 * status, or -1 when there was no child.
 */
int private_stop(struct private_daemon *d);

/* Closes d's pipes and wipes its exports. The child must be gone. */
void private_release(struct private_daemon *d);

/* A private folder (0700) for a configuration and a log (0600 each). */
struct private_scratch {
	char dir[PATH_MAX];
	char config[PATH_MAX + 16]; /* "" until private_scratch_make wrote one */
	char log[PATH_MAX + 16];    /* "" until private_scratch_log made one */
};

/* Makes the folder in $TMPDIR (else /tmp). Returns 0, or -1 with the
 * reason printed. */
int private_scratch_make(struct private_scratch *s, const char *who);

/* Writes text to DIR/config.json (s->config). Returns 0, or -1 with the
 * reason printed. */
int private_scratch_config(struct private_scratch *s, const char *who, const char *text);

/* Creates DIR/metatokend.log; returns its fd (O_CLOEXEC), or -1 with the
 * reason printed. */
int private_scratch_log(struct private_scratch *s, const char *who);

/* Removes what private_scratch_make and private_scratch_log made; no
 * operation when they made nothing. */
void private_scratch_remove(struct private_scratch *s, const char *who);

#endif
