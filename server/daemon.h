/*
 * The top layer of metatokend: the libmicrohttpd daemon. It owns the
 * listener (and an optional HTTPS one), the limits a hostile local client
 * runs into, and the drain on shutdown. It knows no path and no flavour: every request it reads
 * whole goes to one dispatch callback (route.c's), and comes back as a reply (reply.h) to queue.
 *
 * Limits (README.md, "Limits"):
 * - connections: at most `connections` open at once, sized to the file
 *   descriptor limit (whose soft value is raised to the hard one where
 *   allowed); at most `per_client` from one client address. A connection
 *   over either cap gets 503 with Retry-After and is closed.
 * - each request's line and headers (and body) must arrive within
 *   `header_timeout_ms` of the request line, however slowly they trickle;
 *   an idle keep-alive connection is closed after `idle_timeout_ms`. A
 *   sweep every 250 ms enforces both (conns.h), so no request reads a clock
 *   for them.
 * - at most `held` requests are held (latency faults, wait_for_change) at
 *   once; a hold over the cap is answered at once.
 * A warning line is logged when a cap is hit (at most one per cap every
 * 10 s of the wait clock).
 *
 * HTTPS: with cfg.tls, a second libmicrohttpd daemon listens with TLS and
 * serves the same requests through the same callbacks, counted under the
 * same caps and deadlines and drained with the first; connections handed
 * over with daemon_add_connection() (the functions' Runtime API) stay on
 * the plain one, whose traffic is never TLS.
 *
 * Every wait (holds, deadlines, the drain) runs on the wait clock given in
 * the configuration: the real monotonic time, or a test's fake source, in
 * which case time moves only when the test says so and daemon_poll() runs
 * what fell due.
 */
#ifndef METATOKEN_SERVER_DAEMON_H
#define METATOKEN_SERVER_DAEMON_H

#include <stddef.h>
#include <stdint.h>

struct clock;
struct request;
struct sockaddr;
struct server;
struct daemon;

#define DAEMON_CONNECTIONS_MAX 4096 /* the most connections, whatever the fd limit */
#define DAEMON_FD_RESERVE      64   /* descriptors kept for everything but connections */

struct daemon_limits {
	unsigned connections;      /* 0: as many as the fd limit allows */
	unsigned per_client;       /* 0: same as connections */
	unsigned held;             /* requests held at once */
	int64_t header_timeout_ms; /* request line to the end of the request */
	int64_t idle_timeout_ms;   /* a keep-alive connection with no request */
	size_t body_max;           /* longest request body; longer gets 413 */
};

/* The defaults: every cap on, sized for a developer's machine. */
#define DAEMON_LIMITS_DEFAULT                                                                      \
	{                                                                                          \
		.connections = 0, .per_client = 1024, .held = 1024, .header_timeout_ms = 10000,    \
		.idle_timeout_ms = 120000, .body_max = 16 * 1024,                                  \
	}

/* The HTTPS listener; host NULL: none, else both PEM texts are required. */
struct daemon_tls {
	const char *host;
	uint16_t port;        /* 0: an ephemeral port */
	const char *cert_pem; /* NUL-terminated PEM texts, borrowed for daemon_start() only: */
	const char *key_pem;  /* the daemon keeps its own copy of the key, wiped at stop */
};

struct daemon_config {
	const char *host; /* name or address to listen on */
	uint16_t port;    /* 0: an ephemeral port */
	struct daemon_limits limits;
	struct clock *wait_clock; /* every wait; borrowed, outlives the daemon */
	struct server *srv;       /* put into every request for its handlers */
	unsigned threads;         /* request threads; 0: one per usable CPU */
	/* The most a request body to url may hold, when not limits.body_max
	 * (0: that). Asked when the request line and headers have arrived. */
	size_t (*body_max)(void *cls, struct server *srv, const char *url);
	/* Answers rq: fills in its reply, or asks to hold it (rq->hold_ms),
	 * after which it is called again. */
	void (*dispatch)(void *cls, struct request *rq);
	/* A request ends, answered or not (rq->status 0 when not). */
	void (*ended)(void *cls, struct request *rq);
	/* Optional. The site (rq->site) of the requests on a connection, from
	 * its socket fd (a connection added with daemon_add_connection() is
	 * told by its local address): asked once per connection, from the
	 * daemon's threads; NULL: cls. */
	void *(*site_of)(void *cls, struct server *srv, int fd);
	/* Optional. daemon_stop() calls it first: whoever adds connections
	 * stops for good before it returns. */
	void (*stopping)(void *cls, struct server *srv);
	void *cls;
	struct daemon_tls tls; /* optional: an HTTPS listener too */
};

