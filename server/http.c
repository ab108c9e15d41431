/*
 * The HTTP layer: libmicrohttpd set-up, the route table, the dispatcher and
 * the per-request log line. Handlers fill in a struct request (server.h);
 * this file turns it into a libmicrohttpd response with the headers every
 * response of the flavour must carry.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "aws.h"
#include "control.h"
#include "cpus.h"
#include "delays.h"
#include "gce.h"
#include "identity.h"
#include "log.h"
#include "server.h"

#define LOG_PATH_MAX 160           /* longest path a log line shows */
#define BODY_MAX     (16 * 1024)   /* longest request body kept; longer ones get 413 */
#define DISCARD_MAX  (1024 * 1024) /* the most of a too-long chunked body read */

/* Route flags. */
enum {
	ROUTE_GCE = 1u << 0,     /* GCE flavour: Metadata-Flavor, refuse X-Forwarded-For */
	ROUTE_CONTROL = 1u << 1, /* the control API: never subject to faults */
	ROUTE_AWS = 1u << 2,     /* AWS flavour: no Metadata-Flavor; aws.c checks its headers */
};

#define ALL_METHODS                                                                                \
	(METHOD_GET | METHOD_HEAD | METHOD_POST | METHOD_PUT | METHOD_PATCH | METHOD_DELETE |      \
	 METHOD_OTHER)

struct route {
	const char *path;
	int prefix; /* match path as a prefix (path ends in '/') */
	unsigned methods;
	const char *allow; /* the Allow header for a 405 */
	unsigned flags;
	void (*handle)(struct request *rq);
};

/*
 * What the server answers, in the order it is matched. The GCE flavour's own
 * paths live in the metadata tree (gce.c), the control API's in control.c;
 * these are the entry points.
 */
static const struct route routes[] = {
	/* google-auth's ping: 200 and the Metadata-Flavor response header. */
	{ "/", 0, METHOD_GET | METHOD_HEAD, "GET, HEAD", ROUTE_GCE, gce_handle_root },
	{ "/computeMetadata", 0, METHOD_GET | METHOD_HEAD, "GET, HEAD", ROUTE_GCE, gce_handle },
	{ "/computeMetadata/", 1, METHOD_GET | METHOD_HEAD, "GET, HEAD", ROUTE_GCE, gce_handle },
	/* Stand-ins for the cloud APIs a token is for. */
	{ "/tokeninfo", 0, METHOD_GET | METHOD_HEAD, "GET, HEAD", 0, validate_handle_tokeninfo },
	{ "/protected/", 1, ALL_METHODS, NULL, 0, validate_handle_protected },
	{ "/oauth2/v1/certs", 0, METHOD_GET | METHOD_HEAD, "GET, HEAD", 0,
	  identity_handle_certs_v1 },
	{ "/oauth2/v3/certs", 0, METHOD_GET | METHOD_HEAD, "GET, HEAD", 0, identity_handle_certs },
	/* The AWS IMDS flavour and the container credentials endpoint (aws.c). */
	{ "/latest", 0, METHOD_GET | METHOD_HEAD, "GET, HEAD", ROUTE_AWS, aws_handle_imds },
	{ "/latest/", 1, METHOD_GET | METHOD_HEAD | METHOD_PUT, "GET, HEAD, PUT", ROUTE_AWS,
	  aws_handle_imds },
	{ AWS_CONTAINER_PATH, 0, METHOD_GET | METHOD_HEAD, "GET, HEAD", ROUTE_AWS,
	  aws_handle_container },
	/* The control API: separate from every metadata path. */
	{ "/metatoken/v1/", 1, ALL_METHODS, NULL, ROUTE_CONTROL, control_handle },
};

/* Per-request state, MHD's req_cls: allocated on the first call for a
 * request, freed in request_completed. */
