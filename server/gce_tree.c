/*
 * Builds the GCE-compatible metadata tree from the configuration and the
 * maps that change (PROTOCOL.md §1), and frees it. A tree never changes
 * once built: a change builds a new one (gce_live.c). Its arrays grow with
 * no cap of their own (SIZE_MAX): the configuration, at most 1 MiB, and
 * the control API's caps bound them.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gce.h"
#include "gce_live.h"
#include "gce_tree.h"
#include "grow.h"
#include "server.h"
#include "timefmt.h"

static const char *const default_alias[] = { "default" };

static struct gce_node *node_new(struct gce_tree *t, struct gce_node *parent, const char *name,
                                 enum gce_node_kind kind)
{
	struct gce_node *n = calloc(1, sizeof(*n));

	if (!n) {
		t->failed = 1;
		return NULL;
	}
	n->name = name;
	n->kind = kind;
	n->next_alloc = t->allocated;
	t->allocated = n;
	if (parent) {
		if (grow_reserve(&parent->children, &parent->cap_children, parent->n_children + 1,
		                 SIZE_MAX, sizeof(*parent->children)) != 0) {
			t->failed = 1;
			return n;
		}
		parent->children[parent->n_children++] = n;
	}
	return n;
}

/* Takes s (NULL: vasprintf failed) into the tree, which frees it. */
static const char *own(struct gce_tree *t, char *s)
{
	if (!s || grow_reserve(&t->owned, &t->cap_owned, t->n_owned + 1, SIZE_MAX,
	                       sizeof(*t->owned)) != 0) {
		free(s);
		t->failed = 1;
		return "";
	}
	t->owned[t->n_owned++] = s;
	return s;
}

static struct gce_node *dir(struct gce_tree *t, struct gce_node *parent, const char *name)
{
	return node_new(t, parent, name, GCE_NODE_DIR);
}

static void text(struct gce_tree *t, struct gce_node *parent, const char *name, const char *value)
{
	struct gce_node *n = node_new(t, parent, name, GCE_NODE_TEXT);

	if (n)
		n->text = value ? value : "";
}

static void number(struct gce_tree *t, struct gce_node *parent, const char *name,
                   const char *digits)
{
	struct gce_node *n = node_new(t, parent, name, GCE_NODE_NUMBER);

	if (n)
		n->text = digits;
}

static void list(struct gce_tree *t, struct gce_node *parent, const char *name,
                 const char *const *items, size_t n_items)
{
	struct gce_node *n = node_new(t, parent, name, GCE_NODE_LIST);

	if (n) {
		n->items = items;
		n->n_items = n_items;
	}
}

static void kv_dir(struct gce_tree *t, struct gce_node *parent, const char *name,
                   const struct config_kv *kv, size_t n)
{
	struct gce_node *d = dir(t, parent, name);

	if (!d)
		return;
	d->user_keys = 1;
	for (size_t i = 0; i < n; i++)
		text(t, d, kv[i].key, kv[i].value);
}

/* Yandex's identity document (PROTOCOL.md §1), as compact JSON. */
static const char *identity_document(struct gce_tree *t, const struct server *srv)
{
	const struct config *c = &srv->cfg;
	char created[TIMEFMT_RFC3339_SIZE];
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	timefmt_rfc3339(srv->started_ms, created);
	if (o && cJSON_AddStringToObject(o, "instanceId", c->instance_id) &&
	    cJSON_AddNullToObject(o, "productCodes") &&
	    cJSON_AddStringToObject(o, "imageId", c->image_id) &&
	    cJSON_AddArrayToObject(o, "productIds") &&
	    cJSON_AddStringToObject(o, "createdAt", created) &&
	    cJSON_AddStringToObject(o, "version", "2023-03-01"))
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return own(t, s);
}

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* One service account's directory, under `name`: the first account is
 * served both as `default/` and under its email. Entries in GCE's order. */
