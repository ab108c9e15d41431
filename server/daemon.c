/*
 * The libmicrohttpd daemon (daemon.h): listener, limits, request framing,
 * bodies, holds and the drain. Paths and flavours are the dispatch
 * callback's business.
 */
#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cpus.h"
#include "delays.h"
#include "log.h"
#include "reply.h"

#define LOG_PATH_MAX    160           /* longest path a log line shows */
#define DISCARD_MAX     (1024 * 1024) /* the most of a too-long chunked body read */
#define SWEEP_MS        250           /* how often deadlines are checked */
#define WARN_EVERY_MS   10000         /* one warning per cap in this long */
#define ADDR_BUCKETS    1024          /* per-client counts: a power of two */
#define MHD_SPARE_CONNS 32            /* accepted past the cap only to say 503 */

/* Where a connection is in its life, for the deadlines. */
enum conn_state {
	CONN_IDLE,    /* waiting for a request line (since: accept or last answer) */
	CONN_READING, /* request line seen, headers or body still coming */
	CONN_BUSY,    /* read whole: being answered, or held */
};

enum refusal { REFUSE_NONE, REFUSE_CONNECTIONS, REFUSE_PER_CLIENT };

/* A client address and how many connections it has open. */
struct addr_count {
	struct addr_count *next;
	unsigned char addr[16];
	unsigned len;
	unsigned count;
};

/* One open connection: MHD's socket context for it. */
struct conn_rec {
	struct conn_rec *prev, *next;
	struct addr_count *addr;
	int fd;
	enum conn_state state;
	int64_t since_ms; /* on the wait clock */
	enum refusal refuse;
	int shut; /* shut down by a deadline or the drain */
};

struct daemon {
	struct daemon_config cfg;
	struct daemon_limits limits;
	struct MHD_Daemon *mhd;
	struct delays *delays;
	int listen_fd;
	char bound[80];      /* "127.0.0.1:8169", "[::1]:8169" */
	char bound_host[64]; /* "127.0.0.1", "::1" */
	int bound_loopback;
	unsigned threads;
	_Atomic int draining;

	/* The open connections, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t closed; /* signalled when one closes */
	struct conn_rec *conns;
	unsigned n_open;
	struct addr_count *addrs[ADDR_BUCKETS];
	unsigned cap_hits, timed_out;
	int64_t warned_ms[3]; /* when each cap was last warned about */
};

/* Per-request state, MHD's req_cls: made when the request line arrives
 * (on_uri), freed in on_completed. */