struct req_state {
	int64_t start_us;
	unsigned status;
	unsigned method_bit;
	char method[8];
	char path[LOG_PATH_MAX + 4];
	char *body; /* the request body, NUL-terminated, at most BODY_MAX bytes */
	size_t body_len;
	int too_large;
	size_t discarded; /* bytes of a too-long body read and dropped */
	int faults_checked;
	int held;    /* held once already (wait_for_change) */
	int counted; /* in the stats already */
	int has_fault;
	struct faults_rule fault;
};

/* Appends n bytes to the request body. Returns 0 when out of memory. */
static int grow_body(struct req_state *st, const char *data, size_t n)
{
	char *grown = realloc(st->body, st->body_len + n + 1);

	if (!grown)
		return 0;
	memcpy(grown + st->body_len, data, n);
	st->body = grown;
	st->body_len += n;
	st->body[st->body_len] = '\0';
	return 1;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static unsigned method_bit(const char *m)
{
	static const struct {
		const char *name;
		unsigned bit;
	} methods[] = {
		{ "GET", METHOD_GET }, { "HEAD", METHOD_HEAD },   { "POST", METHOD_POST },
		{ "PUT", METHOD_PUT }, { "PATCH", METHOD_PATCH }, { "DELETE", METHOD_DELETE },
	};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(m, methods[i].name) == 0)
			return methods[i].bit;
	return METHOD_OTHER;
}

/* Copies at most LOG_PATH_MAX bytes of s, replacing anything but printable
 * ASCII with '?', so that a hostile path cannot forge or split log lines. */
static void copy_for_log(char *dst, size_t cap, const char *s)
{
	size_t i = 0;

	for (; s[i] && i + 1 < cap; i++)
		dst[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
	if (s[i])
		memcpy(dst + (cap > 4 ? cap - 4 : 0), "...", cap > 4 ? 4 : 0);
}

const char *request_header(const struct request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *request_query(const struct request *rq, const char *name)
{
	const char *v;

	if (MHD_lookup_connection_value_n(rq->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
	                                  NULL) != MHD_YES)
		return NULL;
	return v ? v : "";
}

/* Frees the reply's current body, if it owns it, wiping a token first. */
static void drop_body(struct request *rq)
{
	rq->reuse_key = NULL;
	rq->cache_key = NULL;
	if (!rq->body_owned)
		return;
	if (rq->secret)
		OPENSSL_cleanse((char *)rq->body, rq->body_len);
	free((char *)rq->body);
	rq->body_owned = 0;
	rq->secret = 0;
}

void reply_static(struct request *rq, unsigned status, const char *content_type, const char *body)
{
	drop_body(rq);
	rq->status = status;
	rq->content_type = content_type;
	rq->body = body;
	rq->body_len = strlen(body);
	rq->body_owned = 0;
}

void reply_owned(struct request *rq, unsigned status, const char *content_type, char *body,
                 size_t len)
{
	drop_body(rq);
	rq->status = status;
	rq->content_type = content_type;
	rq->body = body;
	rq->body_len = len;
	rq->body_owned = 1;
}

void reply_printf(struct request *rq, unsigned status, const char *content_type, const char *fmt,
                  ...)
{
	va_list ap;
	char *body;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&body, fmt, ap);
	va_end(ap);
	if (n < 0) {
		reply_static(rq, 500, CT_PLAIN, "out of memory\n");
		return;
	}
	reply_owned(rq, status, content_type, body, (size_t)n);
}

void reply_header(struct request *rq, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (rq->n_headers == sizeof(rq->headers) / sizeof(rq->headers[0]))
		return;
	rq->headers[rq->n_headers].name = name;
	va_start(ap, fmt);
	vsnprintf(rq->headers[rq->n_headers].value, sizeof(rq->headers[0].value), fmt, ap);
	va_end(ap);
	rq->n_headers++;
}

/* Finds the route for rq's path; sets *path_known when some route matches
 * the path whatever the method. */
static const struct route *find_route(const struct request *rq, const struct route **by_path)
{
	*by_path = NULL;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		int hit = r->prefix ? strncmp(rq->path, r->path, strlen(r->path)) == 0
		                    : strcmp(rq->path, r->path) == 0;

		if (!hit)
			continue;
		if (!*by_path)
			*by_path = r;
		if (r->methods & rq->method_bit)
			return r;
	}
	return NULL;
}

