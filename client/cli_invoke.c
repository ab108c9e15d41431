/*
 * metatoken invoke: calls a function through the Invoke API of a running
 * metatokend (POST /2015-03-31/functions/NAME/invocations, as AWS Lambda
 * and its Runtime Interface Emulator take it), or, with --handler, through
 * a private metatokend started for one invocation (cli_invoke_local.c).
 *
 * The server is --server (or its other name, --endpoint), else $METATOKEN_SERVER (the variable
 * metatokend's banner exports and `metatoken admin` reads), else 127.0.0.1:8169. Exit statuses:
 * enum invoke_exit in cli_invoke.h.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "cli_invoke.h"

#define DEFAULT_SERVER   "127.0.0.1:8169"
#define ANSWER_MAX       (64u * 1024 * 1024) /* ten times the 6 MiB a function may return */
#define EVENT_MAX        (64u * 1024 * 1024) /* the server refuses more than its own cap */
#define CONNECT_TIMEOUT  5000L
#define ERROR_TEXT_SHOWN 2000 /* bytes of a non-JSON API error body shown */

static void usage(FILE *f)
{
	fputs("usage: metatoken invoke [OPTIONS] NAME [EVENT]\n"
	      "       metatoken invoke [OPTIONS] MODULE.FUNCTION [EVENT]\n"
	      "       metatoken invoke [OPTIONS] LIB.so[:SYMBOL] [EVENT]\n"
	      "\n"
	      "Invokes a function once and prints its result on stdout.\n"
	      "\n"
	      "The first form calls the Invoke API of a running metatokend\n"
	      "(POST /2015-03-31/functions/NAME/invocations). The others need no server:\n"
	      "they start a private metatokend on a free loopback port with the handler as\n"
	      "its function, invoke it, and stop the server. The function's output and its\n"
	      "START/END/REPORT lines go to stderr.\n"
	      "\n"
	      "A function NAME has no '.', so an argument with one is a handler. A handler\n"
	      "with a ':', or whose file name ends in .so (or .so.N), is a C handler: SYMBOL\n"
	      "(default: handler) in LIB.so, run by metatoken-bootstrap. Any other is a\n"
	      "Python handler, MODULE.FUNCTION: index.handler is the function handler in\n"
	      "index.py in the code directory, run by metatoken-python-runtime.\n"
	      "\n"
	      "The event is EVENT, or the contents of --event FILE, or stdin (with\n"
	      "--event -, or when stdin is not a terminal); no event at all is {}. Its\n"
	      "bytes are sent as they are; a handler's is checked to be JSON first.\n"
	      "\n"
	      "  --event FILE|-          read the event from FILE, or from stdin with -\n"
	      "  --client-context JSON   client context for the function (sent base64-encoded\n"
	      "                          as X-Amz-Client-Context)\n"
	      "  --timeout S             with NAME: stop waiting after S seconds;\n"
	      "                          with a handler: the function's timeout (default 3)\n"
	      "  --help                  this text\n"
	      "\n"
	      "With NAME:\n"
	      "  --server HOST:PORT      the server (default: $METATOKEN_SERVER,\n"
	      "                          else " DEFAULT_SERVER "); --endpoint is another\n"
	      "                          name for it\n"
	      "  --async                 asynchronous invocation (type Event): the server\n"
	      "                          answers 202 and runs it later; nothing is printed\n"
	      "  --dry-run               only check that NAME may be invoked (type DryRun)\n"
	      "\n"
	      "With a handler:\n"
	      "  --handler HANDLER       the handler, in place of the argument\n"
	      "  --code-dir DIR          LAMBDA_TASK_ROOT and working directory (default: .);\n"
	      "                          Python modules are found there, while LIB.so is\n"
	      "                          relative to the current directory\n"
	      "  --python PATH           the interpreter for a Python handler (default:\n"
	      "                          python3 from the PATH, as metatokend's)\n"
	      "  --memory MB             the function's memory size, 128..10240 (default 128)\n"
	      "  --env K=V               an environment variable for the function (repeat it)\n"
	      "  --service-account NAME  whose token the context carries (default: default)\n"
	      "  --no-token              no service account: the context has no token\n"
	      "  --verbose               also show metatokend's log of each request\n"
	      "\n"
	      "Exit status:\n"
	      "  0    success (for --async and --dry-run: the server accepted the call)\n"
	      "  1    the function failed; its error document is on stderr (for a Python\n"
	      "       module that cannot be loaded: Runtime.ImportModuleError,\n"
	      "       Runtime.UserCodeSyntaxError with the file and line,\n"
	      "       Runtime.HandlerNotFound)\n"
	      "  2    bad command line, or a handler's event that is not JSON\n"
	      "  3    the function timed out (errorType Sandbox.Timedout, on stderr)\n"
	      "  4    the Invoke API refused the call, e.g. 404 ResourceNotFoundException or\n"
	      "       429 TooManyRequestsException; the type and message are on stderr\n"
	      "  5    no answer: cannot connect, nothing within --timeout, or the private\n"
	      "       metatokend did not start\n"
	      "  130, 143  interrupted by SIGINT, SIGTERM (a handler's run stops its server)\n",
	      f);
}

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "metatoken invoke: %s%s%s%s (see metatoken invoke --help)\n", what,
	        arg ? " \"" : "", arg ? arg : "", arg ? "\"" : "");
	return INVOKE_USAGE;
}