struct req_state {
	struct request rq;
	struct conn_rec *rec;
	int64_t start_us;
	char method[8];
	char path[LOG_PATH_MAX + 4];
	int nul_in_url;
	int begun;    /* on_request ran for it */
	int complete; /* read whole */
	int held;     /* held now: the dispatch callback runs again when resumed */
	char *body;   /* the request body, NUL-terminated, at most body_max bytes */
	size_t body_len;
	int too_large;
	size_t discarded; /* bytes of a too-long body read and dropped */
};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(const struct daemon *d)
{
	return clock_now_ms(d->cfg.wait_clock);
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

/* Copies at most cap-1 bytes of s up to `stop`, replacing anything but
 * printable ASCII with '?', so that a hostile path cannot forge or split
 * log lines. */
static void copy_for_log(char *dst, size_t cap, const char *s, char stop)
{
	size_t i = 0;

	for (; s[i] && s[i] != stop && i + 1 < cap; i++)
		dst[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
	if (s[i] && s[i] != stop)
		memcpy(dst + (cap > 4 ? cap - 4 : 0), "...", cap > 4 ? 4 : 0);
}

/* Logs a warning about cap `which`, at most once every WARN_EVERY_MS.
 * Caller holds d->lock. */
static void warn_cap(struct daemon *d, int which, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn_cap(struct daemon *d, int which, const char *fmt, ...)
{
	int64_t now = now_ms(d);
	char line[256];
	va_list ap;

	d->cap_hits++;
	if (d->warned_ms[which] && now - d->warned_ms[which] < WARN_EVERY_MS)
		return;
	d->warned_ms[which] = now;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg(LOG_WARN, "%s", line);
}

/* ---- connections and their caps ---- */

static unsigned addr_key(const struct sockaddr *sa, unsigned char out[16])
{
	if (sa && sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 16;
	}
	if (sa && sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 4;
	}
	return 0;
}

/* The count for this address, made at zero if new. Caller holds d->lock. */
static struct addr_count *addr_get(struct daemon *d, const unsigned char *key, unsigned len)
{
	uint32_t h = 2166136261u;
	struct addr_count **b, *a;

	for (unsigned i = 0; i < len; i++)
		h = (h ^ key[i]) * 16777619u;
	b = &d->addrs[h & (ADDR_BUCKETS - 1)];
	for (a = *b; a; a = a->next)
		if (a->len == len && memcmp(a->addr, key, len) == 0)
			return a;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	memcpy(a->addr, key, len);
	a->len = len;
	a->next = *b;
	*b = a;
	return a;
}

static void addr_put(struct daemon *d, struct addr_count *a)
{
	uint32_t h = 2166136261u;
	struct addr_count **b;

	if (!a || --a->count > 0)
		return;
	for (unsigned i = 0; i < a->len; i++)
		h = (h ^ a->addr[i]) * 16777619u;
	for (b = &d->addrs[h & (ADDR_BUCKETS - 1)]; *b != a; b = &(*b)->next)
		;
	*b = a->next;
	free(a);
}

static void conn_started(struct daemon *d, struct MHD_Connection *conn, void **socket_context)
{
	const union MHD_ConnectionInfo *ci;
	struct conn_rec *rec = calloc(1, sizeof(*rec));
	unsigned char key[16];
	unsigned len;

	*socket_context = rec;
	if (!rec)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	rec->fd = ci ? ci->connect_fd : -1;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	len = addr_key(ci ? ci->client_addr : NULL, key);
	pthread_mutex_lock(&d->lock);
	rec->since_ms = now_ms(d);
	rec->next = d->conns;
	if (d->conns)
		d->conns->prev = rec;
	d->conns = rec;
	d->n_open++;
	rec->addr = addr_get(d, key, len);
	if (rec->addr)
		rec->addr->count++;
	if (d->n_open > d->limits.connections) {
		rec->refuse = REFUSE_CONNECTIONS;
		warn_cap(d, 0,
		         "connection cap reached: %u connections open (limit %u); new ones get 503",
		         d->n_open, d->limits.connections);
	} else if (rec->addr && rec->addr->count > d->limits.per_client) {
		rec->refuse = REFUSE_PER_CLIENT;
		warn_cap(d, 1,
		         "per-client connection cap reached: one client address has %u connections "
		         "(limit %u); its new ones get 503",
		         rec->addr->count, d->limits.per_client);
	}
	pthread_mutex_unlock(&d->lock);
	/* Deadlines need the sweep, which runs on the timer thread. */
	delays_wake(d->delays);
}

/* MHD calls this before it closes the socket, so a sweep that shuts a
 * socket down under d->lock never touches a descriptor reused since. */
static void conn_closed(struct daemon *d, struct conn_rec *rec)
{
	if (!rec)
		return;
	pthread_mutex_lock(&d->lock);
	if (rec->prev)
		rec->prev->next = rec->next;
	else
		d->conns = rec->next;
	if (rec->next)
		rec->next->prev = rec->prev;
	d->n_open--;
	addr_put(d, rec->addr);
	pthread_cond_broadcast(&d->closed);
	pthread_mutex_unlock(&d->lock);
	free(rec);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		conn_started(cls, conn, socket_context);
	else
		conn_closed(cls, *socket_context);
}

static struct conn_rec *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void set_state(struct daemon *d, struct conn_rec *rec, enum conn_state state)
{
	if (!rec)
		return;
	pthread_mutex_lock(&d->lock);
	rec->state = state;
	rec->since_ms = now_ms(d);
	pthread_mutex_unlock(&d->lock);
}

/* Whether bytes of a next request wait unread on fd. */
static int has_pending_input(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* Whether the client has closed its side of an idle connection: then no
 * request can come, and libmicrohttpd would keep the slot until the idle
 * timeout. */
static int client_done(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/*
 * The deadlines: a request that has not arrived whole within the header
 * timeout of its request line, or a connection idle past the idle timeout,
 * is shut down; libmicrohttpd then sees the end of the stream and closes
 * it. While draining, idle connections with nothing to read go at once.
 * Runs on the timer thread (or a test's daemon_poll).
 */
static void sweep(void *cls)
{
	struct daemon *d = cls;
	int draining = atomic_load(&d->draining);
	int64_t now = now_ms(d);

	pthread_mutex_lock(&d->lock);
	for (struct conn_rec *r = d->conns; r; r = r->next) {
		int64_t age = now - r->since_ms;
		int late = 0, done = 0;

		if (r->shut || r->fd < 0)
			continue;
		if (r->state == CONN_READING)
			late = age >= d->limits.header_timeout_ms;
		else if (r->state == CONN_IDLE)
			late = age >= d->limits.idle_timeout_ms;
		if (r->state == CONN_IDLE && !late)
			done = client_done(r->fd) || (draining && !has_pending_input(r->fd));
		if (!late && !done)
			continue;
		r->shut = 1;
		if (late)
			d->timed_out++;
		shutdown(r->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&d->lock);
}

/* ---- requests ---- */

/* The request line has arrived: the request's state starts here, and so
 * does its header deadline. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct daemon *d = cls;
	struct req_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->start_us = mono_us();
	st->rec = conn_of(conn);
	copy_for_log(st->path, sizeof(st->path), uri, '?');
	/* libmicrohttpd decodes %00 into a NUL that would cut the path short:
	 * ".../token%00.json" must not be served as the token. */
	st->nul_in_url = strstr(uri, "%00") != NULL;
	set_state(d, st->rec, CONN_READING);
	return st;
}

/* Counts the values of header `name` and whether they differ. */
struct header_count {
	const char *name;
	unsigned n;
	int differ;
	const char *first;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
	struct header_count *hc = cls;

	(void)kind;
	if (strcasecmp(key, hc->name) != 0)
		return MHD_YES;
	if (hc->n++ == 0)
		hc->first = value;
	else if (strcmp(hc->first, value ? value : "") != 0)
		hc->differ = 1;
	return MHD_YES;
}

/*
 * RFC 9112 §6: a request with both Transfer-Encoding and Content-Length, or
 * with Content-Lengths that disagree, is an attempt at request smuggling;
 * a transfer coding other than chunked cannot be read. Returns the status
 * to refuse with (and the reason), or 0.
 */
static unsigned framing_problem(struct MHD_Connection *conn, const char **why)
{
	struct header_count cl = { .name = MHD_HTTP_HEADER_CONTENT_LENGTH };
	struct header_count te = { .name = MHD_HTTP_HEADER_TRANSFER_ENCODING };

	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &cl);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &te);
	if (te.n && cl.n) {
		*why = "bad request: both Transfer-Encoding and Content-Length\n";
		return 400;
	}
	if (cl.n > 1) {
		*why = cl.differ ? "bad request: Content-Length headers disagree\n"
		                 : "bad request: Content-Length given more than once\n";
		return 400;
	}
	if (te.n > 1 || (te.n && strcasecmp(te.first, "chunked") != 0)) {
		*why = "not implemented: the only Transfer-Encoding read is chunked\n";
		return 501;
	}
	return 0;
}

/* Whether the request declares a body longer than we read. Refusing it
 * before reading lets a client that sent `Expect: 100-continue` (curl does
 * for large bodies) get the 413 cleanly, without sending the body. */
static int declared_too_large(struct MHD_Connection *conn, size_t max)
{
	const char *cl =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return cl && strtoull(cl, NULL, 10) > max;
}

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

/* Has the request refused before any handler sees it, answered by the
 * dispatch callback in the path's flavour, and the connection closed. */
static void refuse(struct req_state *st, unsigned status, const char *text, int64_t retry_after_s)
{
	st->rq.refuse_status = status;
	st->rq.refuse_text = text;
	st->rq.refuse_retry_after_s = retry_after_s;
	st->rq.close = 1;
}

/* Runs the dispatch callback and either holds the request or queues its
 * reply. */
static enum MHD_Result answer(struct daemon *d, struct req_state *st)
{
	struct request *rq = &st->rq;

	for (;;) {
		if (st->held) {
			/* Back from a hold: the callback answers afresh. */
			st->held = 0;
			reply_reset(rq);
		}
		rq->hold_ms = 0;
		if (atomic_load(&d->draining))
			rq->close = 1;
		d->cfg.dispatch(d->cfg.cls, rq);
		if (rq->hold_ms <= 0)
			break;
		st->held = 1;
		if (delays_hold(d->delays, rq->conn, rq->hold_ms) == 0)
			return MHD_YES; /* libmicrohttpd calls on_request again */
		/* Over the cap on held requests, or stopping: go on at once. */
		if (!atomic_load(&d->draining)) {
			pthread_mutex_lock(&d->lock);
			warn_cap(d, 2,
			         "held-request cap reached (%u held); a request that asked to wait "
			         "was answered at once",
			         d->limits.held);
			pthread_mutex_unlock(&d->lock);
		}
	}
	if (rq->drop)
		return MHD_NO; /* libmicrohttpd closes the connection, no response */
	return reply_queue(rq) == MHD_YES ? MHD_YES : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
	struct daemon *d = cls;
	struct req_state *st = *req_cls;
	const char *why;
	unsigned status;

	(void)version;
	if (!st)
		return MHD_NO; /* out of memory when the request line came */
	if (!st->begun) {
		st->begun = 1;
		st->rq.srv = d->cfg.srv;
		st->rq.conn = conn;
		st->rq.method = method;
		st->rq.method_bit = method_bit(method);
		st->rq.path = url;
		st->rq.req_body = "";
		copy_for_log(st->method, sizeof(st->method), method, '\0');
		if (st->rec && st->rec->refuse != REFUSE_NONE)
			refuse(st, 503,
			       st->rec->refuse == REFUSE_CONNECTIONS
			           ? "service unavailable: too many connections\n"
			           : "service unavailable: too many connections from this client\n",
			       1);
		else if ((status = framing_problem(conn, &why)) != 0)
			refuse(st, status, why, 0);
		else if (st->nul_in_url)
			refuse(st, 400, "bad request: the URL holds a NUL byte (%00)\n", 0);
		else if (declared_too_large(conn, d->limits.body_max))
			refuse(st, 413, "request body too large\n", 0);
		/* A refusal goes out at once; libmicrohttpd then closes the
		 * connection rather than read a body. Else answer only once the
		 * whole request has been read: a response queued earlier makes
		 * libmicrohttpd close the connection, and clients expect
		 * keep-alive. */
		if (st->rq.refuse_status)
			return answer(d, st);
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (!st->too_large && st->body_len + n > d->limits.body_max) {
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
		return grow_body(st, upload_data, n) ? MHD_YES : MHD_NO;
	}
	if (!st->complete) {
		/* The request has arrived whole. (Later calls are resumptions
		 * after a hold.) */
		st->complete = 1;
		set_state(d, st->rec, CONN_BUSY);
		if (st->too_large)
			refuse(st, 413, "request body too large\n", 0);
		st->rq.req_body = st->body ? st->body : "";
		st->rq.req_body_len = st->body_len;
	}
	return answer(d, st);
}

/* MHD's completion callback: logs the request and frees its state. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode why)
{
	struct daemon *d = cls;
	struct req_state *st = *req_cls;

	if (!st)
		return;
	if (st->begun && d->cfg.ended)
		d->cfg.ended(d->cfg.cls, &st->rq);
	if (!log_enabled(LOG_INFO))
		;
	else if (why == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_msg(LOG_INFO, "%s %s %u %lldus", st->method, st->path, st->rq.status,
		        (long long)(mono_us() - st->start_us));
	else
		log_msg(LOG_INFO, "%s %s %u %lldus (connection ended early: %d)",
		        st->method[0] ? st->method : "-", st->path, st->rq.status,
		        (long long)(mono_us() - st->start_us), (int)why);
	reply_reset(&st->rq);
	free(st->body);
	set_state(d, st->rec ? st->rec : conn_of(conn), CONN_IDLE);
	free(st);
	*req_cls = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	struct daemon *d = cls;
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	/* Past even the spare connections kept to say 503, libmicrohttpd
	 * closes new ones itself: that is a cap hit too. */
	if (strstr(line, "connection limit") || strstr(line, "Too many open files")) {
		pthread_mutex_lock(&d->lock);
		warn_cap(d, 0, "connection cap reached: %s", line);
		pthread_mutex_unlock(&d->lock);
		return;
	}
	log_msg(LOG_DEBUG, "libmicrohttpd: %s", line);
}

/* ---- listener ---- */

static int is_loopback_addr(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a))
			return 1;
		/* ::ffff:127.x.y.z */
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return 0;
}

/* Binds and listens on host:port. Returns the socket, or -1 with a reason. */
static int open_listener(struct daemon *d, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		                  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct addrinfo *ai = NULL;
	char portstr[8];
	int fd = -1, one = 1, rc;
	unsigned port;

	snprintf(portstr, sizeof(portstr), "%u", d->cfg.port);
	rc = getaddrinfo(d->cfg.host, portstr, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", d->cfg.host, d->cfg.port,
		         gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", d->cfg.host, d->cfg.port,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	d->bound_loopback = is_loopback_addr(&ss);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, d->bound_host, sizeof(d->bound_host));
		port = ntohs(s6->sin6_port);
		snprintf(d->bound, sizeof(d->bound), "[%s]:%u", d->bound_host, port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, d->bound_host, sizeof(d->bound_host));
		port = ntohs(s4->sin_port);
		snprintf(d->bound, sizeof(d->bound), "%s:%u", d->bound_host, port);
	}
	return fd;
}

/*
 * Sizes the connection cap to the descriptors this process may open,
 * raising the soft limit to the hard one first where allowed. Under the
 * usual 1024 the cap is about 960, not the 4096 asked for; the log says so.
 */
static unsigned size_connections(unsigned wanted)
{
	struct rlimit rl;
	rlim_t usable;

	if (wanted == 0 || wanted > DAEMON_CONNECTIONS_MAX)
		wanted = DAEMON_CONNECTIONS_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return wanted;
	if (rl.rlim_cur < rl.rlim_max &&
	    rl.rlim_cur < wanted + DAEMON_FD_RESERVE + MHD_SPARE_CONNS) {
		struct rlimit up = rl;

		up.rlim_cur = rl.rlim_max == RLIM_INFINITY
		                  ? (rlim_t)(wanted + DAEMON_FD_RESERVE + MHD_SPARE_CONNS)
		                  : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return wanted;
	usable = rl.rlim_cur > DAEMON_FD_RESERVE + MHD_SPARE_CONNS + 16
	             ? rl.rlim_cur - DAEMON_FD_RESERVE - MHD_SPARE_CONNS
	             : 16;
	if (usable < wanted) {
		log_msg(LOG_WARN,
		        "the file descriptor limit (%llu) allows %llu connections, not %u; raise "
		        "`ulimit -n` for more",
		        (unsigned long long)rl.rlim_cur, (unsigned long long)usable, wanted);
		return (unsigned)usable;
	}
	return wanted;
}

struct daemon *daemon_start(const struct daemon_config *cfg, char *err, size_t errlen)
{
	struct MHD_OptionItem pool[] = { { MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL } };
	struct daemon *d = calloc(1, sizeof(*d));

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->cfg = *cfg;
	d->limits = cfg->limits;
	d->limits.connections = size_connections(cfg->limits.connections);
	if (d->limits.per_client == 0 || d->limits.per_client > d->limits.connections)
		d->limits.per_client = d->limits.connections;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->closed, NULL);
	d->listen_fd = open_listener(d, err, errlen);
	if (d->listen_fd < 0)
		goto out_free;
	d->threads = cpus_usable();
	d->delays = delays_start(cfg->wait_clock, d->limits.held, sweep, d, SWEEP_MS);
	if (!d->delays) {
		snprintf(err, errlen, "out of memory");
		goto out_close;
	}
	/* A pool of one is no pool: libmicrohttpd warns about the option then,
	 * so it is passed only for more threads. */
	if (d->threads > 1) {
		pool[0].option = MHD_OPTION_THREAD_POOL_SIZE;
		pool[0].value = d->threads;
	}
	/* The logger first, so that it gets every message about the options.
	 * libmicrohttpd's own idle timeout stays as a backstop behind the
	 * sweep's deadlines, which a trickling client cannot extend. */
	d->mhd = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
	        MHD_ALLOW_SUSPEND_RESUME,
	    0, NULL, NULL, on_request, d, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, d,
	    MHD_OPTION_LISTEN_SOCKET, d->listen_fd, MHD_OPTION_ARRAY, pool,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, d, MHD_OPTION_NOTIFY_CONNECTION, on_connection, d,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, d, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)((d->limits.idle_timeout_ms + 999) / 1000 + 1), MHD_OPTION_CONNECTION_LIMIT,
	    d->limits.connections + MHD_SPARE_CONNS, MHD_OPTION_END);
	if (!d->mhd) {
		snprintf(err, errlen, "cannot start the HTTP daemon on %s", d->bound);
		goto out_delays;
	}
	return d;

