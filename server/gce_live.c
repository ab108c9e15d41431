/*
 * The GCE metadata that changes (gce_live.h). A change builds a whole new
 * tree off the lock, then swaps it in under the write lock, so a reader
 * sees the old tree or the new one, never a mix; the watches registered
 * while the old tree was read are woken after the swap.
 */
#include "gce_live.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "gce.h"
#include "grow.h"
#include "reply.h"
#include "server.h"

#define KEY_MAX_LEN 128 /* as the configuration's maps (config_sections.c) */

/* A watch's record, in its request's hstate. */
struct gce_watch {
	int64_t deadline_ms; /* on the wait clock */
	int listed;          /* in watchers: a change wakes it */
	int changed;         /* a change woke it */
};

/* A tree a change replaced, with the maps its strings live in: kept until
 * metatokend exits, because the daemon's threads keep built responses
 * whose bodies are a tree's text (reply.c's per-thread cache of answers
 * that repeat), which is what makes a metadata leaf cost little. A change
 * is a test's control call: a few KiB each. */
struct gce_retired {
	struct gce_tree *tree;
	struct gce_maps maps;
	struct gce_retired *next;
};

struct gce_live {
	pthread_mutex_t change_lock; /* one change at a time; the maps, for changes */
	struct gce_retired *retired; /* under change_lock */
	pthread_rwlock_t lock;       /* the tree and maps: read to serve, write to swap */
	struct gce_tree *tree;
	struct gce_maps maps;
	/* What a reset goes back to: the configuration's maps, the file's at
	 * start, a reloaded file's after SIGHUP. Under change_lock. */
	struct gce_maps configured;
	pthread_mutex_t watch_lock; /* watchers, and the records of their watches */
	struct request **watchers;
	size_t n_watchers, cap_watchers;
};

static void maps_free(struct gce_maps *m)
{
	for (int w = 0; w < GCE_MAP_COUNT; w++) {
		for (size_t i = 0; i < m->n[w]; i++) {
			free(m->kv[w][i].key);
			free(m->kv[w][i].value);
		}
		free(m->kv[w]);
		m->kv[w] = NULL;
		m->n[w] = 0;
	}
}

/* Appends key=value to map w; -1 when out of memory. */
static int map_put(struct gce_maps *m, int w, const char *key, const char *value)
{
	struct config_kv *kv = realloc(m->kv[w], (m->n[w] + 1) * sizeof(*kv));
	char *k, *v;

	if (!kv)
		return -1;
	m->kv[w] = kv;
	k = strdup(key);
	v = strdup(value);
	if (!k || !v) {
		free(k);
		free(v);
		return -1;
	}
	kv[m->n[w]].key = k;
	kv[m->n[w]].value = v;
	m->n[w]++;
	return 0;
}

static int map_copy(struct gce_maps *dst, int w, const struct config_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (map_put(dst, w, kv[i].key, kv[i].value) != 0)
			return -1;
	return 0;
}

static int maps_from_config(struct gce_maps *m, const struct config *c)
{
	if (map_copy(m, GCE_MAP_INSTANCE_ATTRIBUTES, c->instance_attributes,
	             c->n_instance_attributes) != 0 ||
	    map_copy(m, GCE_MAP_PROJECT_ATTRIBUTES, c->project_attributes,
	             c->n_project_attributes) != 0 ||
	    map_copy(m, GCE_MAP_LABELS, c->labels, c->n_labels) != 0) {
		maps_free(m);
		return -1;
	}
	return 0;
}

struct gce_live *gce_live_new(const struct server *srv, char *err, size_t errlen)
{
	struct gce_live *l = calloc(1, sizeof(*l));

	if (!l || maps_from_config(&l->maps, &srv->cfg) != 0 ||
	    maps_from_config(&l->configured, &srv->cfg) != 0) {
		if (l)
			maps_free(&l->maps);
		free(l);
		snprintf(err, errlen, "out of memory building the metadata tree");
		return NULL;
	}
	l->tree = gce_tree_build(srv, &l->maps, err, errlen);
	if (!l->tree) {
		maps_free(&l->maps);
		free(l);
		return NULL;
	}
	pthread_rwlock_init(&l->lock, NULL);
	pthread_mutex_init(&l->change_lock, NULL);
	pthread_mutex_init(&l->watch_lock, NULL);
	return l;
}

void gce_live_free(struct gce_live *l)
{
	if (!l)
		return;
	gce_tree_free(l->tree);
	maps_free(&l->maps);
	maps_free(&l->configured);
	while (l->retired) {
		struct gce_retired *r = l->retired;

		l->retired = r->next;
		gce_tree_free(r->tree);
		maps_free(&r->maps);
		free(r);
	}
	free(l->watchers);
	pthread_rwlock_destroy(&l->lock);
	pthread_mutex_destroy(&l->change_lock);
	pthread_mutex_destroy(&l->watch_lock);
	free(l);
}

