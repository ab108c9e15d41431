/*
 * The GCE-compatible metadata flavour, served by Google and by Yandex Cloud
 * (PROTOCOL.md §1): a tree of directories and leaves built from the
 * configuration and the maps that change (gce_live.h), served as listings,
 * text, JSON and recursive JSON.
 */
#ifndef METATOKEN_SERVER_GCE_H
#define METATOKEN_SERVER_GCE_H

#include <stddef.h>

struct server;
struct request;
struct gce_tree;

struct gce_maps;

/* Builds a tree from srv->cfg and the maps that change (gce_live.h), which
 * it points into: they must outlive it. Returns NULL (and says why in
 * err) on failure. */
struct gce_tree *gce_tree_build(const struct server *srv, const struct gce_maps *m, char *err,
                                size_t errlen);
/* No operation is performed if t is NULL. */
void gce_tree_free(struct gce_tree *t);

/* The flavour's rules (route.h): Metadata-Flavor required on requests,
 * and answered with every response. */
int gce_admit(struct request *rq);
void gce_decorate(struct request *rq);

/* GET / : the ping google-auth sends to find a metadata server. */
void gce_handle_root(struct request *rq);
/* Everything under /computeMetadata. */
void gce_handle(struct request *rq);
/* The flavour's ended hook: forgets a wait_for_change watch. */
void gce_ended(struct request *rq);
/* IMDS's /latest/vendor/instance-identity/document: Yandex's identity
 * document, EC2-style. */
void gce_vendor_document(struct request *rq);

#endif
