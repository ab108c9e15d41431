/*
 * metatokend's configuration: the embedded default, a JSON file on top of it,
 * and strict validation with one-line messages that name the field.
 *
 * Three files, calls running one way:
 *   config.c           reading a file, the document's top level, "listen"
 *                      and "signing_key", releasing;
 *   config_sections.c  "project", "instance", "yandex", "control", "aws";
 *   config_accounts.c  "service_accounts".
 * The file's size is checked here; json_parse() (json.c) checks the text
 * and the tree (NUL bytes, syntax, trailing text, nesting, duplicate keys,
 * control characters and UTF-8 in every key and string); the rest checks
 * the schema: known keys only, types, ranges, uniqueness.
 */
#include "config.h"
#include "config_internal.h"
#include "grow.h"
#include "json.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBEDDED_SOURCE "<embedded default>"
#define FILE_MAX_BYTES  (1024 * 1024)
#define LISTEN_EXPECTED "expected host:port, [v6]:port or :port"

const char config_embedded_default[] =
    "{\n"
    "  \"listen\": \"127.0.0.1:8169\",\n"
    "  \"project\": {\n"
    "    \"id\": \"metatoken-local\",\n"
    "    \"numeric_id\": 123456789012,\n"
    "    \"attributes\": {\n"
    "      \"enable-oslogin\": \"FALSE\"\n"
    "    }\n"
    "  },\n"
    "  \"instance\": {\n"
    "    \"id\": \"fhm0metatoken0local01\",\n"
    "    \"name\": \"metatoken-local\",\n"
    "    \"hostname\": \"metatoken-local.ru-central1.internal\",\n"
    "    \"zone\": \"ru-central1-a\",\n"
    "    \"attributes\": {\n"
    "      \"serial-port-enable\": \"0\"\n"
    "    },\n"
    "    \"labels\": {\n"
    "      \"env\": \"local\",\n"
    "      \"managed-by\": \"metatoken\"\n"
    "    }\n"
    "  },\n"
    "  \"yandex\": {\n"
    "    \"folder_id\": \"b1gmetatokenfolder01\",\n"
    "    \"cloud_id\": \"b1gmetatokencloud001\"\n"
    "  },\n"
    "  \"aws\": {\n"
    "    \"imdsv2_only\": false,\n"
    "    \"instance_id\": \"i-0123456789abcdef0\",\n"
    "    \"hostname\": \"ip-10-0-0-1.ec2.internal\",\n"
    "    \"local_ipv4\": \"10.0.0.1\",\n"
    "    \"availability_zone\": \"us-east-1a\",\n"
    "    \"region\": \"us-east-1\",\n"
    "    \"account_id\": \"123456789012\"\n"
    "  },\n"
    "  \"service_accounts\": [\n"
    "    {\n"
    "      \"id\": \"ajemetatokendefault1\",\n"
    "      \"email\": \"default@metatoken-local.iam.gserviceaccount.com\",\n"
    "      \"scopes\": [\"" DEFAULT_SCOPE "\"],\n"
    "      \"lifetime_s\": 43200,\n"
    "      \"reissue_margin_s\": 300,\n"
    "      \"aws_role\": \"metatoken-role\",\n"
    "      \"aws_lifetime_s\": 21600\n"
    "    }\n"
    "  ]\n"
    "}\n";

static int parse_listen_field(struct json_reader *r, const cJSON *item, struct config *c)
{
	size_t mark = json_path_key(r, "listen");
	char why[128];
	char *host = NULL;
	uint16_t port = 0;
	int rc = -1;

	if (!cJSON_IsString(item)) {
		json_fail(r, item, "must be a string");
		goto out;
	}
	if (config_parse_listen(item->valuestring, &host, &port, why, sizeof(why))) {
		json_fail(r, item, "%s", why);
		goto out;
	}
	free(c->listen_host);
	c->listen_host = host;
	c->listen_port = port;
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

static int parse_root(struct json_reader *r, const cJSON *root, struct config *c)
{
	static const char *const keys[] = {
		"listen",  "signing_key", "allowed_hosts", "limits",
		"project", "instance",    "yandex",        "service_accounts",
		"control", "aws",         "functions",     "metrics",
		"tls",     NULL,
	};
	const cJSON *item;

	if (!cJSON_IsObject(root))
		return json_fail(r, root, "the top-level value must be a JSON object");
	if (json_check_keys(r, root, keys))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "listen")) &&
	    parse_listen_field(r, item, c))
		return -1;
	if (json_dup_string(r, root, "signing_key", JSON_NONEMPTY, 0, NULL, &c->signing_key_path) <
	    0)
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "allowed_hosts")) &&
	    config__parse_allowed_hosts(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "limits")) &&
	    config__parse_limits(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "project")) &&
	    config__parse_project(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "instance")) &&
	    config__parse_instance(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "yandex")) &&
	    config__parse_yandex(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "service_accounts")) &&
	    config__parse_accounts(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "control")) &&
	    config__parse_control(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "metrics")) &&
	    config__parse_metrics(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "tls")) && config__parse_tls(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "aws")) && config__parse_aws(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "functions")) &&
	    config__parse_functions(r, item, c))
		return -1;
	return config__check_function_accounts(r, c);
}

