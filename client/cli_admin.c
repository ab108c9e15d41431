/*
 * metatoken admin: the control API of a running metatokend from the shell,
 * so that a test script needs no hand-written curl. Each command is one
 * HTTP call; the answer (JSON) goes to stdout, pretty-printed.
 *
 * Server: --server HOST:PORT, else $METATOKEN_SERVER, else $YC_METADATA_ADDR,
 * else $GCE_METADATA_HOST, else 127.0.0.1:8169.
 * Secret: $METATOKEN_ADMIN_SECRET, else --secret-file, else the file
 * metatokend writes for that port ($XDG_RUNTIME_DIR/metatoken/ or
 * ~/.metatoken/admin-PORT.secret, the rule of server/control.c).
 *
 * Exit status: 0 on a 2xx answer, 1 when the call failed (one line on stderr
 * with the server's reason), 2 for a bad command line.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "secretfile.h"

#define EXIT_FAIL      1
#define EXIT_USAGE     2
#define ANSWER_MAX     (1024 * 1024)
#define DEFAULT_SERVER "127.0.0.1:8169"

static void usage(FILE *f)
{
	fputs("usage: metatoken admin [--server HOST:PORT] [--secret-file FILE] COMMAND\n"
	      "\n"
	      "Drives the control API of a running metatokend.\n"
	      "\n"
	      "  accounts                      list service accounts and their tokens\n"
	      "  account NAME                  one account (NAME: default, an email or an id)\n"
	      "  expire NAME                   the current token expires now\n"
	      "  revoke NAME [TOKEN]           revoke the current token, or TOKEN\n"
	      "  rotate NAME                   mint a new current token now\n"
	      "  set NAME [--lifetime S] [--margin S] [--aws-lifetime S]\n"
	      "                                change lifetime and reissue margin (of\n"
	      "                                the token and the AWS credentials)\n"
	      "  clock                         show the server clock\n"
	      "  clock advance SECONDS         move it forward (or back, if negative)\n"
	      "  clock offset SECONDS          set its offset from real time\n"
	      "  faults                        list fault rules\n"
	      "  fault add JSON                add a rule, e.g.\n"
	      "      '{\"path\":\"/computeMetadata/\",\"status\":503,\"count\":3}'\n"
	      "  fault rm ID                   remove one rule\n"
	      "  faults clear                  remove every rule\n"
	      "  metadata instance|project     attributes (and the instance's labels)\n"
	      "  attributes instance|project [KEY=VALUE | --delete KEY]...\n"
	      "                                set or delete attributes (wait_for_change\n"
	      "                                watches on them wake)\n"
	      "  labels [KEY=VALUE | --delete KEY]...\n"
	      "                                set or delete the instance's labels\n"
	      "  stats                         request and token counters\n"
	      "  reset                         back to the start-up state\n"
	      "  key create NAME [--output FILE]\n"
	      "                                create an authorized key for the account and\n"
	      "                                write its key file (Yandex's format, mode\n"
	      "                                0600, never overwritten; FILE defaults to\n"
	      "                                <key id>.json); prints the path and key id\n"
	      "  key list NAME                 the account's authorized keys (no secrets)\n"
	      "\n"
	      "The server is --server, else $METATOKEN_SERVER, $YC_METADATA_ADDR,\n"
	      "$GCE_METADATA_HOST, else " DEFAULT_SERVER ". The secret is\n"
	      "$METATOKEN_ADMIN_SECRET, --secret-file, or the file metatokend wrote at start.\n",
	      f);
}

/* The secret file metatokend writes for the port of `server`. */
static int default_secret_path(const char *server, char *out, size_t cap)
{
	const char *colon = strrchr(server, ':');
	char *end;
	unsigned long port;

	if (!colon)
		return -1;
	port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port > 65535)
		return -1;
	return secretfile_default_path((unsigned)port, out, cap) < 0 ? -1 : 0;
}

