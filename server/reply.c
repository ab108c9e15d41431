/*
 * The reply API (reply.h): what handlers call to answer, and the per-thread
 * cache of responses that repeat. Knows no flavour and no path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grow.h"
#include "reply.h"

const char *request_header(const struct request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

int request_peer_gone(const struct request *rq)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	char c;
	ssize_t n;

	if (!ci)
		return 0;
	n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

const char *request_query(const struct request *rq, const char *name)
{
	const char *v;

	if (MHD_lookup_connection_value_n(rq->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
	                                  NULL) != MHD_YES)
		return NULL;
	return v ? v : "";
}

struct each {
	void (*each)(void *arg, const char *name, const char *value);
	void *arg;
	int query;
};

static enum MHD_Result each_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
	struct each *e = cls;

	(void)kind;
	e->each(e->arg, key ? key : "", value ? value : e->query ? NULL : "");
	return MHD_YES;
}

void request_each_header(const struct request *rq,
                         void (*each)(void *arg, const char *name, const char *value), void *arg)
{
	struct each e = { each, arg, 0 };

	MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, each_value, &e);
}

void request_each_query(const struct request *rq,
                        void (*each)(void *arg, const char *name, const char *value), void *arg)
{
	struct each e = { each, arg, 1 };

	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, each_value, &e);
}

int request_peer(const struct request *rq, char *ip, size_t iplen, unsigned *port)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		*port = ntohs(in->sin_port);
		return inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)iplen) ? 0 : -1;
	}
	if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		*port = ntohs(in6->sin6_port);
		return inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)iplen) ? 0 : -1;
	}
	return -1;
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
	size_t i = 0;

	while (i < rq->n_headers && strcasecmp(rq->headers[i].name, name) != 0)
		i++;
	if (i == REPLY_HEADERS_MAX)
		return;
	rq->headers[i].name = name;
	va_start(ap, fmt);
	vsnprintf(rq->headers[i].value, sizeof(rq->headers[0].value), fmt, ap);
	va_end(ap);
	if (i == rq->n_headers)
		rq->n_headers++;
}

int reply_header_long(struct request *rq, const char *name, const char *value, size_t len)
{
	char *copy;

	if (rq->n_xheaders == REPLY_XHEADERS_MAX || !(copy = malloc(len + 1)))
		return -1;
	memcpy(copy, value, len);
	copy[len] = '\0';
	rq->xheaders[rq->n_xheaders].name = name;
	rq->xheaders[rq->n_xheaders].value = copy;
	rq->n_xheaders++;
	return 0;
}

int reply_header_copy(struct request *rq, const char *name, const char *value)
{
	struct reply_ohdr h = { strdup(name), strdup(value) };

	if (!h.name || !h.value ||
	    grow_reserve(&rq->oheaders, &rq->oheaders_cap, rq->n_oheaders + 1, REPLY_OHEADERS_MAX,
	                 sizeof(h)) != 0) {
		free(h.name);
		free(h.value);
		return -1;
	}
	rq->oheaders[rq->n_oheaders++] = h;
	return 0;
}

static void drop_xheaders(struct request *rq)
{
	for (size_t i = 0; i < rq->n_xheaders; i++) {
		OPENSSL_cleanse(rq->xheaders[i].value, strlen(rq->xheaders[i].value));
		free(rq->xheaders[i].value);
	}
	rq->n_xheaders = 0;
	for (size_t i = 0; i < rq->n_oheaders; i++) {
		OPENSSL_cleanse(rq->oheaders[i].value, strlen(rq->oheaders[i].value));
		free(rq->oheaders[i].name);
		free(rq->oheaders[i].value);
	}
	free(rq->oheaders);
	rq->oheaders = NULL;
	rq->n_oheaders = rq->oheaders_cap = 0;
}

void reply_reset(struct request *rq)
{
	drop_body(rq);
	drop_xheaders(rq);
	rq->status = 0;
	rq->content_type = NULL;
	rq->body = "";
	rq->body_len = 0;
	rq->etag = 0;
	rq->n_headers = 0;
}

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
	const char *content_type;
	int etag;
	size_t n_headers;
	struct reply_hdr headers[REPLY_HEADERS_MAX];
	/* A copy of a by-key body, so that the same answer can go out on a
	 * connection about to close (a kept response says nothing of closing). */
	char *copy;
	size_t copy_len;
};

struct kept_set {
	struct kept slot[KEPT_MAX];
	unsigned next; /* the slot to replace next when all are taken */
};

