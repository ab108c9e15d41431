/*
 * The libmicrohttpd daemon (daemon.h): listener, limits, request framing,
 * bodies, holds and the drain. Paths and flavours are the dispatch
 * callback's business. HTTPS: a second libmicrohttpd daemon (daemon.h).
 */
#include "daemon.h"

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cpus.h"
#include "conns.h"
#include "delays.h"
#include "grow.h"
#include "listener.h"
#include "log.h"
#include "reply.h"

#define LOG_PATH_MAX    160           /* longest path a log line shows */
#define DISCARD_MAX     (1024 * 1024) /* the most of a too-long chunked body read */
#define SWEEP_MS        250           /* how often deadlines are checked */
#define MHD_SPARE_CONNS 32            /* accepted past the cap only to say 503 */

/* Where a connection is in its life, for the deadlines. */
struct daemon {
	struct daemon_config cfg;
	struct daemon_limits limits;
	struct MHD_Daemon *mhd;
	struct delays *delays;
	struct listener listener;
	/* The HTTPS listener (mhd_tls NULL: none), and the key's PEM, which
	 * libmicrohttpd keeps a pointer to: kept until stop, then wiped. */
	struct MHD_Daemon *mhd_tls;
	struct listener tls_listener;
	char *tls_key;
	size_t tls_key_len;
	char tls_err[256]; /* libmicrohttpd's message when it would not start */
	struct conns conns;
	unsigned threads;
	_Atomic int draining;
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
	int begun;       /* on_request ran for it */
	int complete;    /* read whole */
	int held;        /* held now: the dispatch callback runs again when resumed */
	size_t body_max; /* the most this request's body may hold */
	char *body;      /* the request body, NUL-terminated, at most body_max bytes */
	size_t body_len, body_cap;
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

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct daemon *d = cls;
	const union MHD_ConnectionInfo *fd, *peer;
	struct conn_rec *rec;
	void *site;

	if (code != MHD_CONNECTION_NOTIFY_STARTED) {
		/* Before libmicrohttpd closes the socket (conns.h). */
		conns_closed(&d->conns, *socket_context);
		return;
	}
	fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	peer = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	site = fd && d->cfg.site_of ? d->cfg.site_of(d->cfg.cls, d->cfg.srv, fd->connect_fd) : NULL;
	/* A connection of the server's own (a site's) has no per-client cap. */
	rec = conns_opened(&d->conns, fd ? fd->connect_fd : -1,
	                   site || !peer ? NULL : peer->client_addr);
	if (rec)
		rec->site = site;
	*socket_context = rec;
	/* Deadlines need the sweep, which runs on the timer thread. */
	delays_wake(d->delays);
}

static struct conn_rec *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* The timer's sweep: the deadlines (conns.h). */
static void sweep(void *cls)
{
	struct daemon *d = cls;

	conns_sweep(&d->conns, atomic_load(&d->draining));
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
	for (const char *p = strchr(uri, '%'); p && !st->nul_in_url; p = strchr(p + 1, '%'))
		st->nul_in_url = p[1] == '0' && p[2] == '0';
	conns_set_state(&d->conns, st->rec, CONN_READING);
	return st;
}

/* The framing headers of a request: how many of each, whether the
 * Content-Lengths differ, the first Transfer-Encoding. */
struct framing {
	unsigned n_cl, n_te;
	int cl_differ;
	const char *cl, *te;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
	struct framing *f = cls;

	(void)kind;
	value = value ? value : "";
	if ((key[0] | 0x20) != 'c' && (key[0] | 0x20) != 't')
		return MHD_YES; /* neither: most headers stop here */
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (f->n_cl++ == 0)
			f->cl = value;
		else if (strcmp(f->cl, value) != 0)
			f->cl_differ = 1;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		if (f->n_te++ == 0)
			f->te = value;
	}
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
	struct framing f = { 0 };

	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
	if (f.n_te && f.n_cl) {
		*why = "bad request: both Transfer-Encoding and Content-Length\n";
		return 400;
	}
	if (f.n_cl > 1) {
		*why = f.cl_differ ? "bad request: Content-Length headers disagree\n"
		                   : "bad request: Content-Length given more than once\n";
		return 400;
	}
	if (f.n_te > 1 || (f.n_te && strcasecmp(f.te, "chunked") != 0)) {
		*why = "not implemented: the only Transfer-Encoding read is chunked\n";
		return 501;
	}
	return 0;
}

/*
 * A body declared longer than we read: 2 to refuse it before reading, 1 to
 * read and drop it first, 0 when it fits. Refusing before reading lets a
 * client that sent `Expect: 100-continue` (curl does for large bodies) get
 * the 413 without sending the body; one that sends it anyway would have
 * the connection reset under it and never read the 413, so a body of up to
 * DISCARD_MAX is read and dropped first.
 */
