/*
 * Starts the real metatokend on an ephemeral loopback port for a test, and
 * stops it. The child dies with the test process (PR_SET_PDEATHSIG), so a
 * crashed test never leaves a server behind.
 */
#ifndef METATOKEN_TEST_SERVER_PROC_H
#define METATOKEN_TEST_SERVER_PROC_H

#include <sys/types.h>

struct test_server {
	pid_t pid;
	int port;
	char host_port[64];     /* "127.0.0.1:PORT" ("[::1]:PORT" on IPv6) */
	char base_url[80];      /* "http://" host_port */
	char admin_secret[300]; /* the control API's secret ("" with --no-control) */
	char runtime_dir[64];   /* the server's XDG_RUNTIME_DIR: a private temporary
	                         * folder, removed by test_server_stop */
};

/*
 * Runs `metatokend --listen 127.0.0.1:0 --log-level warn ARGS...` (argv is a
 * NULL-terminated list of extra arguments, or NULL) and waits up to 10 s for
 * it to print its address. Returns 0, or -1 with the reason on stderr.
 * The environment variable METATOKEND overrides the binary's path.
 */
int test_server_start(struct test_server *s, const char *const *argv);

/*
 * Like test_server_start, with `--config` pointing at a temporary file that
 * holds config_json (NULL: no --config, the embedded default). The file is
 * removed once the server has read it.
 */
int test_server_start_config(struct test_server *s, const char *config_json);

/* Like test_server_start, with the server's stderr (its log) appended to
 * the file at log_path, and `--log-level info` unless argv sets one. */
int test_server_start_logged(struct test_server *s, const char *const *argv, const char *log_path);

/*
 * Sends SIGTERM, waits up to 8 s (longer than the server's 5 s drain; then
 * SIGKILL), removes its runtime folder, and returns the exit status as
 * waitpid() reports it, or -1 if the server was not running.
 */
int test_server_stop(struct test_server *s);

/*
 * Runs metatokend with ARGS to completion (for start-up errors), capturing
 * up to errlen-1 bytes of stderr into err. Returns the exit code, or -1 if
 * it did not exit within 10 s or was killed by a signal.
 */
int test_server_run_to_exit(const char *const *argv, char *err, size_t errlen);

/* Path of the metatokend binary tests run. */
const char *test_server_binary(void);

#endif
