/*
 * The runtime client (include/metatoken/runtime.h): the Lambda Runtime API
 * loop, /next -> context -> handler -> /response or /error.
 */
#include "private/internal.h"
#include "private/runtime.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NEXT_PATH        "/2018-06-01/runtime/invocation/next"
#define INVOCATION_PATH  "/2018-06-01/runtime/invocation/"
#define INIT_ERROR_PATH  "/2018-06-01/runtime/init/error"
#define MAX_HEADER_BYTES 65536 /* all of /next's headers we keep, together */
#define MAX_REQUEST_ID   256
#define MAX_ANSWER_KEPT  512 /* of a POST's answer, for the log */
#define NOT_READY_MS     100 /* Yandex's 418 "worker not ready": retry after */

/* The headers of /next we read: X(enumerator, name). */
#define NEXT_HEADERS(X)                                                                            \
	X(H_REQUEST_ID, "Lambda-Runtime-Aws-Request-Id")                                           \
	X(H_DEADLINE, "Lambda-Runtime-Deadline-Ms")                                                \
	X(H_ARN, "Lambda-Runtime-Invoked-Function-Arn")                                            \
	X(H_TRACE, "Lambda-Runtime-Trace-Id")                                                      \
	X(H_CLIENT_CONTEXT, "Lambda-Runtime-Client-Context")                                       \
	X(H_COGNITO, "Lambda-Runtime-Cognito-Identity")                                            \
	X(H_FUNCTION_NAME, "Lambda-Runtime-Function-Name")                                         \
	X(H_FUNCTION_VERSION, "Lambda-Runtime-Function-Version")                                   \
	X(H_MEMORY, "Lambda-Runtime-Memory-Limit")                                                 \
	X(H_LOG_GROUP, "Lambda-Runtime-Log-Group-Name")                                            \
	X(H_TOKEN, "Lambda-Runtime-Token-Json")

enum next_header {
#define ENUM_(e, name) e,
	NEXT_HEADERS(ENUM_)
#undef ENUM_
	    H_COUNT_
};

static const char *const header_names[] = {
#define NAME_(e, name) [e] = name,
	NEXT_HEADERS(NAME_)
#undef NAME_
};

/* One answer of /next (or of a POST, which keeps only a little body). */
struct answer {
	char *headers[H_COUNT_]; /* NUL-terminated, first of each name */
	size_t header_bytes;
	char *body; /* NUL-terminated when len > 0 */
	size_t len, cap, max;
	bool truncate; /* keep max bytes and drop the rest (POST answers) */
};

struct loop {
	const struct mtk_runtime_options *opts; /* &own */
	struct mtk_runtime_options own;         /* the caller's, at this library's size */
	const struct mtk_testing_runtime_seams *seams;
	char *base;               /* "http://host[:port]" */
	struct mtk__rthttp *http; /* the default transport, when no seam */
	struct mtk_runtime_transport transport;
	struct mtk_clock clock;
	const char *prefix;
	int64_t connect_timeout_ms, request_timeout_ms, backoff_base_ms, backoff_max_ms;
	int64_t metadata_retry_ms, metadata_next_ms;
	int next_attempts;
	struct mtk_client *metadata; /* the fallback's client, once needed */
	bool own_metadata;
	/* The /next URL to send right behind a POST (the default transport
	 * only), when another invocation is to be asked for; NULL: none. */
	const char *then_next;
};

static const struct mtk_testing_runtime_seams no_seams = { 0 };

/* The first struct mtk_runtime_options with a struct_size. */
#define OPTIONS_V1_SIZE                                                                            \
	(offsetof(struct mtk_runtime_options, testing) +                                           \
	 sizeof(const struct mtk_testing_runtime_seams *))

static void say(const struct loop *l, const char *fmt, ...) MTK_PRINTF_(2, 3);
static void say(const struct loop *l, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (l->seams->log)
		l->seams->log(l->seams->log_arg, line);
	else
		fprintf(stderr, "%s: %s\n", l->prefix, line);
}

