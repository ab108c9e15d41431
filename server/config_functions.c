/*
 * The configuration's "functions" (config_internal.h): each function a
 * client can invoke and metatokend runs (function.h), and what must hold
 * across them: unique names, a service account that exists.
 */
#include "config.h"
#include "config_internal.h"
#include "handlername.h"
#include "json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define FUNCTION_NAME_MAX 64
#define PAYLOAD_MAX       (256LL * 1024 * 1024)

static const char *check_name(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > FUNCTION_NAME_MAX ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "abcdefghijklmnopqrstuvwxyz"
	              "0123456789_-") != len)
		return "must be 1..64 characters of A-Z a-z 0-9 _ -";
	return NULL;
}

/* Environment names: what a shell accepts, and not the ones the runtime's
 * protocol depends on (metatokend sets those). */
static const char *check_env_name(const char *s)
{
	static const char *const reserved[] = {
		"AWS_LAMBDA_RUNTIME_API",
		"_HANDLER",
		"LAMBDA_TASK_ROOT",
		NULL,
	};
	size_t len = strlen(s);

	if (len < 1 || len > 128 || (s[0] >= '0' && s[0] <= '9') ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != len)
		return "must be 1..128 characters of A-Z a-z 0-9 _, not starting with a digit";
	for (size_t i = 0; reserved[i]; i++)
		if (strcmp(s, reserved[i]) == 0)
			return "is set by metatokend for every runtime and cannot be configured";
	return NULL;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void release_function(struct config_function *f)
{
	free(f->name);
	free(f->handler);
	free_strv(f->command, f->n_command);
	free(f->python);
	free(f->code_dir);
	free(f->version);
	free(f->account);
	for (size_t i = 0; i < f->n_env; i++) {
		free(f->env[i].key);
		free(f->env[i].value);
	}
	free(f->env);
}

void config__release_functions(struct config *c)
{
	for (size_t i = 0; i < c->n_functions; i++)
		release_function(&c->functions[i]);
	free(c->functions);
	c->functions = NULL;
	c->n_functions = 0;
}

static int parse_command(struct json_reader *r, const cJSON *obj, struct config_function *f)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, "command");
	const cJSON *child;
	size_t mark, count;
	int rc = -1;

	if (!item)
		return 0;
	mark = json_path_key(r, "command");
	count = cJSON_IsArray(item) ? (size_t)cJSON_GetArraySize(item) : 0;
	if (count == 0) {
		json_fail(r, item,
		          "must be a non-empty array of strings: the program and its "
		          "arguments");
		goto out;
	}
	if (!(f->command = calloc(count + 1, sizeof(*f->command)))) {
		json_fail(r, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(child, item)
	{
		if (!cJSON_IsString(child) || (f->n_command == 0 && !child->valuestring[0])) {
			size_t imark = json_path_index(r, f->n_command);

			json_fail(r, child, "must be a string (the first non-empty)");
			json_path_pop(r, imark);
			goto out;
		}
		if (!(f->command[f->n_command] = strdup(child->valuestring))) {
			json_fail(r, NULL, "out of memory");
			goto out;
		}
		f->n_command++;
	}
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

static int parse_env(struct json_reader *r, const cJSON *obj, struct config_function *f)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, "environment");
	const cJSON *child;
	size_t mark, count;
	int rc = -1;

	if (!item)
		return 0;
	mark = json_path_key(r, "environment");
	if (!cJSON_IsObject(item)) {
		json_fail(r, item, "must be an object of strings");
		goto out;
	}
	count = (size_t)cJSON_GetArraySize(item);
	if (count && !(f->env = calloc(count, sizeof(*f->env)))) {
		json_fail(r, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(child, item)
	{
		const char *why = check_env_name(child->string);
		size_t kmark = json_path_key(r, child->string);

		if (why || !cJSON_IsString(child)) {
			cJSON shown = json_string_item(child->string);

			json_fail(r, why ? &shown : child, "%s", why ? why : "must be a string");
			json_path_pop(r, kmark);
			goto out;
		}
		json_path_pop(r, kmark);
		f->env[f->n_env].key = strdup(child->string);
		f->env[f->n_env].value = strdup(child->valuestring);
		f->n_env++;
		if (!f->env[f->n_env - 1].key || !f->env[f->n_env - 1].value) {
			json_fail(r, NULL, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

/* "service_account": a name, or null for a function with none. */
static int parse_account(struct json_reader *r, const cJSON *obj, struct config_function *f)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, "service_account");

	if (item && cJSON_IsNull(item)) {
		f->no_account = 1;
		return 0;
	}
	return json_dup_string(r, obj, "service_account", JSON_NONEMPTY, 0, NULL, &f->account);
}

static int parse_function(struct json_reader *r, const cJSON *obj, struct config_function *f)
{
	static const char *const keys[] = {
		"name",
		"handler",
		"runtime",
		"command",
		"python",
		"code_dir",
		"timeout_s",
		"memory_mb",
		"version",
		"service_account",
		"concurrency",
		"environment",
		"max_event_bytes",
		"max_response_bytes",
		"reload",
		NULL,
	};
	const char *runtime = "c";
	double timeout_s = CONFIG_DEFAULT_FUNCTION_TIMEOUT_S;

	f->memory_mb = 128;
	f->concurrency = 1;
	f->max_event_bytes = CONFIG_DEFAULT_PAYLOAD_MAX;
	f->max_response_bytes = CONFIG_DEFAULT_PAYLOAD_MAX;
	if (json_check_keys(r, obj, keys) < 0 ||
	    json_dup_string(r, obj, "name", JSON_REQUIRED, 0, check_name, &f->name) < 0 ||
	    json_dup_string(r, obj, "handler", JSON_NONEMPTY, 4096, NULL, &f->handler) < 0 ||
	    json_get_string(r, obj, "runtime", JSON_NONEMPTY, 0, NULL, &runtime) < 0 ||
	    parse_command(r, obj, f) < 0 ||
	    json_dup_string(r, obj, "python", JSON_NONEMPTY, 4096, NULL, &f->python) < 0 ||
	    json_dup_string(r, obj, "code_dir", JSON_NONEMPTY, 4096, NULL, &f->code_dir) < 0 ||
	    json_get_number(r, obj, "timeout_s", JSON_EXCLUSIVE_LO, 0, 900, &timeout_s) < 0 ||
	    json_get_int(r, obj, "memory_mb", 0, 128, 10240, &f->memory_mb) < 0 ||
	    json_dup_string(r, obj, "version", JSON_NONEMPTY, 64, NULL, &f->version) < 0 ||
	    parse_account(r, obj, f) < 0 ||
	    json_get_int(r, obj, "concurrency", 0, 1, CONFIG_FUNCTION_CONCURRENCY_MAX,
	                 &f->concurrency) < 0 ||
	    parse_env(r, obj, f) < 0 ||
	    json_get_int(r, obj, "max_event_bytes", 0, 1, PAYLOAD_MAX, &f->max_event_bytes) < 0 ||
	    json_get_int(r, obj, "max_response_bytes", 0, 1, PAYLOAD_MAX, &f->max_response_bytes) <
	        0 ||
	    json_get_bool(r, obj, "reload", 0, &f->reload) < 0)
		return -1;
	f->timeout_ms = (int64_t)(timeout_s * 1000 + 0.5);
	if (f->timeout_ms < 1)
		f->timeout_ms = 1;
	if (strcmp(runtime, "c") == 0) {
		f->runtime = CONFIG_RUNTIME_C;
	} else if (strcmp(runtime, "python") == 0) {
		f->runtime = CONFIG_RUNTIME_PYTHON;
	} else if (strcmp(runtime, "command") == 0) {
		f->runtime = CONFIG_RUNTIME_COMMAND;
	} else if (strcmp(runtime, "external") == 0) {
		f->runtime = CONFIG_RUNTIME_EXTERNAL;
	} else {
		cJSON shown = json_string_item(runtime);
		size_t mark = json_path_key(r, "runtime");

		json_fail(r, &shown,
		          "must be \"c\", \"python\", \"command\" (with \"command\") or "
		          "\"external\"");
		json_path_pop(r, mark);
		return -1;
	}
	if ((f->runtime == CONFIG_RUNTIME_COMMAND) != (f->command != NULL)) {
		size_t mark = json_path_key(r, f->command ? "command" : "runtime");

		json_fail(r, NULL,
		          f->command ? "is only for \"runtime\": \"command\""
		                     : "\"command\" needs a \"command\" array");
		json_path_pop(r, mark);
		return -1;
	}
	if (f->python && f->runtime != CONFIG_RUNTIME_PYTHON) {
		size_t mark = json_path_key(r, "python");

		json_fail(r, NULL, "is only for \"runtime\": \"python\"");
		json_path_pop(r, mark);
		return -1;
	}
	if (f->runtime == CONFIG_RUNTIME_C && !f->handler) {
		size_t mark = json_path_key(r, "handler");

		json_fail(r, NULL, "is required for \"runtime\": \"c\" (path/to/lib.so:symbol)");
		json_path_pop(r, mark);
		return -1;
	}
	if (f->runtime == CONFIG_RUNTIME_PYTHON && !handlername_python_ok(f->handler)) {
		cJSON shown = json_string_item(f->handler ? f->handler : "");
		size_t mark = json_path_key(r, "handler");

		json_fail(r, f->handler ? &shown : NULL,
		          f->handler ? "must be module.function for \"runtime\": \"python\", e.g. "
		                       "index.handler for the function handler in code_dir's "
		                       "index.py"
		                     : "is required for \"runtime\": \"python\": module.function, "
		                       "e.g. index.handler for the function handler in code_dir's "
		                       "index.py");
		json_path_pop(r, mark);
		return -1;
	}
	if (!f->version && !(f->version = strdup("$LATEST")))
		return json_fail(r, NULL, "out of memory");
	if (!f->code_dir && !(f->code_dir = strdup(".")))
		return json_fail(r, NULL, "out of memory");
	return 0;
}

static int check_unique(struct json_reader *r, const struct config *c)
{
	struct json_name *refs = malloc((c->n_functions + 1) * sizeof(*refs));
	size_t first = 0, dup = 0;
	int rc = 0;

	if (!refs)
		return json_fail(r, NULL, "out of memory");
	for (size_t i = 0; i < c->n_functions; i++) {
		refs[i].name = c->functions[i].name;
		refs[i].index = i;
	}
	if (json_first_repeat(refs, c->n_functions, &first, &dup)) {
		cJSON shown = json_string_item(c->functions[dup].name);
		size_t mark = json_path_index(r, dup);

		json_path_key(r, "name");
		rc = json_fail(r, &shown, "duplicates functions[%zu].name", first);
		json_path_pop(r, mark);
	}
	free(refs);
	return rc;
}

int config__parse_functions(struct json_reader *r, const cJSON *arr, struct config *c)
{
	const cJSON *child;
	size_t mark = json_path_key(r, "functions");
	size_t count;
	int rc = -1;

	config__release_functions(c);
	if (!cJSON_IsArray(arr)) {
		json_fail(r, arr, "must be an array of functions");
		goto out;
	}
	count = (size_t)cJSON_GetArraySize(arr);
	if (count > CONFIG_FUNCTIONS_MAX) {
		json_fail(r, NULL, "at most %d functions", CONFIG_FUNCTIONS_MAX);
		goto out;
	}
	if (count && !(c->functions = calloc(count, sizeof(*c->functions)))) {
		json_fail(r, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(child, arr)
	{
		size_t imark = json_path_index(r, c->n_functions);
		int bad = parse_function(r, child, &c->functions[c->n_functions++]);

		json_path_pop(r, imark);
		if (bad)
			goto out;
	}
	rc = check_unique(r, c);
	if (rc == 0) {
		int64_t total = 0;

		/* Each unit of concurrency is a runtime process and a listener. */
		for (size_t i = 0; i < c->n_functions; i++)
			total += c->functions[i].concurrency;
		if (total > CONFIG_FUNCTIONS_CONCURRENCY_TOTAL)
			rc = json_fail(
			    r, NULL,
			    "the functions' concurrency adds up to %lld; at most %d runtimes "
			    "in all",
			    (long long)total, CONFIG_FUNCTIONS_CONCURRENCY_TOTAL);
	}
out:
	json_path_pop(r, mark);
	return rc;
}

int config__check_function_accounts(struct json_reader *r, const struct config *c)
{
	for (size_t i = 0; i < c->n_functions; i++) {
		const char *want = c->functions[i].account;
		int found = !want || strcmp(want, "default") == 0;

		for (size_t k = 0; k < c->n_accounts && !found; k++)
			found = strcmp(want, c->accounts[k].id) == 0 ||
			        strcmp(want, c->accounts[k].email) == 0;
		if (!found) {
			cJSON shown = json_string_item(want);
			size_t mark = json_path_key(r, "functions");

			json_path_index(r, i);
			json_path_key(r, "service_account");
			json_fail(r, &shown,
			          "names no service account (give \"default\", an id or "
			          "an email from service_accounts, or null)");
			json_path_pop(r, mark);
			return -1;
		}
	}
	return 0;
}