struct answer {
	struct cli_body body;
	char function_error[64]; /* X-Amz-Function-Error */
	char error_type[128];    /* X-Amzn-ErrorType */
	char request_id[64];     /* X-Amzn-RequestId */
	const volatile sig_atomic_t *stop;
};

/* Copies the value of header line (name: value\r\n) into out if it is name. */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name), v;

	if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0)
		return;
	for (v = nlen + 1; v < len && (line[v] == ' ' || line[v] == '\t'); v++)
		;
	while (len > v && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	snprintf(out, cap, "%.*s", (int)(len - v), line + v);
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb;

	header_value(line, n, "X-Amz-Function-Error", a->function_error, sizeof(a->function_error));
	header_value(line, n, "X-Amzn-ErrorType", a->error_type, sizeof(a->error_type));
	header_value(line, n, "X-Amzn-RequestId", a->request_id, sizeof(a->request_id));
	return n;
}

/* curl calls this about once a second while it waits: a signal stops it. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct answer *a = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return a->stop && *a->stop;
}

/* Writes the result: its bytes as they are, and a newline on a terminal. */
static int print_result(const char *data, size_t len)
{
	if (len && fwrite(data, 1, len, stdout) != len)
		goto fail;
	if (len && data[len - 1] != '\n' && isatty(STDOUT_FILENO))
		putchar('\n');
	if (fflush(stdout) == 0)
		return INVOKE_OK;
fail:
	fprintf(stderr, "metatoken invoke: cannot write the result: %s\n", strerror(errno));
	return INVOKE_FUNCTION_ERROR;
}

/* A 200 with X-Amz-Function-Error: the document to stderr, and which error. */
static int function_error(const struct answer *a)
{
	cJSON *doc = cJSON_ParseWithLength(a->body.data ? a->body.data : "", a->body.len);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(doc, "errorType");
	int timed_out = cJSON_IsString(type) && strcmp(type->valuestring, "Sandbox.Timedout") == 0;

	cJSON_Delete(doc);
	/* One piece: the one-shot form's log reader writes to stderr too. */
	flockfile(stderr);
	if (a->body.len)
		fwrite(a->body.data, 1, a->body.len, stderr);
	if (!a->body.len || a->body.data[a->body.len - 1] != '\n')
		fputc('\n', stderr);
	funlockfile(stderr);
	return timed_out ? INVOKE_TIMED_OUT : INVOKE_FUNCTION_ERROR;
}

/* A 4xx/5xx: "HTTP 404 ResourceNotFoundException: message". */
static int api_error(const struct invoke_request *rq, long status, const struct answer *a)
{
	cJSON *doc = cJSON_ParseWithLength(a->body.data ? a->body.data : "", a->body.len);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "message");

	if (!cJSON_IsString(m))
		m = cJSON_GetObjectItemCaseSensitive(doc, "Message");
	flockfile(stderr); /* one line, whatever else writes to stderr */
	if (a->error_type[0])
		fprintf(stderr, "metatoken invoke: %s: HTTP %ld %s: ", rq->name, status,
		        a->error_type);
	else
		fprintf(stderr,
		        "metatoken invoke: %s: HTTP %ld without X-Amzn-ErrorType (is %s a "
		        "metatokend that serves functions?): ",
		        rq->name, status, rq->address);
	if (cJSON_IsString(m))
		fprintf(stderr, "%s\n", m->valuestring);
	else
		fprintf(stderr, "%.*s\n",
		        (int)(a->body.len < ERROR_TEXT_SHOWN ? a->body.len : ERROR_TEXT_SHOWN),
		        a->body.data ? a->body.data : "");
	funlockfile(stderr);
	cJSON_Delete(doc);
	return INVOKE_API_ERROR;
}

