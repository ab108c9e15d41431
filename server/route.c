/*
 * The route table and the dispatcher (route.h). Adding a flavour is one
 * file of handlers and rows in this table.
 */
#include "route.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws.h"
#include "control.h"
#include "gce.h"
#include "http_invoke.h"
#include "iam.h"
#include "identity.h"
#include "invoke_api.h"
#include "metrics.h"
#include "ops.h"
#include "function.h"
#include "runtime_api.h"
#include "reply.h"
#include "server.h"
#include "sts.h"

#define ALL_METHODS                                                                                \
	(METHOD_GET | METHOD_HEAD | METHOD_POST | METHOD_PUT | METHOD_PATCH | METHOD_DELETE |      \
	 METHOD_OTHER)
#define GET_HEAD (METHOD_GET | METHOD_HEAD)

/* What a proxy or captive portal answers: not the JSON the client expects. */
static const char malformed_body[] =
    "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>\n";

/* ---- the flavours ---- */

/* GCE/Yandex metadata (gce.c): Metadata-Flavor required and answered. */
static const struct flavour gce = {
	.name = "gce",
	.content_type = CT_TEXT,
	.not_found = "not found\n",
	.not_allowed = "method not allowed\n",
	.admit = gce_admit,
	.decorate = gce_decorate,
	.ended = gce_ended,
};
/* The root ping and paths no flavour claims: they answer like GCE (a GCE
 * client probing is the likeliest caller), with no header required. */
static const struct flavour gce_open = {
	.name = "gce",
	.content_type = CT_TEXT,
	.not_found = "not found\n",
	.not_allowed = "method not allowed\n",
	.decorate = gce_decorate,
};
/* AWS IMDS (aws.c): the session token checked on every GET. */
static const struct flavour imds = {
	.name = "imds",
	.flags = FLAVOUR_SLASH_OPTIONAL,
	.content_type = CT_PLAIN,
	.not_found = "Not Found\n",
	.not_allowed = "Method Not Allowed\n",
	.admit = aws_imds_admit,
	.decorate = aws_imds_decorate,
};
/* The IMDSv2 session PUT: no session needed to ask for one. */
static const struct flavour imds_session = {
	.name = "imds",
	.content_type = CT_PLAIN,
	.not_found = "Not Found\n",
	.not_allowed = "Method Not Allowed\n",
	.decorate = aws_imds_decorate,
};
/* The container credentials endpoint (aws.c). */
static const struct flavour container = {
	.name = "container",
	.content_type = CT_PLAIN,
	.not_found = "not found\n",
	.not_allowed = "method not allowed\n",
};
/*
 * Stand-ins for the cloud APIs a token is for (validate.c, identity.c).
 * They accept X-Forwarded-For: a real cloud API sits behind proxies that
 * add it, and these paths hand out no credential.
 */
static const struct flavour cloud_api = {
	.name = "api",
	.flags = FLAVOUR_ALLOW_XFF,
	.content_type = CT_PLAIN,
	.not_found = "not found\n",
	.not_allowed = "method not allowed\n",
};
/* The STS stand-in (sts.c): SigV4-signed, AWS's error shapes. Like the
 * cloud APIs above it accepts X-Forwarded-For and hands out nothing. */
static const struct flavour sts = {
	.name = "sts",
	.flags = FLAVOUR_ALLOW_XFF,
	.content_type = CT_PLAIN,
	.not_found = "not found\n",
	.not_allowed = "method not allowed\n",
	.error = sts_flavour_error,
};
/* The Yandex IAM API stand-in (iam.c): the JWT exchange, no metadata
 * header (a real client calls it over the internet), Yandex's error shape.
 * It hands out credentials, so X-Forwarded-For is refused. */
