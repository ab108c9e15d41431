/*
 * `metatoken exec` (client/cli_exec.c: the command line, the private server,
 * running the command; client/cli_exec_env.c: what the command is pointed
 * at, and the check that a running server answers). Never installed.
 */
#ifndef METATOKEN_CLIENT_CLI_EXEC_H
#define METATOKEN_CLIENT_CLI_EXEC_H

#include <signal.h>

#define EXEC_WHO "metatoken exec" /* the prefix of every message */

/* The server the command is pointed at. */
struct exec_target {
	const char *addr;            /* HOST:PORT */
	int private_server;          /* ours: the values below replace inherited ones */
	const char *container_uri;   /* a private server's container endpoint, or NULL */
	const char *container_token; /* with it */
	const char *admin_secret;    /* a private server's, or NULL */
};

/*
 * The command's environment: ours, less what points elsewhere, plus t's
 * variables (the ones metatokend gives a function's runtime, and
 * METATOKEN_SERVER). A NULL-terminated array to free with exec_env_free(),
 * or NULL when out of memory.
 */
char **exec_env(const struct exec_target *t);

/* Frees what exec_env() made, wiping it (it may hold secrets). NULL is a
 * no-op. */
void exec_env_free(char **env);

/*
 * Whether a metadata server answers at addr (named by `from` in messages):
 * GET / must be 200 with Metadata-Flavor: Google, as google-auth's ping
 * wants it. Returns 0, or -1 with the reason printed (nothing when *stop
 * became non-zero, which ends the wait within about a second).
 */
int exec_probe(const char *addr, const char *from, const volatile sig_atomic_t *stop);

#endif