/* A header value fit for a log line: printable, at most 64 bytes. */
static const char *loggable(const char *s, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < cap && i < 64; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* The transport's failures in the runtime's words (mtk_strerror() speaks
 * of the metadata service). */
static const char *failure(enum mtk_status st)
{
	switch (st) {
	case MTK_ERR_CONNECT:
		return "cannot connect (is the Runtime API there?)";
	case MTK_ERR_TIMEOUT:
		return "no answer in time";
	case MTK_ERR_BODY_TOO_LARGE:
		return "the answer is too large";
	case MTK_ERR_NO_MEMORY:
		return "out of memory";
	default:
		return "HTTP transport error";
	}
}

/* --- HTTP ------------------------------------------------------------ */

static void answer_release(struct answer *a)
{
	size_t i;

	for (i = 0; i < H_COUNT_; i++) {
		/* The token header is a secret. */
		if (a->headers[i] && i == H_TOKEN)
			mtk__wipe(a->headers[i], strlen(a->headers[i]));
		free(a->headers[i]);
	}
	free(a->body);
	memset(a, 0, sizeof(*a));
}

static int on_header(void *arg, const char *name, size_t name_len, const char *value,
                     size_t value_len)
{
	struct answer *a = arg;
	size_t i;

	for (i = 0; i < H_COUNT_; i++)
		if (strlen(header_names[i]) == name_len &&
		    strncasecmp(header_names[i], name, name_len) == 0)
			break;
	if (i == H_COUNT_ || a->headers[i])
		return 0; /* not ours, or a repeat: the first one counts */
	if (value_len > MAX_HEADER_BYTES - a->header_bytes)
		return -1;
	if (!(a->headers[i] = strndup(value, value_len)))
		return -1;
	a->header_bytes += value_len;
	return 0;
}

static int on_body(void *arg, const char *data, size_t len)
{
	struct answer *a = arg;
	size_t want, cap;
	char *grown;

	if (len > a->max - a->len) {
		if (!a->truncate)
			return -1;
		len = a->max - a->len;
	}
	if (!len)
		return 0;
	want = a->len + len + 1; /* and a NUL */
	if (want > a->cap) {
		for (cap = a->cap ? a->cap : 4096; cap < want; cap *= 2)
			;
		if (cap > a->max + 1)
			cap = a->max + 1;
		if (!(grown = realloc(a->body, cap)))
			return -1;
		a->body = grown;
		a->cap = cap;
	}
	memcpy(a->body + a->len, data, len);
	a->len += len;
	a->body[a->len] = '\0';
	return 0;
}

static enum mtk_status perform(struct loop *l, const char *method, const char *url,
                               const char *const *headers, const char *body, size_t body_len,
                               int64_t timeout_ms, struct answer *a, long *status)
{
	const struct mtk_runtime_request req = {
		.method = method,
		.url = url,
		.headers = headers,
		.body = body,
		.body_len = body_len,
		.connect_timeout_ms = l->connect_timeout_ms,
		.timeout_ms = timeout_ms,
	};
	const struct mtk_runtime_sink sink = { .header = on_header, .body = on_body, .arg = a };

	*status = 0;
	if (l->http && l->then_next && strcmp(method, "POST") == 0)
		return mtk__rthttp_perform_then(l->http, &req, &sink, status, l->then_next);
	return l->transport.perform(l->transport.arg, &req, &sink, status);
}

/*
 * POSTs body to url; error_type, when not NULL, goes into the
 * Lambda-Runtime-Function-Error-Type header. Failures are logged: the loop
 * goes on whatever happened.
 */
static enum mtk_status post(struct loop *l, const char *url, const char *body, size_t len,
                            const char *error_type)
{
	char type_header[200];
	const char *headers[] = { "Content-Type: application/json", NULL, NULL };
	struct answer a = { .max = MAX_ANSWER_KEPT, .truncate = true };
	enum mtk_status st;
	long status;

	if (error_type) {
		snprintf(type_header, sizeof(type_header), "Lambda-Runtime-Function-Error-Type: %s",
		         error_type);
		headers[1] = type_header;
	}
	st = perform(l, "POST", url, headers, body, len, l->request_timeout_ms, &a, &status);
	if (st != MTK_OK)
		say(l, "POST %s: %s", url, failure(st));
	else if (status < 200 || status > 299)
		say(l, "POST %s: HTTP %ld: %s", url, status, a.body ? a.body : "(no body)");
	if (st == MTK_OK && (status < 200 || status > 299))
		st = MTK_ERR_HTTP_UNEXPECTED;
	answer_release(&a);
	return st;
}

static enum mtk_status post_error(struct loop *l, const char *url, const char *type,
                                  const char *message)
{
	char *doc = mtk__error_document(type, message);
	enum mtk_status st;

	if (!doc) {
		say(l, "POST %s: out of memory for the error document", url);
		return MTK_ERR_NO_MEMORY;
	}
	st = post(l, url, doc, strlen(doc), type);
	cJSON_free(doc);
	return st;
}

/* --- set-up ---------------------------------------------------------- */

static int64_t pick(int64_t v, int64_t def)
{
	return v > 0 ? v : def;
}

static void loop_release(struct loop *l)
{
	if (l->own_metadata)
		mtk_client_free(l->metadata);
	mtk__rthttp_free(l->http);
	free(l->base);
}

/* Fills l from opts. MTK_ERR_BAD_ENVIRONMENT (logged) without an address. */
static enum mtk_status loop_init(struct loop *l, const struct mtk_runtime_options *opts)
{
	const struct mtk_clock *clock;
	const char *api;
	enum mtk_status st;

	memset(l, 0, sizeof(*l));
	l->own = (struct mtk_runtime_options)MTK_RUNTIME_OPTIONS_INIT;
	l->opts = &l->own;
	l->seams = &no_seams;
	l->prefix = "metatoken-runtime";
	if (opts && mtk__options_read(opts, opts->struct_size, OPTIONS_V1_SIZE, &l->own,
	                              sizeof(l->own)) != MTK_OK) {
		say(l,
		    "struct mtk_runtime_options: struct_size %zu: start from "
		    "MTK_RUNTIME_OPTIONS_INIT",
		    opts->struct_size);
		return MTK_ERR_BAD_STRUCT_SIZE;
	}
	opts = l->opts;
	if (opts->testing)
		l->seams = opts->testing;
	l->prefix = opts->log_prefix ? opts->log_prefix : "metatoken-runtime";
	l->connect_timeout_ms = pick(opts->connect_timeout_ms, 1000);
	l->request_timeout_ms = pick(opts->request_timeout_ms, 10000);
	l->backoff_base_ms = pick(opts->backoff_base_ms, 100);
	l->backoff_max_ms = pick(opts->backoff_max_ms, 2000);
	l->metadata_retry_ms = pick(opts->metadata_retry_ms, 30000);
	l->next_attempts = opts->next_attempts > 0 ? opts->next_attempts : 5;
	l->metadata = opts->metadata_client;
	clock = l->seams->clock;
	l->clock.monotonic_ms =
	    clock && clock->monotonic_ms ? clock->monotonic_ms : mtk__monotonic_ms;
	l->clock.sleep_ms = clock && clock->sleep_ms ? clock->sleep_ms : mtk__sleep_ms;
	l->clock.arg = clock ? clock->arg : NULL;

	api = opts->runtime_api ? opts->runtime_api : getenv("AWS_LAMBDA_RUNTIME_API");
	if (!api || !*api) {
		say(l, "no Runtime API address: set AWS_LAMBDA_RUNTIME_API to host:port");
		return MTK_ERR_BAD_ENVIRONMENT;
	}
	if (mtk__endpoint_parse(api, &l->base) != MTK_OK) {
		say(l, "AWS_LAMBDA_RUNTIME_API: must be host:port (got \"%s\")", api);
		return MTK_ERR_BAD_ENVIRONMENT;
	}
	if (l->seams->transport) {
		l->transport = *l->seams->transport;
	} else {
		if ((st = mtk__rthttp_new(&l->http)) != MTK_OK) {
			say(l, "cannot start the HTTP transport: %s", failure(st));
			return st;
		}
		l->transport.perform = mtk__rthttp_perform;
		l->transport.arg = l->http;
	}
	return MTK_OK;
}

static enum mtk_status vinit_error(struct loop *l, const char *type, const char *fmt, va_list ap)
{
	struct mtk_result r = { 0 };
	char url[1024];
	enum mtk_status st;

	mtk__result_verror(&r, type, fmt, ap);
	say(l, "init error: %s: %s", r.type, r.message ? r.message : "(no memory for the message)");
	snprintf(url, sizeof(url), "%s" INIT_ERROR_PATH, l->base);
	st = post_error(l, url, r.type, r.message);
	mtk__result_release(&r);
	return st;
}

enum mtk_status mtk_runtime_init_error(const struct mtk_runtime_options *opts, const char *type,
                                       const char *fmt, ...)
{
	struct loop l;
	enum mtk_status st;
	va_list ap;

	if (!fmt)
		return MTK_ERR_INVALID_ARGUMENT;
	va_start(ap, fmt);
	st = loop_init(&l, opts);
	if (st == MTK_OK) {
		st = vinit_error(&l, type, fmt, ap);
	} else {
		/* No Runtime API to tell: the log is all there is. */
		struct mtk_result r = { 0 };

		mtk__result_verror(&r, type, fmt, ap);
		say(&l, "init error: %s: %s", r.type, r.message ? r.message : "");
		mtk__result_release(&r);
	}
	va_end(ap);
	loop_release(&l);
	return st;
}

static enum mtk_status init_error(struct loop *l, const char *type, const char *fmt, ...)
    MTK_PRINTF_(3, 4);
static enum mtk_status init_error(struct loop *l, const char *type, const char *fmt, ...)
{
	enum mtk_status st;
	va_list ap;

	va_start(ap, fmt);
	st = vinit_error(l, type, fmt, ap);
	va_end(ap);
	return st;
}

/* --- one invocation -------------------------------------------------- */

/* A positive decimal integer that fits, or -1. */
static int64_t positive(const char *s)
{
	int64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v > 0 ? v : -1;
}

/* Whether id can go into a URL path as it is: RFC 3986 unreserved bytes. */
static bool request_id_ok(const char *id)
{
	size_t i;

	if (!id || !*id || strlen(id) > MAX_REQUEST_ID)
		return false;
	for (i = 0; id[i]; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || strchr("-._~", id[i])))
			return false;
	return true;
}

