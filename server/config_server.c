/*
 * The configuration of the server itself, beside what it serves:
 * "allowed_hosts" (Host names accepted besides the built-in ones, route.c)
 * "limits" (the daemon's caps and deadlines, daemon.h), "metrics"
 * (whether GET /metrics answers, ops.c) and "tls" (the HTTPS listener,
 * daemon.h).
 */
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

#define LIMIT_CONNECTIONS_MAX 4096 /* DAEMON_CONNECTIONS_MAX */

/* A host name or address as it stands in a Host header, without port:
 * letters, digits, '.', '-', and ':' only inside [brackets]. */
static const char *check_host(const char *s)
{
	size_t len = strlen(s);

	if (len > HOST_MAX_LEN)
		return "must be a host name of at most 253 characters";
	if (s[0] == '[')
		return s[len - 1] == ']' && len > 2 &&
		               strspn(s + 1, "0123456789abcdefABCDEF:.") == len - 2
		           ? NULL
		           : "must be a host name, an IPv4 address or a [bracketed] IPv6 address";
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != len ||
	    s[0] == '.' || s[0] == '-')
		return "must be a host name (letters, digits, '.' and '-'), without a port";
	return NULL;
}

static void release_allowed_hosts(struct config *c)
{
	for (size_t i = 0; i < c->n_allowed_hosts; i++)
		free(c->allowed_hosts[i]);
	free(c->allowed_hosts);
	c->allowed_hosts = NULL;
	c->n_allowed_hosts = 0;
}

int config__parse_allowed_hosts(struct json_reader *r, const cJSON *arr, struct config *c)
{
	size_t mark = json_path_key(r, "allowed_hosts"), n = 0;
	const cJSON *item;
	int rc = -1;

	release_allowed_hosts(c);
	if (!cJSON_IsArray(arr)) {
		json_fail(r, arr, "must be an array of host names");
		goto out;
	}
	c->allowed_hosts = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(char *));
	if (!c->allowed_hosts) {
		json_fail(r, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(item, arr)
	{
		size_t at = json_path_index(r, n);
		const char *why;

		if (!cJSON_IsString(item) || !item->valuestring[0]) {
			json_fail(r, item, "must be a non-empty string");
			goto out;
		}
		if ((why = check_host(item->valuestring)) != NULL) {
			json_fail(r, item, "%s", why);
			goto out;
		}
		json_path_pop(r, at);
		c->allowed_hosts[n] = strdup(item->valuestring);
		if (!c->allowed_hosts[n]) {
			json_fail(r, NULL, "out of memory");
			goto out;
		}
		c->n_allowed_hosts = ++n;
	}
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

int config__parse_limits(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = {
		"connections", "per_client", "held_requests", "header_timeout_s", "idle_timeout_s",
		"threads",     NULL
	};
	size_t mark = json_path_key(r, "limits");
	int64_t conns = 0, per = 0, held = 0, header_s = 0, idle_s = 0, threads = 0;
	int rc = -1;

	if (!cJSON_IsObject(obj)) {
		json_fail(r, obj, "must be a JSON object");
		goto out;
	}
	if (json_check_keys(r, obj, keys) < 0 ||
	    json_get_int(r, obj, "connections", 0, 1, LIMIT_CONNECTIONS_MAX, &conns) < 0 ||
	    json_get_int(r, obj, "per_client", 0, 1, LIMIT_CONNECTIONS_MAX, &per) < 0 ||
	    json_get_int(r, obj, "held_requests", 0, 1, 1000000, &held) < 0 ||
	    json_get_int(r, obj, "header_timeout_s", 0, 1, 3600, &header_s) < 0 ||
	    json_get_int(r, obj, "idle_timeout_s", 0, 1, 86400, &idle_s) < 0 ||
	    json_get_int(r, obj, "threads", 0, 1, 256, &threads) < 0)
		goto out;
	c->max_connections = (unsigned)conns;
	c->per_client_connections = (unsigned)per;
	c->max_held_requests = (unsigned)held;
	c->header_timeout_ms = header_s * 1000;
	c->idle_timeout_ms = idle_s * 1000;
	c->threads = (unsigned)threads;
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

int config__parse_metrics(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = { "enabled", NULL };
	size_t mark = json_path_key(r, "metrics");
	int enabled = c->metrics_enabled;
	int rc = -1;

	if (!cJSON_IsObject(obj)) {
		json_fail(r, obj, "must be a JSON object");
		goto out;
	}
	if (json_check_keys(r, obj, keys) < 0)
		goto out;
	if (json_get_bool(r, obj, "enabled", 0, &enabled) < 0)
		goto out;
	c->metrics_enabled = enabled;
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

static void release_tls(struct config *c)
{
	free(c->tls_listen_host);
	free(c->tls_cert_file);
	free(c->tls_key_file);
	c->tls_listen_host = c->tls_cert_file = c->tls_key_file = NULL;
	c->tls_listen_port = 0;
}

/*
 * "tls": {"listen", "cert_file", "key_file"}. The section turns the HTTPS
 * listener on, so both files are required; the files themselves are read
 * at start (tls.c), where a missing or unsafe one is refused.
 */
int config__parse_tls(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = { "listen", "cert_file", "key_file", NULL };
	size_t mark = json_path_key(r, "tls");
	const char *listen = NULL;
	char why[128];
	int rc = -1;

	release_tls(c);
	if (!cJSON_IsObject(obj)) {
		json_fail(r, obj, "must be a JSON object with \"cert_file\" and \"key_file\"");
		goto out;
	}
	if (json_check_keys(r, obj, keys) < 0 ||
	    json_get_string(r, obj, "listen", 0, 0, NULL, &listen) < 0 ||
	    json_dup_string(r, obj, "cert_file", JSON_REQUIRED | JSON_NONEMPTY, 0, NULL,
	                    &c->tls_cert_file) < 0 ||
	    json_dup_string(r, obj, "key_file", JSON_REQUIRED | JSON_NONEMPTY, 0, NULL,
	                    &c->tls_key_file) < 0)
		goto out;
	if (listen) {
		size_t at = json_path_key(r, "listen");
		cJSON got = json_string_item(listen);

		if (config_parse_listen(listen, &c->tls_listen_host, &c->tls_listen_port, why,
		                        sizeof(why)) != 0) {
			json_fail(r, &got, "%s", why);
			goto out;
		}
		json_path_pop(r, at);
	} else {
		c->tls_listen_host = strdup(CONFIG_DEFAULT_LISTEN_HOST);
		c->tls_listen_port = CONFIG_DEFAULT_TLS_PORT;
		if (!c->tls_listen_host) {
			json_fail(r, NULL, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

void config__release_server(struct config *c)
{
	release_allowed_hosts(c);
	release_tls(c);
	c->max_connections = c->per_client_connections = c->max_held_requests = 0;
	c->header_timeout_ms = c->idle_timeout_ms = 0;
	c->threads = 0;
}
