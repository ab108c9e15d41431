/* Subcommands of the metatoken CLI (client/cli*.c). Never installed. */
#ifndef METATOKEN_CLIENT_CLI_H
#define METATOKEN_CLIENT_CLI_H

#include <stddef.h>

/* `metatoken admin ...`: argv[0] is "admin". Returns the exit status. */
int cli_admin(int argc, char **argv);

/* `metatoken invoke ...`: argv[0] is "invoke". Returns the exit status. */
int cli_invoke(int argc, char **argv);

/* `metatoken exec ...`: argv[0] is "exec". Returns the exit status, CMD's
 * when it ran. */
int cli_exec(int argc, char **argv);

/*
 * A response body collected by libcurl (CURLOPT_WRITEFUNCTION cli_collect,
 * CURLOPT_WRITEDATA a struct cli_body *): at most max bytes, NUL-terminated;
 * past max the transfer stops and overflow is set. Free data when done.
 */
struct cli_body {
	char *data;
	size_t len;
	size_t max;
	int overflow;
};
size_t cli_collect(char *ptr, size_t size, size_t nmemb, void *arg);

/*
 * One control API call of `metatoken admin` (cli_admin.c): method on
 * /metatoken/v1/<path> at server (host:port) with the admin secret and a
 * JSON body or NULL. The answer goes into *answer, its status into
 * *status. Returns 0 when an answer came, or -1 after saying why on stderr.
 */
int cli_admin_request(const char *server, const char *secret, const char *method, const char *path,
                      const char *body, struct cli_body *answer, long *status);
/* Says on stderr why a control call was refused (the answer's "error"). */
void cli_admin_say_error(const char *method, const char *path, long status,
                         const struct cli_body *answer);
/* `metatoken admin key create NAME [--output FILE]` (cli_admin_key.c):
 * argv[0..argc) are the words after "create". Returns the exit status. */
int cli_admin_key_create(const char *server, const char *secret, int argc, char **argv);

#endif