static const struct flavour iam = {
	.name = "iam",
	.content_type = CT_JSON,
	.not_found = "no such IAM API path",
	.not_allowed = "method not allowed",
	.error = iam_flavour_error,
};
/* The control API (control.c): the admin secret, JSON errors, no faults. */
static const struct flavour control = {
	.name = "control",
	.flags = FLAVOUR_JSON_ERRORS | FLAVOUR_NO_FAULTS,
	.content_type = CT_JSON,
	.not_found = "no such control endpoint",
	.not_allowed = "method not allowed here",
	.admit = control_admit,
};

/* The Lambda Runtime API (runtime_api.c): what a function's runtime polls. */
static const struct flavour runtime_api = {
	.name = "runtime",
	.content_type = CT_JSON,
	.not_found = "no such Runtime API path\n",
	.not_allowed = "method not allowed\n",
	.error = runtime_api_flavour_error,
	.ended = runtime_api_ended,
};
/* The Lambda Invoke API (invoke_api.c). */
static const struct flavour invoke_api = {
	.name = "invoke",
	.content_type = CT_JSON,
	.not_found = "no such Invoke API path\n",
	.not_allowed = "method not allowed\n",
	.error = invoke_api_flavour_error,
	.ended = function_invoker_ended,
};

/*
 * HTTP calls into a function, Yandex style (http_invoke.c): a web endpoint
 * a browser calls, so no metadata header is required. X-Forwarded-For is
 * accepted and passed on, as a function URL behind a proxy gets it: the
 * caller receives the function's answer, never a credential of its own.
 */
static const struct flavour http_fn = {
	.name = "function",
	.flags = FLAVOUR_ALLOW_XFF,
	.content_type = CT_JSON,
	.not_found = "no function name in the path: /functions/<name>\n",
	.not_allowed = "method not allowed\n",
	.error = http_invoke_flavour_error,
	.ended = function_invoker_ended,
};

/* Metrics and health (ops.c): for a scraper and a supervisor, with no
 * metadata header, no faults and no X-Forwarded-For. */
static const struct flavour ops = {
	.name = "ops",
	.flags = FLAVOUR_NO_FAULTS,
	.content_type = CT_PLAIN,
	.not_found = "not found\n",
	.not_allowed = "method not allowed\n",
};

/* ---- the table ---- */

#define CONTROL "/metatoken/v1"
#define IMDS    "/latest/meta-data"

/*
 * Everything metatokend answers, in the order it is matched: the first row
 * whose pattern and method match serves the request. A row with no
 * handler is its flavour's fallback: 404 in the flavour's shape, after
 * its rules. The GCE tree (gce.c) is walked from its one row: its paths
 * are the configuration's data.
 */
