/*
 * What `metatoken exec` points its command at (cli_exec.h): the environment
 * it is given, and the check that a running server answers before it runs.
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_exec.h"

#define PROBE_TIMEOUT_MS 5000L

extern char **environ;

struct probe {
	int google;
};

static size_t probe_header(char *line, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "Metadata-Flavor:";
	struct probe *p = arg;
	size_t n = size * nmemb, v = sizeof(name) - 1;

	if (n > v && strncasecmp(line, name, v) == 0) {
		while (v < n && (line[v] == ' ' || line[v] == '\t'))
			v++;
		if (n - v >= 6 && strncmp(line + v, "Google", 6) == 0)
			p->google = 1;
	}
	return n;
}

static size_t probe_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr, (void)arg;
	return size * nmemb;
}

static int probe_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const volatile sig_atomic_t *stop = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return *stop != 0;
}

int exec_probe(const char *addr, const char *from, const volatile sig_atomic_t *stop)
{
	struct probe p = { 0 };
	char url[300];
	long status = 0;
	CURLcode rc;
	CURL *c = curl_easy_init();
	int ret = -1;

	if (!c) {
		fprintf(stderr, EXEC_WHO ": cannot initialise libcurl\n");
		return -1;
	}
	snprintf(url, sizeof(url), "http://%s/", addr);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* the signals are ours */
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, PROBE_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, probe_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &p);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, probe_body);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, probe_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, stop);
	rc = curl_easy_perform(c);
	if (*stop)
		goto out;
	if (rc != CURLE_OK) {
		fprintf(stderr, EXEC_WHO ": no metatokend answers at %s (%s): %s\n", addr, from,
		        curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200 || !p.google) {
		fprintf(stderr,
		        EXEC_WHO ": %s (%s) is not a metadata server: GET / answered HTTP %ld%s\n",
		        addr, from, status, p.google ? "" : " without Metadata-Flavor: Google");
		goto out;
	}
	ret = 0;
out:
	curl_easy_cleanup(c);
	return ret;
}

/* A NULL-terminated array of "K=V" being built; bad is set when out of memory. */
struct envv {
	char **v;
	size_t n, cap;
	int bad;
};

/* Appends kv, which it now owns (NULL: out of memory). */
static void env_take(struct envv *e, char *kv)
{
	if (kv && e->n + 2 > e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 64;
		char **grown = realloc(e->v, cap * sizeof(*grown));

		if (!grown) {
			free(kv);
			kv = NULL;
		} else {
			e->v = grown;
			e->cap = cap;
		}
	}
	if (!kv) {
		e->bad = 1;
		return;
	}
	e->v[e->n++] = kv;
	e->v[e->n] = NULL;
}

static void env_set(struct envv *e, const char *key, const char *value)
{
	char *kv;

	env_take(e, asprintf(&kv, "%s=%s", key, value) < 0 ? NULL : kv);
}

void exec_env_free(char **env)
{
	if (!env)
		return;
	for (char **kv = env; *kv; kv++) {
		OPENSSL_cleanse(*kv, strlen(*kv));
		free(*kv);
	}
	free(env);
}

static int key_in(const char *kv, const char *const *keys)
{
	for (size_t i = 0; keys[i]; i++) {
		size_t n = strlen(keys[i]);

		if (strncmp(kv, keys[i], n) == 0 && kv[n] == '=')
			return 1;
	}
	return 0;
}

char **exec_env(const struct exec_target *t)
{
	static const char *const replaced[] = {
		"METATOKEN_SERVER",
		"YC_METADATA_ADDR",
		"GCE_METADATA_HOST",
		"GCE_METADATA_ROOT",
		"GCE_METADATA_IP",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT",
		/* What SDKs look at before the metadata service. */
		"GOOGLE_APPLICATION_CREDENTIALS",
		"AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_EC2_METADATA_DISABLED",
		NULL,
	};
	static const char *const container[] = {
		"AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		NULL,
	};
	static const char *const admin[] = { "METATOKEN_ADMIN_SECRET", NULL };
	static const char *const proxies[] = { "http_proxy",  "HTTP_PROXY", "https_proxy",
		                               "HTTPS_PROXY", "all_proxy",  "ALL_PROXY",
		                               NULL };
	static const char *const no_proxy[] = { "NO_PROXY", "no_proxy", NULL };
	const char *uri = getenv(container[0]), *colon = strrchr(t->addr, ':');
	char prefix[200], host[160];
	struct envv envv = { 0 }, *e = &envv;
	int keep_container = 0, proxied = 0;

	/* An inherited container endpoint stays only if it is this server's. */
	snprintf(prefix, sizeof(prefix), "http://%s/", t->addr);
	if (!t->private_server && uri && strncmp(uri, prefix, strlen(prefix)) == 0)
		keep_container = 1;
	for (size_t i = 0; proxies[i]; i++)
		proxied |= getenv(proxies[i]) && *getenv(proxies[i]);
	for (char **kv = environ; *kv; kv++) {
		if (key_in(*kv, replaced) || (!keep_container && key_in(*kv, container)) ||
		    (t->private_server && key_in(*kv, admin)) || (proxied && key_in(*kv, no_proxy)))
			continue;
		env_take(e, strdup(*kv));
	}
	env_set(e, "METATOKEN_SERVER", t->addr);
	env_set(e, "YC_METADATA_ADDR", t->addr);
	env_set(e, "GCE_METADATA_HOST", t->addr);
	env_set(e, "GCE_METADATA_ROOT", t->addr);
	env_set(e, "GCE_METADATA_IP", t->addr);
	env_set(e, "AWS_EC2_METADATA_SERVICE_ENDPOINT", prefix);
	if (t->container_uri && t->container_token) {
		env_set(e, container[0], t->container_uri);
		env_set(e, container[1], t->container_token);
	}
	if (t->admin_secret)
		env_set(e, admin[0], t->admin_secret);
	if (proxied) {
		/* The host, without its port or an IPv6 address's brackets. */
		size_t len = (size_t)(colon - t->addr);
		const char *h = t->addr;

		if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
			h++;
			len -= 2;
		}
		snprintf(host, sizeof(host), "%.*s", (int)len, h);
		for (size_t i = 0; no_proxy[i]; i++) {
			const char *old = getenv(no_proxy[i]);

			if (old && *old) {
				char *v;

				if (asprintf(&v, "%s,%s", old, host) < 0) {
					e->bad = 1;
					continue;
				}
				env_set(e, no_proxy[i], v);
				free(v);
			} else {
				env_set(e, no_proxy[i], host);
			}
		}
	}
	if (!e->bad && e->v)
		return e->v;
	exec_env_free(e->v);
	return NULL;
}
