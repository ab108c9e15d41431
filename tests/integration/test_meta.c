/*
 * Metadata that changes (issue 14, item 5): instance and project
 * attributes and labels PATCHed through the control API, served at once,
 * waking wait_for_change watches, restored by reset; and Yandex's identity
 * document in both flavours. The server runs in this process on fake
 * clocks: a watch that returns before its timeout was woken by the change,
 * since the wait clock never moves here.
 */
#include <cjson/cJSON.h>
#include "cr_shim.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "inproc.h"
#include "timefmt.h"

static struct test_inproc ip;

static void stop(void)
{
	if (ip.daemon)
		test_inproc_stop(&ip, 1000);
}

TestSuite(meta, .fini = stop, .timeout = 60);

/* GET with Metadata-Flavor: Google; the body and ETag are copied out. */
struct got {
	long status;
	char body[1024];
	char etag[64];
	char type[64];
};

static void get(const char *path, struct got *g)
{
	struct test_response r;
	char url[512];

	snprintf(url, sizeof(url), "%s%s", ip.base, path);
	memset(g, 0, sizeof(*g));
	g->status = -1;
	if (test_http_gce(url, &r) != 0)
		return;
	g->status = r.status;
	snprintf(g->body, sizeof(g->body), "%s", r.body);
	test_response_header(&r, "ETag", g->etag, sizeof(g->etag));
	test_response_header(&r, "Content-Type", g->type, sizeof(g->type));
	test_response_free(&r);
}

/* A control call; the body is copied out. Returns the status. */
static long control(const char *method, const char *path, const char *body, char *out, size_t cap)
{
	struct test_response r;
	long status;

	cr_assert_eq(test_control(ip.base, ip.srv.admin_secret, method, path, body, &r), 0);
	status = r.status;
	if (out)
		snprintf(out, cap, "%s", r.body);
	test_response_free(&r);
	return status;
}

struct watch {
	pthread_t thread;
	char path[512];
	struct got got;
};

static void *watch_run(void *arg)
{
	struct watch *w = arg;

	get(w->path, &w->got);
	return NULL;
}

/* Starts a watch on path with the ETag last, and waits until it is held. */
static void watch_start(struct watch *w, const char *path, const char *last)
{
	snprintf(w->path, sizeof(w->path), "%s%swait_for_change=true&last_etag=%s&timeout_sec=600",
	         path, strchr(path, '?') ? "&" : "?", last);
	cr_assert_eq(pthread_create(&w->thread, NULL, watch_run, w), 0);
	cr_assert_eq(test_inproc_until_held(&ip, 1), 0);
}

Test(meta, a_patch_sets_and_deletes_keys_and_is_served_at_once)
{
	char body[1024];
	struct got g;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	cr_assert_eq(control("PATCH", "instance",
	                     "{\"attributes\": {\"ssh-keys\": \"alice:ssh-ed25519 AAAA\","
	                     " \"serial-port-enable\": \"1\"},"
	                     " \"labels\": {\"env\": null, \"team\": \"infra\"}}",
	                     body, sizeof(body)),
	             200, "%s", body);
	/* The answer is the section now: replaced keys keep their place. */
	cr_assert_str_eq(body, "{\"attributes\":{\"serial-port-enable\":\"1\",\"ssh-keys\":"
	                       "\"alice:ssh-ed25519 AAAA\"},\"labels\":{\"managed-by\":"
	                       "\"metatoken\",\"team\":\"infra\"}}");
	cr_assert_eq(control("GET", "instance", NULL, body, sizeof(body)), 200);
	cr_assert_not_null(strstr(body, "\"team\":\"infra\""));

	get("/computeMetadata/v1/instance/attributes/ssh-keys", &g);
	cr_assert_eq(g.status, 200);
	cr_assert_str_eq(g.body, "alice:ssh-ed25519 AAAA");
	get("/computeMetadata/v1/instance/attributes/serial-port-enable", &g);
	cr_assert_str_eq(g.body, "1");
	get("/computeMetadata/v1/instance/vendor/labels/", &g);
	cr_assert_str_eq(g.body, "managed-by\nteam\n");
	get("/computeMetadata/v1/instance/vendor/labels/env", &g);
	cr_assert_eq(g.status, 404);
	get("/computeMetadata/v1/instance/vendor/labels?recursive=true", &g);
	cr_assert_str_eq(g.body, "{\"managed-by\":\"metatoken\",\"team\":\"infra\"}");

	/* The project's attributes, alone: the instance's stay as they are. */
	cr_assert_eq(control("PATCH", "project", "{\"attributes\": {\"enable-oslogin\": \"TRUE\"}}",
	                     body, sizeof(body)),
	             200, "%s", body);
	cr_assert_str_eq(body, "{\"attributes\":{\"enable-oslogin\":\"TRUE\"}}");
	get("/computeMetadata/v1/project/attributes/enable-oslogin", &g);
	cr_assert_str_eq(g.body, "TRUE");
	get("/computeMetadata/v1/instance/attributes/serial-port-enable", &g);
	cr_assert_str_eq(g.body, "1");
}

