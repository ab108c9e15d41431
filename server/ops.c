#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "function.h"
#include "metrics.h"
#include "reply.h"
#include "route.h"
#include "server.h"
#include "upstream.h"

#define CT_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"

/* Writes s as a label value: backslash, double quote and newline escaped. */
static void label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void requests(FILE *f, const struct metrics *m)
{
	family(f, "metatoken_requests_total", "counter",
	       "Requests answered, by flavour, route pattern and status.");
	for (unsigned i = 0; i < m->n_pairs; i++) {
		const struct metrics_pair *p = &m->pairs[i];
		const char *route =
		    p->route == METRICS_UNMATCHED ? "unmatched" : route_pattern((size_t)p->route);

		fputs("metatoken_requests_total{flavour=\"", f);
		label(f, p->flavour);
		fputs("\",route=\"", f);
		label(f, route ? route : "unmatched");
		fprintf(f, "\",status=\"%u\"} %llu\n", p->status, (unsigned long long)p->count);
	}
	family(f, "metatoken_requests_unlabelled_total", "counter",
	       "Requests counted without labels: the label table was full.");
	fprintf(f, "metatoken_requests_unlabelled_total %llu\n", (unsigned long long)m->overflow);

	family(f, "metatoken_request_duration_seconds", "histogram",
	       "Time from routing a request to its answer, by flavour.");
	for (size_t i = 0; i < METRICS_FLAVOURS && m->hist[i].flavour; i++) {
		const struct metrics_hist *h = &m->hist[i];
		uint64_t cum = 0;

		for (size_t b = 0; b < METRICS_BUCKETS; b++) {
			cum += h->bucket[b];
			fputs("metatoken_request_duration_seconds_bucket{flavour=\"", f);
			label(f, h->flavour);
			fprintf(f, "\",le=\"%g\"} %llu\n", metrics_bucket_s[b],
			        (unsigned long long)cum);
		}
		fputs("metatoken_request_duration_seconds_bucket{flavour=\"", f);
		label(f, h->flavour);
		fprintf(f, "\",le=\"+Inf\"} %llu\n", (unsigned long long)h->count);
		fputs("metatoken_request_duration_seconds_sum{flavour=\"", f);
		label(f, h->flavour);
		fprintf(f, "\"} %.9g\n", h->sum_s);
		fputs("metatoken_request_duration_seconds_count{flavour=\"", f);
		label(f, h->flavour);
		fprintf(f, "\"} %llu\n", (unsigned long long)h->count);
	}
}

/* One per-account counter family, from the slot's counters (as the
 * control API's /stats reads them) or the revocation count. */
enum account_counter { AC_MINTED, AC_SERVED, AC_REVOKED, AC_FAILED };

static void accounts(FILE *f, struct server *srv, enum account_counter which, const char *name,
                     const char *help)
{
	family(f, name, "counter", help);
	for (size_t i = 0; i < srv->n_accounts; i++) {
		struct slot_snapshot snap;
		uint64_t v;

		slot_snapshot(&srv->accounts[i].slot, &snap);
		v = which == AC_MINTED   ? snap.minted
		    : which == AC_SERVED ? snap.served
		    : which == AC_FAILED ? snap.mint_failures
		                         : atomic_load(&srv->revoked_count[i]);
		fprintf(f, "%s{account=\"", name);
		label(f, srv->cfg.accounts[i].id);
		fprintf(f, "\"} %llu\n", (unsigned long long)v);
	}
}

static void one_function(void *arg, const char *name, const struct function_outcomes *o)
{
	FILE *f = arg;
	const char *outcome[] = { "ok", "error", "timeout" };
	uint64_t v[] = { o->ok, o->error, o->timeout };

	for (size_t i = 0; i < 3; i++) {
		fputs("metatoken_invocations_total{function=\"", f);
		label(f, name);
		fprintf(f, "\",outcome=\"%s\"} %llu\n", outcome[i], (unsigned long long)v[i]);
	}
}

static void connections(FILE *f, struct daemon *d)
{
	struct daemon_counts c;

	daemon_counts(d, &c);
	family(f, "metatoken_connections_open", "gauge", "Connections open.");
	fprintf(f, "metatoken_connections_open %u\n", c.open);
	family(f, "metatoken_requests_held", "gauge",
	       "Requests held (wait_for_change, a runtime's next, a sync invoker).");
	fprintf(f, "metatoken_requests_held %u\n", c.held);
	family(f, "metatoken_cap_hits_total", "counter",
	       "Connections and holds refused by a cap (connections, per client, held).");
	fprintf(f, "metatoken_cap_hits_total %u\n", c.cap_hits);
	family(f, "metatoken_connections_timed_out_total", "counter",
	       "Connections closed by a deadline (header or idle timeout).");
	fprintf(f, "metatoken_connections_timed_out_total %u\n", c.timed_out);
}