/*
 * The token when /next sent none: from the metadata service, as on AWS.
 * After a failure the next try waits metadata_retry_ms.
 */
static void token_from_metadata(struct loop *l, struct mtk_context *ctx)
{
	int64_t now = l->clock.monotonic_ms(l->clock.arg);
	enum mtk_status st;
	char why[300] = "";

	if (l->opts->no_metadata_token || now < l->metadata_next_ms)
		return;
	if (!l->metadata) {
		const struct mtk_testing_seams seams = { .clock = l->seams->clock };
		const struct mtk_client_options co = {
			.struct_size = sizeof(co),
			.connect_timeout_ms = 250,
			.request_timeout_ms = 1000,
			.fetch_budget_ms = 2000,
			.max_attempts = 2,
			.flavour = MTK_FLAVOUR_GCE,
			.testing = &seams,
		};

		if ((st = mtk_client_new(&co, &l->metadata)) != MTK_OK) {
			say(l, "no metadata client (%s): invocations run without a token",
			    mtk_strerror(st));
			l->metadata = NULL;
			l->metadata_next_ms = INT64_MAX;
			return;
		}
		l->own_metadata = true;
	}
	st = mtk_context_inject_token(ctx, l->metadata);
	if (st == MTK_OK)
		return;
	l->metadata_next_ms = now + l->metadata_retry_ms;
	/* No service account is normal: a function may have none. */
	if (st != MTK_ERR_NO_SUCH_ACCOUNT) {
		mtk_client_last_error(l->metadata, why, sizeof(why));
		say(l, "no token from the metadata service (%s): the handler runs without one",
		    why[0] ? why : mtk_strerror(st));
	}
}