static pthread_key_t kept_tls_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;
static __thread struct kept_set *kept_here;

/* Empties a slot; the body copy may hold a token, so it is wiped. */
static void kept_clear(struct kept *k)
{
	if (k->resp)
		MHD_destroy_response(k->resp);
	if (k->copy) {
		OPENSSL_cleanse(k->copy, k->copy_len);
		free(k->copy);
	}
	k->resp = NULL;
	k->copy = NULL;
	k->copy_len = 0;
}

static void kept_free(void *p)
{
	struct kept_set *ks = p;

	for (size_t i = 0; i < KEPT_MAX; i++)
		kept_clear(&ks->slot[i]);
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
	    k->content_type != rq->content_type || k->etag != rq->etag ||
	    k->n_headers != rq->n_headers)
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
	kept_clear(k);
	if (rq->cache_key) {
		k->copy = malloc(rq->body_len + 1);
		if (!k->copy)
			return 0;
		memcpy(k->copy, rq->body, rq->body_len);
		k->copy[rq->body_len] = '\0';
		k->copy_len = rq->body_len;
	}
	k->resp = resp;
	k->key = key;
	k->by_key = rq->cache_key != NULL;
	k->gen = rq->cache_key ? rq->cache_gen : rq->body_len;
	k->status = rq->status;
	k->content_type = rq->content_type;
	k->etag = rq->etag;
	k->n_headers = rq->n_headers;
	memcpy(k->headers, rq->headers, rq->n_headers * sizeof(k->headers[0]));
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

/* Turns a reuse of a kept answer into the same reply built afresh, for a
 * connection that closes after it (the kept response says nothing of
 * closing). Returns 0 when out of memory. */
static int reuse_afresh(struct request *rq)
{
	struct kept *k = kept_by_key(rq->reuse_key);
	char *body = k && k->copy ? malloc(k->copy_len + 1) : NULL;

	if (!body)
		return 0;
	memcpy(body, k->copy, k->copy_len + 1);
	reply_owned(rq, k->status, k->content_type, body, k->copy_len);
	rq->secret = 1;
	rq->etag = k->etag;
	rq->n_headers = 0;
	for (size_t i = 0; i < k->n_headers; i++)
		reply_header(rq, k->headers[i].name, "%s", k->headers[i].value);
	return 1;
}

int reply_queue(struct request *rq)
{
	struct MHD_Response *resp;
	struct kept *k;
	enum MHD_Result ret;
	char etag[17];
	int keep;

	/* A reply this thread has built before goes out as it was built. */
	keep = !rq->has_fault && !rq->close && !rq->truncate && !rq->n_xheaders &&
	       !rq->n_oheaders && (rq->cache_key || !rq->body_owned);
	if (rq->reuse_key && !rq->close && (k = kept_by_key(rq->reuse_key)) != NULL)
		return MHD_queue_response(rq->conn, k->status, k->resp);
	if (keep && !rq->cache_key && (k = kept_static(rq)) != NULL)
		return MHD_queue_response(rq->conn, rq->status, k->resp);
	if (rq->reuse_key && !reuse_afresh(rq))
		return MHD_NO;
	if (rq->etag)
		reply_etag(rq->body, rq->body_len, etag);
	/* Ownership of an owned body passes to MHD, which frees it with the
	 * response. */
	if (rq->truncate && rq->body_len > 1)
		resp = truncated_response(rq);
	else if (rq->body_owned)
		resp = MHD_create_response_from_buffer_with_free_callback(
		    rq->body_len, (void *)rq->body, rq->secret ? free_wiped : free);
	else
		resp = MHD_create_response_from_buffer(rq->body_len, (void *)rq->body,
		                                       MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		drop_body(rq);
		return MHD_NO;
	}
	rq->body_owned = 0;
	if (rq->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rq->content_type);
	if (rq->etag)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	for (size_t i = 0; i < rq->n_headers; i++)
		MHD_add_response_header(resp, rq->headers[i].name, rq->headers[i].value);
	for (size_t i = 0; i < rq->n_xheaders; i++)
		MHD_add_response_header(resp, rq->xheaders[i].name, rq->xheaders[i].value);
	for (size_t i = 0; i < rq->n_oheaders; i++)
		MHD_add_response_header(resp, rq->oheaders[i].name, rq->oheaders[i].value);
	drop_xheaders(rq);
	if (rq->close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(rq->conn, rq->status, resp);
	if (!keep || !kept_put(rq, resp))
		MHD_destroy_response(resp);
	return ret;
}