static const struct route routes[] = {
	/* GCE and Yandex metadata. google-auth pings / for 200 and the
	 * Metadata-Flavor response header. */
	{ GET_HEAD, "/computeMetadata/**", &gce, gce_handle, 0 },
	{ GET_HEAD, "/computeMetadata", &gce, gce_handle, 0 },
	{ GET_HEAD, "/", &gce_open, gce_handle_root, 0 },
	/* STS (GetCallerIdentity): an SDK with endpoint_url = this server
	 * POSTs to /, which the GCE ping only GETs. */
	{ METHOD_POST, "/", &sts, sts_handle, 0 },
	/* AWS IMDS: the session, then the tree. */
	{ METHOD_PUT, "/latest/api/token", &imds_session, aws_session_put, 0 },
	{ GET_HEAD, IMDS "/iam/security-credentials/*", &imds, aws_imds_creds, 0 },
	{ GET_HEAD, "/latest", &imds, aws_imds_leaf, AWS_LEAF_ROOT },
	{ GET_HEAD, IMDS, &imds, aws_imds_leaf, AWS_LEAF_META },
	{ GET_HEAD, IMDS "/hostname", &imds, aws_imds_leaf, AWS_LEAF_HOSTNAME },
	{ GET_HEAD, IMDS "/local-hostname", &imds, aws_imds_leaf, AWS_LEAF_HOSTNAME },
	{ GET_HEAD, IMDS "/instance-id", &imds, aws_imds_leaf, AWS_LEAF_INSTANCE_ID },
	{ GET_HEAD, IMDS "/local-ipv4", &imds, aws_imds_leaf, AWS_LEAF_LOCAL_IPV4 },
	{ GET_HEAD, IMDS "/placement", &imds, aws_imds_leaf, AWS_LEAF_PLACEMENT },
	{ GET_HEAD, IMDS "/placement/availability-zone", &imds, aws_imds_leaf, AWS_LEAF_ZONE },
	{ GET_HEAD, IMDS "/placement/region", &imds, aws_imds_leaf, AWS_LEAF_REGION },
	{ GET_HEAD, IMDS "/iam", &imds, aws_imds_leaf, AWS_LEAF_IAM },
	{ GET_HEAD, IMDS "/iam/info", &imds, aws_imds_leaf, AWS_LEAF_IAM_INFO },
	{ GET_HEAD, IMDS "/iam/security-credentials", &imds, aws_imds_leaf, AWS_LEAF_ROLE },
	{ GET_HEAD, "/latest/dynamic", &imds, aws_imds_leaf, AWS_LEAF_DYNAMIC },
	{ GET_HEAD, "/latest/dynamic/instance-identity", &imds, aws_imds_leaf,
	  AWS_LEAF_IDENTITY_DIR },
	{ GET_HEAD, "/latest/dynamic/instance-identity/document", &imds, aws_imds_leaf,
	  AWS_LEAF_IDENTITY_DOC },
	/* Yandex's identity document, EC2-style (PROTOCOL.md §1). */
	{ GET_HEAD, "/latest/vendor/instance-identity/document", &imds, gce_vendor_document, 0 },
	{ 0, "/latest/**", &imds, NULL, 0 },
	{ GET_HEAD, AWS_CONTAINER_PATH, &container, aws_handle_container, 0 },
	/* Stand-ins for the cloud APIs a token is for. */
	{ GET_HEAD, "/tokeninfo", &cloud_api, validate_handle_tokeninfo, 0 },
	{ ALL_METHODS, "/protected/**", &cloud_api, validate_handle_protected, 0 },
	{ GET_HEAD, "/oauth2/v1/certs", &cloud_api, identity_handle_certs_v1, 0 },
	{ GET_HEAD, "/oauth2/v3/certs", &cloud_api, identity_handle_certs, 0 },
	/* Yandex IAM: a JWT signed with an authorized key for a token. */
	{ METHOD_POST, "/iam/v1/tokens", &iam, iam_tokens_post, 0 },
	{ 0, "/iam/**", &iam, NULL, 0 },
	/* Functions: the Runtime API a runtime polls, the Invoke API, and
	 * HTTP calls into a function. */
	{ METHOD_GET, RUNTIME_PREFIX "/invocation/next", &runtime_api, runtime_next,
	  RUNTIME_LEAF_NEXT },
	{ METHOD_POST, RUNTIME_PREFIX "/invocation/*/response", &runtime_api, runtime_response, 0 },
	{ METHOD_POST, RUNTIME_PREFIX "/invocation/*/error", &runtime_api, runtime_error, 0 },
	{ METHOD_POST, RUNTIME_PREFIX "/init/error", &runtime_api, runtime_init_error, 0 },
	{ 0, "/2018-06-01/**", &runtime_api, NULL, 0 },
	{ METHOD_POST, INVOKE_PREFIX "/*/invocations", &invoke_api, invoke_post, 0 },
	{ 0, "/2015-03-31/**", &invoke_api, NULL, 0 },
	{ ALL_METHODS, HTTP_INVOKE_PREFIX "/*", &http_fn, http_invoke_handle, 0 },
	{ ALL_METHODS, HTTP_INVOKE_PREFIX "/*/**", &http_fn, http_invoke_handle, 0 },
	{ 0, HTTP_INVOKE_PREFIX "/**", &http_fn, NULL, 0 },
	/* The control API: separate from every metadata path. A `*` is an
	 * account (`default`, its email or id) or a fault rule's id. */
	{ METHOD_GET, CONTROL "/accounts", &control, control_accounts_list, 0 },
	{ METHOD_GET, CONTROL "/accounts/*", &control, control_account_get, 0 },
	{ METHOD_PATCH, CONTROL "/accounts/*", &control, control_account_patch, 0 },
	{ METHOD_POST, CONTROL "/accounts/*/expire", &control, control_account_expire, 0 },
	{ METHOD_POST, CONTROL "/accounts/*/revoke", &control, control_account_revoke, 0 },
	{ METHOD_POST, CONTROL "/accounts/*/rotate", &control, control_account_rotate, 0 },
	{ METHOD_GET, CONTROL "/accounts/*/keys", &control, control_account_keys_get, 0 },
	{ METHOD_POST, CONTROL "/accounts/*/keys", &control, control_account_keys_post, 0 },
	{ METHOD_GET, CONTROL "/clock", &control, control_clock_get, 0 },
	{ METHOD_POST, CONTROL "/clock", &control, control_clock_post, 0 },
	{ METHOD_GET, CONTROL "/faults", &control, control_faults_get, 0 },
	{ METHOD_POST, CONTROL "/faults", &control, control_faults_post, 0 },
	{ METHOD_DELETE, CONTROL "/faults", &control, control_faults_delete, 0 },
	{ METHOD_DELETE, CONTROL "/faults/*", &control, control_fault_delete, 0 },
	{ METHOD_GET, CONTROL "/instance", &control, control_instance_get, 0 },
	{ METHOD_PATCH, CONTROL "/instance", &control, control_instance_patch, 0 },
	{ METHOD_GET, CONTROL "/project", &control, control_project_get, 0 },
	{ METHOD_PATCH, CONTROL "/project", &control, control_project_patch, 0 },
	{ METHOD_GET, CONTROL "/stats", &control, control_stats_get, 0 },
	{ METHOD_POST, CONTROL "/reset", &control, control_reset_post, 0 },
	{ 0, CONTROL "/**", &control, NULL, 0 },
	/* Operations: metrics, liveness, readiness. */
	{ GET_HEAD, "/metrics", &ops, ops_metrics, 0 },
	{ GET_HEAD, "/healthz", &ops, ops_healthz, 0 },
	{ GET_HEAD, "/readyz", &ops, ops_readyz, 0 },
	/* Anything else. */
	{ 0, "/**", &gce_open, NULL, 0 },
};

