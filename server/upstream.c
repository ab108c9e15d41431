/*
 * Upstream mode (upstream.h): a libmetatoken client per upstream account,
 * and the watcher around its fetcher.
 */
#include "upstream.h"

#include "gce_token.h"
#include "log.h"
#include "timefmt.h"
#include "tokens.h"
#include "upstream_command.h"

#include "private/fetcher.h"
#include "private/internal.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The client's expiry margin (mtk_client_options.expiry_margin_ms), set
 * here so that serving knows it. */
#define EXPIRY_MARGIN_MS 10000

struct upstream {
	enum config_upstream_kind kind;
	char *id; /* the account's, for log lines */
	struct mtk_client *client;
	struct mtk__fetcher inner; /* the source's fetcher, which the watcher calls */

	pthread_mutex_t lock;
	/* Guarded by lock. */
	int64_t valid_until_ms; /* real monotonic: the held token's expiry; 0: none */
	int64_t lifetime_ms;    /* its life when fetched */
	int failing;            /* the last fetch failed */
	uint64_t fetches, failures;
	int64_t last_success_wall_ms, last_failure_wall_ms; /* 0: never */
	char last_error[512];
	char fingerprint[TOKENS_FINGERPRINT_LEN + 1];
};

static int64_t now_mono(void)
{
	return mtk__monotonic_ms(NULL);
}

/*
 * Whether the cache holds a token it serves without fetching: not within
 * its expiry margin (the client's 10 s, or half a short token's life),
 * where a get would fetch and wait. Under lock.
 */
static int usable(const struct upstream *u, int64_t now)
{
	int64_t margin =
	    u->lifetime_ms / 2 < EXPIRY_MARGIN_MS ? u->lifetime_ms / 2 : EXPIRY_MARGIN_MS;

	return u->valid_until_ms - margin > now;
}

/* ---- the watcher: every fetch of the source goes through here ---- */

static enum mtk_status watch_fetch(void *self, struct mtk__token_doc *doc, int64_t *sent_ms,
                                   char *detail, size_t detail_len)
{
	struct upstream *u = self;
	enum mtk_status st = u->inner.fetch(u->inner.self, doc, sent_ms, detail, detail_len);
	char fp[TOKENS_FINGERPRINT_LEN + 1];
	int64_t left_s;
	int was_failing, same;

	pthread_mutex_lock(&u->lock);
	u->fetches++;
	was_failing = u->failing;
	if (st == MTK_OK) {
		tokens_fingerprint(doc->access_token, doc->access_token_len, fp);
		same = strcmp(fp, u->fingerprint) == 0;
		memcpy(u->fingerprint, fp, sizeof(fp));
		u->valid_until_ms = *sent_ms + doc->expires_in_s * 1000;
		u->lifetime_ms = doc->expires_in_s * 1000;
		u->failing = 0;
		u->last_success_wall_ms = mtk__wall_ms(NULL);
		pthread_mutex_unlock(&u->lock);
		/* The same token again (a source that keeps one for a while)
		 * is no news, unless it ends a run of failures. */
		if (was_failing)
			log_msg(LOG_WARN,
			        "upstream %s: recovered: token %s from %s, expires in %lld s",
			        u->id, fp, u->inner.where, (long long)doc->expires_in_s);
		else if (!same)
			log_msg(LOG_INFO, "upstream %s: new token %s from %s, expires in %lld s",
			        u->id, fp, u->inner.where, (long long)doc->expires_in_s);
		return st;
	}
	u->failures++;
	u->failing = 1;
	u->last_failure_wall_ms = mtk__wall_ms(NULL);
	snprintf(u->last_error, sizeof(u->last_error), "%s", detail);
	left_s = (u->valid_until_ms - now_mono()) / 1000;
	memcpy(fp, u->fingerprint, sizeof(fp));
	pthread_mutex_unlock(&u->lock);
	if (left_s > 0)
		log_msg(LOG_WARN,
		        "upstream %s: refresh failed: %s; serving the last good token %s (expires "
		        "in %lld s)",
		        u->id, detail, fp, (long long)left_s);
	else
		log_msg(LOG_ERROR, "upstream %s: refresh failed: %s; no token to serve", u->id,
		        detail);
	return st;
}

/* The client frees the watcher's fetcher: the source's goes with it. */
static void watch_free(void *self)
{
	struct upstream *u = self;

	if (u->inner.free)
		u->inner.free(u->inner.self);
	u->inner.free = NULL;
}

static enum mtk_status watch_wrap(void *arg, struct mtk__fetcher *f)
{
	struct upstream *u = arg;

