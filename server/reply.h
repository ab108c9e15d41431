/*
 * The request a handler reads and the reply it fills in: the bottom layer of
 * metatokend (README.md, "Development"). It knows HTTP and libmicrohttpd's
 * responses, and no flavour: which headers a flavour's answers carry is the
 * route layer's business (route.c), which paths exist is the route table's.
 *
 * Handlers never touch libmicrohttpd: they read a struct request with
 * request_header()/request_query() and answer with one of the reply_*
 * calls. The daemon (daemon.c) turns the reply into a response with
 * reply_queue().
 */
#ifndef METATOKEN_SERVER_REPLY_H
#define METATOKEN_SERVER_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "faults.h"

struct MHD_Connection;
struct daemon;
struct server;
struct route;

/* Request methods as bits, for route tables. */
enum {
	METHOD_GET = 1u << 0,
	METHOD_HEAD = 1u << 1,
	METHOD_POST = 1u << 2,
	METHOD_PUT = 1u << 3,
	METHOD_PATCH = 1u << 4,
	METHOD_DELETE = 1u << 5,
	METHOD_OTHER = 1u << 6,
};

/* Content types exactly as real clients compare them (PROTOCOL.md §1). */
#define CT_JSON  "application/json"
#define CT_TEXT  "application/text"
#define CT_PLAIN "text/plain"

#define REPLY_HEADERS_MAX  12
#define REPLY_XHEADERS_MAX 4
#define ROUTE_ARGS_MAX     2

struct reply_hdr {
	const char *name; /* static */
	char value[160];
};

/* A header whose value may be long (a token document, a client context). */
struct reply_xhdr {
	const char *name; /* static */
	char *value;      /* malloc'd; wiped when freed (it may hold a token) */
};

/* A header whose name and value are both the reply's own copies. */
struct reply_ohdr {
	char *name;
	char *value;
};

#define REPLY_OHEADERS_MAX 256

struct request {
	/* What the daemon fills in. */
	struct server *srv;    /* the application (server.h): what handlers serve */
	struct daemon *daemon; /* for daemon_wake() */
	struct MHD_Connection *conn;
	const char *method;
	unsigned method_bit;
	const char *path;     /* decoded path, no query string */
	const char *req_body; /* the request body, NUL-terminated ("" if none) */
	size_t req_body_len;
	/* A request the daemon refuses before any handler sees it (bad framing,
	 * a NUL in the URL, a body too large, a cap reached): the route layer
	 * answers with this status and text in the path's flavour. */
	unsigned refuse_status;
	const char *refuse_text;
	int64_t refuse_retry_after_s; /* > 0: with Retry-After */

	/* What the route layer (route.c) keeps across the runs of one request. */
	const struct route *route;
	int leaf;       /* the route's leaf number, for handlers that serve several */
	unsigned allow; /* methods the path allows, when not this one (405) */
	int routed;     /* route found, checks and faults done */
	int phase;      /* route.c's: what the last hold was for */
	const char *arg[ROUTE_ARGS_MAX]; /* the path segments a route's `*` stood for */
	size_t arg_len[ROUTE_ARGS_MAX];
	int has_fault; /* a fault rule fired for this request (faults.h) */
	struct faults_rule fault;
	int counted;        /* in the stats already */
	int64_t started_us; /* monotonic, when first routed; 0: never routed */

	/* The reply, filled in by the handler. */
	unsigned status;          /* 0: no reply yet */
	const char *content_type; /* static string; NULL: no Content-Type */
	const char *body;         /* body_owned ? malloc'd by the handler : static */
	size_t body_len;
	int body_owned;
	int etag;   /* send an ETag computed from the body */
	int secret; /* the body holds a token: wipe it when freed */
	struct reply_hdr headers[REPLY_HEADERS_MAX];
	size_t n_headers;
	struct reply_xhdr xheaders[REPLY_XHEADERS_MAX]; /* a reply with any is never kept */
	size_t n_xheaders;
	struct reply_ohdr *oheaders; /* reply_header_copy's; a reply with any is never kept */
	size_t n_oheaders, oheaders_cap;
	/* Answer with the response this thread built before for reuse_key
	 * (reply_reuse), or keep the one built now under cache_key (reply_keep). */
	const void *reuse_key;
	const void *cache_key;
	uint64_t cache_gen;
	/* Set by a handler to hold the request this long (on the daemon's wait
	 * clock) and then run it again (wait_for_change); `resumed` tells it
	 * that second run from the first. A hold the daemon cannot grant (the
	 * cap on held requests) runs the handler again at once. */
	int64_t hold_ms;
	int resumed;
	int woken;        /* a wake came before the hold (delays.c's, under its lock) */
	int hold_refused; /* the hold asked for was not granted (cap, stopping) */
	void *hstate;     /* the handler's own, across runs; its flavour's ended hook frees it */
	/* What the request's log line names (issue 14: a path is the client's
	 * text and may hold a secret): the route layer sets the route's
	 * pattern; a flavour that found the path among its own (the GCE tree)
	 * sets log_path_known, and the path itself is logged. */
	const char *log_route;
	int log_path_known;
	/* The listener's binding (daemon_config.cls): which function's Runtime
	 * API a request to a function's own listener is for (function.h). */
	void *site;
	/* How the reply goes out: spoilt by a fault, or the connection closed
	 * after it (drain, refusals). */
	int drop;     /* close the connection with no response */
	int truncate; /* send half the body, then close */
	int close;    /* Connection: close */
};

