/*
 * Serves the GCE-compatible metadata tree (built by gce_tree.c): walks the
 * current one under gce_live.c's read lock, since a change swaps in a new
 * one, and answers listings, text, JSON and recursive views. Dynamic leaves (tokens)
 * are computed per request from the account they point at.
 */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"
#include "gce.h"
#include "gce_live.h"
#include "gce_token.h"
#include "upstream.h"
#include "gce_tree.h"
#include "grow.h"
#include "identity.h"
#include "server.h"

/* An email (at most 254 chars), a slash and a NUL. */
#define LISTING_NAME_MAX 260

#define WAIT_DEFAULT_S 60   /* wait_for_change without timeout_sec */
#define WAIT_MAX_S     3600 /* the longest a watch is held */

/* Finds the child of d named by the len bytes at name. */
static struct gce_node *child(const struct gce_node *d, const char *name, size_t len)
{
	for (size_t i = 0; i < d->n_children; i++)
		if (strlen(d->children[i]->name) == len &&
		    memcmp(d->children[i]->name, name, len) == 0)
			return d->children[i];
	return NULL;
}

/* Walks "a/b/c" (or "a/b/" for a directory) from d. Empty segments do not
 * exist; a trailing slash is allowed on directories only. */
static struct gce_node *walk(struct gce_node *d, const char *path)
{
	while (*path) {
		const char *slash = strchr(path, '/');
		size_t len = slash ? (size_t)(slash - path) : strlen(path);

		if (d->kind != GCE_NODE_DIR || len == 0)
			return NULL;
		d = child(d, path, len);
		if (!d)
			return NULL;
		path += len;
		if (*path == '/') {
			path++;
			if (!*path && d->kind != GCE_NODE_DIR)
				return NULL;
		}
	}
	return d;
}

/* "numeric-project-id" -> "numericProjectId": keys of recursive JSON views. */
static void camel(const char *name, char *out, size_t cap)
{
	size_t o = 0;

	for (int up = 0; *name && o + 1 < cap; name++) {
		if (*name == '-') {
			up = 1;
			continue;
		}
		out[o++] = up && *name >= 'a' && *name <= 'z' ? (char)(*name - 'a' + 'A') : *name;
		up = 0;
	}
	out[o] = '\0';
}

static cJSON *list_json(const struct gce_node *n)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < n->n_items; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(n->items[i]));
	return arr;
}

/* The value of n as JSON; NULL for what recursive views leave out. */
static cJSON *to_json(const struct gce_node *n)
{
	cJSON *obj;
	char key[128];

	switch (n->kind) {
	case GCE_NODE_TEXT:
		return cJSON_CreateString(n->text);
	case GCE_NODE_NUMBER:
		/* Raw digits: instance ids exceed a double's 53 bits. */
	case GCE_NODE_JSON:
		return cJSON_CreateRaw(n->text);
	case GCE_NODE_LIST:
		return list_json(n);
	case GCE_NODE_TOKEN:
	case GCE_NODE_IDENTITY:
		return NULL;
	case GCE_NODE_DIR:
		break;
	}
	obj = cJSON_CreateObject();
	for (size_t i = 0; obj && i < n->n_children; i++) {
		cJSON *v = to_json(n->children[i]);

		if (!v)
			continue;
		if (n->user_keys)
			cJSON_AddItemToObject(obj, n->children[i]->name, v);
		else {
			camel(n->children[i]->name, key, sizeof(key));
			cJSON_AddItemToObject(obj, key, v);
		}
	}
	return obj;
}

/* A growing text buffer for listings; the tree bounds its size. */
struct text_buf {
	char *data;
	size_t len, cap;
	int failed;
};