Test(meta, a_watch_wakes_on_a_patch_with_the_new_value_and_etag)
{
	struct watch w = { 0 };
	struct got before, after;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	get("/computeMetadata/v1/instance/attributes/serial-port-enable", &before);
	cr_assert_eq(before.status, 200);
	watch_start(&w, "/computeMetadata/v1/instance/attributes/serial-port-enable", before.etag);

	cr_assert_eq(control("PATCH", "instance",
	                     "{\"attributes\": {\"serial-port-enable\": \"1\"}}", NULL, 0),
	             200);
	pthread_join(w.thread, NULL);
	cr_assert_eq(w.got.status, 200);
	cr_assert_str_eq(w.got.body, "1");
	cr_assert_str_neq(w.got.etag, before.etag);
	/* The ETag is the value's: a plain GET now says the same. */
	get("/computeMetadata/v1/instance/attributes/serial-port-enable", &after);
	cr_assert_str_eq(after.etag, w.got.etag);
}

Test(meta, a_watch_sleeps_on_through_changes_to_other_values)
{
	struct watch w = { 0 };
	struct got before;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	get("/computeMetadata/v1/instance/attributes/serial-port-enable", &before);
	watch_start(&w, "/computeMetadata/v1/instance/attributes/serial-port-enable", before.etag);
	/* Other values change: the watch is woken, finds its own unchanged
	 * and is held again, not answered. */
	cr_assert_eq(control("PATCH", "instance", "{\"labels\": {\"a\": \"1\"}}", NULL, 0), 200);
	cr_assert_eq(control("PATCH", "project", "{\"attributes\": {\"b\": \"2\"}}", NULL, 0), 200);
	cr_assert_eq(test_inproc_until_held(&ip, 1), 0);
	cr_assert_eq(control("PATCH", "instance",
	                     "{\"attributes\": {\"serial-port-enable\": \"1\"}}", NULL, 0),
	             200);
	pthread_join(w.thread, NULL);
	cr_assert_str_eq(w.got.body, "1");
}

Test(meta, a_watch_held_again_keeps_its_first_deadline)
{
	struct watch w = { 0 };
	struct got before;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	get("/computeMetadata/v1/project/project-id", &before);
	watch_start(&w, "/computeMetadata/v1/project/project-id", before.etag);
	test_inproc_wait(&ip, 400000);
	cr_assert_eq(control("PATCH", "project", "{\"attributes\": {\"b\": \"2\"}}", NULL, 0), 200);
	cr_assert_eq(test_inproc_until_held(&ip, 1), 0);
	/* 600 s in all from the start, not 600 from the change. */
	test_inproc_wait(&ip, 200000);
	pthread_join(w.thread, NULL);
	cr_assert_eq(w.got.status, 200);
	cr_assert_str_eq(w.got.body, "metatoken-local");
	cr_assert_str_eq(w.got.etag, before.etag);
}

Test(meta, a_recursive_watch_on_a_directory_wakes_on_a_new_key)
{
	struct watch w = { 0 };
	struct got before;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	get("/computeMetadata/v1/project/attributes/?recursive=true", &before);
	cr_assert_str_eq(before.body, "{\"enable-oslogin\":\"FALSE\"}");
	watch_start(&w, "/computeMetadata/v1/project/attributes/?recursive=true", before.etag);
	cr_assert_eq(
	    control("PATCH", "project", "{\"attributes\": {\"startup\": \"echo hi\"}}", NULL, 0),
	    200);
	pthread_join(w.thread, NULL);
	cr_assert_eq(w.got.status, 200);
	cr_assert_str_eq(w.got.body, "{\"enable-oslogin\":\"FALSE\",\"startup\":\"echo hi\"}");
	cr_assert_str_neq(w.got.etag, before.etag);
}

