/*
 * metatokend's server object and the request/reply interface its handlers
 * are written against. Handlers never touch libmicrohttpd directly: they read
 * a struct request and fill in its reply; http.c turns that into a response.
 */
#ifndef METATOKEN_SERVER_SERVER_H
#define METATOKEN_SERVER_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "faults.h"
#include "revoke.h"
#include "slot.h"
#include "stats.h"
#include "tokens.h"

struct MHD_Daemon;
struct MHD_Connection;
struct gce_tree;
struct aws;
struct delays;

#define ADMIN_SECRET_MAX 256

/*
 * One service account's access token: a reissuing slot whose values are the
 * token's text (char[TOKENS_MAX_LEN + 1]) and whose derived area holds the
 * GCE answer made from it (struct gce_token_cache, gce_token.h).
 */
struct account_token {
	struct slot slot;
	struct tokens_minter minter; /* the slot's mint argument */
};

struct server {
	struct config cfg; /* owned */
	struct clock clock;
	struct tokens_key *key;
	struct account_token *accounts; /* one per cfg.accounts[i], same order */
	size_t n_accounts;
	struct gce_tree *gce;
	struct identity *identity; /* ID tokens (identity.c) */
	int64_t started_ms;        /* server clock at start: the instance's creation */
	struct aws *aws;           /* the AWS IMDS flavour (aws.h) */

	/* What the control API changes (control.c). */
	struct revocations revoked;
	struct faults faults;
	struct stats stats;
	_Atomic uint64_t *revoked_count; /* per account */
	int control_enabled;
	char admin_secret[ADMIN_SECRET_MAX + 1];
	char *admin_secret_file; /* the file we wrote the secret to; removed at exit */
	struct delays *delays;   /* requests held back by latency faults */

	struct MHD_Daemon *daemon;
	int listen_fd;
	char bound[80];         /* "127.0.0.1:8169", "[::1]:8169": what clients dial */
	_Atomic long in_flight; /* requests begun and not yet completed */
	unsigned threads;       /* size of the request thread pool */
};

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

struct request {
	struct server *srv;
	struct MHD_Connection *conn;
	const char *method;
	unsigned method_bit;
	const char *path;     /* decoded path, no query string */
	const char *req_body; /* the request body, NUL-terminated ("" if none) */
	size_t req_body_len;

	/* The reply, filled in by the handler. */
	unsigned status;
	const char *content_type; /* static string */
	const char *body;         /* body_owned ? malloc'd by the handler : static */
	size_t body_len;
	int body_owned;
	const char *allow; /* static; sent as Allow with a 405 */
	int etag;          /* send an ETag computed from the body */
	int secret;        /* the body holds a token: wipe it when freed */
	int flavour;       /* send Metadata-Flavor: Google (GCE routes, 404s) */
	struct reply_hdr {
		const char *name; /* static */
		char value[224];
	} headers[3];
	size_t n_headers;
	/* Answer with the response this thread built before for reuse_key
	 * (reply_reuse), or keep the one built now under cache_key (reply_keep). */
	const void *reuse_key;
	const void *cache_key;
	uint64_t cache_gen;
	/* Set by a handler to hold the request this long and then run it again
	 * (wait_for_change); `resumed` tells it that second run from the first. */
	int64_t hold_ms;
	int resumed;
	/* A fault rule that fired for this request, if any (faults.h). */
	int has_fault;
	struct faults_rule fault;
};

/* Content types exactly as real clients compare them (PROTOCOL.md §1). */
#define CT_JSON  "application/json"
#define CT_TEXT  "application/text"
#define CT_PLAIN "text/plain"

/* The value of request header `name` (any case), or NULL. */
const char *request_header(const struct request *rq, const char *name);
/* The value of query parameter `name`, or NULL; "" when given with no value. */
const char *request_query(const struct request *rq, const char *name);

/* The ETag of a body: 16 hex chars of FNV-1a, into out[17]. */
void reply_etag(const char *body, size_t len, char out[17]);

/* Adds a response header (at most three per reply; more are dropped). */
__attribute__((format(printf, 3, 4))) void reply_header(struct request *rq, const char *name,
                                                        const char *fmt, ...);

/* Replies with a static body: a string literal, or data that outlives the
 * daemon and never changes while it runs. The response built for it may be
 * queued again for the same reply (same body, status and headers). */
void reply_static(struct request *rq, unsigned status, const char *content_type, const char *body);
/* Replies with a malloc'd body of len bytes; http.c frees it. */
void reply_owned(struct request *rq, unsigned status, const char *content_type, char *body,
                 size_t len);
/* Replies with a formatted body. */
__attribute__((format(printf, 4, 5))) void
reply_printf(struct request *rq, unsigned status, const char *content_type, const char *fmt, ...);

/*
 * Answers that repeat, such as a token answer that changes once a second.
 * A handler whose reply is determined by a key (an object that outlives the
 * daemon) and a generation number (never 0) skips building it again:
 * reply_cached_gen(key) is the generation the calling thread holds a built
 * response for (0: none); reply_reuse(rq, key) answers with that response;
 * reply_keep(rq, key, gen), after a reply_*, keeps the response about to be
 * built from this reply for the next request. Replies with static bodies
 * are kept and reused without asking. Requests with a fault rule are never
 * answered from or kept in the cache.
 */
uint64_t reply_cached_gen(const void *key);
void reply_reuse(struct request *rq, const void *key);
void reply_keep(struct request *rq, const void *key, uint64_t gen);

/*
 * Builds everything the daemon serves from srv->cfg (which the caller has
 * loaded): signing key, token accounts, metadata tree. On failure returns -1
 * with a one-line reason in err and leaves srv safe to server_release().
 */
int server_init(struct server *srv, char *err, size_t errlen);

/*
 * Binds host:port from srv->cfg and starts serving. On failure returns -1
 * with a one-line reason (bad address, port in use) in err.
 */
int server_start(struct server *srv, char *err, size_t errlen);

/*
 * Stops accepting connections, lets in-flight requests finish (waiting at
 * most grace_ms), then stops the daemon.
 */
void server_stop(struct server *srv, int64_t grace_ms);

/* Frees everything server_init built, and the configuration. */
void server_release(struct server *srv);

/* Looks up an account by `default`, its email or (when by_id) its id.
 * Returns its index or -1. */
int server_find_account(const struct server *srv, const char *name, size_t len, int by_id);

#endif
