#include "faults.h"
#include "json.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void faults_init(struct faults *f)
{
	struct timespec ts;

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	atomic_init(&f->n, 0);
	f->next_id = 1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	f->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ 0x9e3779b97f4a7c15ull;
}

void faults_release(struct faults *f)
{
	pthread_mutex_destroy(&f->lock);
}

/* A uniform double in [0, 1). Caller holds the lock. */
static double next_unit(struct faults *f)
{
	f->rng ^= f->rng << 13;
	f->rng ^= f->rng >> 7;
	f->rng ^= f->rng << 17;
	return (double)(f->rng >> 11) / 9007199254740992.0;
}

static const char *check_path(const char *s)
{
	return s[0] == '/' ? NULL : "must be a string starting with /";
}

static const char *check_method(const char *s)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" };

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(s, methods[i]) == 0)
			return NULL;
	return "must be GET, HEAD, POST, PUT, PATCH or DELETE";
}

static const char *check_body(const char *s)
{
	return strcmp(s, "malformed") == 0 || strcmp(s, "truncated") == 0
	           ? NULL
	           : "must be \"malformed\" or \"truncated\"";
}

/*
 * Reads a rule from a tree that json_parse() accepted, so no key repeats:
 * each field is read once, and whether the rule does anything is decided
 * on the rule as read, not counted along the way.
 */
static int parse_rule(struct json_reader *jr, const cJSON *root, struct faults_rule *r)
{
	static const char *const keys[] = {
		"path", "method",     "status", "retry_after_s", "latency_ms", "drop",
		"body", "expires_in", "count",  "probability",   NULL,
	};
	const char *path = NULL;
	const char *method = NULL;
	const char *body = NULL;
	int64_t status = 0;
	int has_expires_in = 0;
	size_t mark;

	memset(r, 0, sizeof(*r));
	r->retry_after_s = -1;
	r->remaining = -1;
	r->probability = 1.0;
	if (!cJSON_IsObject(root))
		return json_fail(jr, root, "must be a JSON object");
	/* Not 1xx for status: an interim status as the final answer hangs clients. */
	if (json_check_keys(jr, root, keys) < 0 ||
	    json_get_string(jr, root, "path", JSON_REQUIRED, FAULTS_PATH_MAX, check_path, &path) <
	        0 ||
	    json_get_string(jr, root, "method", 0, 0, check_method, &method) < 0 ||
	    json_get_int(jr, root, "status", 0, 200, 599, &status) < 0 ||
	    json_get_int(jr, root, "retry_after_s", 0, 0, 86400, &r->retry_after_s) < 0 ||
	    json_get_int(jr, root, "latency_ms", 0, 0, 60000, &r->latency_ms) < 0 ||
	    json_get_bool(jr, root, "drop", 0, &r->drop) < 0 ||
	    json_get_string(jr, root, "body", 0, 0, check_body, &body) < 0 ||
	    (has_expires_in = json_get_int(jr, root, "expires_in", 0, -86400, 10LL * 365 * 86400,
	                                   &r->expires_in)) < 0 ||
	    json_get_int(jr, root, "count", 0, 1, 1000000000, &r->remaining) < 0 ||
	    json_get_number(jr, root, "probability", JSON_EXCLUSIVE_LO, 0.0, 1.0, &r->probability) <
	        0)
		return -1;
	snprintf(r->path, sizeof(r->path), "%s", path);
	if (method)
		snprintf(r->method, sizeof(r->method), "%s", method);
	r->status = (unsigned)status;
	if (body)
		r->body =
		    strcmp(body, "malformed") == 0 ? FAULTS_BODY_MALFORMED : FAULTS_BODY_TRUNCATED;
	r->has_expires_in = has_expires_in == 1;
	/* A 0 ms stall and "drop": false do nothing. */
	if (!r->status && r->latency_ms == 0 && !r->drop && r->body == FAULTS_BODY_KEEP &&
	    !r->has_expires_in)
		return json_fail(
		    jr, NULL,
		    "a rule needs an action: status, latency_ms, drop, body or expires_in");
	if (r->retry_after_s >= 0 && !r->status) {
		mark = json_path_key(jr, "retry_after_s");
		json_fail(jr, NULL, "goes with status (429 or 503)");
		json_path_pop(jr, mark);
		return -1;
	}
	return 0;
}