/* The value of request header `name` (any case), or NULL. */
const char *request_header(const struct request *rq, const char *name);
/* Whether the client has closed its side (it can read no answer). A
 * held request's client is not watched while it waits: ask before giving
 * it something that must not be lost. */
int request_peer_gone(const struct request *rq);
/* The value of query parameter `name`, or NULL; "" when given with no value. */
const char *request_query(const struct request *rq, const char *name);

/* Calls each(arg, name, value) for every request header in the order they
 * came, repeats included (value "" for a header with none). */
void request_each_header(const struct request *rq,
                         void (*each)(void *arg, const char *name, const char *value), void *arg);
/* The same for the query string's arguments, decoded as request_query()
 * decodes them; value NULL for an argument with no '='. */
void request_each_query(const struct request *rq,
                        void (*each)(void *arg, const char *name, const char *value), void *arg);
/* The client's address as text ("127.0.0.1", "::1") into ip, and its
 * port. Returns 0, or -1 when it is not known. */
int request_peer(const struct request *rq, char *ip, size_t iplen, unsigned *port);

/* The ETag of a body: 16 hex chars of FNV-1a, into out[17]. */
void reply_etag(const char *body, size_t len, char out[17]);

/* Adds a response header (at most REPLY_HEADERS_MAX per reply; more are
 * dropped). Setting a name already set replaces its value. */
__attribute__((format(printf, 3, 4))) void reply_header(struct request *rq, const char *name,
                                                        const char *fmt, ...);

/* Adds a response header with a value of any length (copied; at most
 * REPLY_XHEADERS_MAX per reply). Returns 0, or -1 when out of memory or
 * over the cap. */
int reply_header_long(struct request *rq, const char *name, const char *value, size_t len);
/* Adds a response header whose name and value are both copied, of any
 * length, up to REPLY_OHEADERS_MAX per reply: for answers whose headers
 * come from elsewhere (a function's own). Repeats of a name all go out.
 * The caller has checked both (a token name; no CR, LF or NUL in the
 * value). Returns 0, or -1 when out of memory or over the cap. */
int reply_header_copy(struct request *rq, const char *name, const char *value);
/* Replies with a static body: a string literal, or data that outlives the
 * daemon and never changes while it runs. The response built for it may be
 * queued again for the same reply (same body, status and headers). */
void reply_static(struct request *rq, unsigned status, const char *content_type, const char *body);
/* Replies with a malloc'd body of len bytes; the reply layer frees it. */
void reply_owned(struct request *rq, unsigned status, const char *content_type, char *body,
                 size_t len);
/* Replies with a formatted body. */
__attribute__((format(printf, 4, 5))) void
reply_printf(struct request *rq, unsigned status, const char *content_type, const char *fmt, ...);
/* Forgets the reply so far (body, status, headers), to run the handler again. */
void reply_reset(struct request *rq);

/*
 * Answers that repeat, such as a token answer that changes once a second.
 * A handler whose reply is determined by a key (an object that outlives the
 * daemon) and a generation number (never 0) skips building it again:
 * reply_cached_gen(key) is the generation the calling thread holds a built
 * response for (0: none); reply_reuse(rq, key) answers with that response;
 * reply_keep(rq, key, gen), after a reply_*, keeps the response about to be
 * built from this reply for the next request. Replies with static bodies
 * are kept and reused without asking. Requests with a fault rule, or whose
 * connection closes after the reply, are never answered from or kept in
 * the cache.
 */
uint64_t reply_cached_gen(const void *key);
void reply_reuse(struct request *rq, const void *key);
void reply_keep(struct request *rq, const void *key, uint64_t gen);

/*
 * The daemon's side: builds the libmicrohttpd response for rq's reply and
 * queues it on rq->conn. Ownership of an owned body passes to the response.
 * Returns libmicrohttpd's result (MHD_YES/MHD_NO as an int).
 */
int reply_queue(struct request *rq);

#endif
