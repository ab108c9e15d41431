#include "inproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include "log.h"

int64_t fake_clock_read(void *arg)
{
	return atomic_load(&((struct fake_clock *)arg)->now_ms);
}

void fake_clock_advance(struct fake_clock *f, int64_t ms)
{
	atomic_fetch_add(&f->now_ms, ms);
}

int test_inproc_start(struct test_inproc *t, const char *config_json,
                      const struct daemon_limits *limits)
{
	char err[512];
	int rc;

	memset(t, 0, sizeof(*t));
	atomic_init(&t->server_time.now_ms, FAKE_CLOCK_START_MS);
	atomic_init(&t->wait_time.now_ms, 1000000);
	log_set_level(LOG_WARN);
	if (config_json)
		rc = config_parse(config_json, strlen(config_json), "test.json", &t->srv.cfg, err,
		                  sizeof(err));
	else
		rc = config_load(NULL, &t->srv.cfg, err, sizeof(err));
	if (rc != 0)
		goto out_fail;
	free(t->srv.cfg.listen_host);
	t->srv.cfg.listen_host = strdup("127.0.0.1");
	t->srv.cfg.listen_port = 0;
	if (limits) {
		t->srv.cfg.max_connections = limits->connections;
		t->srv.cfg.per_client_connections = limits->per_client;
		t->srv.cfg.max_held_requests = limits->held;
		t->srv.cfg.header_timeout_ms = limits->header_timeout_ms;
		t->srv.cfg.idle_timeout_ms = limits->idle_timeout_ms;
	}
	if (app_init(&t->srv, err, sizeof(err)) != 0)
		goto out_release;
	clock_init(&t->srv.clock, fake_clock_read, &t->server_time);
	clock_init(&t->wait_clock, fake_clock_read, &t->wait_time);
	t->daemon = app_start(&t->srv, &t->wait_clock, err, sizeof(err));
	if (!t->daemon)
		goto out_release;
	snprintf(t->base, sizeof(t->base), "http://%s", t->srv.bound);
	return 0;

out_release:
	app_release(&t->srv);
out_fail:
	fprintf(stderr, "test_inproc_start: %s\n", err);
	return -1;
}

void test_inproc_stop(struct test_inproc *t, int64_t grace_ms)
{
	daemon_stop(t->daemon, grace_ms);
	t->daemon = NULL;
	app_release(&t->srv);
}

void test_inproc_wait(struct test_inproc *t, int64_t ms)
{
	fake_clock_advance(&t->wait_time, ms);
	daemon_poll(t->daemon);
}

/* Real seconds since some fixed point, for the bound of the wait below. */
static double real_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int test_inproc_until(struct test_inproc *t, int (*done)(const struct daemon_counts *c, void *arg),
                      void *arg)
{
	double give_up = real_s() + 10;

	while (real_s() < give_up) {
		struct daemon_counts c;

		daemon_counts(t->daemon, &c);
		if (done(&c, arg))
			return 0;
		sched_yield();
	}
	return -1;
}

static int enough_held(const struct daemon_counts *c, void *arg)
{
	return c->held >= *(unsigned *)arg;
}

int test_inproc_until_held(struct test_inproc *t, unsigned held)
{
	return test_inproc_until(t, enough_held, &held);
}