/* Reads the secret: the first line of path, without its newline. */
static int read_secret(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "metatoken admin: cannot read the admin secret from %s: %s\n", path,
		        strerror(errno));
		return -1;
	}
	if (!fgets(out, (int)cap, f)) {
		fprintf(stderr, "metatoken admin: %s is empty\n", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

int cli_admin_request(const char *server, const char *secret, const char *method, const char *path,
                      const char *body, struct cli_body *answer, long *status)
{
	struct curl_slist *h = NULL;
	char url[512], auth[512];
	CURLcode rc;
	CURL *c;

	*status = 0;
	c = curl_easy_init();
	if (!c) {
		fprintf(stderr, "metatoken admin: cannot initialise libcurl\n");
		return -1;
	}
	snprintf(url, sizeof(url), "http://%s/metatoken/v1/%s", server, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secret);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cli_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, answer);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fprintf(stderr, "metatoken admin: %s %s: %s\n", method, url,
		        curl_easy_strerror(rc));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc == CURLE_OK ? 0 : -1;
}

void cli_admin_say_error(const char *method, const char *path, long status,
                         const struct cli_body *answer)
{
	cJSON *j = answer->data ? cJSON_Parse(answer->data) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	fprintf(stderr, "metatoken admin: %s %s: HTTP %ld: %s\n", method, path, status,
	        cJSON_IsString(e) ? e->valuestring : (answer->data ? answer->data : ""));
	cJSON_Delete(j);
}

/* Makes one control call and prints its answer. Returns the exit status. */
static int call(const char *server, const char *secret, const char *method, const char *path,
                const char *body)
{
	struct cli_body a = { .max = ANSWER_MAX };
	long status = 0;
	int ret = EXIT_FAIL;

	if (cli_admin_request(server, secret, method, path, body, &a, &status) != 0)
		goto out;
	if (status >= 200 && status < 300) {
		cJSON *j = a.data ? cJSON_Parse(a.data) : NULL;
		char *pretty = j ? cJSON_Print(j) : NULL;

		printf("%s\n", pretty ? pretty : (a.data ? a.data : ""));
		cJSON_free(pretty);
		cJSON_Delete(j);
		ret = 0;
	} else {
		cli_admin_say_error(method, path, status, &a);
	}
out:
	free(a.data);
	return ret;
}

/* Whether text is a whole number (for SECONDS and IDs). */
static int is_integer(const char *s)
{
	char *end;

	errno = 0;
	(void)strtoll(s, &end, 10);
	return *s && !*end && errno == 0;
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Says what is wrong with the command line; returns EXIT_USAGE. */
static int bad(const char *fmt, ...)
{
	va_list ap;

	fputs("metatoken admin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see metatoken admin --help)\n", stderr);
	return EXIT_USAGE;
}

/* `set NAME [--lifetime S] [--margin S] [--aws-lifetime S]` -> a PATCH body. */
static int set_body(int argc, char **argv, char *body, size_t cap)
{
	static const char *const flags[] = { "--lifetime", "--margin", "--aws-lifetime" };
	static const char *const keys[] = { "lifetime_s", "reissue_margin_s", "aws_lifetime_s" };
	const char *value[3] = { NULL, NULL, NULL };
	size_t o = 0;
	int any = 0;

	for (int i = 0; i < argc; i++) {
		int f = 0;

		while (f < 3 && strcmp(argv[i], flags[f]) != 0)
			f++;
		if (f == 3 || i + 1 == argc)
			return bad("set: unexpected \"%s\"", argv[i]);
		value[f] = argv[++i];
		if (!is_integer(value[f]))
			return bad("set: seconds must be whole numbers");
	}
	o += (size_t)snprintf(body + o, cap - o, "{");
	for (int f = 0; f < 3; f++)
		if (value[f] && o < cap)
			o += (size_t)snprintf(body + o, cap - o, "%s\"%s\":%s", any++ ? "," : "",
			                      keys[f], value[f]);
	if (!any)
		return bad("set: give --lifetime, --margin, --aws-lifetime or several");
	if (o >= cap || (size_t)snprintf(body + o, cap - o, "}") >= cap - o)
		return bad("set: seconds too long");
	return 0;
}

/*
 * `attributes SECTION ...` or `labels ...`: KEY=VALUE sets, --delete KEY
 * deletes; -> {"<field>": {"KEY": "VALUE", "KEY": null}} in *out (malloc'd).
 */
static int map_body(const char *cmd, const char *field, int argc, char **argv, char **out)
{
	cJSON *o = cJSON_CreateObject(), *m = o ? cJSON_AddObjectToObject(o, field) : NULL;
	int rc = 0;

	if (!m) {
		cJSON_Delete(o);
		fprintf(stderr, "metatoken admin: out of memory\n");
		return EXIT_FAIL;
	}
	for (int i = 0; i < argc && rc == 0; i++) {
		const char *eq = strchr(argv[i], '=');
		char key[256];

		if (strcmp(argv[i], "--delete") == 0) {
			if (i + 1 == argc || !*argv[i + 1])
				rc = bad("%s: --delete needs a KEY", cmd);
			else if (cJSON_GetObjectItemCaseSensitive(m, argv[i + 1]))
				rc = bad("%s: \"%.40s\" given twice", cmd, argv[i + 1]);
			else if (!cJSON_AddNullToObject(m, argv[++i]))
				rc = bad("%s: out of memory", cmd);
			continue;
		}
		if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(key)) {
			rc = bad("%s: expected KEY=VALUE or --delete KEY, not \"%.40s\"", cmd,
			         argv[i]);
			continue;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
		if (cJSON_GetObjectItemCaseSensitive(m, key))
			rc = bad("%s: \"%.40s\" given twice", cmd, key);
		else if (!cJSON_AddStringToObject(m, key, eq + 1))
			rc = bad("%s: out of memory", cmd);
	}
	if (rc == 0 && argc == 0)
		rc = bad("%s: give KEY=VALUE or --delete KEY, or several", cmd);
	if (rc == 0 && !(*out = cJSON_PrintUnformatted(o)))
		rc = bad("%s: out of memory", cmd);
	cJSON_Delete(o);
	return rc;
}

static int is_section(const char *s)
{
	return s && (strcmp(s, "instance") == 0 || strcmp(s, "project") == 0);
}

/* `attributes instance|project ...` and `labels ...`: one PATCH. */
static int map_patch(const char *server, const char *secret, const char *cmd, const char *section,
                     int argc, char **argv)
{
	char *body = NULL;
	int rc =
	    map_body(cmd, strcmp(cmd, "labels") == 0 ? "labels" : "attributes", argc, argv, &body);

	if (rc == 0)
		rc = call(server, secret, "PATCH", section, body);
	cJSON_free(body);
	return rc;
}

int cli_admin(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "secret-file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = getenv("METATOKEN_SERVER"), *secret_file = NULL, *cmd, *a1, *a2;
	char secret[512], path[1024], body[2048];
	int opt, n;

	/* Stop at the command: its own arguments may start with "-". */
	while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			server = optarg;
			break;
		case 'f':
			secret_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	/* As `metatoken token` finds the metadata service: metatokend serves
	 * its control API on the same address. */
	if (!server || !*server)
		server = getenv("YC_METADATA_ADDR");
	if (!server || !*server)
		server = getenv("GCE_METADATA_HOST");
	if (!server || !*server)
		server = DEFAULT_SERVER;
	if (strncmp(server, "http://", 7) == 0)
		server += 7;
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	n = argc - optind - 1;
	a1 = n >= 1 ? argv[optind + 1] : NULL;
	a2 = n >= 2 ? argv[optind + 2] : NULL;

	if (getenv("METATOKEN_ADMIN_SECRET") && *getenv("METATOKEN_ADMIN_SECRET") && !secret_file) {
		snprintf(secret, sizeof(secret), "%s", getenv("METATOKEN_ADMIN_SECRET"));
	} else {
		if (!secret_file) {
			if (default_secret_path(server, path, sizeof(path)) != 0)
				return bad(
				    "no secret: set METATOKEN_ADMIN_SECRET or give --secret-file");
			secret_file = path;
		}
		if (read_secret(secret_file, secret, sizeof(secret)) != 0)
			return EXIT_FAIL;
	}

	if (strcmp(cmd, "accounts") == 0 && n == 0)
		return call(server, secret, "GET", "accounts", NULL);
	if (strcmp(cmd, "account") == 0 && n == 1) {
		snprintf(path, sizeof(path), "accounts/%s", a1);
		return call(server, secret, "GET", path, NULL);
	}
	if ((strcmp(cmd, "expire") == 0 || strcmp(cmd, "rotate") == 0) && n == 1) {
		snprintf(path, sizeof(path), "accounts/%s/%s", a1, cmd);
		return call(server, secret, "POST", path, NULL);
	}
	if (strcmp(cmd, "revoke") == 0 && (n == 1 || n == 2)) {
		snprintf(path, sizeof(path), "accounts/%s/revoke", a1);
		if (a2) {
			if (strspn(a2, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			               "0123456789-_.") != strlen(a2))
				return bad("revoke: \"%.40s\" is not a token", a2);
			snprintf(body, sizeof(body), "{\"token\":\"%s\"}", a2);
		}
		return call(server, secret, "POST", path, a2 ? body : NULL);
	}
	if (strcmp(cmd, "set") == 0 && n >= 1) {
		int rc = set_body(n - 1, argv + optind + 2, body, sizeof(body));

		if (rc)
			return rc;
		snprintf(path, sizeof(path), "accounts/%s", a1);
		return call(server, secret, "PATCH", path, body);
	}
	if (strcmp(cmd, "clock") == 0 && n == 0)
		return call(server, secret, "GET", "clock", NULL);
	if (strcmp(cmd, "clock") == 0 && n == 2 &&
	    (strcmp(a1, "advance") == 0 || strcmp(a1, "offset") == 0)) {
		if (!is_integer(a2))
			return bad("clock: \"%s\" is not a whole number of seconds", a2);
		snprintf(body, sizeof(body), "{\"%s\":%s}",
		         strcmp(a1, "advance") == 0 ? "advance_s" : "offset_s", a2);
		return call(server, secret, "POST", "clock", body);
	}
	if (strcmp(cmd, "faults") == 0 && n == 0)
		return call(server, secret, "GET", "faults", NULL);
	if (strcmp(cmd, "faults") == 0 && n == 1 && strcmp(a1, "clear") == 0)
		return call(server, secret, "DELETE", "faults", NULL);
	if (strcmp(cmd, "fault") == 0 && n == 2 && strcmp(a1, "add") == 0)
		return call(server, secret, "POST", "faults", a2);
	if (strcmp(cmd, "fault") == 0 && n == 2 && strcmp(a1, "rm") == 0) {
		if (!is_integer(a2))
			return bad("fault rm: \"%s\" is not a rule id", a2);
		snprintf(path, sizeof(path), "faults/%s", a2);
		return call(server, secret, "DELETE", path, NULL);
	}
	if (strcmp(cmd, "metadata") == 0 && n == 1 && is_section(a1))
		return call(server, secret, "GET", a1, NULL);
	if (strcmp(cmd, "attributes") == 0 && n >= 1 && is_section(a1))
		return map_patch(server, secret, cmd, a1, n - 1, argv + optind + 2);
	if (strcmp(cmd, "labels") == 0)
		return map_patch(server, secret, cmd, "instance", n, argv + optind + 1);
	if (strcmp(cmd, "stats") == 0 && n == 0)
		return call(server, secret, "GET", "stats", NULL);
	if (strcmp(cmd, "reset") == 0 && n == 0)
		return call(server, secret, "POST", "reset", NULL);
	if (strcmp(cmd, "key") == 0 && n == 2 && strcmp(a1, "list") == 0) {
		snprintf(path, sizeof(path), "accounts/%s/keys", a2);
		return call(server, secret, "GET", path, NULL);
	}
	if (strcmp(cmd, "key") == 0 && n >= 1 && strcmp(a1, "create") == 0)
		return cli_admin_key_create(server, secret, n - 1, argv + optind + 2);
	return bad("unknown command or wrong arguments: \"%s\"", cmd);
}
