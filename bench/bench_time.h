/*
 * What every benchmark program here times with: the monotonic clock in ns,
 * and a comparison for qsort of int64_t samples. Header-only, bench only.
 */
#ifndef METATOKEN_BENCH_TIME_H
#define METATOKEN_BENCH_TIME_H

#include <stdint.h>
#include <time.h>

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

#endif