/*
 * Binds the listener and starts serving. On failure returns NULL with a
 * one-line reason (bad address, port in use) in err.
 */
struct daemon *daemon_start(const struct daemon_config *cfg, char *err, size_t errlen);

/*
 * Serves connection fd, accepted by the caller on a listener of its own,
 * from peer, as if it had come to the daemon's listener: its requests are
 * served by the same threads, and their site is what cfg.site_of says for
 * fd. One with a site of its own counts against `connections` but not
 * against `per_client` (it is the caller's, not a client's). Takes fd (closed
 * on failure). Returns 0, or -1. Call from any thread, never after
 * cfg.stopping has been called.
 */
int daemon_add_connection(struct daemon *d, int fd, const struct sockaddr *peer, unsigned peer_len);

/* What clients dial: "127.0.0.1:8169", "[::1]:8169". */
const char *daemon_bound(const struct daemon *d);
/* The bound address alone: "127.0.0.1", "::1". */
const char *daemon_bound_host(const struct daemon *d);
/* What HTTPS clients dial ("127.0.0.1:8443"), or NULL without TLS. */
const char *daemon_tls_bound(const struct daemon *d);
/* Whether the HTTPS listener's address is a loopback one (1 without TLS). */
int daemon_tls_loopback(const struct daemon *d);
/* Whether the bound address is a loopback one (judged on the socket); with
 * TLS, whether both are. */
int daemon_bound_loopback(const struct daemon *d);
/* The number of request threads. */
unsigned daemon_threads(const struct daemon *d);
/* The limits in force (connections sized to the fd limit). */
struct daemon_limits daemon_limits(const struct daemon *d);

struct daemon_counts {
	unsigned open;      /* connections */
	unsigned reading;   /* connections with a request line and not yet the rest */
	unsigned idle;      /* connections waiting for a request */
	unsigned held;      /* requests held */
	unsigned cap_hits;  /* connections and holds refused by a cap, ever */
	unsigned timed_out; /* connections closed by a deadline, ever */
	/* Deadline sweeps run, ever, and the time since the last one on the
	 * wait clock (-1: none yet): a sweep that stopped shows here. */
	unsigned long sweeps;
	int64_t since_sweep_ms;
};
void daemon_counts(struct daemon *d, struct daemon_counts *out);

/*
 * Ends the hold of a request whose handler set rq->hold_ms, now, from any
 * thread: the dispatch callback runs again (rq->resumed). A wake that
 * comes while the handler still runs cancels the hold it is about to ask
 * for. Call only while the request lives, i.e. before the ended callback
 * has run for it (whoever keeps rq for a later wake forgets it there).
 */
void daemon_wake(struct request *rq);
/* The wait clock's now, on which rq->hold_ms counts (a handler that
 * holds again for what is left of a deadline reads it). */
int64_t daemon_wait_now_ms(const struct request *rq);

/* Runs what is due on the wait clock now: held requests to resume,
 * deadlines to enforce. The daemon's own thread does this on the real
 * clock; a test on a fake clock calls it after moving the clock. */
void daemon_poll(struct daemon *d);

/*
 * Drains and stops: stops accepting at once, answers held requests now,
 * answers every request that has arrived with `Connection: close`, closes
 * idle connections, and waits (on the wait clock) at most grace_ms for the
 * rest before stopping. Frees d. No operation is performed if d is NULL.
 */
void daemon_stop(struct daemon *d, int64_t grace_ms);

#endif
