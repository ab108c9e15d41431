/*
 * Request counters by path and status, for GET /metatoken/v1/stats. The
 * table is bounded: once STATS_SLOTS * 3 / 4 distinct (path, status) pairs
 * have been seen, further new pairs are counted together as "other", so a
 * client that walks random paths cannot grow the server's memory.
 *
 * The table starts empty and doubles as pairs arrive, up to STATS_SLOTS
 * slots (about 94 KiB), so an idle server pays a few KiB for it rather than
 * the whole table (issue 6). A pair that cannot get a slot because memory
 * ran out is counted under "other" too.
 */
#ifndef METATOKEN_SERVER_STATS_H
#define METATOKEN_SERVER_STATS_H

#include <pthread.h>
#include <stdint.h>

#define STATS_SLOTS         512 /* a power of two */
#define STATS_SLOTS_INITIAL 16  /* a power of two, at most STATS_SLOTS */
#define STATS_PATH_MAX      160

struct stats_slot {
	uint64_t hash; /* 0: empty */
	unsigned status;
	uint64_t count;
	char path[STATS_PATH_MAX + 1];
};

struct stats {
	pthread_mutex_t lock;
	struct stats_slot *slots; /* cap slots; NULL while cap is 0 */
	unsigned cap;             /* 0, or a power of two up to STATS_SLOTS */
	unsigned used;            /* at most cap * 3 / 4 */
	uint64_t other;
	uint64_t total;
};

void stats_init(struct stats *s);
void stats_release(struct stats *s);
void stats_reset(struct stats *s);
void stats_count(struct stats *s, const char *path, unsigned status);

struct cJSON;
/* Adds {"total": N, "other": N, "paths": {"/p": {"200": N, ...}, ...}} under
 * `requests` of obj. Returns 0, or -1 when out of memory. */
int stats_add_json(struct stats *s, struct cJSON *obj);

#endif