out_delays:
	delays_free(d->delays);
out_close:
	close(d->listen_fd);
out_free:
	pthread_cond_destroy(&d->closed);
	pthread_mutex_destroy(&d->lock);
	free(d);
	return NULL;
}

const char *daemon_bound(const struct daemon *d)
{
	return d->bound;
}

const char *daemon_bound_host(const struct daemon *d)
{
	return d->bound_host;
}

int daemon_bound_loopback(const struct daemon *d)
{
	return d->bound_loopback;
}

unsigned daemon_threads(const struct daemon *d)
{
	return d->threads;
}

struct daemon_limits daemon_limits(const struct daemon *d)
{
	return d->limits;
}

void daemon_counts(struct daemon *d, struct daemon_counts *out)
{
	out->held = (unsigned)delays_held(d->delays);
	pthread_mutex_lock(&d->lock);
	out->open = d->n_open;
	out->reading = out->idle = 0;
	for (const struct conn_rec *r = d->conns; r; r = r->next) {
		out->reading += r->state == CONN_READING;
		out->idle += r->state == CONN_IDLE;
	}
	out->cap_hits = d->cap_hits;
	out->timed_out = d->timed_out;
	pthread_mutex_unlock(&d->lock);
}

void daemon_poll(struct daemon *d)
{
	delays_poll(d->delays);
	sweep(d);
}

