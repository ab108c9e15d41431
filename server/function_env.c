/*
 * What a runtime process starts with (function_env.h): which program,
 * with which arguments, in which environment.
 */
#include "function_env.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws.h"
#include "server.h"

/* An executable file `name` in a folder of $PATH, into out. */
static int in_path(const char *name, char *out, size_t outlen)
{
	const char *path = getenv("PATH");

	while (path && *path) {
		size_t len = strcspn(path, ":");
		char try[PATH_MAX];

		if (len &&
		    (size_t)snprintf(try, sizeof(try), "%.*s/%s", (int)len, path, name) <
		        sizeof(try) &&
		    access(try, X_OK) == 0 && strlen(try) < outlen) {
			memcpy(out, try, strlen(try) + 1);
			return 1;
		}
		path += len + (path[len] == ':');
	}
	return 0;
}

/*
 * Into out (outlen bytes): $env_var, else `name` next to this program,
 * else in the build tree's `build_dir` (a sibling of server/), else in
 * the PATH when search_path, else `name` bare.
 */
static void find_program(const char *env_var, const char *name, const char *build_dir,
                         int search_path, char *out, size_t outlen)
{
	const char *env = getenv(env_var);
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, outlen, "%s", env);
		return;
	}
	snprintf(out, outlen, "%s", name);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		for (int i = 0; i < 2; i++) {
			char path[2 * PATH_MAX];

			if (i == 0)
				snprintf(path, sizeof(path), "%s/%s", self, name);
			else
				snprintf(path, sizeof(path), "%s/../%s/%s", self, build_dir, name);
			if (access(path, X_OK) == 0 && strlen(path) < outlen) {
				memcpy(out, path, strlen(path) + 1);
				return;
			}
		}
	}
	if (search_path)
		in_path(name, out, outlen);
}

void fn_find_runtimes(struct functions *fs)
{
	/* metatoken-bootstrap runs itself: posix_spawnp looks in the PATH. */
	find_program("METATOKEN_BOOTSTRAP", "metatoken-bootstrap", "client", 0, fs->bootstrap,
	             sizeof(fs->bootstrap));
	/* The Python runtime is a script the interpreter is given: a path. */
	find_program("METATOKEN_PYTHON_RUNTIME", "metatoken-python-runtime", "python", 1,
	             fs->python_runtime, sizeof(fs->python_runtime));
}

char *const *fn_runtime_argv(const struct fn_slot *s, char *argv[FN_ARGV_MAX])
{
	static char dash_m[] = "-m", module[] = "metatoken_runtime", python3[] = "python3";
	const struct config_function *c = s->fn->cfg;
	struct functions *fs = s->fn->fs;

	switch (c->runtime) {
	case CONFIG_RUNTIME_COMMAND:
		return c->command;
	case CONFIG_RUNTIME_PYTHON:
		argv[0] = c->python ? c->python : python3;
		/* Not found anywhere: the package may be on the interpreter's
		 * own path (pip, PYTHONPATH), and if not, Python says so. */
		if (strchr(fs->python_runtime, '/')) {
			argv[1] = fs->python_runtime;
			argv[2] = NULL;
		} else {
			argv[1] = dash_m;
			argv[2] = module;
			argv[3] = NULL;
		}
		return argv;
	case CONFIG_RUNTIME_C:
	case CONFIG_RUNTIME_EXTERNAL:
		break;
	}
	argv[0] = fs->bootstrap;
	argv[1] = NULL;
	return argv;
}

static int add_env(char **env, size_t *n, size_t cap, const char *name, const char *value)
{
	if (*n + 1 >= cap || !value)
		return 0;
	for (size_t i = 0; i < *n; i++) {
		size_t len = strlen(name);

		if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') {
			free(env[i]);
			return asprintf(&env[i], "%s=%s", name, value) < 0 ? -1 : 0;
		}
	}
	if (asprintf(&env[*n], "%s=%s", name, value) < 0)
		return -1;
	(*n)++;
	return 0;
}

void fn_env_free(char **env)
{
	if (!env)
		return;
	for (size_t i = 0; env[i]; i++)
		free(env[i]);
	free(env);
}

/* The environment a Lambda runtime gets, pointed back at us. */
char **fn_build_env(const struct fn_slot *s, const char *task_root)
{
	static const char *const inherit[] = {
		"PATH",
		"HOME",
		"LANG",
		"LC_ALL",
		"TZ",
		"TMPDIR",
		"LD_LIBRARY_PATH",
		"ASAN_OPTIONS",
		"UBSAN_OPTIONS",
		"LSAN_OPTIONS",
		"TSAN_OPTIONS",
		NULL,
	};
	struct function *fn = s->fn;
	const struct config_function *c = fn->cfg;
	struct server *srv = fn->fs->srv;
	size_t cap = 48 + c->n_env, n = 0;
	char **env = calloc(cap, sizeof(*env));
	char num[32], url[160];
	int bad = 0;

	if (!env)
		return NULL;
	for (size_t i = 0; inherit[i]; i++)
		bad |= add_env(env, &n, cap, inherit[i], getenv(inherit[i]));
	bad |= add_env(env, &n, cap, "AWS_LAMBDA_RUNTIME_API", s->addr);
	bad |= add_env(env, &n, cap, "_HANDLER", c->handler ? c->handler : "");
	bad |= add_env(env, &n, cap, "LAMBDA_TASK_ROOT", task_root);
	bad |= add_env(env, &n, cap, "AWS_LAMBDA_FUNCTION_NAME", fn->name);
	bad |= add_env(env, &n, cap, "AWS_LAMBDA_FUNCTION_VERSION", fn->version);
	snprintf(num, sizeof(num), "%lld", (long long)fn->memory_mb);
	bad |= add_env(env, &n, cap, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", num);
	bad |= add_env(env, &n, cap, "AWS_LAMBDA_LOG_GROUP_NAME", fn->log_group);
	bad |= add_env(env, &n, cap, "AWS_LAMBDA_LOG_STREAM_NAME", s->log_stream);
	bad |= add_env(env, &n, cap, "AWS_REGION", srv->cfg.aws_region);
	bad |= add_env(env, &n, cap, "AWS_DEFAULT_REGION", srv->cfg.aws_region);
	/* The context's function_folder_id (Yandex's): no header carries it. */
	if (srv->cfg.folder_id && srv->cfg.folder_id[0])
		bad |= add_env(env, &n, cap, "METATOKEN_FUNCTION_FOLDER_ID", srv->cfg.folder_id);
	bad |= add_env(env, &n, cap, "YC_METADATA_ADDR", srv->bound);
	bad |= add_env(env, &n, cap, "GCE_METADATA_HOST", srv->bound);
	bad |= add_env(env, &n, cap, "GCE_METADATA_ROOT", srv->bound);
	bad |= add_env(env, &n, cap, "GCE_METADATA_IP", srv->bound);
	snprintf(url, sizeof(url), "http://%s/", srv->bound);
	bad |= add_env(env, &n, cap, "AWS_EC2_METADATA_SERVICE_ENDPOINT", url);
	if (aws_role(srv)) {
		snprintf(url, sizeof(url), "http://%s%s", srv->bound, AWS_CONTAINER_PATH);
		bad |= add_env(env, &n, cap, "AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
		bad |= add_env(env, &n, cap, "AWS_CONTAINER_AUTHORIZATION_TOKEN",
		               aws_container_token(srv->aws));
	}
	for (size_t i = 0; i < c->n_env; i++)
		bad |= add_env(env, &n, cap, c->env[i].key, c->env[i].value);
	if (bad) {
		fn_env_free(env);
		return NULL;
	}
	return env;
}