/*
 * Parses one document (text[len] must be '\0') on top of what *c holds. On
 * failure *c may be half-updated; the caller releases it.
 */
static int parse_document(struct config *c, const char *text, size_t len, const char *source,
                          char *err, size_t errlen)
{
	static const char *const multiline[] = { "attributes", "public_key", NULL };
	struct json_reader r = {
		.source = source, .err = err, .errlen = errlen, .multiline_keys = multiline
	};
	cJSON *root;
	size_t i;
	int rc;

	if (len > FILE_MAX_BYTES)
		return json_fail(&r, NULL, "file is larger than the 1 MiB limit");
	for (i = 0; i < len && memchr(" \t\n\r", text[i], 4); i++)
		;
	if (i == len)
		return json_fail(&r, NULL, "file is empty; expected a JSON object");
	root = json_parse(&r, text, len);
	if (!root)
		return -1;
	rc = parse_root(&r, root, c);
	/* The file as given (not the default under it), for a reload to tell
	 * what changed (reload.c). */
	if (rc == 0 && strcmp(source, EMBEDDED_SOURCE) != 0) {
		cJSON_free(c->document);
		c->document = cJSON_PrintUnformatted(root);
		if (!c->document)
			rc = json_fail(&r, NULL, "out of memory");
	}
	cJSON_Delete(root);
	return rc;
}

/*
 * The default, then (if text is non-NULL) the document on top. *out is
 * written only on success; the caller has zeroed it.
 */