	u->inner = *f;
	*f = (struct mtk__fetcher){
		.fetch = watch_fetch, .free = watch_free, .self = u, .where = u->inner.where
	};
	return MTK_OK;
}

/* ---- set-up ---- */

static void client_options(const struct config_upstream *cfg, struct mtk_client_options *o)
{
	mtk_client_options_init(o);
	o->flavour = MTK_FLAVOUR_GCE;
	o->endpoint = cfg->metadata;
	o->account = cfg->account;
	/* The key_file source: libmetatoken's IAM fetcher, and its CA. */
	o->key_file = cfg->key_file;
	o->iam_endpoint = cfg->iam_endpoint;
	o->ca_file = cfg->ca_file;
	o->fetch_budget_ms = cfg->timeout_ms;
	o->request_timeout_ms = cfg->timeout_ms;
	o->connect_timeout_ms = cfg->timeout_ms < 1000 ? cfg->timeout_ms : 1000;
	o->refresh_window_ms = cfg->refresh_window_s * 1000;
	o->refresh_jitter_ms = o->refresh_window_ms / 4 > 0 ? o->refresh_window_ms / 4 : 1;
	o->min_refresh_interval_ms = cfg->retry_interval_ms;
	o->expiry_margin_ms = EXPIRY_MARGIN_MS;
	o->background_refresh = true;
}

struct upstream *upstream_new(const struct config_upstream *cfg, const char *id, const char *where,
                              char *err, size_t errlen)
{
	struct mtk__fetcher_wrap wrap = { .wrap = watch_wrap };
	struct mtk_client_options o;
	struct mtk__fetcher source = { 0 };
	struct upstream *u;
	char why[512] = "";
	enum mtk_status st;

	client_options(cfg, &o);
	if (!(u = calloc(1, sizeof(*u))) || !(u->id = strdup(id))) {
		free(u);
		snprintf(why, sizeof(why), "out of memory");
		goto out_err;
	}
	u->kind = cfg->kind;
	pthread_mutex_init(&u->lock, NULL);
	if (cfg->kind == CONFIG_UPSTREAM_COMMAND &&
	    upstream_command_fetcher_new(cfg->command, cfg->timeout_ms, cfg->lifetime_s, &source)) {
		upstream_free(u);
		snprintf(why, sizeof(why), "out of memory");
		goto out_err;
	}
	/* The client fetches through the watcher from here on, and its
	 * refresher starts the first fetch at once. */
	wrap.arg = u;
	st = mtk__client_new_with_fetcher(&o, source.fetch ? &source : NULL, &wrap, &u->client);
	if (st != MTK_OK) {
		/* Why, in the client's words: a key file's mode or form is
		 * judged as the client is made, so start-up says it. */
		char detail[400] = "";

		mtk_client_last_error(NULL, detail, sizeof(detail));
		upstream_free(u);
		if (st == MTK_ERR_BAD_KEY_FILE)
			snprintf(why, sizeof(why), "key_file: %s", detail);
		else
			snprintf(why, sizeof(why), "cannot start its client: %s%s%s",
			         mtk_strerror(st), detail[0] ? ": " : "", detail);
		goto out_err;
	}
	return u;
out_err:
	snprintf(err, errlen, "%s: %s", where, why);
	return NULL;
}

void upstream_free(struct upstream *u)
{
	if (!u)
		return;
	/* The client first: it stops the refresher, then frees the watcher's
	 * fetcher, which frees the source's. */
	mtk_client_free(u->client);
	if (u->inner.free)
		u->inner.free(u->inner.self);
	pthread_mutex_destroy(&u->lock);
	free(u->id);
	OPENSSL_cleanse(u, sizeof(*u));
	free(u);
}

/* ---- serving ---- */

int upstream_token(struct upstream *u, char *tok, size_t toklen, int64_t *left_ms, char *why,
                   size_t whylen)
{
	enum mtk_status st;
	int held, failing;

	pthread_mutex_lock(&u->lock);
	held = usable(u, now_mono());
	failing = u->failing;
	if (!held) {
		if (failing)
			/* The fetchers' details name where already. */
			snprintf(why, whylen, "upstream: %s", u->last_error);
		else
			snprintf(why, whylen, "upstream %s: no token yet; the fetch is under way",
			         u->inner.where);
		pthread_mutex_unlock(&u->lock);
		return -1;
	}
	pthread_mutex_unlock(&u->lock);
	st = mtk_client_copy_token(u->client, tok, toklen, left_ms);
	if (st != MTK_OK) {
		char last[512] = "";

		mtk_client_last_error(u->client, last, sizeof(last));
		snprintf(why, whylen, "upstream %s: %s", u->inner.where,
		         last[0] ? last : mtk_strerror(st));
		return -1;
	}
	return 0;
}

