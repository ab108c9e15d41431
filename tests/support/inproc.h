/*
 * metatokend's whole HTTP stack run in the test's own process, on an
 * ephemeral loopback port, with both of its clocks in the test's hands:
 * the server clock (token time) and the wait clock (held requests,
 * deadlines, the drain). Nothing a test checks waits in real time: it
 * moves a clock and calls test_inproc_poll().
 */
#ifndef METATOKEN_TESTS_INPROC_H
#define METATOKEN_TESTS_INPROC_H

#include <stdatomic.h>
#include <stdint.h>

#include "app.h"
#include "server.h"

/* A time source that moves only when told: clock_init(c, fake_clock_read, f). */
struct fake_clock {
	_Atomic int64_t now_ms;
};

#define FAKE_CLOCK_START_MS 1795000000000LL /* 2026-11-18, roughly */

int64_t fake_clock_read(void *arg);
void fake_clock_advance(struct fake_clock *f, int64_t ms);

struct test_inproc {
	struct server srv;
	struct daemon *daemon;
	struct fake_clock server_time; /* srv.clock's source */
	struct fake_clock wait_time;   /* the daemon's wait clock's source */
	struct clock wait_clock;
	char base[128]; /* "http://127.0.0.1:PORT" */
};

/*
 * Starts the server from JSON config text (NULL: the embedded default) on
 * 127.0.0.1:0 with the fake clocks, the control API's secret known to the
 * test (srv.admin_secret), and logging at warn. limits, when non-NULL,
 * overrides the configuration's (a 0 field keeps the default). Returns 0,
 * or -1 after saying why on stderr.
 */
int test_inproc_start(struct test_inproc *t, const char *config_json,
                      const struct daemon_limits *limits);
/* Drains (grace_ms on the wait clock) and stops the daemon, then frees the
 * server. */
void test_inproc_stop(struct test_inproc *t, int64_t grace_ms);

/* Moves the wait clock and runs what fell due (holds, deadlines). */
void test_inproc_wait(struct test_inproc *t, int64_t ms);

/* Waits (polling the daemon's counts, never sleeping through time) until
 * done() says so, at most 10 s of real time as a backstop against a hang.
 * Returns 0 when done, -1 on the backstop. */
int test_inproc_until(struct test_inproc *t, int (*done)(const struct daemon_counts *c, void *arg),
                      void *arg);
/* test_inproc_until at least `held` requests are held. */
int test_inproc_until_held(struct test_inproc *t, unsigned held);

#endif