static int load(const char *text, size_t len, const char *source, struct config *out, char *err,
                size_t errlen)
{
	struct config c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	c.control_enabled = 1;
	c.metrics_enabled = -1;
	if (parse_document(&c, config_embedded_default, strlen(config_embedded_default),
	                   EMBEDDED_SOURCE, err, errlen))
		goto out;
	if (text && parse_document(&c, text, len, source, err, errlen))
		goto out;
	c.source = strdup(text ? source : EMBEDDED_SOURCE);
	if (!c.source) {
		struct json_reader r = { .source = text ? source : EMBEDDED_SOURCE,
			                 .err = err,
			                 .errlen = errlen };

		json_fail(&r, NULL, "out of memory");
		goto out;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	rc = 0;
out:
	config_release(&c);
	return rc;
}

/*
 * Reads at most FILE_MAX_BYTES + 1 bytes (one more than allowed, so that the
 * parser can tell an oversized file) into a NUL-terminated buffer.
 */
static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	struct json_reader r = { .source = path, .err = err, .errlen = errlen };
	size_t cap = 0; /* bytes in buf, its NUL included */
	size_t n = 0;
	char *buf = NULL;
	FILE *f;
	int rc = -1;

	f = fopen(path, "rb");
	if (!f)
		return json_fail(&r, NULL, "cannot read: %s", strerror(errno));
	for (;;) {
		/* Room for one more byte and the NUL; 64 KiB the first time. */
		size_t need = buf ? n + 2 : 64 * 1024 + 1, got;

		if (grow_reserve(&buf, &cap, need, FILE_MAX_BYTES + 2, 1) != 0) {
			json_fail(&r, NULL, "out of memory");
			goto out;
		}
		got = fread(buf + n, 1, cap - 1 - n, f);
		n += got;
		if (got == 0 || n > FILE_MAX_BYTES)
			break;
	}
	if (ferror(f)) {
		json_fail(&r, NULL, "cannot read: %s", strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

/* *p, when relative, made relative to dir (the configuration file's
 * folder). Returns -1 when out of memory. */
static int rebase(char **p, const char *dir, size_t dir_len)
{
	char *joined;
	size_t n;

	if (!*p || (*p)[0] == '/' || dir_len == 0)
		return 0;
	n = dir_len + 1 + strlen(*p) + 1;
	joined = malloc(n);
	if (!joined)
		return -1;
	snprintf(joined, n, "%.*s/%s", (int)dir_len, dir, *p);
	free(*p);
	*p = joined;
	return 0;
}

int config_load(const char *path, struct config *out, char *err, size_t errlen)
{
	char *text = NULL;
	const char *slash;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!path)
		return load(NULL, 0, NULL, out, err, errlen);
	if (read_file(path, &text, &len, err, errlen))
		return -1;
	rc = load(text, len, path, out, err, errlen);
	free(text);
	/* Paths in a file are relative to its folder, wherever metatokend
	 * runs from: "signing_key", "tls"'s files, each function's
	 * "code_dir", each authorized key's "public_key_file" and the
	 * upstreams' files. */
	slash = strrchr(path, '/');
	if (rc == 0 && slash) {
		size_t dir_len = slash == path ? 1 : (size_t)(slash - path);
		int bad = rebase(&out->signing_key_path, path, dir_len);

		bad |= rebase(&out->tls_cert_file, path, dir_len);
		bad |= rebase(&out->tls_key_file, path, dir_len);

		for (size_t i = 0; i < out->n_functions; i++)
			bad |= rebase(&out->functions[i].code_dir, path, dir_len);
		/* An upstream's files, and its command when it names a file
		 * (with a '/'; a bare name is looked up in PATH). */
		for (size_t i = 0; i < out->n_accounts; i++) {
			struct config_upstream *u = &out->accounts[i].upstream;

			bad |= rebase(&u->key_file, path, dir_len);
			bad |= rebase(&u->ca_file, path, dir_len);
			if (u->command && strchr(u->command[0], '/'))
				bad |= rebase(&u->command[0], path, dir_len);
		}
		for (size_t i = 0; i < out->n_accounts; i++)
			for (size_t j = 0; j < out->accounts[i].n_authorized_keys; j++)
				bad |= rebase(&out->accounts[i].authorized_keys[j].public_key_file,
				              path, dir_len);
		if (bad) {
			config_release(out);
			snprintf(err, errlen, "%s: out of memory", path);
			return -1;
		}
	}
	return rc;
}

int config_parse(const char *json, size_t len, const char *source, struct config *out, char *err,
                 size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!source)
		source = "<config>";
	if (len > FILE_MAX_BYTES + 1)
		len = FILE_MAX_BYTES + 1; /* enough to report the size */
	return load(json ? json : "", len, source, out, err, errlen);
}

/* ---- listen ---- */

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t len = strlen(s);

	if (len < 1 || len > 5 || strspn(s, "0123456789") != len)
		return -1;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int config_parse_listen(const char *text, char **host, uint16_t *port, char *err, size_t errlen)
{
	const char *why = NULL;
	const char *port_text;
	char *name = NULL;
	uint16_t number = 0;
	size_t name_len;

	if (!text || !*text) {
		why = "is empty; " LISTEN_EXPECTED;
		goto out;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		struct in6_addr addr;

		if (!close) {
			why = "missing ']' after the IPv6 address";
			goto out;
		}
		if (close[1] != ':') {
			why = "expected ':' and a port after ']'";
			goto out;
		}
		name_len = (size_t)(close - text - 1);
		if (!(name = strndup(text + 1, name_len))) {
			why = "out of memory";
			goto out;
		}
		if (inet_pton(AF_INET6, name, &addr) != 1) {
			why = "not an IPv6 address inside [ ]";
			goto out;
		}
		port_text = close + 2;
	} else {
		const char *colon = strrchr(text, ':');

		if (!colon) {
			why = "missing port; " LISTEN_EXPECTED;
			goto out;
		}
		name_len = (size_t)(colon - text);
		if (memchr(text, ':', name_len)) {
			why = "IPv6 addresses need brackets, e.g. [::1]:8169";
			goto out;
		}
		if (name_len > HOST_MAX_LEN ||
		    strspn(text,
		           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") <
		        name_len) {
			why = "host must be a name or an IPv4 address";
			goto out;
		}
		name = name_len > 0 ? strndup(text, name_len) : strdup(CONFIG_DEFAULT_LISTEN_HOST);
		if (!name) {
			why = "out of memory";
			goto out;
		}
		port_text = colon + 1;
	}
	if (!*port_text) {
		why = "missing port; " LISTEN_EXPECTED;
		goto out;
	}
	if (parse_port(port_text, &number)) {
		why = "port must be a number 0..65535";
		goto out;
	}
	*host = name;
	*port = number;
	return 0;
out:
	free(name);
	if (err && errlen > 0)
		snprintf(err, errlen, "%s", why);
	return -1;
}

void config_release(struct config *c)
{
	if (!c)
		return;
	free(c->source);
	cJSON_free(c->document);
	free(c->listen_host);
	free(c->signing_key_path);
	config__release_sections(c);
	config__release_server(c);
	config__release_functions(c);
	config__release_accounts(c);
	memset(c, 0, sizeof(*c));
}
