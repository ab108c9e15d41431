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

#endif
