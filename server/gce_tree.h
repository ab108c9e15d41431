/*
 * The GCE metadata tree's nodes, shared by the file that builds the tree
 * from the configuration (gce_tree.c) and the one that serves it (gce.c).
 * Private to those two: everyone else sees only struct gce_tree's name
 * (gce.h).
 */
#ifndef METATOKEN_SERVER_GCE_TREE_H
#define METATOKEN_SERVER_GCE_TREE_H

#include <stddef.h>

enum gce_node_kind {
	GCE_NODE_DIR,
	GCE_NODE_TEXT,     /* a string */
	GCE_NODE_NUMBER,   /* digits, served as a JSON number in recursive views */
	GCE_NODE_LIST,     /* strings: one per line as text, an array as JSON */
	GCE_NODE_TOKEN,    /* an account's access token; never in recursive views */
	GCE_NODE_IDENTITY, /* an account's ID token (a JWT per audience); likewise */
	GCE_NODE_JSON,     /* a JSON document (text), served as application/json */
};

struct gce_node {
	const char *name;
	enum gce_node_kind kind;
	int user_keys; /* a directory whose entries users name: no camelCase */
	const char *text;
	const char *const *items;
	size_t n_items;
	struct gce_node **children;
	size_t n_children, cap_children;
	size_t account; /* GCE_NODE_TOKEN: index into srv->accounts */
	struct gce_node *next_alloc;
};

struct gce_tree {
	struct gce_node *v1;        /* /computeMetadata/v1/ */
	struct gce_node *allocated; /* every node, for gce_tree_free */
	const char *document;       /* Yandex's identity document (JSON) */
	char **owned;               /* strings the tree made */
	size_t n_owned, cap_owned;
	int failed; /* an allocation failed while building */
};

#endif
