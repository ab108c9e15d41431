#include "test_client_fake.h"

#include "cr_shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WALL_BASE_MS 1700000000000LL
#define REAL_WAIT_MS 10000

static int64_t mono(void *arg)
{
	struct fake *f = arg;

	return atomic_load(&f->mono_ms);
}

static int64_t wall(void *arg)
{
	struct fake *f = arg;

	return WALL_BASE_MS + atomic_load(&f->mono_ms) + atomic_load(&f->wall_offset_ms);
}

static void fake_sleep(void *arg, int64_t ms)
{
	struct fake *f = arg;

	pthread_mutex_lock(&f->lock);
	if (f->nsleeps < FAKE_MAX_SLEEPS)
		f->sleeps_ms[f->nsleeps++] = ms;
	pthread_mutex_unlock(&f->lock);
	atomic_fetch_add(&f->mono_ms, ms);
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static enum mtk_status perform(void *arg, const struct mtk_http_request *req,
                               struct mtk_http_response *resp)
{
	struct fake *f = arg;
	struct fake_answer a;
	struct timespec ts;
	const char *const *h;
	size_t len;

	pthread_mutex_lock(&f->lock);
	a = f->next < f->nscript ? f->script[f->next++] : f->otherwise;
	if (f->calls < FAKE_MAX_SCRIPT)
		f->call_times_ms[f->calls] = atomic_load(&f->mono_ms);
	f->calls++;
	snprintf(f->last_url, sizeof(f->last_url), "%s", req->url);
	f->last_headers[0] = '\0';
	for (h = req->headers; h && *h; h++) {
		strncat(f->last_headers, *h, sizeof(f->last_headers) - strlen(f->last_headers) - 2);
		strcat(f->last_headers, "\n");
	}
	f->last_timeout_ms = req->timeout_ms;
	f->last_connect_timeout_ms = req->connect_timeout_ms;
	pthread_cond_broadcast(&f->cond);
	if (f->block) {
		f->blocked++;
		pthread_cond_broadcast(&f->cond);
		deadline_in(&ts, REAL_WAIT_MS);
		while (!f->released)
			if (pthread_cond_timedwait(&f->cond, &f->lock, &ts) != 0)
				break;
		f->blocked--;
	}
	pthread_mutex_unlock(&f->lock);

	atomic_fetch_add(&f->mono_ms, a.takes_ms);
	if (a.st != MTK_OK)
		return a.st;
	len = a.body_len ? a.body_len : a.body ? strlen(a.body) : 0;
	if (len > resp->body_cap)
		return MTK_ERR_BODY_TOO_LARGE; /* what the curl transport does */
	memcpy(resp->body, a.body ? a.body : "", len);
	resp->body_len = len;
	resp->status = a.status;
	if (a.retry_after && resp->retry_after && resp->retry_after_cap > 0)
		snprintf(resp->retry_after, resp->retry_after_cap, "%s", a.retry_after);
	return MTK_OK;
}

static uint64_t fixed_random(void *arg)
{
	struct fake *f = arg;

	return f->random_value;
}

void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	atomic_init(&f->mono_ms, 1000000);
	atomic_init(&f->wall_offset_ms, 0);
	f->otherwise = (struct fake_answer){ .st = MTK_ERR_CONNECT };
	f->clock = (struct mtk_clock){
		.monotonic_ms = mono, .wall_ms = wall, .sleep_ms = fake_sleep, .arg = f
	};
	f->transport = (struct mtk_transport){ .perform = perform, .arg = f };
	f->seams = (struct mtk_testing_seams){ .clock = &f->clock,
		                               .transport = &f->transport,
		                               .random_u64 = fixed_random,
		                               .random_arg = f };
}

void fake_release_all(struct fake *f)
{
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
}

struct mtk_client_options fake_options(struct fake *f)
{
	struct mtk_client_options o = MTK_CLIENT_OPTIONS_INIT;

	o.endpoint = "127.0.0.1:1";
	o.testing = &f->seams;
	return o;
}

struct mtk_client *fake_client(struct fake *f, const struct mtk_client_options *opts)
{
	struct mtk_client_options o = opts ? *opts : fake_options(f);
	struct mtk_client *c = NULL;
	enum mtk_status st;

	st = mtk_client_new(&o, &c);
	cr_assert_eq(st, MTK_OK, "mtk_client_new: %s", mtk_strerror(st));
	return c;
}

void fake_push(struct fake *f, struct fake_answer a)
{
	pthread_mutex_lock(&f->lock);
	cr_assert_lt(f->nscript, FAKE_MAX_SCRIPT);
	f->script[f->nscript++] = a;
	pthread_mutex_unlock(&f->lock);
}

void fake_otherwise(struct fake *f, struct fake_answer a)
{
	pthread_mutex_lock(&f->lock);
	f->otherwise = a;
	pthread_mutex_unlock(&f->lock);
}

struct fake_answer fake_token(const char *access_token, long expires_in)
{
	static char ring[16][512];
	static _Atomic unsigned slot;
	char *b = ring[atomic_fetch_add(&slot, 1) % 16];

	snprintf(b, sizeof(ring[0]),
	         "{\"access_token\":\"%s\",\"expires_in\":%ld,\"token_type\":\"Bearer\"}",
	         access_token, expires_in);
	return (struct fake_answer){ .st = MTK_OK, .status = 200, .body = b };
}

void fake_advance(struct fake *f, int64_t ms)
{
	atomic_fetch_add(&f->mono_ms, ms);
}

int fake_calls(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->calls;
	pthread_mutex_unlock(&f->lock);
	return n;
}

void fake_block(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	f->block = true;
	f->released = false;
	pthread_mutex_unlock(&f->lock);
}

static bool wait_for(struct fake *f, int n, const int *counter)
{
	struct timespec ts;
	bool ok = true;

	deadline_in(&ts, REAL_WAIT_MS);
	pthread_mutex_lock(&f->lock);
	while (*counter < n)
		if (pthread_cond_timedwait(&f->cond, &f->lock, &ts) != 0) {
			ok = *counter >= n;
			break;
		}
	pthread_mutex_unlock(&f->lock);
	return ok;
}

bool fake_wait_blocked(struct fake *f, int n)
{
	return wait_for(f, n, &f->blocked);
}

bool fake_wait_calls(struct fake *f, int n)
{
	return wait_for(f, n, &f->calls);
}

void fake_release(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	f->released = true;
	f->block = false;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

char *get_text(struct mtk_client *c, enum mtk_status *st)
{
	struct mtk_token *t = NULL;
	char *s;

	*st = mtk_client_get_token(c, &t);
	if (*st != MTK_OK)
		return NULL;
	s = strdup(mtk_token_access_token(t));
	mtk_token_free(t);
	return s;
}
