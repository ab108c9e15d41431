/*
 * Request counters for /metrics (ops.c formats them): requests by route
 * row, flavour and status, and a latency histogram by flavour. Labels are
 * the route table's patterns and the flavours' names, never a path a client
 * sent, and the tables are fixed arrays: a client that walks random paths
 * or answers with odd statuses cannot grow them (a pair that finds no room
 * is counted in `overflow`). The counters only grow: the control API's
 * reset leaves them alone, as Prometheus expects of a counter.
 */
#ifndef METATOKEN_SERVER_METRICS_H
#define METATOKEN_SERVER_METRICS_H

#include <pthread.h>
#include <stdint.h>

#define METRICS_PAIRS     256  /* distinct (route, flavour, status) triples */
#define METRICS_FLAVOURS  16   /* distinct flavour names */
#define METRICS_BUCKETS   12   /* latency buckets, +Inf aside */
#define METRICS_UNMATCHED (-1) /* no row with a handler matched the path */

/* The buckets' upper bounds, in seconds. */
extern const double metrics_bucket_s[METRICS_BUCKETS];

struct metrics_pair {
	int route;           /* a row of the route table, or METRICS_UNMATCHED */
	const char *flavour; /* static: the flavour's name */
	unsigned status;
	uint64_t count;
};

struct metrics_hist {
	const char *flavour;              /* static; NULL: unused */
	uint64_t bucket[METRICS_BUCKETS]; /* not cumulative: each its own range */
	uint64_t count;
	double sum_s;
};

struct metrics {
	pthread_mutex_t lock;
	struct metrics_pair pairs[METRICS_PAIRS];
	unsigned n_pairs;
	uint64_t overflow;
	struct metrics_hist hist[METRICS_FLAVOURS];
};

void metrics_init(struct metrics *m);
void metrics_release(struct metrics *m);
/* Counts a request answered (or ended) with status, routed to row `route`
 * of flavour (a static name), that took seconds (< 0: not timed). */
void metrics_count(struct metrics *m, int route, const char *flavour, unsigned status,
                   double seconds);
/* A consistent copy, for formatting without the lock held long. */
void metrics_copy(struct metrics *m, struct metrics *out);

#endif