static int is_control_path(const char *path)
{
	return strncmp(path, "/metatoken/v1/", strlen("/metatoken/v1/")) == 0;
}

/* AWS clients get no Metadata-Flavor header, from a fault either. */
static int is_aws_path(const char *path)
{
	return strncmp(path, "/latest", strlen("/latest")) == 0 ||
	       strcmp(path, AWS_CONTAINER_PATH) == 0;
}

static void dispatch(struct request *rq)
{
	const struct route *by_path, *r = find_route(rq, &by_path);

	if (!r && by_path) {
		rq->allow = by_path->allow;
		rq->flavour = (by_path->flags & ROUTE_GCE) != 0;
		reply_static(rq, 405, CT_PLAIN, "method not allowed\n");
		return;
	}
	if (!r) {
		/* Unknown paths may be a GCE client's: say which flavour answered. */
		rq->flavour = 1;
		reply_static(rq, 404, CT_TEXT, "not found\n");
		return;
	}
	rq->flavour = (r->flags & ROUTE_GCE) != 0;
	if ((r->flags & ROUTE_GCE) && request_header(rq, "X-Forwarded-For")) {
		reply_static(rq, 403, CT_TEXT,
		             "Request had an X-Forwarded-For header and was rejected.\n");
		return;
	}
	r->handle(rq);
}

/* Answers with the status a fault rule chose, instead of the real answer. */
static void reply_fault_status(struct request *rq)
{
	const struct faults_rule *f = &rq->fault;

	rq->flavour = !is_control_path(rq->path) && !is_aws_path(rq->path);
	if (f->retry_after_s >= 0)
		reply_header(rq, "Retry-After", "%lld", (long long)f->retry_after_s);
	/* Each flavour's errors in its own content type: IMDS says text/plain. */
	reply_printf(rq, f->status, rq->flavour ? CT_TEXT : CT_PLAIN,
	             "injected fault: %u (rule %llu)\n", f->status, (unsigned long long)f->id);
}

/* What a proxy or captive portal answers: not the JSON the client expects. */
static const char malformed_body[] =
    "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>\n";

void reply_etag(const char *body, size_t len, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)body[i];
		h *= 0x100000001b3ull;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Frees a NUL-terminated body that held a token, wiping it first. */
static void free_wiped(void *body)
{
	OPENSSL_cleanse(body, strlen(body));
	free(body);
}

/* A body sent only in part (a "truncated" fault): Content-Length promises
 * all of it, half arrives, then the connection closes. */
struct partial {
	char *body;
	size_t len, cut;
	int owned, secret;
};

static ssize_t partial_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct partial *p = cls;
	size_t n;

	if (pos >= p->cut)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = p->cut - (size_t)pos;
	if (n > max)
		n = max;
	memcpy(buf, p->body + pos, n);
	return (ssize_t)n;
}

static void partial_free(void *cls)
{
	struct partial *p = cls;

	if (p->owned) {
		if (p->secret)
			OPENSSL_cleanse(p->body, p->len);
		free(p->body);
	}
	free(p);
}

static struct MHD_Response *truncated_response(struct request *rq)
{
	struct partial *p = calloc(1, sizeof(*p));
	struct MHD_Response *resp;

	if (!p)
		return NULL;
	p->body = (char *)rq->body;
	p->len = rq->body_len;
	p->cut = rq->body_len / 2;
	p->owned = rq->body_owned;
	p->secret = rq->secret;
	resp = MHD_create_response_from_callback(p->len, 4096, partial_read, p, partial_free);
	if (!resp)
		free(p);
	return resp;
}

/*
 * Responses kept for reuse, per thread: each pool thread keeps the last few
 * responses it built for answers that repeat (reply_keep, static bodies)
 * and queues them again instead of building a response with its headers
 * per request. Per thread, so that no lock is taken and no cache line is
 * shared; libmicrohttpd counts the references of a response queued on
 * several connections. A thread's responses are dropped when it exits.
 */