/* The context of the invocation in a; NULL (logged) when out of memory. */
static struct mtk_context *build_context(struct loop *l, const struct answer *a)
{
	char *const *h = a->headers;
	char shown[80];
	struct mtk_context_overrides ov = {
		.function_name = h[H_FUNCTION_NAME],
		.function_version = h[H_FUNCTION_VERSION],
		.log_group_name = h[H_LOG_GROUP],
		.request_id = h[H_REQUEST_ID],
		.aws_request_id = h[H_REQUEST_ID],
		.invoked_function_arn = h[H_ARN],
	};
	struct mtk_context *ctx = NULL;
	enum mtk_status st;

	if (h[H_MEMORY] && (ov.memory_limit_in_mb = positive(h[H_MEMORY])) < 0) {
		say(l, "%s: not a positive integer (got \"%s\"): ignored", header_names[H_MEMORY],
		    loggable(h[H_MEMORY], shown, sizeof(shown)));
		ov.memory_limit_in_mb = 0;
	}
	if (h[H_DEADLINE] && (ov.deadline_ms = positive(h[H_DEADLINE])) < 0) {
		say(l, "%s: not a positive integer (got \"%s\"): no deadline",
		    header_names[H_DEADLINE], loggable(h[H_DEADLINE], shown, sizeof(shown)));
		ov.deadline_ms = 0;
	}
	if ((st = mtk_context_from_env(&ov, &ctx)) != MTK_OK ||
	    (st = mtk_context_set_trace_id(ctx, h[H_TRACE])) != MTK_OK)
		goto out_fail;
	if (h[H_CLIENT_CONTEXT] &&
	    (st = mtk_context_set_client_context_json(ctx, h[H_CLIENT_CONTEXT])) != MTK_OK) {
		if (st != MTK_ERR_BAD_JSON)
			goto out_fail;
		say(l, "%s: not a client context document: ignored",
		    header_names[H_CLIENT_CONTEXT]);
	}
	if (h[H_COGNITO] && (st = mtk_context_set_identity_json(ctx, h[H_COGNITO])) != MTK_OK) {
		if (st != MTK_ERR_BAD_JSON)
			goto out_fail;
		say(l, "%s: not an identity document: ignored", header_names[H_COGNITO]);
	}
	if (h[H_TOKEN]) {
		/* Unparsable means no token, as Yandex's runtimes have it. */
		st = mtk_context_set_token_json(ctx, h[H_TOKEN]);
		if (st == MTK_ERR_NO_MEMORY)
			goto out_fail;
		if (st != MTK_OK)
			say(l, "%s: %s: the handler runs without a token", header_names[H_TOKEN],
			    mtk_strerror(st));
	} else {
		token_from_metadata(l, ctx);
	}
	return ctx;

out_fail:
	say(l, "cannot build the context: %s", mtk_strerror(st));
	mtk_context_free(ctx);
	return NULL;
}

