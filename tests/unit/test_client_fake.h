/*
 * Fakes for libmetatoken's test seams: a clock that moves only when told
 * (or when the client sleeps), a scripted transport that records what it
 * was asked, and a fixed "random" source. Shared by the client unit tests.
 */
#ifndef METATOKEN_TEST_CLIENT_FAKE_H
#define METATOKEN_TEST_CLIENT_FAKE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metatoken/metatoken.h"
#include "metatoken/testing.h"

#define FAKE_MAX_SCRIPT 64
#define FAKE_MAX_SLEEPS 64

/* One scripted answer. body NULL means an empty body. */
struct fake_answer {
	enum mtk_status st; /* what perform() returns */
	long status;        /* HTTP status when st is MTK_OK */
	const char *body;
	size_t body_len;         /* 0: strlen(body) */
	int64_t takes_ms;        /* the fake clock moves this much during the call */
	const char *retry_after; /* the Retry-After header's value, or NULL */
};

struct fake {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	_Atomic int64_t mono_ms;
	_Atomic int64_t wall_offset_ms; /* wall = 1.7e12 + mono + offset */
	uint64_t random_value;

	/* Guarded by lock. */
	struct fake_answer script[FAKE_MAX_SCRIPT];
	int nscript, next;
	struct fake_answer otherwise; /* once the script is used up */
	int calls;
	char last_url[512];
	char last_headers[512]; /* "\n"-joined */
	int64_t last_timeout_ms, last_connect_timeout_ms;
	int64_t call_times_ms[FAKE_MAX_SCRIPT];
	int64_t sleeps_ms[FAKE_MAX_SLEEPS];
	int nsleeps;
	bool block;    /* calls wait for fake_release() */
	int blocked;   /* calls waiting now */
	bool released; /* set by fake_release() */

	struct mtk_clock clock;
	struct mtk_transport transport;
	struct mtk_testing_seams seams; /* the two above, no jitter */
};

void fake_init(struct fake *f);
void fake_release_all(struct fake *f); /* pthread objects */

/* Options wired to f, with no jitter unless f->random_value says otherwise. */
struct mtk_client_options fake_options(struct fake *f);
struct mtk_client *fake_client(struct fake *f, const struct mtk_client_options *opts);

/* Appends an answer to the script; sets the answer after the script. */
void fake_push(struct fake *f, struct fake_answer a);
void fake_otherwise(struct fake *f, struct fake_answer a);
/* A 200 with a token document (the body is kept in a static ring). */
struct fake_answer fake_token(const char *access_token, long expires_in);

void fake_advance(struct fake *f, int64_t ms);
int fake_calls(struct fake *f);

/* Blocking: calls wait until released. wait_blocked waits (really, at most
 * 10 s) until n calls are waiting; returns false on timeout. */
void fake_block(struct fake *f);
bool fake_wait_blocked(struct fake *f, int n);
void fake_release(struct fake *f);
/* Waits (really, at most 10 s) until the transport was called n times. */
bool fake_wait_calls(struct fake *f, int n);

/* Gets a token and returns a malloc'd copy of its text, or NULL (status in *st). */
char *get_text(struct mtk_client *c, enum mtk_status *st);

#endif
