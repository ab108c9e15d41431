#include "faults.h"

#include <cjson/cJSON.h>
#include <math.h>
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

/* Prints a JSON value compactly into out, shortened, for "(got ...)". */
static const char *got(const cJSON *v, char *out, size_t cap)
{
	char *s = cJSON_PrintUnformatted(v);

	snprintf(out, cap, "%s", s ? s : "?");
	if (s && strlen(s) >= cap && cap > 4)
		memcpy(out + cap - 4, "...", 4);
	cJSON_free(s);
	return out;
}

/* Reads an integer field in [lo, hi]. Returns 0, or -1 with a reason. */
static int int_field(const cJSON *v, const char *name, int64_t lo, int64_t hi, int64_t *out,
                     char *err, size_t errlen)
{
	char g[48];

	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble < (double)lo || v->valuedouble > (double)hi) {
		snprintf(err, errlen, "%s: must be an integer from %lld to %lld (got %s)", name,
		         (long long)lo, (long long)hi, got(v, g, sizeof(g)));
		return -1;
	}
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int parse_rule(const cJSON *root, struct faults_rule *r, char *err, size_t errlen)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" };
	const cJSON *v;
	int64_t n;
	int actions = 0;
	char g[48];

	memset(r, 0, sizeof(*r));
	r->retry_after_s = -1;
	r->remaining = -1;
	r->probability = 1.0;
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "body: must be a JSON object (got %s)",
		         got(root, g, sizeof(g)));
		return -1;
	}
	cJSON_ArrayForEach(v, root)
	{
		const char *k = v->string;

		if (strcmp(k, "path") == 0) {
			if (!cJSON_IsString(v) || v->valuestring[0] != '/' ||
			    strlen(v->valuestring) > FAULTS_PATH_MAX) {
				snprintf(
				    err, errlen,
				    "path: must be a string starting with / of at most %d chars (got %s)",
				    FAULTS_PATH_MAX, got(v, g, sizeof(g)));
				return -1;
			}
			snprintf(r->path, sizeof(r->path), "%s", v->valuestring);
		} else if (strcmp(k, "method") == 0) {
			size_t i = 0;

			for (; cJSON_IsString(v) && i < sizeof(methods) / sizeof(methods[0]); i++)
				if (strcmp(v->valuestring, methods[i]) == 0)
					break;
			if (!cJSON_IsString(v) || i == sizeof(methods) / sizeof(methods[0])) {
				snprintf(
				    err, errlen,
				    "method: must be GET, HEAD, POST, PUT, PATCH or DELETE (got %s)",
				    got(v, g, sizeof(g)));
				return -1;
			}
			snprintf(r->method, sizeof(r->method), "%s", methods[i]);
		} else if (strcmp(k, "status") == 0) {
			/* Not 1xx: an interim status as the final answer hangs
			 * clients. */
			if (int_field(v, "status", 200, 599, &n, err, errlen))
				return -1;
			r->status = (unsigned)n;
			actions++;
		} else if (strcmp(k, "retry_after_s") == 0) {
			if (int_field(v, "retry_after_s", 0, 86400, &r->retry_after_s, err, errlen))
				return -1;
		} else if (strcmp(k, "latency_ms") == 0) {
			if (int_field(v, "latency_ms", 0, 60000, &r->latency_ms, err, errlen))
				return -1;
			actions += r->latency_ms > 0; /* a 0 ms stall does nothing */
		} else if (strcmp(k, "drop") == 0) {
			if (!cJSON_IsBool(v)) {
				snprintf(err, errlen, "drop: must be true or false (got %s)",
				         got(v, g, sizeof(g)));
				return -1;
			}
			r->drop = cJSON_IsTrue(v);
			actions += r->drop;
		} else if (strcmp(k, "body") == 0) {
			if (cJSON_IsString(v) && strcmp(v->valuestring, "malformed") == 0)
				r->body = FAULTS_BODY_MALFORMED;
			else if (cJSON_IsString(v) && strcmp(v->valuestring, "truncated") == 0)
				r->body = FAULTS_BODY_TRUNCATED;
			else {
				snprintf(err, errlen,
				         "body: must be \"malformed\" or \"truncated\" (got %s)",
				         got(v, g, sizeof(g)));
				return -1;
			}
			actions++;
		} else if (strcmp(k, "expires_in") == 0) {
			if (int_field(v, "expires_in", -86400, 10LL * 365 * 86400, &r->expires_in,
			              err, errlen))
				return -1;
			r->has_expires_in = 1;
			actions++;
		} else if (strcmp(k, "count") == 0) {
			if (int_field(v, "count", 1, 1000000000, &r->remaining, err, errlen))
				return -1;
		} else if (strcmp(k, "probability") == 0) {
			if (!cJSON_IsNumber(v) ||
			    !(v->valuedouble > 0.0 && v->valuedouble <= 1.0)) {
				snprintf(
				    err, errlen,
				    "probability: must be a number above 0 and at most 1 (got %s)",
				    got(v, g, sizeof(g)));
				return -1;
			}
			r->probability = v->valuedouble;
		} else {
			/* The key is the client's text: control characters would
			 * break the one-line reason, so they show as '?'. */
			char shown[41];
			size_t i;

			for (i = 0; i < sizeof(shown) - 1 && k[i]; i++)
				shown[i] = (unsigned char)k[i] < 0x20 || k[i] == 0x7f ? '?' : k[i];
			shown[i] = '\0';
			snprintf(
			    err, errlen,
			    "%s: unknown key (known: path, method, status, retry_after_s, latency_ms, drop, body, expires_in, count, probability)",
			    shown);
			return -1;
		}
	}
	if (!r->path[0]) {
		snprintf(err, errlen, "path: is required");
		return -1;
	}
	if (!actions) {
		snprintf(err, errlen,
		         "a rule needs an action: status, latency_ms, drop, body or expires_in");
		return -1;
	}
	if (r->retry_after_s >= 0 && !r->status) {
		snprintf(err, errlen, "retry_after_s: goes with status (429 or 503)");
		return -1;
	}
	return 0;
}

int faults_add_json(struct faults *f, const char *json, size_t len, uint64_t *id, char *err,
                    size_t errlen)
{
	struct faults_rule r;
	cJSON *root = cJSON_ParseWithLength(json, len);
	int ret = -1;

	if (!root) {
		snprintf(err, errlen, "body: not valid JSON");
		return -1;
	}
	if (parse_rule(root, &r, err, errlen) != 0)
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
