/*
 * The wiring (app.h): builds every subsystem of the application object from
 * the configuration, puts the route table behind a daemon, and tears it all
 * down. It alone includes the flavours' set-up functions; the flavours
 * include server.h, never this.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "authkeys.h"
#include "aws.h"
#include "function.h"
#include "gce.h"
#include "gce_live.h"
#include "gce_token.h"
#include "iam.h"
#include "identity.h"
#include "route.h"
#include "app.h"
#include "server.h"
#include "tls.h"
#include "upstream.h"

int app_init(struct server *srv, char *err, size_t errlen)
{
	const struct config *c = &srv->cfg;

	/* The real clock; a test may put its own source in afterwards. */
	clock_init(&srv->clock, NULL, NULL);
	revocations_init(&srv->revoked);
	faults_init(&srv->faults);
	stats_init(&srv->stats);
	metrics_init(&srv->metrics);
	srv->control_enabled = c->control_enabled;
	if (c->signing_key_path)
		srv->key = tokens_key_load(c->signing_key_path, err, errlen);
	else if (!(srv->key = tokens_key_generate()))
		snprintf(err, errlen, "cannot generate a signing key (OpenSSL failed)");
	if (!srv->key)
		return -1;

	srv->accounts = calloc(c->n_accounts, sizeof(*srv->accounts));
	srv->revoked_count = calloc(c->n_accounts, sizeof(*srv->revoked_count));
	if ((!srv->accounts || !srv->revoked_count) && c->n_accounts) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < c->n_accounts; i++) {
		const struct config_account *a = &c->accounts[i];
		struct account_token *t = &srv->accounts[i];
		const struct slot_options o = {
			.value_size = TOKENS_MAX_LEN + 1,
			.derived_size = sizeof(struct gce_token_cache),
			.mint = tokens_mint_value,
			.mint_arg = &t->minter,
			.lifetime_s = a->lifetime_s,
			.margin_s = a->reissue_margin_s,
		};

		atomic_init(&t->conf_lifetime_s, a->lifetime_s);
		atomic_init(&t->conf_margin_s, a->reissue_margin_s);
		atomic_init(&t->conf_aws_lifetime_s, a->aws_lifetime_s);
		t->minter.key = srv->key;
		t->minter.account = a->id;
		if (tokens_minter_check(&t->minter) != 0 || slot_init(&t->slot, &o) != 0) {
			snprintf(err, errlen, "%s: service_accounts[%zu]: cannot set up its tokens",
			         c->source, i);
			return -1;
		}
		srv->n_accounts = i + 1;
		if (a->upstream.kind != CONFIG_UPSTREAM_NONE) {
			char where[256];

			snprintf(where, sizeof(where), "%s: service_accounts[%zu].upstream",
			         c->source, i);
			if (!(t->upstream = upstream_new(&a->upstream, a->id, where, err, errlen)))
				return -1;
		}
	}
	if (admin_make_secret(srv, err, errlen) != 0)
		return -1;
	srv->started_ms = clock_now_ms(&srv->clock);
	srv->identity = identity_new();
	if (!srv->identity) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	srv->gce = gce_live_new(srv, err, errlen);
	if (!srv->gce)
		return -1;
	srv->authkeys = authkeys_new();
	srv->iam = iam_new();
	if (!srv->authkeys || !srv->iam) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (authkeys_load_config(srv->authkeys, c, srv->started_ms, err, errlen) != 0)
		return -1;
	srv->aws = aws_new(srv, err, errlen);
	return srv->aws ? 0 : -1;
}

void app_release(struct server *srv)
{
	/* After the daemon's drain: what is still running ends now. */
	functions_free(srv->functions);
	srv->functions = NULL;
	gce_live_free(srv->gce);
	identity_free(srv->identity);
	srv->identity = NULL;
	aws_free(srv->aws);
	srv->aws = NULL;
	authkeys_free(srv->authkeys);
	srv->authkeys = NULL;
	iam_free(srv->iam);
	srv->iam = NULL;
	for (size_t i = 0; i < srv->n_accounts; i++) {
		upstream_free(srv->accounts[i].upstream);
		slot_release(&srv->accounts[i].slot);
	}
	free(srv->accounts);
	free(srv->revoked_count);
	srv->revoked_count = NULL;
	tokens_key_free(srv->key);
	revocations_release(&srv->revoked);
	faults_release(&srv->faults);
	stats_release(&srv->stats);
	metrics_release(&srv->metrics);
	config_release(&srv->cfg);
	srv->gce = NULL;
	srv->accounts = NULL;
	srv->n_accounts = 0;
	srv->key = NULL;
}