static int declared_too_large(struct MHD_Connection *conn, size_t max)
{
	const char *cl =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;

	if (n <= max)
		return 0;
	if (n > DISCARD_MAX || MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect"))
		return 2;
	return 1;
}

/* Appends n bytes to the request body, at most max in all (the caller
 * refuses more first). Returns 0 when out of memory. */
static int grow_body(struct req_state *st, const char *data, size_t n, size_t max)
{
	if (n > max || st->body_len > max - n ||
	    grow_reserve(&st->body, &st->body_cap, st->body_len + n + 1, max + 1, 1) != 0)
		return 0;
	memcpy(st->body + st->body_len, data, n);
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
	int held;

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
		rq->hold_refused = 0;
		if (rq->hold_ms <= 0)
			break;
		st->held = 1;
		held = delays_hold(d->delays, rq->conn, rq->hold_ms, &rq->woken);
		if (held == 0)
			return MHD_YES; /* libmicrohttpd calls on_request again */
		rq->hold_refused = held < 0;
		/* Woken before the hold began, over the cap on held requests,
		 * or stopping: go on at once. */
		if (held < 0 && !atomic_load(&d->draining))
			conns_warn(
			    &d->conns, CAP_HELD,
			    "held-request cap reached (%u held); a request that asked to wait "
			    "was answered at once",
			    d->limits.held);
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
	int too_large;
	size_t n;

	(void)version;
	if (!st)
		return MHD_NO; /* out of memory when the request line came */
	if (!st->begun) {
		st->begun = 1;
		st->rq.srv = d->cfg.srv;
		st->rq.daemon = d;
		st->rq.site = st->rec && st->rec->site ? st->rec->site : d->cfg.cls;
		st->rq.conn = conn;
		st->body_max = d->limits.body_max;
		if (d->cfg.body_max && (n = d->cfg.body_max(d->cfg.cls, d->cfg.srv, url)) > 0)
			st->body_max = n;
		st->rq.method = method;
		st->rq.method_bit = method_bit(method);
		st->rq.path = url;
		st->rq.req_body = "";
		copy_for_log(st->method, sizeof(st->method), method, '\0');
		if (st->rec && st->rec->refuse != CONN_OK)
			refuse(st, 503,
			       st->rec->refuse == CONN_OVER_TOTAL
			           ? "service unavailable: too many connections\n"
			           : "service unavailable: too many connections from this client\n",
			       1);
		else if ((status = framing_problem(conn, &why)) != 0)
			refuse(st, status, why, 0);
		else if (st->nul_in_url)
			refuse(st, 400, "bad request: the URL holds a NUL byte (%00)\n", 0);
		else if ((too_large = declared_too_large(conn, st->body_max)) == 2)
			refuse(st, 413, "request body too large\n", 0);
		else if (too_large)
			st->too_large = 1; /* read and dropped; the 413 comes at its end */
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
		n = *upload_data_size;
		*upload_data_size = 0;
		if (!st->too_large && st->body_len + n > st->body_max) {
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
		return grow_body(st, upload_data, n, st->body_max) ? MHD_YES : MHD_NO;
	}
	if (!st->complete) {
		/* The request has arrived whole. (Later calls are resumptions
		 * after a hold.) */
		st->complete = 1;
		conns_set_state(&d->conns, st->rec, CONN_BUSY);
		if (st->too_large)
			refuse(st, 413, "request body too large\n", 0);
		st->rq.req_body = st->body ? st->body : "";
		st->rq.req_body_len = st->body_len;
	}
	return answer(d, st);
}

/* MHD's completion callback: logs the request and frees its state. */
/* A log line names a path the server knows as it came (query cut), and
 * any other by its route's pattern: a client's path may hold a secret. */
static const char *log_path(const struct req_state *st)
{
	if (st->rq.log_path_known)
		return st->path;
	return st->rq.log_route ? st->rq.log_route : "(no route)";
}

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
		log_msg(LOG_INFO, "%s %s %u %lldus", st->method, log_path(st), st->rq.status,
		        (long long)(mono_us() - st->start_us));
	else
		log_msg(LOG_INFO, "%s %s %u %lldus (connection ended early: %d)",
		        st->method[0] ? st->method : "-", log_path(st), st->rq.status,
		        (long long)(mono_us() - st->start_us), (int)why);
	reply_reset(&st->rq);
	free(st->body);
	conns_set_state(&d->conns, st->rec ? st->rec : conn_of(conn), CONN_IDLE);
	free(st);
	*req_cls = NULL;
}

/* Set in the thread starting the HTTPS daemon only: it alone writes and
 * reads tls_err. */
static _Thread_local int keeping_tls_err;

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	struct daemon *d = cls;
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	if (keeping_tls_err && !d->tls_err[0])
		snprintf(d->tls_err, sizeof(d->tls_err), "%s", line);
	/* Past even the spare connections kept to say 503, libmicrohttpd
	 * closes new ones itself: that is a cap hit too. */
	if (strstr(line, "connection limit") || strstr(line, "Too many open files")) {
		conns_warn(&d->conns, CAP_CONNECTIONS, "connection cap reached: %s", line);
		return;
	}
	log_msg(LOG_DEBUG, "libmicrohttpd: %s", line);
}

