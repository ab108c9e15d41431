#include "stats.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((STATS_SLOTS & (STATS_SLOTS - 1)) == 0, "STATS_SLOTS: a power of two");
_Static_assert((STATS_SLOTS_INITIAL & (STATS_SLOTS_INITIAL - 1)) == 0 &&
                   STATS_SLOTS_INITIAL <= STATS_SLOTS,
               "STATS_SLOTS_INITIAL: a power of two, at most STATS_SLOTS");

void stats_init(struct stats *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
}

void stats_release(struct stats *s)
{
	free(s->slots);
	s->slots = NULL;
	s->cap = 0;
	pthread_mutex_destroy(&s->lock);
}

/* Gives the table back: a reset server is as small as a fresh one. */
void stats_reset(struct stats *s)
{
	pthread_mutex_lock(&s->lock);
	free(s->slots);
	s->slots = NULL;
	s->cap = 0;
	s->used = 0;
	s->other = 0;
	s->total = 0;
	pthread_mutex_unlock(&s->lock);
}

static uint64_t hash_of(const char *path, unsigned status)
{
	uint64_t h = 0xcbf29ce484222325ull ^ status;

	for (; *path; path++) {
		h ^= (unsigned char)*path;
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}

/* The slot that holds (path, status) in a table of cap slots, or the empty
 * slot where it would go. Open addressing with linear probing; a table is
 * never more than 3/4 full, so a probe always ends. */
static struct stats_slot *probe(struct stats_slot *slots, unsigned cap, uint64_t h, unsigned status,
                                const char *path)
{
	for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
		struct stats_slot *slot = &slots[i];

		if (slot->hash == 0 ||
		    (slot->hash == h && slot->status == status && strcmp(slot->path, path) == 0))
			return slot;
	}
}

/* Doubles the table (or makes the first one). Returns 0, or -1 when out of
 * memory, in which case the table is unchanged. */
static int grow(struct stats *s)
{
	unsigned cap = s->cap ? s->cap * 2 : STATS_SLOTS_INITIAL;
	struct stats_slot *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -1;
	for (unsigned i = 0; i < s->cap; i++) {
		const struct stats_slot *old = &s->slots[i];

		if (old->hash)
			*probe(slots, cap, old->hash, old->status, old->path) = *old;
	}
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

void stats_count(struct stats *s, const char *full_path, unsigned status)
{
	char path[STATS_PATH_MAX + 1];
	struct stats_slot *slot = NULL;
	uint64_t h;
	size_t n;

	/* Hash and compare what a slot can hold: a longer path would never
	 * match its own shortened copy and take a new slot every time. */
	n = strnlen(full_path, STATS_PATH_MAX);
	memcpy(path, full_path, n);
	path[n] = '\0';
	h = hash_of(path, status);

	pthread_mutex_lock(&s->lock);
	s->total++;
	if (s->cap)
		slot = probe(s->slots, s->cap, h, status, path);
	if (slot && slot->hash) {
		slot->count++;
		goto out_unlock;
	}
	/* A new pair. The last growth leaves cap at STATS_SLOTS, whose 3/4
	 * is the bound below, so the table never grows past STATS_SLOTS. */
	if (s->used >= STATS_SLOTS * 3 / 4) {
		s->other++;
		goto out_unlock;
	}
	if (s->used + 1 > s->cap * 3 / 4) {
		if (grow(s) != 0) {
			s->other++;
			goto out_unlock;
		}
		slot = probe(s->slots, s->cap, h, status, path);
	}
	slot->hash = h;
	slot->status = status;
	slot->count = 1;
	snprintf(slot->path, sizeof(slot->path), "%s", path);
	s->used++;
out_unlock:
	pthread_mutex_unlock(&s->lock);
}

int stats_add_json(struct stats *s, cJSON *obj)
{
	cJSON *req = cJSON_AddObjectToObject(obj, "requests"), *paths;
	int ret = 0;

	if (!req)
		return -1;
	pthread_mutex_lock(&s->lock);
	cJSON_AddNumberToObject(req, "total", (double)s->total);
	cJSON_AddNumberToObject(req, "other", (double)s->other);
	paths = cJSON_AddObjectToObject(req, "paths");
	for (size_t i = 0; paths && i < s->cap; i++) {
		const struct stats_slot *slot = &s->slots[i];
		cJSON *p;
		char code[8];

		if (!slot->hash)
			continue;
		p = cJSON_GetObjectItemCaseSensitive(paths, slot->path);
		if (!p)
			p = cJSON_AddObjectToObject(paths, slot->path);
		snprintf(code, sizeof(code), "%u", slot->status);
		if (!p || !cJSON_AddNumberToObject(p, code, (double)slot->count)) {
			ret = -1;
			break;
		}
	}
	if (!paths)
		ret = -1;
	pthread_mutex_unlock(&s->lock);
	return ret;
}
