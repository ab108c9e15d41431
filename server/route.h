/*
 * The route table: the one place that names handlers (README.md,
 * "Development"). Below the daemon, above the flavours: route_dispatch()
 * is the daemon's dispatch callback. For each request it finds the route
 * (method and path, `*` standing for one segment), applies the rules every
 * flavour shares (Host names, X-Forwarded-For, faults) and the flavour's
 * own (its request headers), runs the handler, and gives the answer the
 * headers every answer of that flavour carries.
 */
#ifndef METATOKEN_SERVER_ROUTE_H
#define METATOKEN_SERVER_ROUTE_H

#include <stddef.h>

struct request;
struct server;

/* A family of paths that answers alike: GCE metadata, IMDS, control... */
struct flavour {
	const char *name;
	unsigned flags;           /* FLAVOUR_* */
	const char *content_type; /* of its errors */
	const char *not_found;    /* 404 text */
	const char *not_allowed;  /* 405 text */
	/* The flavour's request rules, checked before the handler: replies
	 * and returns 0 to refuse. NULL: none. */
	int (*admit)(struct request *rq);
	/* Adds what every answer of the flavour carries, errors included.
	 * NULL: nothing. */
	void (*decorate)(struct request *rq);
	/* Answers an error (404, 405, a refusal, a fault) in the flavour's
	 * shape. NULL: text in content_type, or JSON with FLAVOUR_JSON_ERRORS. */
	void (*error)(struct request *rq, unsigned status, const char *text);
	/* A request of the flavour ended, answered or not. NULL: nothing. */
	void (*ended)(struct request *rq);
};

enum {
	FLAVOUR_JSON_ERRORS = 1u << 0,    /* errors are {"error": "..."} */
	FLAVOUR_NO_FAULTS = 1u << 1,      /* fault rules never apply */
	FLAVOUR_ALLOW_XFF = 1u << 2,      /* X-Forwarded-For is accepted */
	FLAVOUR_SLASH_OPTIONAL = 1u << 3, /* one trailing slash is ignored */
};

struct route {
	unsigned methods;    /* METHOD_* bits; 0 with no handler: the flavour's fallback */
	const char *pattern; /* "/a/b", "/a/ * /c" (one segment), "/a/ **" (a subtree) */
	const struct flavour *flavour;
	void (*handle)(struct request *rq);
	int leaf; /* passed to the handler as rq->leaf */
};

/* The daemon's dispatch callback (daemon.h); cls is unused. */
void route_dispatch(void *cls, struct request *rq);
/* The daemon's ended callback: tells the flavour, counts a request that
 * got no answer. */
void route_ended(void *cls, struct request *rq);
/* The daemon's body_max callback: the functions' payload cap for the
 * Runtime and Invoke APIs and HTTP calls into a function, else 0 (the
 * daemon's default). */
size_t route_body_max(void *cls, struct server *srv, const char *url);

/* The route table's rows, and row's pattern (NULL past the end): what
 * /metrics labels a request with, never the path it had. */
size_t route_rows(void);
const char *route_pattern(size_t row);

/*
 * Matches path against pattern: returns 1 and fills args (at most
 * ROUTE_ARGS_MAX segments) on a match. Exposed for the fuzz target.
 */
int route_match(const char *pattern, const char *path, size_t path_len, const char **arg,
                size_t *arg_len);

/* Whether a Host header value names this server (see route.c). Exposed
 * for tests and the fuzz target. */
int route_host_allowed(const char *host, const char *bound_host, const char *const *extra,
                       size_t n_extra);

#endif