/* Starts one libmicrohttpd daemon on listening socket fd, with `extra`
 * options and flags (TLS). Returns it, or NULL. */
static struct MHD_Daemon *start_mhd(struct daemon *d, int fd, unsigned flags,
                                    struct MHD_OptionItem *extra)
{
	struct MHD_OptionItem pool[] = { { MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL } };

	/* A pool of one is no pool: libmicrohttpd warns about the option then,
	 * so it is passed only for more threads. */
	if (d->threads > 1) {
		pool[0].option = MHD_OPTION_THREAD_POOL_SIZE;
		pool[0].value = d->threads;
	}
	/* The logger first, so that it gets every message about the options.
	 * libmicrohttpd's own idle timeout stays as a backstop behind the
	 * sweep's deadlines, which a trickling client cannot extend. */
	return MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
	        MHD_ALLOW_SUSPEND_RESUME | flags,
	    0, NULL, NULL, on_request, d, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, d,
	    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_ARRAY, pool, MHD_OPTION_ARRAY, extra,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, d, MHD_OPTION_NOTIFY_CONNECTION, on_connection, d,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, d, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)((d->limits.idle_timeout_ms + 999) / 1000 + 1), MHD_OPTION_CONNECTION_LIMIT,
	    d->limits.connections + MHD_SPARE_CONNS, MHD_OPTION_END);
}

/*
 * Opens the HTTPS listener and starts its daemon, after the plain one.
 * libmicrohttpd keeps the key's pointer, so the daemon holds a copy of its
 * own. Returns 0, or -1 with a reason in err (and nothing left open).
 */
static int start_tls(struct daemon *d, const struct daemon_tls *t, char *err, size_t errlen)
{
	struct MHD_OptionItem tls[] = { { MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)t->cert_pem },
		                        { MHD_OPTION_HTTPS_MEM_KEY, 0, NULL },
		                        { MHD_OPTION_END, 0, NULL } };

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(err, errlen,
		         "cannot serve HTTPS: this libmicrohttpd was built without TLS support");
		return -1;
	}
	d->tls_key_len = strlen(t->key_pem) + 1;
	d->tls_key = malloc(d->tls_key_len);
	if (!d->tls_key) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(d->tls_key, t->key_pem, d->tls_key_len);
	tls[1].ptr_value = d->tls_key;
	if (listener_open(&d->tls_listener, t->host, t->port, err, errlen) != 0)
		goto out_wipe;
	keeping_tls_err = 1;
	d->mhd_tls = start_mhd(d, d->tls_listener.fd, MHD_USE_TLS, tls);
	keeping_tls_err = 0;
	if (!d->mhd_tls) {
		snprintf(
		    err, errlen, "cannot start the HTTPS daemon on %s: %s", d->tls_listener.bound,
		    d->tls_err[0] ? d->tls_err : "libmicrohttpd refused the certificate or key");
		close(d->tls_listener.fd);
		goto out_wipe;
	}
	return 0;
out_wipe:
	OPENSSL_cleanse(d->tls_key, d->tls_key_len);
	free(d->tls_key);
	d->tls_key = NULL;
	return -1;
}

