/*
 * The GCE metadata that changes while the daemon runs: instance and project
 * attributes and instance labels, set through the control API
 * (control_meta.c). The tree gce.c serves is rebuilt on each change and
 * swapped in under a write lock; gce.c serves under the read lock, and
 * registers wait_for_change watches here, which a change wakes.
 */
#ifndef METATOKEN_SERVER_GCE_LIVE_H
#define METATOKEN_SERVER_GCE_LIVE_H

#include <stddef.h>

#include "config.h"

struct server;
struct request;
struct gce_tree;
struct cJSON;

/* The maps the tree serves, in the order they were set. */
enum gce_map {
	GCE_MAP_INSTANCE_ATTRIBUTES,
	GCE_MAP_PROJECT_ATTRIBUTES,
	GCE_MAP_LABELS,
	GCE_MAP_COUNT,
};

struct gce_maps {
	struct config_kv *kv[GCE_MAP_COUNT];
	size_t n[GCE_MAP_COUNT];
};

struct gce_live;

#define GCE_MAP_MAX_KEYS 1024 /* keys in one map */

/* Builds the tree from srv->cfg. NULL (and why in err) on failure. */
struct gce_live *gce_live_new(const struct server *srv, char *err, size_t errlen);
/* No operation is performed if l is NULL. */
void gce_live_free(struct gce_live *l);

/* The current tree, valid until gce_live_read_end(). */
struct gce_tree *gce_live_read(struct gce_live *l);
void gce_live_read_end(struct gce_live *l);

/* Call between gce_live_read() and gce_live_read_end(): rq, about to be
 * held until deadline_ms on the wait clock, is woken by the next change.
 * Its record lives in rq->hstate until gce_live_forget(). */
void gce_live_watch(struct gce_live *l, struct request *rq, int64_t deadline_ms);
/* rq is back from its hold: ends its watch. Returns 1 if a change woke it,
 * with the deadline its watch was given in *deadline_ms; else 0 (its
 * timeout ended it, or it never watched). */
int gce_live_unwatch(struct gce_live *l, struct request *rq, int64_t *deadline_ms);
/* The request ended: its watch, if any, is forgotten and freed. */
void gce_live_forget(struct gce_live *l, struct request *rq);

/*
 * Checks a patch for one map: an object of string values (set) or null
 * (delete), with the configuration's key rules. Returns 0, or 1 with the
 * error, naming the field under `field` (e.g. "attributes"), in err.
 */
int gce_live_check(const struct cJSON *patch, const char *field, char *err, size_t errlen);
/* Applies checked patches (NULL: that map unchanged) at once, so a
 * reader sees all of them or none, and wakes every watch. Returns 0; -1
 * when out of memory; 1 when map *full would pass GCE_MAP_MAX_KEYS.
 * Nothing changes unless 0. */
int gce_live_apply(struct gce_live *l, const struct server *srv,
                   const struct cJSON *const patches[GCE_MAP_COUNT], enum gce_map *full);
/* Back to the configured maps; wakes every watch. -1: out of memory. */
int gce_live_reset(struct gce_live *l, const struct server *srv);
/*
 * A reloaded configuration (reload.c): when next's attributes or labels
 * differ from those configured so far, they become the configured ones
 * (what a reset goes back to) and are served at once, replacing changes
 * made through the control API, and every watch wakes. Returns 1 when
 * they changed, 0 when not (nothing happens), -1 when out of memory
 * (nothing changes).
 */
int gce_live_reconfigure(struct gce_live *l, const struct server *srv, const struct config *next);
/* A copy of map `which` as a JSON object, or NULL when out of memory. */
struct cJSON *gce_live_map_json(struct gce_live *l, enum gce_map which);

#endif