/* The daemon's hooks for the functions' slots (function.h). */
static void *site_of(void *cls, struct server *srv, int fd)
{
	(void)cls;
	return functions_site_of(srv->functions, fd);
}

static void stopping(void *cls, struct server *srv)
{
	(void)cls;
	functions_detach(srv->functions);
}

struct daemon *app_start(struct server *srv, struct clock *wait_clock, char *err, size_t errlen)
{
	const struct config *c = &srv->cfg;
	struct daemon_config dc = {
		.host = c->listen_host,
		.port = c->listen_port,
		.limits = DAEMON_LIMITS_DEFAULT,
		.wait_clock = wait_clock,
		.srv = srv,
		.dispatch = route_dispatch,
		.ended = route_ended,
		.site_of = site_of,
		.stopping = stopping,
	};
	struct tls_pem pem = { 0 };
	struct daemon *d;

	/* The HTTPS listener's files are checked before anything starts. */
	if (c->tls_cert_file) {
		if (tls_pem_load(&pem, c->tls_cert_file, c->tls_key_file, err, errlen) != 0)
			return NULL;
		dc.tls.host = c->tls_listen_host ? c->tls_listen_host : CONFIG_DEFAULT_LISTEN_HOST;
		dc.tls.port = c->tls_listen_port;
		dc.tls.cert_pem = pem.cert;
		dc.tls.key_pem = pem.key;
	}
	if (!wait_clock) {
		/* The real monotonic time, read coarsely: a clock no control
		 * call moves, and read on every request. */
		clock_init_coarse(&srv->wait_clock);
		dc.wait_clock = &srv->wait_clock;
	}
	if (c->max_connections)
		dc.limits.connections = c->max_connections;
	if (c->per_client_connections)
		dc.limits.per_client = c->per_client_connections;
	if (c->max_held_requests)
		dc.limits.held = c->max_held_requests;
	if (c->header_timeout_ms)
		dc.limits.header_timeout_ms = c->header_timeout_ms;
	if (c->idle_timeout_ms)
		dc.limits.idle_timeout_ms = c->idle_timeout_ms;
	/* One request thread per CPU, but one when functions run: then an
	 * invocation (the invoker's request, the runtime's /next and
	 * /response) is served by one event loop, with no hand-off between
	 * threads, which on a small machine costs more than a second loop
	 * gains (bench/README.md, "Functions"). */
	dc.threads = c->threads ? c->threads : c->n_functions ? 1 : 0;
	dc.body_max = route_body_max;
	/* The functions exist before the daemon's threads do, which read
	 * srv->functions on every request (route_body_max, the flavours). */
	srv->functions = functions_new(srv, dc.wait_clock, err, errlen);
	if (!srv->functions) {
		tls_pem_release(&pem);
		return NULL;
	}
	d = daemon_start(&dc, err, errlen);
	/* The daemon keeps a copy of the key of its own. */
	tls_pem_release(&pem);
	if (!d) {
		functions_free(srv->functions);
		srv->functions = NULL;
		return NULL;
	}
	snprintf(srv->bound, sizeof(srv->bound), "%s", daemon_bound(d));
	snprintf(srv->bound_host, sizeof(srv->bound_host), "%s", daemon_bound_host(d));
	snprintf(srv->tls_bound, sizeof(srv->tls_bound), "%s",
	         daemon_tls_bound(d) ? daemon_tls_bound(d) : "");
	/* Then their runtimes' listeners on the same host; the metadata
	 * variables their runtimes get point at this one. */
	if (functions_start(srv->functions, d, err, errlen)) {
		daemon_stop(d, 0);
		functions_free(srv->functions);
		srv->functions = NULL;
		return NULL;
	}
	return d;
}