struct daemon *daemon_start(const struct daemon_config *cfg, char *err, size_t errlen)
{
	struct MHD_OptionItem none[] = { { MHD_OPTION_END, 0, NULL } };
	struct daemon *d = calloc(1, sizeof(*d));

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->cfg = *cfg;
	d->limits = cfg->limits;
	d->limits.connections = listener_size_connections(
	    cfg->limits.connections, DAEMON_CONNECTIONS_MAX, DAEMON_FD_RESERVE + MHD_SPARE_CONNS);
	if (d->limits.per_client == 0 || d->limits.per_client > d->limits.connections)
		d->limits.per_client = d->limits.connections;
	conns_init(&d->conns, cfg->wait_clock, d->limits.connections, d->limits.per_client,
	           d->limits.header_timeout_ms, d->limits.idle_timeout_ms);
	if (listener_open(&d->listener, cfg->host, cfg->port, err, errlen) != 0)
		goto out_free;
	d->threads = cfg->threads ? cfg->threads : cpus_usable();
	d->delays = delays_start(cfg->wait_clock, d->limits.held, sweep, d, SWEEP_MS);
	if (!d->delays) {
		snprintf(err, errlen, "out of memory");
		goto out_close;
	}
	d->mhd = start_mhd(d, d->listener.fd, 0, none);
	if (!d->mhd) {
		snprintf(err, errlen, "cannot start the HTTP daemon on %s", d->listener.bound);
		goto out_delays;
	}
	if (cfg->tls.host && start_tls(d, &cfg->tls, err, errlen) != 0)
		goto out_mhd;
	return d;

out_mhd:
	MHD_stop_daemon(d->mhd);
out_delays:
	delays_free(d->delays);
out_close:
	close(d->listener.fd);
out_free:
	conns_release(&d->conns);
	free(d);
	return NULL;
}

const char *daemon_bound(const struct daemon *d)
{
	return d->listener.bound;
}

const char *daemon_bound_host(const struct daemon *d)
{
	return d->listener.bound_host;
}

const char *daemon_tls_bound(const struct daemon *d)
{
	return d->mhd_tls ? d->tls_listener.bound : NULL;
}

int daemon_tls_loopback(const struct daemon *d)
{
	return d->mhd_tls ? d->tls_listener.loopback : 1;
}

int daemon_bound_loopback(const struct daemon *d)
{
	return d->listener.loopback && daemon_tls_loopback(d);
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
	struct conns_counts cc;

	conns_counts(&d->conns, &cc);
	out->open = cc.open;
	out->reading = cc.reading;
	out->idle = cc.idle;
	out->cap_hits = cc.cap_hits;
	out->timed_out = cc.timed_out;
	out->sweeps = cc.sweeps;
	out->since_sweep_ms = cc.since_sweep_ms;
	out->held = (unsigned)delays_held(d->delays);
}

int daemon_add_connection(struct daemon *d, int fd, const struct sockaddr *peer, unsigned peer_len)
{
	/* libmicrohttpd takes fd either way; with MHD_USE_ITC a worker
	 * picks the connection up at once. */
	return MHD_add_connection(d->mhd, fd, peer, (socklen_t)peer_len) == MHD_YES ? 0 : -1;
}

void daemon_wake(struct request *rq)
{
	delays_resume(rq->daemon->delays, rq->conn, &rq->woken);
}

int64_t daemon_wait_now_ms(const struct request *rq)
{
	return clock_now_ms(rq->daemon->cfg.wait_clock);
}

void daemon_poll(struct daemon *d)
{
	delays_poll(d->delays);
	sweep(d);
}

void daemon_stop(struct daemon *d, int64_t grace_ms)
{
	int64_t deadline;
	unsigned open;

	if (!d)
		return;
	/* Nothing is added from here (daemon_add_connection). */
	if (d->cfg.stopping)
		d->cfg.stopping(d->cfg.cls, d->cfg.srv);
	/* From here every answer says Connection: close. */
	atomic_store(&d->draining, 1);
	/* Stop accepting: the listening socket is shut now, not after the
	 * drain, or the kernel would go on accepting into the backlog and
	 * those clients would hang. It is shut, not closed: libmicrohttpd's
	 * threads may still be taking it out of their epoll sets, and a
	 * closed number could be reused under them. It is closed once they
	 * have stopped. */
	MHD_quiesce_daemon(d->mhd);
	shutdown(d->listener.fd, SHUT_RDWR);
	if (d->mhd_tls) {
		MHD_quiesce_daemon(d->mhd_tls);
		shutdown(d->tls_listener.fd, SHUT_RDWR);
	}
	/* Held requests are answered now. */
	delays_flush(d->delays);
	/* Idle connections go; a request that has arrived is answered. */
	deadline = now_ms(d) + grace_ms;
	do {
		sweep(d);
		open = conns_wait_closed(&d->conns, 20);
	} while (open > 0 && now_ms(d) < deadline);
	if (open > 0)
		log_msg(LOG_WARN, "stopping with %u connection(s) still open after the drain",
		        open);
	MHD_stop_daemon(d->mhd);
	close(d->listener.fd);
	if (d->mhd_tls) {
		MHD_stop_daemon(d->mhd_tls);
		close(d->tls_listener.fd);
		OPENSSL_cleanse(d->tls_key, d->tls_key_len);
		free(d->tls_key);
	}
	delays_free(d->delays);
	conns_release(&d->conns);
	free(d);
}
