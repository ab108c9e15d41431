#include "delays.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct held {
	int64_t due_ms;
	struct MHD_Connection *conn;
};

struct delays {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	struct held *items;
	size_t n, cap;
	int started;  /* the thread runs: it starts with the first hold */
	int stopping; /* refuse new holds; resume everything */
	int exit;     /* the thread should end */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Resumes every held connection that is due (all of them when stopping).
 * Caller holds the lock; MHD_resume_connection is safe from any thread. */
static int64_t resume_due(struct delays *d)
{
	int64_t now = mono_ms(), next = INT64_MAX;
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

static void *run(void *arg)
{
	struct delays *d = arg;

	pthread_mutex_lock(&d->lock);
	while (!d->exit) {
		int64_t next = resume_due(d);

		if (next == INT64_MAX) {
			pthread_cond_wait(&d->cond, &d->lock);
		} else {
			struct timespec ts = { .tv_sec = next / 1000,
				               .tv_nsec = (next % 1000) * 1000000 };

			pthread_cond_timedwait(&d->cond, &d->lock, &ts);
		}
	}
	resume_due(d);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* The timer thread is started by the first hold, not here: most servers
 * never hold a request, and an idle thread costs a stack (issue 6). */
struct delays *delays_start(void)
{
	struct delays *d = calloc(1, sizeof(*d));
	pthread_condattr_t attr;

	if (!d)
		return NULL;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &attr);
	pthread_condattr_destroy(&attr);
	return d;
}

int delays_hold(struct delays *d, struct MHD_Connection *conn, int64_t delay_ms)
{
	int ret = -1;

	pthread_mutex_lock(&d->lock);
	if (d->stopping)
		goto out_unlock;
	/* The thread inherits this request thread's signal mask, which blocks
	 * the stop signals like every thread of the server. */
	if (!d->started) {
		if (pthread_create(&d->thread, NULL, run, d) != 0)
			goto out_unlock;
		d->started = 1;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct held *grown = realloc(d->items, cap * sizeof(*grown));

		if (!grown)
			goto out_unlock;
		d->items = grown;
		d->cap = cap;
	}
	/* Suspend under the lock: the timer thread cannot resume it first. */
	MHD_suspend_connection(conn);
	d->items[d->n].due_ms = mono_ms() + delay_ms;
	d->items[d->n].conn = conn;
	d->n++;
	pthread_cond_signal(&d->cond);
	ret = 0;
out_unlock:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void delays_flush(struct delays *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = 1;
	resume_due(d);
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
