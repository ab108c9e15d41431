/* Subcommands of the metatoken CLI (client/cli*.c). Never installed. */
#ifndef METATOKEN_CLIENT_CLI_H
#define METATOKEN_CLIENT_CLI_H

/* `metatoken admin ...`: argv[0] is "admin". Returns the exit status. */
int cli_admin(int argc, char **argv);

/* `metatoken invoke ...`: argv[0] is "invoke". Returns the exit status. */
int cli_invoke(int argc, char **argv);

#endif