struct gce_tree *gce_live_read(struct gce_live *l)
{
	pthread_rwlock_rdlock(&l->lock);
	return l->tree;
}

void gce_live_read_end(struct gce_live *l)
{
	pthread_rwlock_unlock(&l->lock);
}

void gce_live_watch(struct gce_live *l, struct request *rq, int64_t deadline_ms)
{
	struct gce_watch *w;

	pthread_mutex_lock(&l->watch_lock);
	w = rq->hstate;
	if (!w)
		w = rq->hstate = calloc(1, sizeof(*w));
	/* Out of memory: the watch still ends at its timeout. */
	if (w && !w->listed &&
	    grow_reserve(&l->watchers, &l->cap_watchers, l->n_watchers + 1, SIZE_MAX,
	                 sizeof(*l->watchers)) == 0) {
		l->watchers[l->n_watchers++] = rq;
		w->listed = 1;
		w->changed = 0;
		w->deadline_ms = deadline_ms;
	}
	pthread_mutex_unlock(&l->watch_lock);
}

/* Takes rq off the list, under the watch lock. */
static void unlist(struct gce_live *l, struct request *rq, struct gce_watch *w)
{
	if (!w->listed)
		return;
	for (size_t i = 0; i < l->n_watchers; i++)
		if (l->watchers[i] == rq) {
			l->watchers[i] = l->watchers[--l->n_watchers];
			break;
		}
	w->listed = 0;
}

int gce_live_unwatch(struct gce_live *l, struct request *rq, int64_t *deadline_ms)
{
	struct gce_watch *w;
	int changed = 0;

	/* rq->hstate is written by rq's own thread only: no watch, no lock. */
	if (!rq->hstate)
		return 0;
	pthread_mutex_lock(&l->watch_lock);
	w = rq->hstate;
	if (w) {
		unlist(l, rq, w);
		changed = w->changed;
		*deadline_ms = w->deadline_ms;
		w->changed = 0;
	}
	pthread_mutex_unlock(&l->watch_lock);
	return changed;
}

void gce_live_forget(struct gce_live *l, struct request *rq)
{
	if (!rq->hstate)
		return; /* most requests: no watch, and no lock taken */
	pthread_mutex_lock(&l->watch_lock);
	if (rq->hstate) {
		unlist(l, rq, rq->hstate);
		free(rq->hstate);
		rq->hstate = NULL;
	}
	pthread_mutex_unlock(&l->watch_lock);
}

/* Wakes and forgets every watch: each held request runs again on the new
 * tree, and answers or, its value unchanged, is held again (gce.c). */
static void wake_all(struct gce_live *l)
{
	pthread_mutex_lock(&l->watch_lock);
	for (size_t i = 0; i < l->n_watchers; i++) {
		struct gce_watch *w = l->watchers[i]->hstate;

		w->listed = 0;
		w->changed = 1;
		daemon_wake(l->watchers[i]);
	}
	l->n_watchers = 0;
	pthread_mutex_unlock(&l->watch_lock);
}

int gce_live_check(const cJSON *patch, const char *field, char *err, size_t errlen)
{
	const cJSON *e;

	if (!cJSON_IsObject(patch)) {
		snprintf(err, errlen, "%s: must be an object of strings (null deletes a key)",
		         field);
		return 1;
	}
	if (cJSON_GetArraySize(patch) > GCE_MAP_MAX_KEYS) {
		snprintf(err, errlen, "%s: at most %d keys", field, GCE_MAP_MAX_KEYS);
		return 1;
	}
	cJSON_ArrayForEach(e, patch)
	{
		size_t len = strlen(e->string);

		if (len < 1 || len > KEY_MAX_LEN || strchr(e->string, '/')) {
			snprintf(err, errlen,
			         "%s: key \"%.40s\" must be 1..%d characters without '/'", field,
			         e->string, KEY_MAX_LEN);
			return 1;
		}
		if (!cJSON_IsString(e) && !cJSON_IsNull(e)) {
			snprintf(err, errlen, "%s.%s: must be a string, or null to delete the key",
			         field, e->string);
			return 1;
		}
	}
	return 0;
}

static long find(const struct gce_maps *m, int w, const char *key)
{
	for (size_t i = 0; i < m->n[w]; i++)
		if (strcmp(m->kv[w][i].key, key) == 0)
			return (long)i;
	return -1;
}

/* next = the current map w with patch applied: replaced keys keep their
 * place, new ones go last, null ones go. */
