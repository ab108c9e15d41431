/*
 * What a function's runtime process is started with (function_run.c
 * spawns it): the programs that run the built-in runtimes, its argv, and
 * the environment a real Lambda runtime gets, pointed back at metatokend.
 */
#ifndef METATOKEN_SERVER_FUNCTION_ENV_H
#define METATOKEN_SERVER_FUNCTION_ENV_H

#include "function_internal.h"

/*
 * Finds the built-in runtimes' programs into fs->bootstrap and
 * fs->python_runtime: $METATOKEN_BOOTSTRAP / $METATOKEN_PYTHON_RUNTIME, else
 * next to this program (an installed bin/), else in the build tree
 * (../client/metatoken-bootstrap, ../python/metatoken-python-runtime from
 * server/), else the PATH. Never fails: a program not found is named bare,
 * and starting it says so.
 */
void fn_find_runtimes(struct functions *fs);

/*
 * The NULL-terminated argv that starts slot s's runtime, built in argv
 * (a command's own argv is returned as it is). It points into the
 * configuration and fs, so it is valid as long as they are.
 */
#define FN_ARGV_MAX 4
char *const *fn_runtime_argv(const struct fn_slot *s, char *argv[FN_ARGV_MAX]);

/*
 * The environment for slot s's runtime, NULL-terminated; task_root is
 * LAMBDA_TASK_ROOT. NULL when out of memory. Free with fn_env_free().
 */
char **fn_build_env(const struct fn_slot *s, const char *task_root);
void fn_env_free(char **env);

#endif
