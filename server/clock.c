#include "clock.h"

#include <time.h>

static int64_t read_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_init(struct clock *c, int64_t (*source_ms)(void *arg), void *source_arg)
{
	c->coarse = 0;
	c->source_ms = source_ms;
	c->source_arg = source_arg;
	c->wall_base_ms = read_ms(CLOCK_REALTIME);
	c->mono_base_ms = read_ms(CLOCK_MONOTONIC);
	atomic_init(&c->offset_ms, 0);
}

void clock_init_coarse(struct clock *c)
{
	clock_init(c, NULL, NULL);
	c->coarse = 1;
	c->mono_base_ms = read_ms(CLOCK_MONOTONIC_COARSE);
}

int64_t clock_now_ms(const struct clock *c)
{
	int64_t base;

	if (c->source_ms)
		base = c->source_ms(c->source_arg);
	else
		base = c->wall_base_ms +
		       (read_ms(c->coarse ? CLOCK_MONOTONIC_COARSE : CLOCK_MONOTONIC) -
		        c->mono_base_ms);
	return base + atomic_load_explicit(&c->offset_ms, memory_order_relaxed);
}

void clock_advance_ms(struct clock *c, int64_t delta_ms)
{
	atomic_fetch_add_explicit(&c->offset_ms, delta_ms, memory_order_relaxed);
}

void clock_set_offset_ms(struct clock *c, int64_t offset_ms)
{
	atomic_store_explicit(&c->offset_ms, offset_ms, memory_order_relaxed);
}
