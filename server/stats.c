#include "stats.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

void stats_init(struct stats *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
}

void stats_release(struct stats *s)
{
	pthread_mutex_destroy(&s->lock);
}

void stats_reset(struct stats *s)
{
	pthread_mutex_lock(&s->lock);
	memset(s->slots, 0, sizeof(s->slots));
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

/* Open addressing with linear probing; the table is never more than 3/4
 * full, so a probe always ends. */
void stats_count(struct stats *s, const char *full_path, unsigned status)
{
	char path[STATS_PATH_MAX + 1];
	uint64_t h;
	size_t i;

	/* Hash and compare what a slot can hold: a longer path would never
	 * match its own shortened copy and take a new slot every time. */
	snprintf(path, sizeof(path), "%s", full_path);
	h = hash_of(path, status);
	i = h % STATS_SLOTS;

	pthread_mutex_lock(&s->lock);
	s->total++;
	for (;; i = (i + 1) % STATS_SLOTS) {
		struct stats_slot *slot = &s->slots[i];

		if (slot->hash == h && slot->status == status && strcmp(slot->path, path) == 0) {
			slot->count++;
			break;
		}
		if (slot->hash == 0) {
			if (s->used >= STATS_SLOTS * 3 / 4) {
				s->other++;
				break;
			}
			slot->hash = h;
			slot->status = status;
			slot->count = 1;
			snprintf(slot->path, sizeof(slot->path), "%s", path);
			s->used++;
			break;
		}
	}
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
	for (size_t i = 0; paths && i < STATS_SLOTS; i++) {
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
