/*
 * faults_add_json: the body of POST /metatoken/v1/faults (control API).
 *
 * faults.h's contract: 0 with an id, or -1 with a one-line reason. A rule
 * that was added is well formed (its path a prefix starting with '/', its
 * numbers in range), shows in faults_to_json as valid JSON, and fires for a
 * request to its own path and method when it has no probability to roll.
 */
#include "fuzz.h"

#include "faults.h"

#include <cjson/cJSON.h>
#include <string.h>

static void check_rule(struct faults *f, uint64_t id)
{
	const struct faults_rule *r = &f->rules[0];
	struct faults_rule fired;
	cJSON *list;
	char *text;

	FUZZ_CHECK(atomic_load(&f->n) == 1 && r->id == id, "the rule was not added as %llu",
	           (unsigned long long)id);
	FUZZ_CHECK(r->path[0] == '/' && strnlen(r->path, sizeof(r->path)) <= FAULTS_PATH_MAX,
	           "path \"%.300s\"", r->path);
	/* Every rule does something when it fires. */
	FUZZ_CHECK(r->status || r->latency_ms > 0 || r->drop || r->body != FAULTS_BODY_KEEP ||
	               r->has_expires_in,
	           "a rule with no action");
	FUZZ_CHECK(r->latency_ms >= 0 && r->latency_ms <= 60000, "latency_ms %lld",
	           (long long)r->latency_ms);
	FUZZ_CHECK(r->retry_after_s == -1 || (r->status && r->retry_after_s <= 86400),
	           "retry_after_s %lld with status %u", (long long)r->retry_after_s, r->status);
	FUZZ_CHECK(r->status == 0 || (r->status >= 200 && r->status <= 599), "status %u",
	           r->status);
	FUZZ_CHECK(r->probability > 0.0 && r->probability <= 1.0, "probability %g", r->probability);

	text = faults_to_json(f);
	FUZZ_CHECK(text != NULL, "faults_to_json failed");
	list = cJSON_Parse(text);
	FUZZ_CHECK(cJSON_IsArray(list) && cJSON_GetArraySize(list) == 1,
	           "faults_to_json wrote \"%s\"", text);
	cJSON_Delete(list);
	cJSON_free(text);

	if (r->probability >= 1.0) {
		char path[FAULTS_PATH_MAX + 1];

		memcpy(path, r->path, sizeof(path));
		FUZZ_CHECK(faults_match(f, r->method[0] ? r->method : "GET", path, &fired) == 1,
		           "the rule does not fire for its own path");
		FUZZ_CHECK(fired.id == id && fired.fired == 1, "another rule fired");
	}
	FUZZ_CHECK(faults_remove(f, id) == 0 || atomic_load(&f->n) == 0,
	           "the rule cannot be removed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct faults f; /* large; one per process, emptied each time */
	static int ready;
	uint64_t id = 0;
	char err[256];
	size_t len;
	int rc;

	if (!ready) {
		faults_init(&f);
		ready = 1;
	}
	faults_clear(&f);
	memset(err, 0xA5, sizeof(err));
	rc = faults_add_json(&f, (const char *)data, size, &id, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1, "returned %d", rc);
	if (rc == 0) {
		check_rule(&f, id);
		return 0;
	}
	len = strnlen(err, sizeof(err));
	FUZZ_CHECK(len > 0 && len < sizeof(err), "message empty or not terminated");
	FUZZ_CHECK(strchr(err, '\n') == NULL, "message spans lines: \"%s\"", err);
	FUZZ_CHECK(atomic_load(&f.n) == 0, "a rejected rule was added");
	return 0;
}
