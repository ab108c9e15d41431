#include "delays.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "grow.h"

struct held {
	int64_t due_ms; /* on the wait clock */
	struct MHD_Connection *conn;
};

struct delays {
	struct clock *clock;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	struct held *items;
	size_t n, cap, max_held;
	void (*sweep)(void *cls);
	void *sweep_cls;
	int64_t sweep_ms;
	int64_t next_sweep_ms;
	int64_t sleep_until_ms; /* when the thread wakes by itself (INT64_MAX: never) */
	int started;            /* the thread runs */
	int stopping;           /* refuse new holds; resume everything */
	int exit;               /* the thread should end */
};

/* Resumes every held connection that is due (all of them when stopping).
 * Caller holds the lock; MHD_resume_connection is safe from any thread.
 * Returns when the next one is due (INT64_MAX: none). */
static int64_t resume_due(struct delays *d, int64_t now)
{
	int64_t next = INT64_MAX;
	size_t kept = 0;

	for (size_t i = 0; i < d->n; i++) {
		if (d->stopping || d->items[i].due_ms <= now) {
			MHD_resume_connection(d->items[i].conn);
			continue;
		}
		if (d->items[i].due_ms < next)
			next = d->items[i].due_ms;
		d->items[kept++] = d->items[i];
	}
	d->n = kept;
	return next;
}

/* Runs what is due at `now`; returns when something is next due. Takes
 * and gives back the lock around the sweep. */
static int64_t run_due(struct delays *d, int64_t now)
{
	int64_t next = resume_due(d, now);

	if (d->sweep && now >= d->next_sweep_ms) {
		d->next_sweep_ms = now + d->sweep_ms;
		pthread_mutex_unlock(&d->lock);
		d->sweep(d->sweep_cls);
		pthread_mutex_lock(&d->lock);
		/* Holds made while the lock was let go: their signal found no
		 * one waiting, so they count here. */
		for (size_t i = 0; i < d->n; i++)
			if (d->items[i].due_ms < next)
				next = d->items[i].due_ms;
	}
	if (d->sweep && d->next_sweep_ms < next)
		next = d->next_sweep_ms;
	return next;
}

static void *run(void *arg)
{
	struct delays *d = arg;

	pthread_mutex_lock(&d->lock);
	while (!d->exit) {
		int64_t now = clock_now_ms(d->clock), next = run_due(d, now);
		struct timespec ts;
		int64_t wait_ms;

		if (d->exit)
			break;
		/* A fake clock moves only when its test says so: then wait to
		 * be woken (delays_poll runs what is due). */
		if (next == INT64_MAX || d->clock->source_ms) {
			d->sleep_until_ms = INT64_MIN; /* woken by every hold */
			if (next == INT64_MAX && !d->clock->source_ms)
				d->sleep_until_ms = INT64_MAX;
			pthread_cond_wait(&d->cond, &d->lock);
			continue;
		}
		d->sleep_until_ms = next;
		wait_ms = next - now;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (wait_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	}
	d->stopping = 1;
	resume_due(d, clock_now_ms(d->clock));
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

struct delays *delays_start(struct clock *c, size_t max_held, void (*sweep)(void *cls), void *cls,
                            int64_t sweep_ms)
{
	struct delays *d = calloc(1, sizeof(*d));
	pthread_condattr_t attr;

	if (!d)
		return NULL;
	d->clock = c;
	d->max_held = max_held;
	d->sweep = sweep;
	d->sweep_cls = cls;
	d->sweep_ms = sweep_ms > 0 ? sweep_ms : 1000;
	d->next_sweep_ms = clock_now_ms(c) + d->sweep_ms;
	d->sleep_until_ms = INT64_MIN;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &attr);
	pthread_condattr_destroy(&attr);
	return d;
}

/* Starts the thread; caller holds the lock. The thread inherits the
 * calling thread's signal mask, which blocks the stop signals like every
 * thread of the server. Returns 0, or -1 if it cannot start. */
static int start_locked(struct delays *d)
{
	if (d->started)
		return 0;
	if (pthread_create(&d->thread, NULL, run, d) != 0)
		return -1;
	d->started = 1;
	return 0;
}

void delays_wake(struct delays *d)
{
	pthread_mutex_lock(&d->lock);
	if (!d->stopping)
		start_locked(d);
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

int delays_hold(struct delays *d, struct MHD_Connection *conn, int64_t delay_ms, int *woken)
{
	int ret = -1;

	pthread_mutex_lock(&d->lock);
	if (woken && *woken) {
		*woken = 0;
		ret = 1;
		goto out_unlock;
	}
	if (d->stopping || d->n >= d->max_held || start_locked(d) != 0)
		goto out_unlock;
	if (grow_reserve(&d->items, &d->cap, d->n + 1, d->max_held, sizeof(*d->items)) != 0)
		goto out_unlock;
	/* Suspend under the lock: the timer thread cannot resume it first. */
	MHD_suspend_connection(conn);
	d->items[d->n].due_ms = clock_now_ms(d->clock) + delay_ms;
	d->items[d->n].conn = conn;
	/* Wake the thread only when this hold ends before it would wake: a
	 * long poll held per invocation would otherwise cost a context switch
	 * each. */
	if (d->items[d->n].due_ms < d->sleep_until_ms)
		pthread_cond_signal(&d->cond);
	d->n++;
	ret = 0;
out_unlock:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void delays_resume(struct delays *d, struct MHD_Connection *conn, int *woken)
{
	size_t i;

	pthread_mutex_lock(&d->lock);
	for (i = 0; i < d->n && d->items[i].conn != conn; i++)
		;
	if (i < d->n) {
		MHD_resume_connection(conn);
		d->items[i] = d->items[--d->n];
	} else {
		*woken = 1;
	}
	pthread_mutex_unlock(&d->lock);
}

void delays_poll(struct delays *d)
{
	pthread_mutex_lock(&d->lock);
	run_due(d, clock_now_ms(d->clock));
	pthread_mutex_unlock(&d->lock);
}

size_t delays_held(struct delays *d)
{
	size_t n;

	pthread_mutex_lock(&d->lock);
	n = d->n;
	pthread_mutex_unlock(&d->lock);
	return n;
}

void delays_flush(struct delays *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = 1;
	resume_due(d, clock_now_ms(d->clock));
	pthread_mutex_unlock(&d->lock);
}

void delays_free(struct delays *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = 1;
	d->exit = 1;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (d->started)
		pthread_join(d->thread, NULL);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d->items);
	free(d);
}