size_t route_rows(void)
{
	return sizeof(routes) / sizeof(routes[0]);
}

const char *route_pattern(size_t row)
{
	return row < route_rows() ? routes[row].pattern : NULL;
}

/* ---- matching ---- */

int route_match(const char *pattern, const char *path, size_t path_len, const char **arg,
                size_t *arg_len)
{
	const char *end = path + path_len;
	size_t n_args = 0;

	while (*pattern) {
		if (pattern[0] == '/' && pattern[1] == '*' && pattern[2] == '*' && !pattern[3])
			/* A subtree: "/a/ **" matches "/a/" and all below, not "/a". */
			return path < end && *path == '/';
		if (*pattern == '*') {
			size_t len = 0;

			while (path + len < end && path[len] != '/')
				len++;
			if (len == 0 || n_args == ROUTE_ARGS_MAX)
				return 0;
			arg[n_args] = path;
			arg_len[n_args++] = len;
			path += len;
			pattern++;
			continue;
		}
		if (path == end || *pattern != *path)
			return 0;
		pattern++;
		path++;
	}
	return path == end;
}

/*
 * Finds the route: the first row whose pattern and method match. When the
 * method matches no row of the path, *by_path is the first row with a
 * handler whose pattern matches and *allow the methods of all of them
 * (for a 405); else the first matching row with no handler is its
 * flavour's fallback. Returns the route to run.
 */
