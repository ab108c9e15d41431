/*
 * Unit tests for server/stats.c: request counters by path and status.
 */
#include "stats.h"

/* Labelled "concurrency": the TSan build runs this file on the stand-in
 * runner of tests/support/cr_shim.h, since Criterion cannot start under TSan.
 * Every test here must therefore also pass in one shared process. */
#ifdef MTK_TEST_NO_CRITERION
#include "cr_shim.h"
#else
#include <criterion/criterion.h>
#endif
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define THREADS 4
#define COUNTS  5000

TestSuite(stats, .timeout = 60);

/* {"requests": {...}} of s, parsed back; the caller deletes it. */
static cJSON *read_stats(struct stats *s)
{
	cJSON *o = cJSON_CreateObject();

	cr_assert_not_null(o);
	cr_assert_eq(stats_add_json(s, o), 0);
	return o;
}

static double count_of(cJSON *o, const char *path, const char *status)
{
	cJSON *req = cJSON_GetObjectItemCaseSensitive(o, "requests");
	cJSON *p =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "paths"), path);
	cJSON *n = cJSON_GetObjectItemCaseSensitive(p, status);

	return cJSON_IsNumber(n) ? n->valuedouble : -1;
}

static double field(cJSON *o, const char *name)
{
	cJSON *n =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "requests"), name);

	return cJSON_IsNumber(n) ? n->valuedouble : -1;
}

struct counter {
	struct stats *s;
	int index;
};

static void *count_main(void *arg)
{
	struct counter *c = arg;
	char own[32];

	snprintf(own, sizeof(own), "/own/%d", c->index);
	for (int i = 0; i < COUNTS; i++) {
		stats_count(c->s, "/shared", 200);
		stats_count(c->s, own, i % 2 ? 200 : 404);
	}
	return NULL;
}

/* Threads counting at once: every count is there, and a (path, status)
 * counted by several threads is one sum. */
Test(stats, counts_from_threads_add_up)
{
	struct counter c[THREADS];
	pthread_t th[THREADS];
	struct stats s;
	cJSON *o;

	stats_init(&s);
	for (int i = 0; i < THREADS; i++) {
		c[i] = (struct counter){ &s, i };
		cr_assert_eq(pthread_create(&th[i], NULL, count_main, &c[i]), 0);
	}
	stats_count(&s, "/shared", 200); /* and one from this thread */
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	o = read_stats(&s);
	cr_assert_eq(count_of(o, "/shared", "200"), THREADS * COUNTS + 1);
	for (int i = 0; i < THREADS; i++) {
		char own[32];

		snprintf(own, sizeof(own), "/own/%d", i);
		cr_assert_eq(count_of(o, own, "200"), COUNTS / 2);
		cr_assert_eq(count_of(o, own, "404"), COUNTS / 2);
	}
	cr_assert_eq(field(o, "total"), 2 * THREADS * COUNTS + 1);
	cr_assert_eq(field(o, "other"), 0);
	cJSON_Delete(o);
	stats_release(&s);
}

/* A reset zeroes every counter; counting goes on after it. */
Test(stats, reset_clears_every_count)
{
	struct counter c[2];
	pthread_t th[2];
	struct stats s;
	cJSON *o;

	stats_init(&s);
	for (int i = 0; i < 2; i++) {
		c[i] = (struct counter){ &s, i };
		cr_assert_eq(pthread_create(&th[i], NULL, count_main, &c[i]), 0);
		pthread_join(th[i], NULL);
	}
	stats_reset(&s);
	stats_count(&s, "/after", 503);
	o = read_stats(&s);
	cr_assert_eq(field(o, "total"), 1);
	cr_assert_eq(count_of(o, "/shared", "200"), -1, "reset forgets the pairs");
	cr_assert_eq(count_of(o, "/after", "503"), 1);
	cJSON_Delete(o);
	stats_release(&s);
}

/* A long path counts under its first STATS_PATH_MAX bytes: one pair, not a
 * new one per request. Distinct pairs are bounded: past 3/4 of STATS_SLOTS
 * they are counted as "other". */
Test(stats, long_paths_share_a_pair_and_distinct_pairs_are_bounded)
{
	char path[STATS_PATH_MAX + 40], key[STATS_PATH_MAX + 1];
	struct stats s;
	cJSON *o;
	int n = STATS_SLOTS;

	stats_init(&s);
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	stats_count(&s, path, 200);
	path[sizeof(path) - 2] = 'b'; /* differs only past the kept bytes */
	stats_count(&s, path, 200);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/walk/%d", i);
		stats_count(&s, path, 404);
	}
	o = read_stats(&s);
	snprintf(
	    key, sizeof(key), "/%.*s", STATS_PATH_MAX - 1,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	cr_assert_eq(count_of(o, key, "200"), 2, "a long path took more than one pair");
	cr_assert_eq(field(o, "total"), n + 2);
	/* One slot went to the long path. */
	cr_assert_eq(field(o, "other"), n - (STATS_SLOTS * 3 / 4 - 1));
	cJSON_Delete(o);
	stats_release(&s);
}

/* Two stats objects in one thread keep apart. */
Test(stats, objects_do_not_share_counts)
{
	struct stats a, b;
	cJSON *o;

	stats_init(&a);
	stats_init(&b);
	stats_count(&a, "/x", 200);
	stats_count(&b, "/x", 200);
	stats_count(&a, "/x", 200);
	o = read_stats(&a);
	cr_assert_eq(count_of(o, "/x", "200"), 2);
	cJSON_Delete(o);
	o = read_stats(&b);
	cr_assert_eq(count_of(o, "/x", "200"), 1);
	cJSON_Delete(o);
	stats_release(&a);
	stats_release(&b);
}
