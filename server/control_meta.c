/*
 * The control API's metadata endpoints (README.md, "Control API"):
 * GET and PATCH /metatoken/v1/instance ({"attributes", "labels"}) and
 * /metatoken/v1/project ({"attributes"}). A PATCH merges: a string sets a
 * key, null deletes it, keys not named stay. The change is served at once
 * and wakes every wait_for_change watch (gce_live.h).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "gce_live.h"
#include "json.h"
#include "log.h"
#include "server.h"

/* A section's maps: the body's field and which map it patches. */
struct meta_field {
	const char *name;
	enum gce_map map;
};

static const struct meta_field instance_fields[] = {
	{ "attributes", GCE_MAP_INSTANCE_ATTRIBUTES },
	{ "labels", GCE_MAP_LABELS },
	{ NULL, 0 },
};
static const struct meta_field project_fields[] = {
	{ "attributes", GCE_MAP_PROJECT_ATTRIBUTES },
	{ NULL, 0 },
};

static void reply_error(struct request *rq, unsigned status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s = o && cJSON_AddStringToObject(o, "error", msg) ? cJSON_PrintUnformatted(o) : NULL;

	cJSON_Delete(o);
	if (!s)
		reply_static(rq, 500, CT_JSON, "{\"error\":\"out of memory\"}");
	else
		reply_owned(rq, status, CT_JSON, s, strlen(s));
}

/* {"attributes": {...}[, "labels": {...}]}: the section's maps now. */
static void reply_section(struct request *rq, const struct meta_field *fields)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	for (const struct meta_field *f = fields; o && f->name; f++) {
		cJSON *m = gce_live_map_json(rq->srv->gce, f->map);

		if (!m || !cJSON_AddItemToObject(o, f->name, m)) {
			cJSON_Delete(m);
			cJSON_Delete(o);
			o = NULL;
		}
	}
	if (o)
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		reply_static(rq, 500, CT_JSON, "{\"error\":\"out of memory\"}");
	else
		reply_owned(rq, 200, CT_JSON, s, strlen(s));
}

static void section_patch(struct request *rq, const char *section, const struct meta_field *fields)
{
	const char *known[GCE_MAP_COUNT + 1] = { NULL };
	const cJSON *patches[GCE_MAP_COUNT] = { NULL };
	char err[256];
	struct json_reader jr = { .err = err, .errlen = sizeof(err) };
	cJSON *o;
	size_t n = 0;
	enum gce_map full = 0;
	int rc;

	for (const struct meta_field *f = fields; f->name; f++)
		known[n++] = f->name;
	if (rq->req_body_len == 0) {
		reply_error(rq, 400, "body: a JSON object is required");
		return;
	}
	o = json_parse(&jr, rq->req_body, rq->req_body_len);
	if (o && !cJSON_IsObject(o))
		json_fail(&jr, o, "must be a JSON object");
	else if (o && json_check_keys(&jr, o, known) == 0) {
		for (const struct meta_field *f = fields; f->name; f++) {
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, f->name);

			if (p && gce_live_check(p, f->name, err, sizeof(err)) != 0)
				goto out_bad;
			patches[f->map] = p;
		}
		rc = gce_live_apply(rq->srv->gce, rq->srv, patches, &full);
		cJSON_Delete(o);
		if (rc < 0) {
			reply_static(rq, 500, CT_JSON, "{\"error\":\"out of memory\"}");
			return;
		}
		if (rc > 0) {
			for (const struct meta_field *f = fields; f->name; f++)
				if (f->map == full)
					snprintf(err, sizeof(err),
					         "%s: at most %d keys, with those there", f->name,
					         GCE_MAP_MAX_KEYS);
			reply_error(rq, 400, err);
			return;
		}
		log_msg(LOG_INFO, "control: %s metadata changed", section);
		reply_section(rq, fields);
		return;
	}
out_bad:
	cJSON_Delete(o);
	reply_error(rq, 400, err);
}

void control_instance_get(struct request *rq)
{
	reply_section(rq, instance_fields);
}

void control_instance_patch(struct request *rq)
{
	section_patch(rq, "instance", instance_fields);
}

void control_project_get(struct request *rq)
{
	reply_section(rq, project_fields);
}

void control_project_patch(struct request *rq)
{
	section_patch(rq, "project", project_fields);
}