static void put(struct text_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	/* What is there, n more bytes and a NUL. */
	if (n > SIZE_MAX - b->len - 1 ||
	    grow_reserve(&b->data, &b->cap, b->len + n + 1, SIZE_MAX, 1) != 0) {
		b->failed = 1;
		return;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void puts_line(struct text_buf *b, const char *prefix, const char *a, const char *sep,
                      const char *c)
{
	put(b, prefix, strlen(prefix));
	put(b, a, strlen(a));
	put(b, sep, strlen(sep));
	put(b, c, strlen(c));
	put(b, "\n", 1);
}

/* ?recursive=true&alt=text: one "relative/path value" line per leaf value. */
static void flatten(struct text_buf *b, const struct gce_node *d, const char *prefix)
{
	for (size_t i = 0; i < d->n_children; i++) {
		const struct gce_node *n = d->children[i];
		char *path;

		if (n->kind == GCE_NODE_TOKEN || n->kind == GCE_NODE_IDENTITY)
			continue;
		if (asprintf(&path, "%s%s", prefix, n->name) < 0) {
			b->failed = 1;
			return;
		}
		if (n->kind == GCE_NODE_DIR) {
			char *sub;

			if (asprintf(&sub, "%s/", path) >= 0) {
				flatten(b, n, sub);
				free(sub);
			} else {
				b->failed = 1;
			}
		} else if (n->kind == GCE_NODE_LIST) {
			for (size_t j = 0; j < n->n_items; j++)
				puts_line(b, "", path, " ", n->items[j]);
		} else {
			puts_line(b, "", path, " ", n->text);
		}
		free(path);
	}
}

static void reply_buf(struct request *rq, struct text_buf *b)
{
	if (b->failed) {
		free(b->data);
		reply_static(rq, 500, CT_TEXT, "out of memory\n");
		return;
	}
	if (!b->data)
		reply_static(rq, 200, CT_TEXT, "");
	else
		reply_owned(rq, 200, CT_TEXT, b->data, b->len);
}

static void reply_json(struct request *rq, cJSON *v)
{
	char *s = v ? cJSON_PrintUnformatted(v) : NULL;

	cJSON_Delete(v);
	if (!s) {
		reply_static(rq, 500, CT_TEXT, "out of memory\n");
		return;
	}
	reply_owned(rq, 200, CT_JSON, s, strlen(s));
}

/* The token endpoint of an account whose tokens come from upstream
 * (upstream.h): 503 with the reason while it has none to give. */
static void serve_upstream_token(struct request *rq, struct upstream *u)
{
	char answer[UPSTREAM_ANSWER_MAX + 1], why[768];
	int len = upstream_answer(
	    u, rq->has_fault && rq->fault.has_expires_in ? &rq->fault.expires_in : NULL, answer,
	    sizeof(answer), why, sizeof(why));
	char *body = len > 0 ? strndup(answer, (size_t)len) : NULL;

	OPENSSL_cleanse(answer, sizeof(answer));
	if (len < 0) {
		reply_printf(rq, 503, CT_TEXT, "%s\n", why);
		return;
	}
	if (!body) {
		reply_static(rq, 500, CT_TEXT, "out of memory\n");
		return;
	}
	reply_owned(rq, 200, CT_JSON, body, (size_t)len);
	rq->secret = 1;
}

/*
 * The token endpoint (gce_token.h). On the hot path the answer is formatted
 * once per second and token, and each pool thread builds its response once
 * too, keyed by the account's slot.
 */
static void serve_token(struct request *rq, size_t account)
{
	struct server *srv = rq->srv;
	struct slot *s = &srv->accounts[account].slot;
	uint64_t have = rq->has_fault ? 0 : reply_cached_gen(s), gen = 0;
	char answer[GCE_TOKEN_ANSWER_MAX + 1], *body;
	int len;

	if (srv->accounts[account].upstream) {
		serve_upstream_token(rq, srv->accounts[account].upstream);
		return;
	}
	if (rq->has_fault && rq->fault.has_expires_in)
		/* A fault rule chooses what expires_in says (0, negative, huge). */
		len = gce_token_answer_saying(s, clock_now_ms(&srv->clock), rq->fault.expires_in,
		                              answer, sizeof(answer));
	else
		len = gce_token_answer(s, clock_now_ms(&srv->clock), have, answer, sizeof(answer),
		                       &gen);
	if (len == 0) {
		reply_reuse(rq, s);
		return;
	}
	body = len > 0 ? malloc((size_t)len + 1) : NULL;
	if (body)
		memcpy(body, answer, (size_t)len + 1);
	OPENSSL_cleanse(answer, sizeof(answer));
	if (!body) {
		reply_static(rq, 500, CT_TEXT, "could not mint a token\n");
		return;
	}
	reply_owned(rq, 200, CT_JSON, body, (size_t)len);
	if (gen)
		reply_keep(rq, s, gen);
	rq->secret = 1;
}

/* .../identity?audience=X[&format=full]: a JWT, as text. */
static void serve_identity(struct request *rq, size_t account)
{
	struct server *srv = rq->srv;
	const struct config *c = &srv->cfg;
	const char *aud = request_query(rq, "audience"), *format = request_query(rq, "format");
	const struct identity_instance inst = {
		.instance_id = c->instance_id,
		.instance_name = c->instance_name,
		.project_id = c->project_id,
		.zone = c->zone,
		.project_number = c->numeric_project_id,
		.created_s = srv->started_ms / 1000,
	};
	char *jwt;

	if (!aud || !*aud) {
		reply_static(rq, 400, CT_TEXT, "non-empty audience parameter required");
		return;
	}
	if (format && strcmp(format, "full") != 0 && strcmp(format, "standard") != 0) {
		reply_static(rq, 400, CT_TEXT, "format must be standard or full");
		return;
	}
	jwt =
	    identity_mint(srv->identity, c->accounts[account].id, c->accounts[account].email, aud,
	                  format && strcmp(format, "full") == 0, &inst, clock_now_ms(&srv->clock));
	if (!jwt) {
		reply_static(rq, 500, CT_TEXT, "could not sign an identity token\n");
		return;
	}
	reply_owned(rq, 200, CT_TEXT, jwt, strlen(jwt));
	rq->secret = 1;
}

static void serve_node(struct request *rq, const struct gce_node *n, int json, int recursive)
{
	struct text_buf b = { 0 };

	switch (n->kind) {
	case GCE_NODE_TOKEN:
		serve_token(rq, n->account);
		return;
	case GCE_NODE_IDENTITY:
		serve_identity(rq, n->account);
		return;
	case GCE_NODE_JSON:
		/* A tree a change replaces is kept (gce_live.c): its text can be
		 * served, and its built response kept, as static. */
		reply_static(rq, 200, CT_JSON, n->text);
		return;
	case GCE_NODE_TEXT:
	case GCE_NODE_NUMBER:
		if (json)
			reply_json(rq, to_json(n));
		else
			reply_static(rq, 200, CT_TEXT, n->text);
		return;
	case GCE_NODE_LIST:
		if (json) {
			reply_json(rq, list_json(n));
			return;
		}
		for (size_t i = 0; i < n->n_items; i++)
			puts_line(&b, "", n->items[i], "", "");
		reply_buf(rq, &b);
		return;
	case GCE_NODE_DIR:
		break;
	}
	if (recursive && json) {
		reply_json(rq, to_json(n));
		return;
	}
	if (recursive) {
		flatten(&b, n, "");
		reply_buf(rq, &b);
		return;
	}
	if (json) {
		cJSON *arr = cJSON_CreateArray();
		char name[LISTING_NAME_MAX];

		for (size_t i = 0; arr && i < n->n_children; i++) {
			snprintf(name, sizeof(name), "%s%s", n->children[i]->name,
			         n->children[i]->kind == GCE_NODE_DIR ? "/" : "");
			cJSON_AddItemToArray(arr, cJSON_CreateString(name));
		}
		reply_json(rq, arr);
		return;
	}
	for (size_t i = 0; i < n->n_children; i++)
		puts_line(&b, "", n->children[i]->name,
		          n->children[i]->kind == GCE_NODE_DIR ? "/" : "", "");
	reply_buf(rq, &b);
}

static int is_true(const char *v)
{
	return v && strcasecmp(v, "true") == 0;
}

/*
 * ?wait_for_change=true&last_etag=E[&timeout_sec=N]: if the answer's ETag
 * is still E, hold the request until the value changes or the timeout
 * passes (GCE's watch protocol). A change to the metadata (gce_live.h)
 * wakes every watch: one whose value changed answers from the new tree,
 * one whose value did not is held again for what is left of its timeout
 * (a watch without last_etag answers at any change). Tokens change every
 * second and are answered at once. `changed`: a change woke rq, whose
 * watch had until deadline_ms on the wait clock.
 */
static void hold_if_unchanged(struct request *rq, const struct gce_node *n, int changed,
                              int64_t deadline_ms)
{
	const char *last = request_query(rq, "last_etag"), *t = request_query(rq, "timeout_sec");
	char etag[17];
	long timeout_s = WAIT_DEFAULT_S;
	int64_t now_ms;

	if ((rq->resumed && !changed) || rq->status != 200 ||
	    !is_true(request_query(rq, "wait_for_change")) || n->kind == GCE_NODE_TOKEN ||
	    n->kind == GCE_NODE_IDENTITY)
		return;
	reply_etag(rq->body, rq->body_len, etag);
	if ((rq->resumed && !last) || (last && strcmp(last, etag) != 0))
		return;
	now_ms = daemon_wait_now_ms(rq);
	if (rq->resumed) {
		if (deadline_ms > now_ms) {
			rq->hold_ms = deadline_ms - now_ms;
			gce_live_watch(rq->srv->gce, rq, deadline_ms);
		}
		return;
	}
	if (t) {
		char *end;

		timeout_s = strtol(t, &end, 10);
		if (*end || timeout_s < 0) {
			reply_static(rq, 400, CT_TEXT,
			             "timeout_sec must be a non-negative integer\n");
			return;
		}
		if (timeout_s > WAIT_MAX_S)
			timeout_s = WAIT_MAX_S;
	}
	rq->hold_ms = (int64_t)timeout_s * 1000;
	gce_live_watch(rq->srv->gce, rq, now_ms + rq->hold_ms);
}

/* Google requires `Metadata-Flavor: Google`; it also still honours the
 * legacy `X-Google-Metadata-Request: True`. */
int gce_admit(struct request *rq)
{
	const char *v = request_header(rq, "Metadata-Flavor");

	if ((v && strcmp(v, "Google") == 0) ||
	    is_true(request_header(rq, "X-Google-Metadata-Request")))
		return 1;
	reply_static(rq, 403, CT_TEXT, "Missing required header \"Metadata-Flavor\": \"Google\"");
	return 0;
}

/* Every GCE answer, errors included, says which flavour answered
 * (gcp-metadata and google-auth reject one that does not) and carries an
 * ETag (the watch protocol compares them). */
void gce_decorate(struct request *rq)
{
	reply_header(rq, "Metadata-Flavor", "Google");
	reply_header(rq, "Server", "Metadata Server for VM");
	rq->etag = 1;
}

void gce_handle_root(struct request *rq)
{
	reply_static(rq, 200, CT_TEXT, "computeMetadata/\n");
}

static void handle(struct request *rq, struct gce_node *v1, int changed, int64_t deadline_ms)
{
	struct gce_node *n;
	const char *path = rq->path + strlen("/computeMetadata");
	const char *alt = request_query(rq, "alt");
	int recursive = is_true(request_query(rq, "recursive")), json;

	if (alt && strcmp(alt, "json") != 0 && strcmp(alt, "text") != 0) {
		reply_static(rq, 400, CT_TEXT, "Invalid alt parameter: expected json or text\n");
		return;
	}
	/* Recursive views default to JSON, everything else to text. */
	json = alt ? strcmp(alt, "json") == 0 : recursive;

	if (strcmp(path, "") == 0 || strcmp(path, "/") == 0) {
		reply_static(rq, 200, CT_TEXT, "v1/\n");
		return;
	}
	if (strncmp(path, "/v1", 3) != 0 || (path[3] != '\0' && path[3] != '/')) {
		reply_static(rq, 404, CT_TEXT, "not found\n");
		return;
	}
	path += 3;
	if (*path == '/')
		path++;
	n = walk(v1, path);
	if (!n) {
		reply_static(rq, 404, CT_TEXT, "not found\n");
		return;
	}
	rq->log_path_known = 1; /* a path of the tree: no client's secret */
	serve_node(rq, n, json, recursive);
	hold_if_unchanged(rq, n, changed, deadline_ms);
}

void gce_handle(struct request *rq)
{
	struct gce_live *l = rq->srv->gce;
	int64_t deadline_ms = 0;
	/* Back from a hold (a change, or the timeout): the watch is spent. */
	int changed = rq->resumed && gce_live_unwatch(l, rq, &deadline_ms);

	handle(rq, gce_live_read(l)->v1, changed, deadline_ms);
	gce_live_read_end(l);
}

void gce_ended(struct request *rq)
{
	gce_live_forget(rq->srv->gce, rq);
}

void gce_vendor_document(struct request *rq)
{
	struct gce_live *l = rq->srv->gce;

	reply_static(rq, 200, CT_JSON, gce_live_read(l)->document); /* kept: gce_live.c */
	gce_live_read_end(l);
}
