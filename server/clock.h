/*
 * The server's clock: milliseconds since the Unix epoch, movable by tests and
 * (later) by the control API. Every expiry the server computes reads it.
 */
#ifndef METATOKEN_SERVER_CLOCK_H
#define METATOKEN_SERVER_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

struct clock {
	/* Test seam: a replacement time source; NULL means the real one (wall
	 * time read once at clock_init, advanced by CLOCK_MONOTONIC, so a wall
	 * clock jump on the host does not move tokens' expiry). */
	int64_t (*source_ms)(void *arg);
	void *source_arg;
	int coarse;                /* real source only: read the coarse monotonic clock */
	int64_t wall_base_ms;      /* real source only */
	int64_t mono_base_ms;      /* real source only */
	_Atomic int64_t offset_ms; /* added to every reading (fast-forward) */
};

/* Initialises `c` on the real time source, or on `source_ms` when non-NULL. */
void clock_init(struct clock *c, int64_t (*source_ms)(void *arg), void *source_arg);

/* Initialises `c` on the real time source read coarsely (CLOCK_MONOTONIC_COARSE:
 * a few milliseconds of resolution for a fraction of the cost), for waits
 * and deadlines read on every request. */
void clock_init_coarse(struct clock *c);

/* Current server time in ms since the epoch, offset included. Thread-safe. */
int64_t clock_now_ms(const struct clock *c);

/* Sets the offset from the time source to offset_ms. */
void clock_set_offset_ms(struct clock *c, int64_t offset_ms);

/* Moves the clock forward (or back, with a negative value) by `delta_ms`. */
void clock_advance_ms(struct clock *c, int64_t delta_ms);

#endif