int upstream_answer(struct upstream *u, const int64_t *expires_in_override, char *out,
                    size_t outlen, char *why, size_t whylen)
{
	char tok[MTK_MAX_ACCESS_TOKEN + 1];
	int64_t left_ms = 0;
	int n = -1;

	if (upstream_token(u, tok, sizeof(tok), &left_ms, why, whylen) == 0) {
		int64_t s = left_ms / 1000 > 0 ? left_ms / 1000 : 1;

		n = gce_token_format(out, outlen, tok,
		                     expires_in_override ? *expires_in_override : s);
		if (n < 0)
			snprintf(why, whylen, "upstream %s: the answer does not fit",
			         u->inner.where);
	}
	OPENSSL_cleanse(tok, sizeof(tok));
	return n;
}

int upstream_expire(struct upstream *u)
{
	char tok[MTK_MAX_ACCESS_TOKEN + 1];

	if (!mtk_client_invalidate(u->client, NULL))
		return -1;
	pthread_mutex_lock(&u->lock);
	u->valid_until_ms = 0;
	pthread_mutex_unlock(&u->lock);
	log_msg(LOG_INFO, "upstream %s: cached token dropped; fetching a new one", u->id);
	/* The fetch, now (or the wait for the one under way): the refresher
	 * would wait out the retry interval first. Its outcome is the
	 * watcher's to record. */
	mtk_client_copy_token(u->client, tok, sizeof(tok), NULL);
	OPENSSL_cleanse(tok, sizeof(tok));
	return 0;
}

int upstream_ready(struct upstream *u)
{
	int held;

	pthread_mutex_lock(&u->lock);
	held = usable(u, now_mono());
	pthread_mutex_unlock(&u->lock);
	return held;
}

uint64_t upstream_failures(struct upstream *u)
{
	uint64_t n;

	pthread_mutex_lock(&u->lock);
	n = u->failures;
	pthread_mutex_unlock(&u->lock);
	return n;
}

int upstream_serving_last_good(struct upstream *u)
{
	int yes;

	pthread_mutex_lock(&u->lock);
	yes = u->failing && usable(u, now_mono());
	pthread_mutex_unlock(&u->lock);
	return yes;
}

const char *upstream_kind_name(const struct upstream *u)
{
	switch (u->kind) {
	case CONFIG_UPSTREAM_METADATA:
		return "metadata";
	case CONFIG_UPSTREAM_KEY_FILE:
		return "key_file";
	case CONFIG_UPSTREAM_COMMAND:
		return "command";
	default:
		return "none";
	}
}

static void add_time(cJSON *o, const char *key, int64_t wall_ms)
{
	char when[TIMEFMT_RFC3339_SIZE];

	if (!wall_ms) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	timefmt_rfc3339(wall_ms, when);
	cJSON_AddStringToObject(o, key, when);
}

int upstream_add_json(struct upstream *u, struct cJSON *parent)
{
	cJSON *o = cJSON_AddObjectToObject(parent, "upstream");
	int64_t now;
	int has;

	if (!o)
		return -1;
	cJSON_AddStringToObject(o, "source", upstream_kind_name(u));
	cJSON_AddStringToObject(o, "where", u->inner.where ? u->inner.where : "");
	pthread_mutex_lock(&u->lock);
	now = now_mono();
	has = usable(u, now);
	cJSON_AddBoolToObject(o, "has_token", has);
	if (has) {
		cJSON_AddStringToObject(o, "fingerprint", u->fingerprint);
		cJSON_AddNumberToObject(o, "expires_in_s",
		                        (double)((u->valid_until_ms - now) / 1000));
	}
	cJSON_AddBoolToObject(o, "serving_last_good", u->failing && has);
	cJSON_AddBoolToObject(o, "failing", u->failing);
	if (u->failing)
		cJSON_AddStringToObject(o, "last_error", u->last_error);
	else
		cJSON_AddNullToObject(o, "last_error");
	add_time(o, "last_error_at", u->last_failure_wall_ms);
	add_time(o, "last_success_at", u->last_success_wall_ms);
	cJSON_AddNumberToObject(o, "fetches", (double)u->fetches);
	cJSON_AddNumberToObject(o, "failures", (double)u->failures);
	pthread_mutex_unlock(&u->lock);
	return 0;
}