Test(meta, bad_patches_are_refused_naming_the_field_and_change_nothing)
{
	static const struct {
		const char *path, *body, *error;
	} bad[] = {
		{ "instance", "{\"attributes\": {\"k\": 1}}",
		  "attributes.k: must be a string, or null to delete the key" },
		{ "instance", "{\"labels\": {\"a/b\": \"v\"}}",
		  "labels: key \"a/b\" must be 1..128 characters without '/'" },
		{ "instance", "{\"labels\": {\"\": \"v\"}}",
		  "labels: key \"\" must be 1..128 characters without '/'" },
		{ "instance", "{\"attributes\": [\"k\"]}",
		  "attributes: must be an object of strings (null deletes a key)" },
		{ "instance", "{\"attributes\": {\"serial-port-enable\": \"1\"}, \"name\": \"x\"}",
		  "name: unknown key" },
		{ "project", "{\"labels\": {\"k\": \"v\"}}", "labels: unknown key" },
		{ "project", "", "body: a JSON object is required" },
		{ "project", "[]", "body: must be a JSON object (got [])" },
	};
	char body[1024], want[512], before[1024], after[1024];

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	cr_assert_eq(control("GET", "instance", NULL, before, sizeof(before)), 200);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(control("PATCH", bad[i].path, bad[i].body, body, sizeof(body)), 400,
		             "%s: %s", bad[i].body, body);
		snprintf(want, sizeof(want), "{\"error\":\"%s\"}", bad[i].error);
		/* JSON escapes the quotes in the message. */
		if (strchr(bad[i].error, '"')) {
			cJSON *o = cJSON_Parse(body);

			cr_assert_not_null(o);
			cr_assert_str_eq(cJSON_GetObjectItem(o, "error")->valuestring,
			                 bad[i].error);
			cJSON_Delete(o);
		} else {
			cr_assert_str_eq(body, want);
		}
	}
	/* The valid half of a bad body was not applied either. */
	cr_assert_eq(control("GET", "instance", NULL, after, sizeof(after)), 200);
	cr_assert_str_eq(after, before);
}

/* {"labels": {"<prefix>0": "v", ...}}, n keys. */
static char *many_labels(const char *prefix, int n)
{
	size_t cap = (size_t)n * 24 + 32, o;
	char *s = malloc(cap);

	cr_assert_not_null(s);
	o = (size_t)snprintf(s, cap, "{\"labels\": {");
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(s + o, cap - o, "%s\"%s%d\":\"v\"", i ? "," : "", prefix, i);
	snprintf(s + o, cap - o, "}}");
	return s;
}

Test(meta, a_map_holds_at_most_1024_keys)
{
	char body[256], *big;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	big = many_labels("k", 1025);
	cr_assert_eq(control("PATCH", "instance", big, body, sizeof(body)), 400);
	cr_assert_str_eq(body, "{\"error\":\"labels: at most 1024 keys\"}");
	free(big);
	/* Two there already (env, managed-by): 1022 more fit, 1023 do not. */
	big = many_labels("k", 1023);
	cr_assert_eq(control("PATCH", "instance", big, body, sizeof(body)), 400);
	cr_assert_str_eq(body, "{\"error\":\"labels: at most 1024 keys, with those there\"}");
	free(big);
	big = many_labels("k", 1022);
	cr_assert_eq(control("PATCH", "instance", big, NULL, 0), 200);
	free(big);
}

Test(meta, reset_restores_the_configured_maps_and_wakes_watches)
{
	struct watch w = { 0 };
	struct got g;
	char body[1024];

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	cr_assert_eq(control("PATCH", "instance", "{\"labels\": {\"env\": \"prod\"}}", NULL, 0),
	             200);
	get("/computeMetadata/v1/instance/vendor/labels/env", &g);
	cr_assert_str_eq(g.body, "prod");
	watch_start(&w, "/computeMetadata/v1/instance/vendor/labels/env", g.etag);
	cr_assert_eq(control("POST", "reset", NULL, NULL, 0), 200);
	pthread_join(w.thread, NULL);
	cr_assert_str_eq(w.got.body, "local");
	cr_assert_eq(control("GET", "instance", NULL, body, sizeof(body)), 200);
	cr_assert_str_eq(body, "{\"attributes\":{\"serial-port-enable\":\"0\"},\"labels\":{\"env\":"
	                       "\"local\",\"managed-by\":\"metatoken\"}}");
}

/* Writers set a and b to the same value in one PATCH; readers must never
 * see them differ (a change is seen whole or not at all). */
struct churn {
	pthread_t thread;
	int id, mismatches, failures;
};