int invoke_call(const struct invoke_request *rq)
{
	struct answer a = { .body = { .max = ANSWER_MAX }, .stop = rq->stop };
	struct curl_slist *h = NULL;
	char url[1024], type[64], errbuf[CURL_ERROR_SIZE] = "", *name = NULL, *ctx = NULL;
	long status = 0;
	CURLcode rc;
	CURL *c;
	int ret = INVOKE_UNREACHABLE;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c = curl_easy_init())) {
		fprintf(stderr, "metatoken invoke: cannot initialise libcurl\n");
		return INVOKE_UNREACHABLE;
	}
	name = curl_easy_escape(c, rq->name, 0);
	if (!name)
		goto out;
	snprintf(url, sizeof(url), "http://%s/2015-03-31/functions/%s/invocations", rq->address,
	         name);
	snprintf(type, sizeof(type), "X-Amz-Invocation-Type: %s", rq->invocation_type);
	h = curl_slist_append(h, type);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip for large events */
	if (rq->client_context) {
		if (asprintf(&ctx, "X-Amz-Client-Context: %s", rq->client_context) < 0) {
			ctx = NULL;
			goto out;
		}
		h = curl_slist_append(h, ctx);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "metatoken-invoke");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->event);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->event_len);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cli_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a.body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &a);

	rc = curl_easy_perform(c);
	if (rq->stop && *rq->stop)
		goto out; /* the caller reports the signal */
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
		fprintf(stderr,
		        "metatoken invoke: cannot connect to %s: %s (is metatokend running? "
		        "--server or METATOKEN_SERVER name the server)\n",
		        rq->address, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		fprintf(stderr, "metatoken invoke: %s: no answer from %s within %.3g s (%s)\n",
		        rq->name, rq->address, rq->timeout_ms / 1000.0, errbuf);
		goto out;
	}
	if (rc != CURLE_OK) {
		fprintf(stderr, "metatoken invoke: %s: %s\n", url,
		        a.body.overflow ? "the answer is larger than 64 MiB"
		        : errbuf[0]     ? errbuf
		                        : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299)
		ret = api_error(rq, status, &a);
	else if (a.function_error[0])
		ret = function_error(&a);
	else if (status == 202 || status == 204)
		ret = INVOKE_OK; /* Event and DryRun: nothing to print */
	else
		ret = print_result(a.body.data, a.body.len);
out:
	free(ctx);
	curl_free(name);
	free(a.body.data);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return ret;
}

/* Reads all of f (at most EVENT_MAX bytes) into *out; -1 with the reason printed. */
static int read_all(FILE *f, const char *what, char **out, size_t *len)
{
	size_t cap = 0, n = 0, got;
	char *buf = NULL, *grown;

	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64 * 1024;
			if (cap > EVENT_MAX + 1)
				cap = EVENT_MAX + 1;
			if (n == cap || !(grown = realloc(buf, cap))) {
				fprintf(stderr, "metatoken invoke: %s: %s\n", what,
				        n == cap ? "larger than 64 MiB" : "out of memory");
				free(buf);
				return -1;
			}
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "metatoken invoke: cannot read %s: %s\n", what, strerror(errno));
		free(buf);
		return -1;
	}
	buf[n] = '\0'; /* fread stopped short of cap: there is room */
	*out = buf;
	*len = n;
	return 0;
}

/* The event: the argument, --event FILE, or stdin. Exit status or 0. */
static int load_event(const char *arg, const char *file, char **out, size_t *len)
{
	FILE *f;
	int rc;

	*out = NULL;
	*len = 0;
	if (arg) {
		*out = strdup(arg);
		*len = strlen(arg);
		return *out ? 0 : INVOKE_FUNCTION_ERROR;
	}
	if (!file && isatty(STDIN_FILENO))
		return 0;
	if (!file || strcmp(file, "-") == 0)
		return read_all(stdin, "the event from stdin", out, len) ? INVOKE_USAGE : 0;
	f = fopen(file, "rb");
	if (!f) {
		fprintf(stderr, "metatoken invoke: --event %s: %s\n", file, strerror(errno));
		return INVOKE_USAGE;
	}
	rc = read_all(f, file, out, len);
	fclose(f);
	return rc ? INVOKE_USAGE : 0;
}

/*
 * The one-shot form's event must be one JSON value, as metatokend's Invoke
 * API takes it: said here, with where it went wrong, before a server is
 * started for nothing. event is NUL-terminated at len. Exit status or 0.
 */
