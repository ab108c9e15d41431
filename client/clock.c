/* The real clocks and randomness behind the test seams. */
#include "private/internal.h"

#include <errno.h>
#include <openssl/rand.h>
#include <time.h>

static int64_t read_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mtk__monotonic_ms(void *arg)
{
	(void)arg;
	return read_ms(CLOCK_MONOTONIC);
}

int64_t mtk__wall_ms(void *arg)
{
	(void)arg;
	return read_ms(CLOCK_REALTIME);
}

void mtk__sleep_ms(void *arg, int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	(void)arg;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

uint64_t mtk__random_u64(void *arg)
{
	uint64_t v = 0;

	(void)arg;
	/* Jitter only spreads load; with a failing CSPRNG we lose the spread,
	 * nothing else. */
	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		return 0;
	return v;
}