/* Sets $_X_AMZN_TRACE_ID to this invocation's trace header, or unsets it. */
static void set_trace_env(const char *trace)
{
	if (trace)
		setenv("_X_AMZN_TRACE_ID", trace, 1);
	else
		unsetenv("_X_AMZN_TRACE_ID");
}

/* Runs the handler on the invocation in a and posts what it returned. */
static void invoke(struct loop *l, struct answer *a, mtk_handler_fn handler, void *arg)
{
	const char *id = a->headers[H_REQUEST_ID];
	struct mtk_result r = { 0 };
	struct mtk_context *ctx;
	char url[1024], shown[80];
	int rc;

	if (!request_id_ok(id)) {
		say(l, "GET %s" NEXT_PATH ": %s (got \"%s\"): invocation skipped", l->base,
		    id ? "unusable Lambda-Runtime-Aws-Request-Id"
		       : "no Lambda-Runtime-Aws-Request-Id",
		    id ? loggable(id, shown, sizeof(shown)) : "");
		return;
	}
	set_trace_env(a->headers[H_TRACE]);
	if (!(ctx = build_context(l, a))) {
		mtk__result_error(&r, "Runtime.OutOfMemory",
		                  "the runtime could not build the context");
	} else {
		rc = handler(a->body ? a->body : "", a->len, ctx, &r, arg);
		if (!r.is_error && rc != 0)
			mtk__result_error(&r, "Runtime.HandlerFailed",
			                  "the handler returned %d without setting an error", rc);
		else if (!r.set)
			mtk__result_error(
			    &r, "Runtime.NoResult",
			    "the handler returned without a result: call mtk_result_set() "
			    "or mtk_result_error()");
	}
	if (r.is_error) {
		snprintf(url, sizeof(url), "%s" INVOCATION_PATH "%s/error", l->base, id);
		post_error(l, url, r.type, r.message);
	} else {
		snprintf(url, sizeof(url), "%s" INVOCATION_PATH "%s/response", l->base, id);
		post(l, url, r.body ? r.body : "", r.len, NULL);
	}
	mtk__result_release(&r);
	mtk_context_free(ctx);
}