static int check_event(const char *event, size_t len, const char *arg, const char *file)
{
	const char *end = NULL, *nul = memchr(event, '\0', len);
	/* cJSON would skip a NUL inside as if it were white space. */
	cJSON *v = nul ? NULL : cJSON_ParseWithLengthOpts(event, len + 1, &end, 1);
	size_t line = 1, col = 1;

	cJSON_Delete(v);
	if (v)
		return 0;
	if (nul)
		end = nul;
	if (!end || end < event || end > event + len)
		end = event + len;
	for (const char *p = event; p < end; p++, col++)
		if (*p == '\n')
			line++, col = 0;
	fprintf(stderr,
	        "metatoken invoke: %s%s: not JSON (line %zu, column %zu): the event must be "
	        "one JSON value, e.g. {} or {\"key\": \"value\"}\n",
	        arg                         ? "the EVENT argument"
	        : file && strcmp(file, "-") ? "--event "
	                                    : "",
	        arg                         ? ""
	        : file && strcmp(file, "-") ? file
	                                    : "the event from stdin",
	        line, col);
	return INVOKE_USAGE;
}

/* --client-context: must be JSON; becomes its base64 (malloc'd) in *out. */
static int encode_client_context(const char *json, char **out)
{
	cJSON *doc = cJSON_Parse(json);
	size_t n = strlen(json);

	cJSON_Delete(doc);
	if (!doc)
		return bad("--client-context: not JSON:", json);
	if (n > 1024 * 1024)
		return bad("--client-context: larger than 1 MiB", NULL);
	*out = malloc(4 * ((n + 2) / 3) + 1);
	if (!*out)
		return INVOKE_FUNCTION_ERROR;
	EVP_EncodeBlock((unsigned char *)*out, (const unsigned char *)json, (int)n);
	return 0;
}

/* Seconds (> 0, fractional allowed) to milliseconds; -1 if not that. */
static long seconds_ms(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !(v > 0) || v > 86400.0 * 365)
		return -1;
	return v * 1000 < 1 ? 1 : (long)(v * 1000);
}

