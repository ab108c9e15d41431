/*
 * Fault injection: rules that make metadata requests fail on purpose, set
 * through the control API. A rule matches by method and path prefix and
 * fires a limited number of times, or with a probability, or both.
 *
 * A rule as JSON (POST /metatoken/v1/faults):
 *
 *   {
 *     "path": "/computeMetadata/v1/instance/service-accounts/",  required prefix
 *     "method": "GET",              any method when absent
 *     "status": 503,                answer with this status (200..599)
 *     "retry_after_s": 2,           with a Retry-After header (429/503)
 *     "latency_ms": 1500,           hold the request this long first (0..60000)
 *     "drop": true,                 close the connection with no response
 *     "body": "malformed",          or "truncated": spoil the real answer
 *     "expires_in": 5,              token answers carry this expires_in
 *     "count": 3,                   fire this many times (default: unlimited)
 *     "probability": 0.5            fire on this share of matches (default 1)
 *   }
 *
 * At least one of status, latency_ms above 0, drop true, body, expires_in is
 * required. Each key may appear once.
 * latency_ms combines with any other action (a stall, then the failure).
 */
#ifndef METATOKEN_SERVER_FAULTS_H
#define METATOKEN_SERVER_FAULTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FAULTS_MAX      64  /* rules at once */
#define FAULTS_PATH_MAX 256 /* longest path prefix */

enum faults_body { FAULTS_BODY_KEEP, FAULTS_BODY_MALFORMED, FAULTS_BODY_TRUNCATED };

struct faults_rule {
	uint64_t id;
	char path[FAULTS_PATH_MAX + 1];
	char method[8];        /* "" matches any */
	unsigned status;       /* 0: keep the real status */
	int64_t retry_after_s; /* -1: no Retry-After */
	int64_t latency_ms;
	int drop;
	enum faults_body body;
	int has_expires_in;
	int64_t expires_in;
	int64_t remaining; /* -1: unlimited */
	double probability;
	uint64_t fired;
};

struct faults {
	pthread_mutex_t lock;
	_Atomic size_t n; /* read without the lock: the fast path when 0 */
	struct faults_rule rules[FAULTS_MAX];
	uint64_t next_id;
	uint64_t rng; /* xorshift state for probabilities, under lock */
};

void faults_init(struct faults *f);
void faults_release(struct faults *f);

/*
 * Adds a rule from len bytes of JSON text, read with the strict reader
 * (json.h): a repeated key, text after the object, a NUL byte or "\u0000"
 * is refused like a bad value. Returns 0 and sets *id, or -1 with a one-line
 * reason naming the field in err (e.g. `status: must be an integer from 200
 * to 599 (got 42)`, `latency_ms: duplicate key`).
 */
int faults_add_json(struct faults *f, const char *json, size_t len, uint64_t *id, char *err,
                    size_t errlen);

/* Removes rule `id`; returns 0, or -1 if there is none. */
int faults_remove(struct faults *f, uint64_t id);
void faults_clear(struct faults *f);

/*
 * Finds the first rule that matches method and path and fires (its count
 * and probability allowing), counts the firing, and copies it to *out.
 * Returns 1 if one fired, 0 otherwise. Costs one atomic load when there
 * are no rules.
 */
int faults_match(struct faults *f, const char *method, const char *path, struct faults_rule *out);

/* The rules as a malloc'd JSON array text, or NULL when out of memory. */
char *faults_to_json(struct faults *f);

#endif