/* --- the loop -------------------------------------------------------- */

static int64_t backoff(const struct loop *l, int failures)
{
	int64_t ms = l->backoff_base_ms;

	while (--failures > 0 && ms < l->backoff_max_ms)
		ms *= 2;
	return ms < l->backoff_max_ms ? ms : l->backoff_max_ms;
}

/* Whether the loop asks for another invocation after `done`. */
static bool more(const struct loop *l, uint64_t done)
{
	return !l->opts->max_invocations || done < l->opts->max_invocations;
}

enum mtk_status mtk_runtime_run(const struct mtk_runtime_options *opts, mtk_handler_fn handler,
                                void *arg)
{
	struct mtk_context *probe = NULL;
	size_t max_event;
	enum mtk_status st;
	uint64_t done = 0;
	char url[1024];
	int failures = 0;
	long status;
	struct loop l;

	if (!handler)
		return MTK_ERR_INVALID_ARGUMENT;
	if ((st = loop_init(&l, opts)) != MTK_OK)
		goto out;
	max_event = l.opts->max_event_bytes ? l.opts->max_event_bytes : MTK_RUNTIME_MAX_EVENT;
	/* A broken environment fails every invocation alike: say so once, as
	 * an init error, rather than per invocation. */
	if (mtk_context_from_env(NULL, &probe) != MTK_OK) {
		init_error(
		    &l, "Runtime.InvalidEnvironment",
		    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE: must be a positive integer (got \"%s\")",
		    getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
		st = MTK_ERR_BAD_ENVIRONMENT;
		goto out;
	}
	mtk_context_free(probe);
	snprintf(url, sizeof(url), "%s" NEXT_PATH, l.base);

	while (more(&l, done)) {
		struct answer a = { .max = max_event };

		st = perform(&l, "GET", url, NULL, NULL, 0, 0, &a, &status);
		if (st == MTK_OK && status == 418) {
			/* Yandex: the worker is not ready yet; not a failure. */
			answer_release(&a);
			l.clock.sleep_ms(l.clock.arg, NOT_READY_MS);
			continue;
		}
		if (st == MTK_ERR_BODY_TOO_LARGE && request_id_ok(a.headers[H_REQUEST_ID])) {
			/* The invocation exists; its caller learns why it failed. */
			char eurl[1024];

			snprintf(eurl, sizeof(eurl), "%s" INVOCATION_PATH "%s/error", l.base,
			         a.headers[H_REQUEST_ID]);
			say(&l, "GET %s: the event is larger than %zu bytes", url, max_event);
			done++;
			l.then_next = more(&l, done) ? url : NULL;
			post_error(&l, eurl, "Runtime.EventTooLarge",
			           "the event is larger than the runtime's limit");
			answer_release(&a);
			l.then_next = NULL;
			failures = 0;
			continue;
		}
		if (st == MTK_OK && status == 200) {
			failures = 0;
			done++;
			l.then_next = more(&l, done) ? url : NULL;
			invoke(&l, &a, handler, arg);
			l.then_next = NULL;
			answer_release(&a);
			continue;
		}
		if (st == MTK_OK) {
			say(&l, "GET %s: HTTP %ld: %.200s", url, status,
			    a.body ? a.body : "(no body)");
			st = MTK_ERR_HTTP_UNEXPECTED;
		} else {
			say(&l, "GET %s: %s", url, failure(st));
		}
		answer_release(&a);
		if (++failures >= l.next_attempts) {
			say(&l, "giving up: the Runtime API at %s failed %d times in a row", l.base,
			    failures);
			goto out;
		}
		l.clock.sleep_ms(l.clock.arg, backoff(&l, failures));
	}
	st = MTK_OK;
out:
	loop_release(&l);
	return st;
}