static const struct route *find(struct request *rq, unsigned *allow)
{
	size_t len = strlen(rq->path);
	const struct route *by_path = NULL, *fallback = NULL;

	*allow = 0;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		const char *arg[ROUTE_ARGS_MAX];
		size_t arg_len[ROUTE_ARGS_MAX], n = len;

		/* One trailing slash is ignored where the flavour says so (IMDS
		 * directories answer with or without one). */
		if ((r->flavour->flags & FLAVOUR_SLASH_OPTIONAL) && n > 1 && rq->path[n - 1] == '/')
			n--;
		if (!route_match(r->pattern, rq->path, n, arg, arg_len))
			continue;
		if (!r->handle) {
			if (!fallback)
				fallback = r;
			continue;
		}
		if (r->methods & rq->method_bit) {
			*allow = 0;
			memcpy(rq->arg, arg, sizeof(arg));
			memcpy(rq->arg_len, arg_len, sizeof(arg_len));
			return r;
		}
		*allow |= r->methods;
		if (!by_path)
			by_path = r;
	}
	/* A path no row matches (one without a leading '/', which
	 * libmicrohttpd lets through) is the last row's: anything else. */
	if (!by_path && !fallback)
		fallback = &routes[sizeof(routes) / sizeof(routes[0]) - 1];
	return by_path ? by_path : fallback;
}

static void allow_header(struct request *rq, unsigned methods)
{
	static const char *const names[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" };
	char buf[64];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (methods & (1u << i))
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", o ? ", " : "",
			                      names[i]);
	reply_header(rq, "Allow", "%s", buf);
}

/* ---- the rules every flavour shares ---- */

static int host_equal(const char *a, size_t len, const char *b)
{
	return strlen(b) == len && strncasecmp(a, b, len) == 0;
}

