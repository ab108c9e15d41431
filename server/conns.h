/*
 * The open connections and their caps, for the daemon (daemon.c): how many
 * each client address holds, where each is in its life, and the deadlines
 * a trickling or idle client runs into. Knows sockets, not libmicrohttpd.
 *
 * Thread-safe: one lock. A record's socket is shut down (never closed) by
 * the sweep, under the lock, and conns_closed() runs before the socket is
 * closed, so the sweep never touches a descriptor reused since.
 */
#ifndef METATOKEN_SERVER_CONNS_H
#define METATOKEN_SERVER_CONNS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct clock;
struct sockaddr;

#define CONNS_ADDR_BUCKETS 1024 /* per-client counts: a power of two */

enum conn_state {
	CONN_IDLE,    /* waiting for a request line (since: accept or last answer) */
	CONN_READING, /* request line seen, headers or body still coming */
	CONN_BUSY,    /* read whole: being answered, or held */
};

/* Why a new connection gets 503 instead of an answer. */
enum conn_refusal { CONN_OK, CONN_OVER_TOTAL, CONN_OVER_PER_CLIENT };

/* The caps warned about, each at most once every CONNS_WARN_EVERY_MS. */
enum conns_cap { CAP_CONNECTIONS, CAP_PER_CLIENT, CAP_HELD, CAP_N };
#define CONNS_WARN_EVERY_MS 10000

struct conn_addr;

struct conn_rec {
	struct conn_rec *prev, *next;
	struct conn_addr *addr;
	int fd;
	/* Written by the connection's own thread without the lock or a clock
	 * read (the hot path); read by the sweep under the lock. */
	_Atomic int state;           /* enum conn_state */
	_Atomic unsigned long moves; /* state changes so far */
	/* The sweep's own: the moves it last saw, and when it first saw them
	 * (on the wait clock). A state's age is counted from there, so a
	 * deadline is late by at most one sweep interval. */
	unsigned long seen_moves;
	int64_t seen_ms;
	enum conn_refusal refuse;
	int shut;   /* shut down by a deadline or the drain */
	void *site; /* its requests' site; NULL: the daemon's (daemon.c's, unlocked) */
};

struct conns {
	pthread_mutex_t lock;
	pthread_cond_t closed; /* broadcast when one closes */
	struct clock *clock;   /* the wait clock; borrowed */
	unsigned max_total, max_per_client;
	int64_t header_timeout_ms, idle_timeout_ms;
	struct conn_rec *head;
	unsigned n_open;
	struct conn_addr *addrs[CONNS_ADDR_BUCKETS];
	unsigned cap_hits, timed_out;
	unsigned long sweeps;     /* conns_sweep() calls so far */
	int64_t swept_ms;         /* when the last one ran, on the wait clock */
	int64_t warned_ms[CAP_N]; /* when each cap was last warned about */
};

void conns_init(struct conns *c, struct clock *wait_clock, unsigned max_total,
                unsigned max_per_client, int64_t header_timeout_ms, int64_t idle_timeout_ms);
void conns_release(struct conns *c);

/*
 * A connection from `peer` on socket fd has opened; NULL peer: one of the
 * server's own, counted in the total but under no per-client cap. Returns
 * its record, which says whether a cap refuses it (and then the cap was
 * warned about); NULL when out of memory.
 */
struct conn_rec *conns_opened(struct conns *c, int fd, const struct sockaddr *peer);
/* It closed (before its socket is closed). No operation if rec is NULL. */
void conns_closed(struct conns *c, struct conn_rec *rec);
/* It moved to `state`. No operation if rec is NULL. Takes no lock and
 * reads no clock: call it from the connection's own thread only. */
void conns_set_state(struct conns *c, struct conn_rec *rec, enum conn_state state);

/*
 * Enforces the deadlines now: a request not read whole within the header
 * timeout of its request line, or a connection idle past the idle timeout,
 * is shut down, and so is one waiting for a request (or the rest of one)
 * whose client closed its side. While
 * draining, idle connections with nothing to read go too. A state's age
 * counts from the first sweep that saw it, so call this often (the daemon
 * sweeps every 250 ms); a test on a fake clock sweeps once right after the
 * state it times begins.
 */
void conns_sweep(struct conns *c, int draining);

/* Counts a cap hit and logs `fmt` as a warning, rate-limited per cap. */
void conns_warn(struct conns *c, enum conns_cap cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct conns_counts {
	unsigned open, reading, idle; /* connections, and those in each state */
	unsigned cap_hits;            /* refused by a cap (connections or holds), ever */
	unsigned timed_out;           /* closed by a deadline, ever */
	unsigned long sweeps;         /* deadline sweeps run, ever */
	int64_t since_sweep_ms;       /* since the last one on the wait clock; -1: none yet */
};
void conns_counts(struct conns *c, struct conns_counts *out);

/* Waits at most wait_ms of real time for a connection to close; returns the
 * number still open. */
unsigned conns_wait_closed(struct conns *c, int64_t wait_ms);

#endif