static void account_dir(struct gce_tree *t, struct gce_node *parent, const char *name,
                        const struct server *srv, size_t i)
{
	const struct config_account *a = &srv->cfg.accounts[i];
	struct gce_node *d = dir(t, parent, name), *tok;

	if (!d)
		return;
	list(t, d, "aliases", i == 0 ? default_alias : NULL, i == 0 ? 1 : 0);
	text(t, d, "email", a->email);
	tok = node_new(t, d, "identity", GCE_NODE_IDENTITY);
	if (tok)
		tok->account = i;
	list(t, d, "scopes", (const char *const *)a->scopes, a->n_scopes);
	tok = node_new(t, d, "token", GCE_NODE_TOKEN);
	if (tok)
		tok->account = i;
}

static const char *owned_printf(struct gce_tree *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *owned_printf(struct gce_tree *t, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return own(t, n < 0 ? NULL : s);
}

/*
 * The tree, as PROTOCOL.md §1 lists it. Directory entries are listed in the
 * order they are added here, which is GCE's alphabetical order.
 */
struct gce_tree *gce_tree_build(const struct server *srv, const struct gce_maps *m, char *err,
                                size_t errlen)
{
	const struct config *c = &srv->cfg;
	struct gce_tree *t = calloc(1, sizeof(*t));
	struct gce_node *instance, *project, *accounts, *vendor, *yandex, *ident, *doc;

	if (!t)
		goto out_oom;
	t->v1 = dir(t, NULL, "v1");
	if (!t->v1)
		goto out_oom;
	t->document = identity_document(t, srv);

	instance = dir(t, t->v1, "instance");
	if (instance) {
		kv_dir(t, instance, "attributes", m->kv[GCE_MAP_INSTANCE_ATTRIBUTES],
		       m->n[GCE_MAP_INSTANCE_ATTRIBUTES]);
		text(t, instance, "hostname", c->hostname);
		if (c->instance_id && all_digits(c->instance_id))
			number(t, instance, "id", c->instance_id);
		else
			text(t, instance, "id", c->instance_id);
		text(t, instance, "name", c->instance_name);
		accounts = dir(t, instance, "service-accounts");
		if (accounts) {
			accounts->user_keys = 1;
			if (c->n_accounts)
				account_dir(t, accounts, "default", srv, 0);
			for (size_t i = 0; i < c->n_accounts; i++)
				account_dir(t, accounts, c->accounts[i].email, srv, i);
		}
		vendor = dir(t, instance, "vendor");
		if (vendor) {
			text(t, vendor, "cloud-id", c->cloud_id);
			text(t, vendor, "folder-id", c->folder_id);
			ident = dir(t, vendor, "identity");
			doc = ident ? node_new(t, ident, "document", GCE_NODE_JSON) : NULL;
			if (doc)
				doc->text = t->document;
			kv_dir(t, vendor, "labels", m->kv[GCE_MAP_LABELS], m->n[GCE_MAP_LABELS]);
		}
		text(t, instance, "zone",
		     owned_printf(t, "projects/%lld/zones/%s", (long long)c->numeric_project_id,
		                  c->zone ? c->zone : ""));
	}
	project = dir(t, t->v1, "project");
	if (project) {
		kv_dir(t, project, "attributes", m->kv[GCE_MAP_PROJECT_ATTRIBUTES],
		       m->n[GCE_MAP_PROJECT_ATTRIBUTES]);
		number(t, project, "numeric-project-id",
		       owned_printf(t, "%lld", (long long)c->numeric_project_id));
		text(t, project, "project-id", c->project_id);
	}
	yandex = dir(t, t->v1, "yandex");
	if (yandex)
		text(t, yandex, "folder-id", c->folder_id);
	if (t->failed)
		goto out_oom;
	return t;

out_oom:
	snprintf(err, errlen, "out of memory building the metadata tree");
	gce_tree_free(t);
	return NULL;
}

void gce_tree_free(struct gce_tree *t)
{
	struct gce_node *n, *next;

	if (!t)
		return;
	for (n = t->allocated; n; n = next) {
		next = n->next_alloc;
		free(n->children);
		free(n);
	}
	for (size_t i = 0; i < t->n_owned; i++)
		free(t->owned[i]);
	free(t->owned);
	free(t);
}