/* Whether name (len bytes, no port) is a loopback address or name. */
static int loopback_name(const char *name, size_t len)
{
	char buf[64];
	struct in_addr a4;
	struct in6_addr a6;

	if (host_equal(name, len, "localhost"))
		return 1;
	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, name, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, buf, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/*
 * A web page can rebind its own name to 127.0.0.1 and read what this server
 * answers, but its requests still carry its name in Host. So only these
 * are accepted (any case, any port, one trailing dot): loopback names and
 * addresses, the bound address, the names metadata clients use
 * (metadata.google.internal, metadata, 169.254.169.254), and the names the
 * configuration lists in allowed_hosts.
 */
int route_host_allowed(const char *host, const char *bound_host, const char *const *extra,
                       size_t n_extra)
{
	static const char *const known[] = { "metadata.google.internal", "metadata",
		                             "169.254.169.254" };
	const char *name = host;
	size_t len;

	if (*host == '[') {
		/* [v6]:port */
		const char *close = strchr(host, ']');

		if (!close || (close[1] && close[1] != ':'))
			return 0;
		name = host + 1;
		len = (size_t)(close - name);
	} else {
		const char *colon = strchr(host, ':');

		len = colon ? (size_t)(colon - host) : strlen(host);
		if (colon && strchr(colon + 1, ':'))
			return 0; /* a bare IPv6 address is not a Host value */
	}
	if (len > 1 && name[len - 1] == '.')
		len--;
	if (len == 0)
		return 0;
	if (loopback_name(name, len) || (bound_host && host_equal(name, len, bound_host)))
		return 1;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (host_equal(name, len, known[i]))
			return 1;
	for (size_t i = 0; i < n_extra; i++)
		if (host_equal(name, len, extra[i]))
			return 1;
	return 0;
}

/* Replies with an error in the flavour's shape. `text` may end in a
 * newline, which JSON errors leave out. */
static void flavour_error(struct request *rq, const struct flavour *f, unsigned status,
                          const char *text)
{
	if (f->error) {
		f->error(rq, status, text);
		return;
	}
	if (f->flags & FLAVOUR_JSON_ERRORS) {
		cJSON *o = cJSON_CreateObject();
		size_t len = strlen(text);
		char msg[256], *s;

		if (len && text[len - 1] == '\n')
			len--;
		snprintf(msg, sizeof(msg), "%.*s", (int)len, text);
		s = o && cJSON_AddStringToObject(o, "error", msg) ? cJSON_PrintUnformatted(o)
		                                                  : NULL;
		cJSON_Delete(o);
		if (s)
			reply_owned(rq, status, CT_JSON, s, strlen(s));
		else
			reply_static(rq, 500, CT_JSON, "{\"error\":\"out of memory\"}");
		return;
	}
	reply_printf(rq, status, f->content_type, "%s", text);
}

/* Refuses X-Forwarded-For: a request relayed by a proxy on this machine
 * must not obtain credentials (PROTOCOL.md §1, §2). */
static int xff_refused(struct request *rq, const struct flavour *f)
{
	if ((f->flags & FLAVOUR_ALLOW_XFF) || !request_header(rq, "X-Forwarded-For"))
		return 0;
	if (f == &gce || f == &gce_open)
		flavour_error(rq, f, 403,
		              "Request had an X-Forwarded-For header and was rejected.\n");
	else
		flavour_error(rq, f, 403,
		              "Forbidden: X-Forwarded-For is not allowed here (requests relayed by "
		              "a proxy get no credentials)\n");
	return 1;
}

static int host_refused(struct request *rq, const struct flavour *f)
{
	const struct server *srv = rq->srv;
	const char *host = request_header(rq, "Host");
	char msg[256];

	/* HTTP/1.0 (libmicrohttpd refuses an HTTP/1.1 request without one),
	 * or the address clients dial, as most send it: no parsing needed. */
	if (!host || strcmp(host, srv->bound) == 0)
		return 0;
	if (route_host_allowed(host, srv->bound_host, (const char *const *)srv->cfg.allowed_hosts,
	                       srv->cfg.n_allowed_hosts))
		return 0;
	snprintf(msg, sizeof(msg),
	         "Forbidden: Host \"%.64s\" is not a name of this server (a guard against DNS "
	         "rebinding); list it in allowed_hosts in the configuration to use it\n",
	         host);
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\n')
			*p = '?';
	flavour_error(rq, f, 403, msg);
	return 1;
}

/* ---- dispatch ---- */

/* What the last hold of a request was for. */
enum { PHASE_NONE, PHASE_FAULT_HOLD, PHASE_HANDLER_HOLD };

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Counts a request once: in the control API's stats by path, and in the
 * metrics by route pattern (a row with no handler is `unmatched`). */
static void count(struct request *rq)
{
	const struct route *r = rq->route;

	if (!rq->counted) {
		int row = r && r->handle ? (int)(r - routes) : METRICS_UNMATCHED;
		double s = rq->started_us ? (double)(mono_us() - rq->started_us) / 1e6 : -1;

		rq->counted = 1;
		stats_count(&rq->srv->stats, rq->path, rq->status);
		metrics_count(&rq->srv->metrics, row, r ? r->flavour->name : "none", rq->status, s);
	}
}

/* The first run: finds the route and applies the shared rules and the
 * fault rules. Returns 0 when the request is answered (or held) already. */
static int route_first(struct request *rq)
{
	const struct route *r = find(rq, &rq->allow);
	const struct flavour *f = r->flavour;

	rq->started_us = mono_us();
	rq->routed = 1;
	rq->route = r;
	rq->log_route = r->pattern;
	rq->leaf = r->leaf;
	if (rq->refuse_status) {
		flavour_error(rq, f, rq->refuse_status, rq->refuse_text);
		if (rq->refuse_retry_after_s > 0)
			reply_header(rq, "Retry-After", "%lld",
			             (long long)rq->refuse_retry_after_s);
		return 0;
	}
	if (host_refused(rq, f))
		return 0;
	/* Fault injection, for everything but the control API. A latency
	 * fault holds the request first. */
	if (!(f->flags & FLAVOUR_NO_FAULTS) &&
	    faults_match(&rq->srv->faults, rq->method, rq->path, &rq->fault)) {
		rq->has_fault = 1;
		if (rq->fault.latency_ms > 0) {
			rq->phase = PHASE_FAULT_HOLD;
			rq->hold_ms = rq->fault.latency_ms;
			return 0;
		}
	}
	return 1;
}

/* Runs the route found: the fault's answer, a 405, the flavour's rules,
 * the handler or the fallback's 404. */
static void run(struct request *rq)
{
	const struct route *r = rq->route;
	const struct flavour *f = r->flavour;

	if (rq->has_fault && rq->fault.drop) {
		rq->drop = 1;
		return;
	}
	if (rq->has_fault && rq->fault.status) {
		char msg[96];

		if (rq->fault.retry_after_s >= 0)
			reply_header(rq, "Retry-After", "%lld", (long long)rq->fault.retry_after_s);
		snprintf(msg, sizeof(msg), "injected fault: %u (rule %llu)\n", rq->fault.status,
		         (unsigned long long)rq->fault.id);
		flavour_error(rq, f, rq->fault.status, msg);
		return;
	}
	if (xff_refused(rq, f))
		return;
	/* The flavour's rules come first: a caller without the admin secret
	 * learns nothing of the control API, not even its methods. */
	if (f->admit && !f->admit(rq))
		return;
	if (rq->allow) {
		allow_header(rq, rq->allow);
		if (f->flags & FLAVOUR_JSON_ERRORS) {
			char msg[64];

			snprintf(msg, sizeof(msg), "method %.16s not allowed here", rq->method);
			flavour_error(rq, f, 405, msg);
		} else {
			flavour_error(rq, f, 405, f->not_allowed);
		}
		return;
	}
	if (r->handle)
		r->handle(rq);
	else
		flavour_error(rq, f, 404, f->not_found);
	if (rq->hold_ms > 0)
		rq->phase = PHASE_HANDLER_HOLD;
}

void route_dispatch(void *cls, struct request *rq)
{
	const struct flavour *f;

	(void)cls;
	if (!rq->routed) {
		if (!route_first(rq))
			goto out_answer;
	}
	rq->resumed = rq->phase == PHASE_HANDLER_HOLD;
	rq->phase = PHASE_NONE;
	run(rq);
out_answer:
	if (rq->hold_ms > 0 || rq->drop) {
		if (rq->drop)
			count(rq);
		return;
	}
	if (rq->has_fault && rq->fault.body == FAULTS_BODY_MALFORMED)
		reply_static(rq, rq->status, rq->content_type, malformed_body);
	if (rq->has_fault && rq->fault.body == FAULTS_BODY_TRUNCATED)
		rq->truncate = 1;
	/* A kept response goes out as it was built, decorated then. */
	f = rq->route->flavour;
	if (f->decorate && !rq->reuse_key)
		f->decorate(rq);
	count(rq);
}

void route_ended(void *cls, struct request *rq)
{
	(void)cls;
	if (rq->route && rq->route->flavour->ended)
		rq->route->flavour->ended(rq);
	if (rq->srv)
		count(rq);
}

size_t route_body_max(void *cls, struct server *srv, const char *url)
{
	(void)cls;
	if (srv->functions &&
	    (strncmp(url, "/2018-06-01/", 12) == 0 || strncmp(url, "/2015-03-31/", 12) == 0 ||
	     strncmp(url, HTTP_INVOKE_PREFIX "/", sizeof(HTTP_INVOKE_PREFIX)) == 0))
		return functions_body_max(srv->functions);
	return 0;
}