static int merge(struct gce_maps *next, const struct gce_maps *cur, int w, const cJSON *patch)
{
	const cJSON *e;

	for (size_t i = 0; i < cur->n[w]; i++) {
		const cJSON *p =
		    patch ? cJSON_GetObjectItemCaseSensitive(patch, cur->kv[w][i].key) : NULL;

		if (cJSON_IsNull(p))
			continue;
		if (map_put(next, w, cur->kv[w][i].key,
		            cJSON_IsString(p) ? p->valuestring : cur->kv[w][i].value) != 0)
			return -1;
	}
	if (!patch)
		return 0;
	cJSON_ArrayForEach(e, patch)
	{
		if (cJSON_IsString(e) && find(next, w, e->string) < 0 &&
		    map_put(next, w, e->string, e->valuestring) != 0)
			return -1;
	}
	return 0;
}

/* Swaps in maps m (taken on success) and a tree built from them, then wakes. */
static int swap_in(struct gce_live *l, const struct server *srv, struct gce_maps *m)
{
	char err[128];
	struct gce_retired *r = calloc(1, sizeof(*r));
	struct gce_tree *t = r ? gce_tree_build(srv, m, err, sizeof(err)) : NULL;

	if (!t) {
		free(r);
		return -1;
	}
	pthread_rwlock_wrlock(&l->lock);
	r->tree = l->tree;
	r->maps = l->maps;
	l->tree = t;
	l->maps = *m;
	pthread_rwlock_unlock(&l->lock);
	r->next = l->retired;
	l->retired = r;
	wake_all(l);
	return 0;
}

int gce_live_apply(struct gce_live *l, const struct server *srv,
                   const cJSON *const patches[GCE_MAP_COUNT], enum gce_map *full)
{
	struct gce_maps next = { 0 };
	int rc = -1;

	/* One change at a time, each merged from the last: readers go on
	 * meanwhile, as only changes write the maps. */
	pthread_mutex_lock(&l->change_lock);
	for (int w = 0; w < GCE_MAP_COUNT; w++)
		if (merge(&next, &l->maps, w, patches[w]) != 0)
			goto out;
	for (int w = 0; w < GCE_MAP_COUNT; w++)
		if (next.n[w] > GCE_MAP_MAX_KEYS) {
			*full = (enum gce_map)w;
			rc = 1;
			goto out;
		}
	rc = swap_in(l, srv, &next);
out:
	if (rc != 0)
		maps_free(&next);
	pthread_mutex_unlock(&l->change_lock);
	return rc;
}

/* A copy of m into next; -1 when out of memory (next then freed). */
static int maps_copy(struct gce_maps *next, const struct gce_maps *m)
{
	for (int w = 0; w < GCE_MAP_COUNT; w++)
		if (map_copy(next, w, m->kv[w], m->n[w]) != 0) {
			maps_free(next);
			return -1;
		}
	return 0;
}

static int maps_equal(const struct gce_maps *a, const struct gce_maps *b)
{
	for (int w = 0; w < GCE_MAP_COUNT; w++) {
		if (a->n[w] != b->n[w])
			return 0;
		for (size_t i = 0; i < a->n[w]; i++)
			if (strcmp(a->kv[w][i].key, b->kv[w][i].key) ||
			    strcmp(a->kv[w][i].value, b->kv[w][i].value))
				return 0;
	}
	return 1;
}

int gce_live_reset(struct gce_live *l, const struct server *srv)
{
	struct gce_maps next = { 0 };
	int rc = -1;

	pthread_mutex_lock(&l->change_lock);
	if (maps_copy(&next, &l->configured) == 0 && (rc = swap_in(l, srv, &next)) != 0)
		maps_free(&next);
	pthread_mutex_unlock(&l->change_lock);
	return rc;
}

int gce_live_reconfigure(struct gce_live *l, const struct server *srv, const struct config *next)
{
	struct gce_maps conf = { 0 }, serve = { 0 };
	int rc = -1;

	if (maps_from_config(&conf, next) != 0)
		return -1;
	pthread_mutex_lock(&l->change_lock);
	if (maps_equal(&conf, &l->configured)) {
		rc = 0;
		goto out;
	}
	if (maps_copy(&serve, &conf) != 0)
		goto out;
	if (swap_in(l, srv, &serve) != 0) {
		maps_free(&serve);
		goto out;
	}
	maps_free(&l->configured);
	l->configured = conf;
	memset(&conf, 0, sizeof(conf));
	rc = 1;
out:
	pthread_mutex_unlock(&l->change_lock);
	maps_free(&conf);
	return rc;
}

cJSON *gce_live_map_json(struct gce_live *l, enum gce_map which)
{
	cJSON *o = cJSON_CreateObject();

	pthread_mutex_lock(&l->change_lock);
	for (size_t i = 0; o && i < l->maps.n[which]; i++)
		if (!cJSON_AddStringToObject(o, l->maps.kv[which][i].key,
		                             l->maps.kv[which][i].value)) {
			cJSON_Delete(o);
			o = NULL;
		}
	pthread_mutex_unlock(&l->change_lock);
	return o;
}