static void *writer(void *arg)
{
	struct churn *c = arg;
	char body[128];

	for (int i = 0; i < 50; i++) {
		snprintf(body, sizeof(body),
		         "{\"attributes\": {\"a\": \"%d-%d\", \"b\": \"%d-%d\"}}", c->id, i, c->id,
		         i);
		if (control("PATCH", "project", body, NULL, 0) != 200)
			c->failures++;
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct churn *c = arg;
	struct got g;

	for (int i = 0; i < 100; i++) {
		cJSON *o, *a, *b;

		get("/computeMetadata/v1/project/attributes/?recursive=true", &g);
		o = g.status == 200 ? cJSON_Parse(g.body) : NULL;
		if (!o) {
			c->failures++;
			continue;
		}
		a = cJSON_GetObjectItem(o, "a");
		b = cJSON_GetObjectItem(o, "b");
		if ((a == NULL) != (b == NULL) ||
		    (a && strcmp(a->valuestring, b->valuestring) != 0))
			c->mismatches++;
		cJSON_Delete(o);
	}
	return NULL;
}

Test(meta, concurrent_patches_are_seen_whole)
{
	struct churn w[2] = { { .id = 0 }, { .id = 1 } }, r[2] = { 0 };
	struct got g;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(pthread_create(&w[i].thread, NULL, writer, &w[i]), 0);
		cr_assert_eq(pthread_create(&r[i].thread, NULL, reader, &r[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(w[i].thread, NULL);
		pthread_join(r[i].thread, NULL);
		cr_assert_eq(w[i].failures, 0);
		cr_assert_eq(r[i].failures, 0);
		cr_assert_eq(r[i].mismatches, 0);
	}
	/* The last change of one writer or the other, both keys from it. */
	get("/computeMetadata/v1/project/attributes/a", &g);
	cr_assert(strcmp(g.body, "0-49") == 0 || strcmp(g.body, "1-49") == 0, "%s", g.body);
}

static const char config_with_image[] =
    "{\"instance\": {\"id\": \"fhmabc123\", \"image_id\": \"fd8imageid01\"}}";

static void check_document(const char *body, const char *instance_id, const char *image_id)
{
	cJSON *o = cJSON_Parse(body), *ids;
	const char *keys[] = { "instanceId", "productCodes", "imageId",
		               "productIds", "createdAt",    "version" };
	char created[TIMEFMT_RFC3339_SIZE];
	int n = 0;

	cr_assert_not_null(o, "%s", body);
	for (cJSON *e = o->child; e; e = e->next, n++)
		cr_assert_str_eq(e->string, keys[n]);
	cr_assert_eq(n, 6);
	cr_assert_str_eq(cJSON_GetObjectItem(o, "instanceId")->valuestring, instance_id);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "productCodes")));
	cr_assert_str_eq(cJSON_GetObjectItem(o, "imageId")->valuestring, image_id);
	ids = cJSON_GetObjectItem(o, "productIds");
	cr_assert(cJSON_IsArray(ids));
	cr_assert_eq(cJSON_GetArraySize(ids), 0);
	/* The server's start on its clock, as RFC 3339. */
	timefmt_rfc3339(ip.srv.started_ms, created);
	cr_assert_str_eq(cJSON_GetObjectItem(o, "createdAt")->valuestring, created);
	cr_assert_eq(strlen(created), 20);
	cr_assert_str_eq(cJSON_GetObjectItem(o, "version")->valuestring, "2023-03-01");
	cJSON_Delete(o);
}

Test(meta, the_identity_document_in_both_flavours)
{
	struct test_response r;
	struct got g;
	char url[256], type[64];

	cr_assert_eq(test_inproc_start(&ip, config_with_image, NULL), 0);
	get("/computeMetadata/v1/instance/vendor/identity/document", &g);
	cr_assert_eq(g.status, 200);
	cr_assert_str_eq(g.type, "application/json");
	check_document(g.body, "fhmabc123", "fd8imageid01");
	get("/computeMetadata/v1/instance/vendor/identity/", &g);
	cr_assert_str_eq(g.body, "document\n");

	snprintf(url, sizeof(url), "%s/latest/vendor/instance-identity/document", ip.base);
	cr_assert_eq(test_http("GET", url, NULL, NULL, &r), 0);
	cr_assert_eq(r.status, 200);
	test_response_header(&r, "Content-Type", type, sizeof(type));
	cr_assert_str_eq(type, "application/json");
	check_document(r.body, "fhmabc123", "fd8imageid01");
	test_response_free(&r);
}