#define KEPT_MAX 16

struct kept {
	struct MHD_Response *resp; /* NULL: free slot */
	const void *key;           /* reply_keep's key, or a static body */
	uint64_t gen;              /* reply_keep's generation, or the body's length */
	int by_key;                /* kept by reply_keep */
	unsigned status;
	const char *content_type, *allow;
	int flavour, etag;
	size_t n_headers;
	struct reply_hdr headers[3];
};

struct kept_set {
	struct kept slot[KEPT_MAX];
	unsigned next; /* the slot to replace next when all are taken */
};

static pthread_key_t kept_tls_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;
static __thread struct kept_set *kept_here;

static void kept_free(void *p)
{
	struct kept_set *ks = p;

	for (size_t i = 0; i < KEPT_MAX; i++)
		if (ks->slot[i].resp)
			MHD_destroy_response(ks->slot[i].resp);
	free(ks);
}

static void kept_init_key(void)
{
	if (pthread_key_create(&kept_tls_key, kept_free) != 0)
		kept_tls_key = (pthread_key_t)-1;
}

/* This thread's set, made on first use; NULL if it cannot be (then nothing
 * is kept, and every response is built afresh). */
static struct kept_set *kept_set(void)
{
	if (kept_here)
		return kept_here;
	pthread_once(&kept_once, kept_init_key);
	if (kept_tls_key == (pthread_key_t)-1)
		return NULL;
	kept_here = calloc(1, sizeof(*kept_here));
	if (kept_here && pthread_setspecific(kept_tls_key, kept_here) != 0) {
		free(kept_here);
		kept_here = NULL;
	}
	return kept_here;
}

static struct kept *kept_by_key(const void *key)
{
	struct kept_set *ks = kept_here;

	if (!ks)
		return NULL;
	for (size_t i = 0; i < KEPT_MAX; i++)
		if (ks->slot[i].resp && ks->slot[i].by_key && ks->slot[i].key == key)
			return &ks->slot[i];
	return NULL;
}

/* Whether k was built for exactly the reply rq describes. */
static int kept_matches(const struct kept *k, const struct request *rq)
{
	if (k->by_key || k->key != rq->body || k->gen != rq->body_len || k->status != rq->status ||
	    k->content_type != rq->content_type || k->allow != rq->allow ||
	    k->flavour != rq->flavour || k->etag != rq->etag || k->n_headers != rq->n_headers)
		return 0;
	for (size_t i = 0; i < rq->n_headers; i++)
		if (k->headers[i].name != rq->headers[i].name ||
		    strcmp(k->headers[i].value, rq->headers[i].value) != 0)
			return 0;
	return 1;
}

static struct kept *kept_static(const struct request *rq)
{
	struct kept_set *ks = kept_here;

	if (!ks)
		return NULL;
	for (size_t i = 0; i < KEPT_MAX; i++)
		if (ks->slot[i].resp && kept_matches(&ks->slot[i], rq))
			return &ks->slot[i];
	return NULL;
}

/* Keeps resp, built for rq, in this thread's set: in the slot of the same
 * key if there is one, else a free one, else the next in turn. Returns 0 if
 * it could not (the caller then drops its reference as usual). */
static int kept_put(const struct request *rq, struct MHD_Response *resp)
{
	struct kept_set *ks = kept_set();
	const void *key = rq->cache_key ? rq->cache_key : rq->body;
	struct kept *k = NULL;

	if (!ks)
		return 0;
	for (size_t i = 0; i < KEPT_MAX && !k; i++)
		if (ks->slot[i].resp && ks->slot[i].key == key)
			k = &ks->slot[i];
	for (size_t i = 0; i < KEPT_MAX && !k; i++)
		if (!ks->slot[i].resp)
			k = &ks->slot[i];
	if (!k) {
		k = &ks->slot[ks->next];
		ks->next = (ks->next + 1) % KEPT_MAX;
	}
	if (k->resp)
		MHD_destroy_response(k->resp);
	k->resp = resp;
	k->key = key;
	k->by_key = rq->cache_key != NULL;
	k->gen = rq->cache_key ? rq->cache_gen : rq->body_len;
	k->status = rq->status;
	k->content_type = rq->content_type;
	k->allow = rq->allow;
	k->flavour = rq->flavour;
	k->etag = rq->etag;
	k->n_headers = rq->n_headers;
	memcpy(k->headers, rq->headers, sizeof(k->headers));
	return 1;
}

