/*
 * metatokend's application object: what the flavours serve (accounts,
 * metadata, the control API's state). Handlers read it through rq->srv;
 * none of them reaches the daemon. app.h builds it and starts serving it.
 */
#ifndef METATOKEN_SERVER_SERVER_H
#define METATOKEN_SERVER_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "faults.h"
#include "metrics.h"
#include "reply.h"
#include "revoke.h"
#include "slot.h"
#include "stats.h"
#include "tokens.h"

struct gce_live;
struct aws;
struct upstream;
struct authkeys;
struct iam;

#define ADMIN_SECRET_MAX 256

/*
 * One service account's access token: a reissuing slot whose values are the
 * token's text (char[TOKENS_MAX_LEN + 1]) and whose derived area holds the
 * GCE answer made from it (struct gce_token_cache, gce_token.h).
 */
struct account_token {
	struct slot slot;
	struct tokens_minter minter; /* the slot's mint argument */
	/* The configured policy, what a reset goes back to: the file's at
	 * start, a reloaded file's after SIGHUP (reload.c). */
	_Atomic int64_t conf_lifetime_s, conf_margin_s, conf_aws_lifetime_s;
	/* Non-NULL: the tokens come from upstream (upstream.h), not the slot. */
	struct upstream *upstream;
};

struct server {
	struct config cfg; /* owned */
	struct clock clock;
	struct tokens_key *key;
	struct account_token *accounts; /* one per cfg.accounts[i], same order */
	size_t n_accounts;
	struct gce_live *gce;        /* the GCE tree, and what changes in it (gce_live.h) */
	struct identity *identity;   /* ID tokens (identity.c) */
	int64_t started_ms;          /* server clock at start: the instance's creation */
	struct aws *aws;             /* the AWS IMDS flavour (aws.h) */
	struct functions *functions; /* function.h; made by app_start */
	struct authkeys *authkeys;   /* authorized keys (authkeys.h) */
	struct iam *iam;             /* the IAM exchange's JWTs seen (iam.h) */

	/* What the control API changes (control.c). */
	struct revocations revoked;
	struct faults faults;
	struct stats stats;
	struct metrics metrics;          /* /metrics' request counters (metrics.h) */
	_Atomic uint64_t *revoked_count; /* per account */
	int control_enabled;
	char admin_secret[ADMIN_SECRET_MAX + 1];
	char *admin_secret_file; /* the file we wrote the secret to; removed at exit */

	/* Set by app_start from the daemon it started. */
	struct clock wait_clock; /* the daemon's, when the caller gave none */
	char bound[80];          /* "127.0.0.1:8169", "[::1]:8169": what clients dial */
	char bound_host[64];     /* "127.0.0.1", "::1" */
	char tls_bound[80];      /* the HTTPS listener's, as bound; "": none */
};

/* Looks up an account by `default`, its email or (when by_id) its id.
 * Returns its index or -1. */
int server_find_account(const struct server *srv, const char *name, size_t len, int by_id);

#endif
