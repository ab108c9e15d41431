/*
 * The per-account "upstream" object of the configuration (upstream_config.h).
 */
#include "upstream_config.h"

#include "private/internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 4096
#define SECONDS_MAX  (10LL * 365 * 24 * 3600)

void config_upstream_release(struct config_upstream *u)
{
	free(u->metadata);
	free(u->account);
	free(u->key_file);
	free(u->iam_endpoint);
	free(u->ca_file);
	for (size_t i = 0; i < u->n_command; i++)
		free(u->command[i]);
	free(u->command);
	memset(u, 0, sizeof(*u));
}

/* http(s)://host[:port] with an optional trailing slash and nothing else:
 * the client builds the token path itself. */
static const char *check_url(const char *s)
{
	const char *host = NULL;

	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	if (!host)
		return "must be an http:// or https:// URL";
	if (*host == '\0' || *host == '/' || strpbrk(host, " \t\r\n?#@\\\"'"))
		return "must be an http:// or https:// URL with a host and no query, fragment or "
		       "user";
	return NULL;
}

/* A metadata endpoint: what the client accepts (host[:port] or
 * http://host[:port]); metadata servers speak http, as real ones do. */
static const char *check_metadata(const char *s)
{
	char *base = NULL;
	enum mtk_status st;

	if (strncmp(s, "https://", 8) == 0)
		return "metadata servers are reached over http:// (as real ones are); for a token "
		       "over HTTPS use a key_file upstream at the other server's /iam/v1/tokens";
	st = mtk__endpoint_parse(s, &base);
	free(base);
	return st == MTK_OK ? NULL : "must be host[:port] or http://host[:port]";
}

static const char *check_account(const char *s)
{
	return mtk__account_check(s) == MTK_OK
	           ? NULL
	           : "must be 1..255 characters of A-Z a-z 0-9 @ . _ + - (an account name "
	             "or email at the upstream)";
}

static int parse_command(struct json_reader *r, const cJSON *obj, struct config_upstream *u)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "command");
	const cJSON *child;
	size_t mark = json_path_key(r, "command");
	size_t count;
	int rc = -1;

	if (!cJSON_IsArray(arr) || (count = (size_t)cJSON_GetArraySize(arr)) == 0 ||
	    count > UPSTREAM_COMMAND_MAX_ARGS) {
		json_fail(r, arr,
		          "must be an array of 1..%d strings, the program and its arguments "
		          "(run without a shell)",
		          UPSTREAM_COMMAND_MAX_ARGS);
		goto out;
	}
	if (!(u->command = calloc(count + 1, sizeof(*u->command)))) {
		json_fail(r, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(child, arr)
	{
		size_t imark = json_path_index(r, u->n_command);

		if (!cJSON_IsString(child) || (u->n_command == 0 && !child->valuestring[0])) {
			json_fail(r, child,
			          u->n_command == 0 ? "must be a non-empty string (the program)"
			                            : "must be a string");
			json_path_pop(r, imark);
			goto out;
		}
		json_path_pop(r, imark);
		if (!(u->command[u->n_command] = strdup(child->valuestring))) {
			json_fail(r, NULL, "out of memory");
			goto out;
		}
		u->n_command++;
	}
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

/* Refuses key (present in obj) unless the source is one it applies to. */
static int only_for(struct json_reader *r, const cJSON *obj, const char *key, int applies,
                    const char *source)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	size_t mark;

	if (!v || applies)
		return 0;
	mark = json_path_key(r, key);
	json_fail(r, v, "applies to a %s source only", source);
	json_path_pop(r, mark);
	return -1;
}

int config_upstream_parse(struct json_reader *r, const cJSON *obj, struct config_upstream *u)
{
	static const char *const keys[] = {
		"metadata",         "account",           "key_file",   "iam_endpoint",
		"ca_file",          "command",           "lifetime_s", "timeout_ms",
		"refresh_window_s", "retry_interval_ms", NULL,
	};
	static const char *const sources[] = { "metadata", "key_file", "command" };
	const char *first = NULL;

	if (!cJSON_IsObject(obj))
		return json_fail(
		    r, obj, "must be an object naming one source: metadata, key_file or command");
	if (json_check_keys(r, obj, keys) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, sources[i]);
		size_t mark;

		if (!v)
			continue;
		if (!first) {
			first = sources[i];
			continue;
		}
		mark = json_path_key(r, sources[i]);
		json_fail(r, v, "only one source may be given (%s is given too)", first);
		json_path_pop(r, mark);
		return -1;
	}
	if (!first)
		return json_fail(r, obj, "must name one source: metadata, key_file or command");
	u->kind = strcmp(first, "metadata") == 0   ? CONFIG_UPSTREAM_METADATA
	          : strcmp(first, "key_file") == 0 ? CONFIG_UPSTREAM_KEY_FILE
	                                           : CONFIG_UPSTREAM_COMMAND;
	u->lifetime_s = 43200;
	u->timeout_ms = UPSTREAM_DEFAULT_TIMEOUT_MS;
	u->refresh_window_s = UPSTREAM_DEFAULT_REFRESH_WINDOW_S;
	u->retry_interval_ms = UPSTREAM_DEFAULT_RETRY_INTERVAL_MS;
	if (only_for(r, obj, "account", u->kind == CONFIG_UPSTREAM_METADATA, "metadata") ||
	    only_for(r, obj, "iam_endpoint", u->kind == CONFIG_UPSTREAM_KEY_FILE, "key_file") ||
	    only_for(r, obj, "lifetime_s", u->kind == CONFIG_UPSTREAM_COMMAND, "command") ||
	    only_for(r, obj, "ca_file", u->kind == CONFIG_UPSTREAM_KEY_FILE, "key_file"))
		return -1;
	if (json_dup_string(r, obj, "metadata", JSON_NONEMPTY, PATH_MAX_LEN, check_metadata,
	                    &u->metadata) < 0 ||
	    json_dup_string(r, obj, "account", JSON_NONEMPTY, 0, check_account, &u->account) < 0 ||
	    json_dup_string(r, obj, "key_file", JSON_NONEMPTY, PATH_MAX_LEN, NULL, &u->key_file) <
	        0 ||
	    json_dup_string(r, obj, "iam_endpoint", JSON_NONEMPTY, PATH_MAX_LEN, check_url,
	                    &u->iam_endpoint) < 0 ||
	    json_dup_string(r, obj, "ca_file", JSON_NONEMPTY, PATH_MAX_LEN, NULL, &u->ca_file) <
	        0 ||
	    (u->kind == CONFIG_UPSTREAM_COMMAND && parse_command(r, obj, u) < 0) ||
	    json_get_int(r, obj, "lifetime_s", 0, 1, SECONDS_MAX, &u->lifetime_s) < 0 ||
	    json_get_int(r, obj, "timeout_ms", 0, 1, 600000, &u->timeout_ms) < 0 ||
	    json_get_int(r, obj, "refresh_window_s", 0, 1, 86400, &u->refresh_window_s) < 0 ||
	    json_get_int(r, obj, "retry_interval_ms", 0, 1, 3600000, &u->retry_interval_ms) < 0)
		return -1;
	if (u->kind == CONFIG_UPSTREAM_METADATA && !u->account && !(u->account = strdup("default")))
		return json_fail(r, NULL, "out of memory");
	return 0;
}