uint64_t reply_cached_gen(const void *key)
{
	struct kept *k = kept_by_key(key);

	return k ? k->gen : 0;
}

void reply_reuse(struct request *rq, const void *key)
{
	struct kept *k = kept_by_key(key);

	if (!k) {
		reply_static(rq, 500, CT_TEXT, "internal error: no response to reuse\n");
		return;
	}
	drop_body(rq);
	rq->status = k->status;
	rq->content_type = k->content_type;
	rq->body = "";
	rq->body_len = 0;
	rq->reuse_key = key;
}

void reply_keep(struct request *rq, const void *key, uint64_t gen)
{
	rq->cache_key = key;
	rq->cache_gen = gen;
}

static enum MHD_Result queue_reply(struct request *rq)
{
	struct MHD_Response *resp;
	struct kept *k;
	enum MHD_Result ret;
	char etag[17];
	int keep;

	/* Every GCE-flavour answer carries an ETag, errors included. */
	if (rq->flavour)
		rq->etag = 1;
	/* A reply this thread has built before goes out as it was built. */
	keep = !rq->has_fault && (rq->cache_key || !rq->body_owned);
	if (rq->reuse_key && (k = kept_by_key(rq->reuse_key)) != NULL)
		return MHD_queue_response(rq->conn, k->status, k->resp);
	if (keep && !rq->cache_key && (k = kept_static(rq)) != NULL)
		return MHD_queue_response(rq->conn, rq->status, k->resp);
	if (rq->etag)
		reply_etag(rq->body, rq->body_len, etag);
	/* Ownership of an owned body passes to MHD, which frees it with the
	 * response. */
	if (rq->has_fault && rq->fault.body == FAULTS_BODY_TRUNCATED && rq->body_len > 1)
		resp = truncated_response(rq);
	else if (rq->body_owned)
		resp = MHD_create_response_from_buffer_with_free_callback(
		    rq->body_len, (void *)rq->body, rq->secret ? free_wiped : free);
	else
		resp = MHD_create_response_from_buffer(rq->body_len, (void *)rq->body,
		                                       MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (rq->body_owned)
			free((char *)rq->body);
		return MHD_NO;
	}
	rq->body_owned = 0;
	/* Every GCE response, errors included, says which flavour answered:
	 * gcp-metadata and google-auth reject one that does not. */
	if (rq->flavour) {
		MHD_add_response_header(resp, "Metadata-Flavor", "Google");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_SERVER, "Metadata Server for VM");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rq->content_type);
	if (rq->etag)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	if (rq->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rq->allow);
	for (size_t i = 0; i < rq->n_headers; i++)
		MHD_add_response_header(resp, rq->headers[i].name, rq->headers[i].value);
	ret = MHD_queue_response(rq->conn, rq->status, resp);
	if (!keep || !kept_put(rq, resp))
		MHD_destroy_response(resp);
	return ret;
}

/* Whether the request declares a body longer than we read. Refusing it
 * before reading lets a client that sent `Expect: 100-continue` (curl does
 * for large bodies) get the 413 cleanly, without sending the body. */
static int declared_too_large(struct MHD_Connection *conn)
{
	const char *cl =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return cl && strtoull(cl, NULL, 10) > BODY_MAX;
}

/* Counts the request in the stats with its final status, once. This runs
 * before the answer is queued, so a client that reads the stats right after
 * its answer arrived sees its own request counted. */