void daemon_stop(struct daemon *d, int64_t grace_ms)
{
	int64_t deadline;

	if (!d)
		return;
	/* From here every answer says Connection: close. */
	atomic_store(&d->draining, 1);
	/* Stop accepting: the listening socket is closed now, not after the
	 * drain, or the kernel would go on accepting into the backlog and
	 * those clients would hang. */
	MHD_quiesce_daemon(d->mhd);
	close(d->listen_fd);
	d->listen_fd = -1;
	/* Held requests are answered now. */
	delays_flush(d->delays);
	deadline = now_ms(d) + grace_ms;
	pthread_mutex_lock(&d->lock);
	while (d->n_open > 0 && now_ms(d) < deadline) {
		struct timespec ts;

		pthread_mutex_unlock(&d->lock);
		sweep(d); /* idle connections go; a request that has arrived is answered */
		pthread_mutex_lock(&d->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->closed, &d->lock, &ts);
	}
	if (d->n_open > 0)
		log_msg(LOG_WARN, "stopping with %u connection(s) still open after the drain",
		        d->n_open);
	pthread_mutex_unlock(&d->lock);
	MHD_stop_daemon(d->mhd);
	delays_free(d->delays);
	for (size_t i = 0; i < ADDR_BUCKETS; i++)
		while (d->addrs[i]) {
			struct addr_count *next = d->addrs[i]->next;

			free(d->addrs[i]);
			d->addrs[i] = next;
		}
	pthread_cond_destroy(&d->closed);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