int cli_invoke(int argc, char **argv)
{
	enum {
		O_EVENT = 256,
		O_CTX,
		O_TIMEOUT,
		O_ENDPOINT,
		O_ASYNC,
		O_DRY,
		O_HANDLER,
		O_CODE,
		O_PYTHON,
		O_MEMORY,
		O_ENV,
		O_ACCOUNT,
		O_NO_TOKEN,
		O_VERBOSE,
		O_HELP,
		O_SERVER
	};
	static const struct option longopts[] = {
		{ "event", required_argument, NULL, O_EVENT },
		{ "client-context", required_argument, NULL, O_CTX },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "server", required_argument, NULL, O_SERVER },
		{ "endpoint", required_argument, NULL, O_ENDPOINT },
		{ "async", no_argument, NULL, O_ASYNC },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "handler", required_argument, NULL, O_HANDLER },
		{ "code-dir", required_argument, NULL, O_CODE },
		{ "python", required_argument, NULL, O_PYTHON },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "env", required_argument, NULL, O_ENV },
		{ "service-account", required_argument, NULL, O_ACCOUNT },
		{ "no-token", no_argument, NULL, O_NO_TOKEN },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct invoke_request rq = { .invocation_type = "RequestResponse" };
	struct invoke_local lo = { 0 };
	const char *endpoint = NULL, *event_file = NULL, *event_arg = NULL, *ctx_json = NULL;
	const char *timeout = NULL, *remote_only = NULL, *local_only = NULL;
	const char *server_from = "$METATOKEN_SERVER";
	char *event = NULL, *ctx = NULL, *end, address[256];
	int opt, rc;

	lo.env = calloc((size_t)argc, sizeof(*lo.env));
	if (!lo.env)
		return INVOKE_FUNCTION_ERROR;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case O_EVENT:
			event_file = optarg;
			break;
		case O_CTX:
			ctx_json = optarg;
			break;
		case O_TIMEOUT:
			timeout = optarg;
			break;
		case O_SERVER:
		case O_ENDPOINT:
			endpoint = optarg;
			remote_only = server_from = opt == O_SERVER ? "--server" : "--endpoint";
			break;
		case O_ASYNC:
			rq.invocation_type = "Event";
			remote_only = "--async";
			break;
		case O_DRY:
			rq.invocation_type = "DryRun";
			remote_only = "--dry-run";
			break;
		case O_HANDLER:
			lo.handler = optarg;
			break;
		case O_CODE:
			lo.code_dir = optarg;
			local_only = "--code-dir";
			break;
		case O_PYTHON:
			if (!*optarg) {
				rc = bad("--python: the interpreter's path is empty", NULL);
				goto out;
			}
			lo.python_path = optarg;
			local_only = "--python";
			break;
		case O_MEMORY:
			errno = 0;
			lo.memory_mb = strtol(optarg, &end, 10);
			if (!*optarg || *end || errno || lo.memory_mb < 128 ||
			    lo.memory_mb > 10240) {
				rc = bad("--memory: not a whole number of MB in 128..10240:",
				         optarg);
				goto out;
			}
			local_only = "--memory";
			break;
		case O_ENV:
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				rc = bad("--env: expected NAME=VALUE, got", optarg);
				goto out;
			}
			lo.env[lo.n_env++] = optarg;
			local_only = "--env";
			break;
		case O_ACCOUNT:
			lo.service_account = optarg;
			local_only = "--service-account";
			break;
		case O_NO_TOKEN:
			lo.no_token = 1;
			local_only = "--no-token";
			break;
		case O_VERBOSE:
			lo.verbose = 1;
			local_only = "--verbose";
			break;
		case O_HELP:
			usage(stdout);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			rc = INVOKE_USAGE;
			goto out;
		}
	}

	/* A function's NAME has no '.' (metatokend's rule, and AWS's): an
	 * argument with one is a handler. */
	if (!lo.handler && optind < argc && strchr(argv[optind], '.'))
		lo.handler = argv[optind++];
	if (lo.handler && remote_only) {
		rc = bad("a handler runs a private server once: it does not go with", remote_only);
		goto out;
	}
	if (!lo.handler && local_only) {
		rc = bad("this option is for a handler (MODULE.FUNCTION or LIB.so[:SYMBOL]):",
		         local_only);
		goto out;
	}
	if (lo.handler) {
		const char *why = invoke_handler_kind(lo.handler, &lo.python);

		if (why) {
			rc = bad(why, lo.handler);
			goto out;
		}
		if (lo.python_path && !lo.python) {
			rc = bad("--python is for a Python handler (MODULE.FUNCTION), not",
			         lo.handler);
			goto out;
		}
	}
	if (lo.service_account && lo.no_token) {
		rc = bad("--service-account and --no-token exclude each other", NULL);
		goto out;
	}
	if (!lo.handler) {
		if (optind >= argc) {
			rc = bad("which function? Give its NAME, or a handler", NULL);
			goto out;
		}
		rq.name = argv[optind++];
		if (!*rq.name) {
			rc = bad("the function NAME is empty", NULL);
			goto out;
		}
	}
	if (optind < argc)
		event_arg = argv[optind++];
	if (optind < argc) {
		rc = bad("unexpected argument", argv[optind]);
		goto out;
	}
	if (event_arg && event_file) {
		rc = bad("give the event as an argument or with --event, not both", NULL);
		goto out;
	}
	if (timeout && seconds_ms(timeout) < 0) {
		rc = bad("--timeout: not a positive number of seconds:", timeout);
		goto out;
	}
	if (ctx_json && (rc = encode_client_context(ctx_json, &ctx)) != 0)
		goto out;
	if ((rc = load_event(event_arg, event_file, &event, &rq.event_len)) != 0)
		goto out;
	rq.event = event && rq.event_len ? event : "{}";
	if (!event || !rq.event_len)
		rq.event_len = 2;
	rq.client_context = ctx;

	if (lo.handler) {
		if ((rc = check_event(rq.event, rq.event_len, event_arg, event_file)) != 0)
			goto out;
		lo.timeout_s = timeout;
		rc = invoke_local_run(&lo, &rq);
		goto out;
	}
	if (!endpoint)
		endpoint = getenv("METATOKEN_SERVER");
	if (!endpoint || !*endpoint)
		endpoint = DEFAULT_SERVER;
	/* The banner's "http://HOST:PORT/" spelling is accepted too. */
	snprintf(address, sizeof(address), "%s",
	         strncmp(endpoint, "http://", 7) == 0 ? endpoint + 7 : endpoint);
	if (*address && address[strlen(address) - 1] == '/')
		address[strlen(address) - 1] = '\0';
	rq.address = address;
	if (!*address || strpbrk(address, "/?#@ ") || strlen(endpoint) >= sizeof(address) - 8) {
		char what[64];

		snprintf(what, sizeof(what), "%s: expected HOST:PORT, got", server_from);
		rc = bad(what, endpoint);
		goto out;
	}
	rq.timeout_ms = timeout ? seconds_ms(timeout) : 0;
	rc = invoke_call(&rq);
out:
	free(event);
	free(ctx);
	free(lo.env);
	return rc;
}