static void count(struct server *srv, struct req_state *st, unsigned status)
{
	st->status = status;
	if (!st->counted) {
		st->counted = 1;
		stats_count(&srv->stats, st->path, status);
	}
}

/* Answers 413 at once; libmicrohttpd then closes the connection rather than
 * read the rest of the body. */
static enum MHD_Result refuse_too_large(struct server *srv, struct MHD_Connection *conn,
                                        struct req_state *st)
{
	struct request rq = { .conn = conn, .flavour = 1 };

	st->too_large = 1;
	reply_static(&rq, 413, CT_PLAIN, "request body too large\n");
	count(srv, st, rq.status);
	return queue_reply(&rq);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
	struct server *srv = cls;
	struct req_state *st = *req_cls;
	struct request rq;

	(void)version;
	(void)upload_data;
	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		st->start_us = mono_us();
		st->method_bit = method_bit(method);
		copy_for_log(st->method, sizeof(st->method), method);
		copy_for_log(st->path, sizeof(st->path), url);
		*req_cls = st;
		atomic_fetch_add(&srv->in_flight, 1);
		if (declared_too_large(conn))
			return refuse_too_large(srv, conn, st);
		/* Answer only once the whole request has been read: a response
		 * queued earlier makes libmicrohttpd close the connection,
		 * and clients expect keep-alive. */
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (!st->too_large && st->body_len + n > BODY_MAX) {
			/* A chunked body grew past the cap. libmicrohttpd cannot
			 * answer in mid-upload, so the rest is read and dropped
			 * (up to DISCARD_MAX, else the connection is closed) and
			 * the 413 goes out when the upload ends. */
			st->too_large = 1;
			free(st->body);
			st->body = NULL;
			st->body_len = 0;
		}
		if (st->too_large) {
			st->discarded += n;
			return st->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
		}
		if (!grow_body(st, upload_data, n))
			return MHD_NO;
		return MHD_YES;
	}
	if (st->too_large) {
		struct request big = { .conn = conn, .flavour = 1 };

		reply_static(&big, 413, CT_PLAIN, "request body too large\n");
		reply_header(&big, MHD_HTTP_HEADER_CONNECTION, "close");
		count(srv, st, big.status);
		return queue_reply(&big);
	}

	/* Fault injection, for everything but the control API. A latency
	 * fault suspends the connection; libmicrohttpd calls us again when
	 * delays.c resumes it. */
	if (!st->faults_checked) {
		st->faults_checked = 1;
		if (!is_control_path(url) &&
		    faults_match(&srv->faults, st->method, url, &st->fault)) {
			st->has_fault = 1;
			if (st->fault.latency_ms > 0 &&
			    delays_hold(srv->delays, conn, st->fault.latency_ms) == 0)
				return MHD_YES;
		}
	}
	if (st->has_fault && st->fault.drop) {
		count(srv, st, 0);
		return MHD_NO; /* libmicrohttpd closes the connection, no response */
	}

	memset(&rq, 0, sizeof(rq));
	rq.srv = srv;
	rq.conn = conn;
	rq.method = method;
	rq.method_bit = st->method_bit;
	rq.path = url;
	rq.req_body = st->body ? st->body : "";
	rq.req_body_len = st->body_len;
	rq.has_fault = st->has_fault;
	rq.fault = st->fault;
	rq.resumed = st->held;
	if (rq.has_fault && rq.fault.status)
		reply_fault_status(&rq);
	else
		dispatch(&rq);
	if (rq.hold_ms > 0 && !st->held) {
		/* Run the handler again once the hold is over; no thread waits. */
		st->held = 1;
		drop_body(&rq);
		if (delays_hold(srv->delays, conn, rq.hold_ms) == 0)
			return MHD_YES;
		rq.resumed = 1;
		dispatch(&rq);
	}
	if (rq.has_fault && rq.fault.body == FAULTS_BODY_MALFORMED)
		reply_static(&rq, rq.status, rq.content_type, malformed_body);
	count(srv, st, rq.status);
	return queue_reply(&rq);
}