/* Upstream accounts only (upstream.h): failed refreshes, and whether a
 * last good token is being served. */
static void upstreams(FILE *f, struct server *srv)
{
	family(f, "metatoken_upstream_refresh_failures_total", "counter",
	       "Failed fetches from an account's upstream, by account id.");
	for (size_t i = 0; i < srv->n_accounts; i++) {
		if (!srv->accounts[i].upstream)
			continue;
		fputs("metatoken_upstream_refresh_failures_total{account=\"", f);
		label(f, srv->cfg.accounts[i].id);
		fprintf(f, "\"} %llu\n",
		        (unsigned long long)upstream_failures(srv->accounts[i].upstream));
	}
	family(f, "metatoken_upstream_serving_last_good", "gauge",
	       "1 while an account serves its last good upstream token, its upstream failing.");
	for (size_t i = 0; i < srv->n_accounts; i++) {
		if (!srv->accounts[i].upstream)
			continue;
		fputs("metatoken_upstream_serving_last_good{account=\"", f);
		label(f, srv->cfg.accounts[i].id);
		fprintf(f, "\"} %d\n", upstream_serving_last_good(srv->accounts[i].upstream));
	}
}

static int metrics_enabled(const struct request *rq)
{
	int on = rq->srv->cfg.metrics_enabled;

	return on >= 0 ? on : daemon_bound_loopback(rq->daemon);
}

void ops_metrics(struct request *rq)
{
	struct server *srv = rq->srv;
	struct metrics *m;
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	if (!metrics_enabled(rq)) {
		reply_static(rq, 404, CT_PLAIN,
		             "not found: metrics are off (\"metrics\": {\"enabled\": true} in the "
		             "configuration turns them on)\n");
		return;
	}
	m = malloc(sizeof(*m));
	f = m ? open_memstream(&body, &len) : NULL;
	if (!f) {
		free(m);
		reply_static(rq, 500, CT_PLAIN, "out of memory\n");
		return;
	}
	metrics_copy(&srv->metrics, m);
	requests(f, m);
	free(m);
	accounts(f, srv, AC_MINTED, "metatoken_tokens_minted_total",
	         "Tokens minted, by account id (zeroed by the control API's reset).");
	accounts(f, srv, AC_SERVED, "metatoken_tokens_served_total",
	         "Tokens handed out, by account id (zeroed by the control API's reset).");
	accounts(f, srv, AC_REVOKED, "metatoken_tokens_revoked_total",
	         "Tokens revoked or expired through the control API, by account id.");
	accounts(f, srv, AC_FAILED, "metatoken_token_mint_failures_total",
	         "Mints that failed, by account id.");
	upstreams(f, srv);
	family(f, "metatoken_invocations_total", "counter",
	       "Function invocations ended, by function and outcome (ok, error, timeout).");
	if (srv->functions)
		functions_outcomes(srv->functions, one_function, f);
	connections(f, rq->daemon);
	if (fclose(f) != 0 || !body) {
		free(body);
		reply_static(rq, 500, CT_PLAIN, "out of memory\n");
		return;
	}
	reply_owned(rq, 200, CT_PROMETHEUS, body, len);
}

void ops_healthz(struct request *rq)
{
	reply_static(rq, 200, CT_PLAIN, "ok\n");
}

/*
 * Ready: the signing key is loaded and no account's last mint failed (an
 * account that has not minted yet is taken to be able to). There are no
 * upstream account without a token (fresh or last good) makes this 503
 * too: before its first fetch ends, or once its last good token expired.
 */
void ops_readyz(struct request *rq)
{
	struct server *srv = rq->srv;
	size_t failing = 0;

	if (!srv->key) {
		reply_static(rq, 503, CT_PLAIN, "not ready: no signing key\n");
		return;
	}
	for (size_t i = 0; i < srv->n_accounts; i++) {
		struct slot_snapshot snap;

		slot_snapshot(&srv->accounts[i].slot, &snap);
		failing += snap.last_mint_failed != 0;
	}
	if (failing) {
		reply_printf(rq, 503, CT_PLAIN, "not ready: %zu account(s) cannot mint a token\n",
		             failing);
		return;
	}
	for (size_t i = 0; i < srv->n_accounts; i++) {
		if (srv->accounts[i].upstream && !upstream_ready(srv->accounts[i].upstream)) {
			reply_printf(rq, 503, CT_PLAIN,
			             "not ready: account %s has no token from its upstream yet\n",
			             srv->cfg.accounts[i].id);
			return;
		}
	}
	reply_static(rq, 200, CT_PLAIN, "ready\n");
}