int faults_add_json(struct faults *f, const char *json, size_t len, uint64_t *id, char *err,
                    size_t errlen)
{
	struct json_reader jr = { .err = err, .errlen = errlen };
	struct faults_rule r;
	cJSON *root = json_parse(&jr, json, len);
	int ret = -1;

	if (!root)
		return -1;
	if (parse_rule(&jr, root, &r) != 0)
		goto out_delete;
	pthread_mutex_lock(&f->lock);
	if (atomic_load(&f->n) == FAULTS_MAX) {
		pthread_mutex_unlock(&f->lock);
		snprintf(err, errlen, "too many rules (at most %d); DELETE some first", FAULTS_MAX);
		goto out_delete;
	}
	r.id = f->next_id++;
	f->rules[atomic_load(&f->n)] = r;
	atomic_fetch_add(&f->n, 1);
	pthread_mutex_unlock(&f->lock);
	*id = r.id;
	ret = 0;
out_delete:
	cJSON_Delete(root);
	return ret;
}

/* Removes rules[i]; caller holds the lock. Order is kept: first match wins. */
static void remove_at(struct faults *f, size_t i)
{
	size_t n = atomic_load(&f->n);

	memmove(&f->rules[i], &f->rules[i + 1], (n - i - 1) * sizeof(f->rules[0]));
	atomic_store(&f->n, n - 1);
}

int faults_remove(struct faults *f, uint64_t id)
{
	int ret = -1;

	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < atomic_load(&f->n); i++) {
		if (f->rules[i].id == id) {
			remove_at(f, i);
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return ret;
}

void faults_clear(struct faults *f)
{
	pthread_mutex_lock(&f->lock);
	atomic_store(&f->n, 0);
	pthread_mutex_unlock(&f->lock);
}

int faults_match(struct faults *f, const char *method, const char *path, struct faults_rule *out)
{
	int fired = 0;

	if (atomic_load_explicit(&f->n, memory_order_relaxed) == 0)
		return 0;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < atomic_load(&f->n); i++) {
		struct faults_rule *r = &f->rules[i];

		if ((r->method[0] && strcmp(r->method, method) != 0) ||
		    strncmp(path, r->path, strlen(r->path)) != 0)
			continue;
		if (r->probability < 1.0 && next_unit(f) >= r->probability)
			continue;
		r->fired++;
		*out = *r;
		if (r->remaining > 0 && --r->remaining == 0)
			remove_at(f, i);
		fired = 1;
		break;
	}
	pthread_mutex_unlock(&f->lock);
	return fired;
}

char *faults_to_json(struct faults *f)
{
	cJSON *arr = cJSON_CreateArray();
	char *s;

	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; arr && i < atomic_load(&f->n); i++) {
		const struct faults_rule *r = &f->rules[i];
		cJSON *o = cJSON_CreateObject();

		if (!o)
			break;
		cJSON_AddItemToArray(arr, o);
		cJSON_AddNumberToObject(o, "id", (double)r->id);
		cJSON_AddStringToObject(o, "path", r->path);
		if (r->method[0])
			cJSON_AddStringToObject(o, "method", r->method);
		if (r->status)
			cJSON_AddNumberToObject(o, "status", r->status);
		if (r->retry_after_s >= 0)
			cJSON_AddNumberToObject(o, "retry_after_s", (double)r->retry_after_s);
		if (r->latency_ms)
			cJSON_AddNumberToObject(o, "latency_ms", (double)r->latency_ms);
		if (r->drop)
			cJSON_AddTrueToObject(o, "drop");
		if (r->body != FAULTS_BODY_KEEP)
			cJSON_AddStringToObject(o, "body",
			                        r->body == FAULTS_BODY_MALFORMED ? "malformed"
			                                                         : "truncated");
		if (r->has_expires_in)
			cJSON_AddNumberToObject(o, "expires_in", (double)r->expires_in);
		if (r->remaining >= 0)
			cJSON_AddNumberToObject(o, "count", (double)r->remaining);
		cJSON_AddNumberToObject(o, "probability", r->probability);
		cJSON_AddNumberToObject(o, "fired", (double)r->fired);
	}
	pthread_mutex_unlock(&f->lock);
	s = arr ? cJSON_PrintUnformatted(arr) : NULL;
	cJSON_Delete(arr);
	return s;
}