/* MHD's completion callback: logs the request and frees its state. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode why)
{
	struct server *srv = cls;
	struct req_state *st = *req_cls;

	(void)conn;
	if (!st)
		return;
	count(srv, st, st->status); /* a request that ended before its answer */
	if (!log_enabled(LOG_INFO))
		;
	else if (why == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_msg(LOG_INFO, "%s %s %u %lldus", st->method, st->path, st->status,
		        (long long)(mono_us() - st->start_us));
	else
		log_msg(LOG_INFO, "%s %s %u %lldus (connection ended early: %d)", st->method,
		        st->path, st->status, (long long)(mono_us() - st->start_us), (int)why);
	free(st->body);
	free(st);
	*req_cls = NULL;
	atomic_fetch_sub(&srv->in_flight, 1);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_msg(LOG_DEBUG, "libmicrohttpd: %s", line);
}

/* Binds and listens on host:port. Returns the socket, or -1 with a reason. */
static int open_listener(const char *host, uint16_t port, char *bound, size_t boundlen, char *err,
                         size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		                  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct addrinfo *ai = NULL;
	char portstr[8], name[INET6_ADDRSTRLEN];
	int fd = -1, one = 1, rc;

	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", host, port, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, name, sizeof(name));
		snprintf(bound, boundlen, "[%s]:%u", name, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, name, sizeof(name));
		snprintf(bound, boundlen, "%s:%u", name, ntohs(s4->sin_port));
	}
	return fd;
}

int server_start(struct server *srv, char *err, size_t errlen)
{
	struct MHD_OptionItem pool[] = { { MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL } };

	srv->listen_fd = open_listener(srv->cfg.listen_host, srv->cfg.listen_port, srv->bound,
	                               sizeof(srv->bound), err, errlen);
	if (srv->listen_fd < 0)
		return -1;
	srv->threads = cpus_usable();
	srv->delays = delays_start();
	if (!srv->delays) {
		snprintf(err, errlen, "out of memory");
		close(srv->listen_fd);
		srv->listen_fd = -1;
		return -1;
	}
	/* A pool of one is no pool: libmicrohttpd warns about the option then,
	 * so it is passed only for more threads. */
	if (srv->threads > 1) {
		pool[0].option = MHD_OPTION_THREAD_POOL_SIZE;
		pool[0].value = srv->threads;
	}
	/* The logger first, so that it gets every message about the options. */
	srv->daemon = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
	        MHD_ALLOW_SUSPEND_RESUME,
	    0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, srv,
	    MHD_OPTION_LISTEN_SOCKET, srv->listen_fd, MHD_OPTION_ARRAY, pool,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_END);
	if (!srv->daemon) {
		snprintf(err, errlen, "cannot start the HTTP daemon on %s", srv->bound);
		delays_free(srv->delays);
		srv->delays = NULL;
		close(srv->listen_fd);
		srv->listen_fd = -1;
		return -1;
	}
	return 0;
}

void server_stop(struct server *srv, int64_t grace_ms)
{
	int64_t deadline;

	if (!srv->daemon)
		return;
	/* Stop accepting: new connections are refused from here on. Requests
	 * held by latency faults are answered now. */
	MHD_quiesce_daemon(srv->daemon);
	if (srv->listen_fd >= 0) {
		/* Closed now, not after the drain: the kernel would otherwise go on
		 * accepting into the backlog, and those clients would hang. */
		close(srv->listen_fd);
		srv->listen_fd = -1;
	}
	delays_flush(srv->delays);
	deadline = mono_us() + grace_ms * 1000;
	while (atomic_load(&srv->in_flight) > 0 && mono_us() < deadline) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	if (atomic_load(&srv->in_flight) > 0)
		log_msg(LOG_WARN, "stopping with %ld requests still in flight",
		        atomic_load(&srv->in_flight));
	MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	delays_free(srv->delays);
	srv->delays = NULL;
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		srv->listen_fd = -1;
	}
}
