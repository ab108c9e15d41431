/*
 * The client: libmetatoken's public API over its three parts, which this
 * file creates and wires together and nothing else knows of each other:
 * the cache (cache.c: state machine, single flight, snapshot, refresher;
 * no I/O), the fetcher of the source (fetch_gce.c, fetch_imds.c, or
 * fetch_iam.c for a key file) and the
 * retry loop they fetch through (retry.c), over a transport (the caller's
 * seam, or libcurl's in transport_curl.c).
 *
 *	client.c --> cache.c --> struct mtk__fetcher
 *	                              |
 *	          fetch_gce.c, fetch_imds.c, fetch_iam.c --> retry.c --> transport
 */
#include "private/cache.h"
#include "private/fetcher.h"
#include "private/internal.h"
#include "private/retry.h"

#include "metatoken/aws.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_REQUEST_TIMEOUT_MS 3000
#define DEFAULT_FETCH_BUDGET_MS    10000
#define DEFAULT_MAX_ATTEMPTS       3
#define DEFAULT_BACKOFF_BASE_MS    100
#define DEFAULT_BACKOFF_MAX_MS     2000
/* Below the 5 min after which Google's and metatokend's servers hand out a
 * new token, so that a refresh does get a new one. */
#define DEFAULT_REFRESH_WINDOW_MS 240000
#define DEFAULT_REFRESH_JITTER_MS 60000
/* golang oauth2's margin: a request started with less left may arrive with
 * an expired token. */
#define DEFAULT_EXPIRY_MARGIN_MS        10000
#define DEFAULT_MIN_REFRESH_INTERVAL_MS 30000
#define MAX_ATTEMPTS_LIMIT              100

/* Why this thread's last mtk_client_new() failed, when the status does not
 * say it all: mtk_client_last_error(NULL, ...). */
static _Thread_local char new_error[512];

struct mtk_client {
	enum mtk_flavour flavour;
	struct mtk__curl *curl; /* when the transport is the real one */
	struct mtk__retry retry;
	struct mtk__fetcher fetcher; /* fetch NULL until created */
	struct mtk__cache *cache;
};

/* Applies the default for 0 and refuses negative values. */
static int pick(int64_t v, int64_t def, int64_t *out)
{
	if (v < 0)
		return -1;
	*out = v ? v : def;
	return 0;
}

/* Reads the options' numbers into the retry loop's and the cache's. */
static enum mtk_status pick_numbers(const struct mtk_client_options *opts,
                                    struct mtk__retry_options *r, struct mtk__cache_options *k)
{
	int64_t attempts;

	if (pick(opts->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS, &r->connect_timeout_ms) ||
	    pick(opts->request_timeout_ms, DEFAULT_REQUEST_TIMEOUT_MS, &r->request_timeout_ms) ||
	    pick(opts->fetch_budget_ms, DEFAULT_FETCH_BUDGET_MS, &r->fetch_budget_ms) ||
	    pick(opts->max_attempts, DEFAULT_MAX_ATTEMPTS, &attempts) ||
	    attempts > MAX_ATTEMPTS_LIMIT ||
	    pick(opts->backoff_base_ms, DEFAULT_BACKOFF_BASE_MS, &r->backoff_base_ms) ||
	    pick(opts->backoff_max_ms, DEFAULT_BACKOFF_MAX_MS, &r->backoff_max_ms) ||
	    pick(opts->refresh_window_ms, DEFAULT_REFRESH_WINDOW_MS, &k->refresh_window_ms) ||
	    pick(opts->refresh_jitter_ms, DEFAULT_REFRESH_JITTER_MS, &k->refresh_jitter_ms) ||
	    pick(opts->expiry_margin_ms, DEFAULT_EXPIRY_MARGIN_MS, &k->expiry_margin_ms) ||
	    pick(opts->min_refresh_interval_ms, DEFAULT_MIN_REFRESH_INTERVAL_MS,
	         &k->min_refresh_interval_ms))
		return MTK_ERR_INVALID_ARGUMENT;
	r->max_attempts = (int)attempts;
	k->background = opts->background_refresh;
	return MTK_OK;
}

/* The seams' clocks, each NULL one replaced by the real one. */
static void pick_clock(const struct mtk_clock *seam, struct mtk__cache_options *k)
{
	k->clock = (struct mtk_clock){ .monotonic_ms = mtk__monotonic_ms,
		                       .wall_ms = mtk__wall_ms,
		                       .sleep_ms = mtk__sleep_ms };
	k->real_mono = k->real_wall = true;
	if (!seam)
		return;
	k->clock.arg = seam->arg;
	if (seam->monotonic_ms) {
		k->clock.monotonic_ms = seam->monotonic_ms;
		k->real_mono = false;
	}
	if (seam->wall_ms) {
		k->clock.wall_ms = seam->wall_ms;
		k->real_wall = false;
	}
	if (seam->sleep_ms)
		k->clock.sleep_ms = seam->sleep_ms;
}

static enum mtk_flavour pick_flavour(enum mtk_flavour f)
{
	const char *aws, *yc, *gce;

	if (f != MTK_FLAVOUR_AUTO)
		return f;
	/* metatokend's banner exports both flavours' variables: the GCE ones,
	 * the library's first flavour, win. */
	aws = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	yc = getenv("YC_METADATA_ADDR");
	gce = getenv("GCE_METADATA_HOST");
	return aws && *aws && !(yc && *yc) && !(gce && *gce) ? MTK_FLAVOUR_AWS : MTK_FLAVOUR_GCE;
}

/* The first struct mtk_client_options with a struct_size: the smallest
 * size ever accepted. Later versions only add fields after `testing`: the
 * second (key_file, iam_endpoint, ca_file) is this header's, so the sizes
 * accepted are these two and, from newer callers, larger ones. */
#define OPTIONS_V1_SIZE                                                                            \
	(offsetof(struct mtk_client_options, testing) + sizeof(const struct mtk_testing_seams *))

enum mtk_status mtk__options_read(const void *in, size_t in_size, size_t min_size, void *out,
                                  size_t out_size)
{
	const unsigned char *bytes = in;

	if (in_size < min_size)
		return MTK_ERR_BAD_STRUCT_SIZE;
	for (size_t i = out_size; i < in_size; i++)
		if (bytes[i])
			return MTK_ERR_BAD_STRUCT_SIZE;
	memset(out, 0, out_size);
	memcpy(out, in, in_size < out_size ? in_size : out_size);
	return MTK_OK;
}

/* A CA file must be readable now, not at the first https request. */
static enum mtk_status ca_file_check(const char *path)
{
	FILE *f = fopen(path, "re");

	if (!f) {
		snprintf(new_error, sizeof(new_error), "ca_file %.400s: cannot open: %s", path,
		         strerror(errno));
		return MTK_ERR_BAD_CA_FILE;
	}
	fclose(f);
	return MTK_OK;
}

/*
 * mtk_client_new(), and mtk__client_new_with_fetcher() (internal.h): given,
 * when not NULL, is the caller's fetcher, which the client takes (setting
 * given->free to NULL) once it has a place to keep it; wrap, when not
 * NULL, wraps whichever fetcher the client fetches through.
 */
static enum mtk_status client_new(const struct mtk_client_options *in, struct mtk__fetcher *given,
                                  const struct mtk__fetcher_wrap *wrap, struct mtk_client **out)
{
	static const struct mtk_testing_seams no_seams = { 0 };
	struct mtk_client_options own = MTK_CLIENT_OPTIONS_INIT;
	const struct mtk_client_options *opts = &own;
	const struct mtk_testing_seams *seams;
	struct mtk__retry_options ro = { 0 };
	struct mtk__cache_options ko = { 0 };
	const char *account;
	struct mtk_client *c;
	enum mtk_status st;

	new_error[0] = '\0';
	if (!out)
		return MTK_ERR_INVALID_ARGUMENT;
	/* Between two released sizes is no struct's size: a field would be
	 * read in part. */
	if (in && in->struct_size > OPTIONS_V1_SIZE && in->struct_size < sizeof(own))
		return MTK_ERR_BAD_STRUCT_SIZE;
	if (in && (st = mtk__options_read(in, in->struct_size, OPTIONS_V1_SIZE, &own,
	                                  sizeof(own))) != MTK_OK)
		return st;
	seams = opts->testing ? opts->testing : &no_seams;
	account = opts->account ? opts->account : "default";
	if ((st = mtk__account_check(account)) != MTK_OK)
		return st;
	if ((st = pick_numbers(opts, &ro, &ko)) != MTK_OK)
		return st;
	pick_clock(seams->clock, &ko);
	ro.clock = ko.clock;
	ko.random_u64 = ro.random_u64 = seams->random_u64 ? seams->random_u64 : mtk__random_u64;
	ko.random_arg = ro.random_arg = seams->random_arg;

	if (opts->ca_file && (st = ca_file_check(opts->ca_file)) != MTK_OK)
		return st;
	c = calloc(1, sizeof(*c));
	if (!c)
		return MTK_ERR_NO_MEMORY;
	/* An IAM token is a Bearer token, as the GCE flavour's. */
	c->flavour = opts->key_file && opts->flavour == MTK_FLAVOUR_AUTO
	                 ? MTK_FLAVOUR_GCE
	                 : pick_flavour(opts->flavour);
	if ((c->flavour != MTK_FLAVOUR_GCE && c->flavour != MTK_FLAVOUR_AWS) ||
	    (opts->key_file && c->flavour == MTK_FLAVOUR_AWS)) {
		if (opts->key_file)
			snprintf(new_error, sizeof(new_error),
			         "key_file gives IAM tokens, not the AWS flavour's credentials");
		st = MTK_ERR_INVALID_ARGUMENT;
		goto out_free;
	}
	if ((st = mtk__retry_init(&c->retry, &ro)) != MTK_OK)
		goto out_free;
	if (given) {
		c->fetcher = *given;
		given->free = NULL; /* the client's now: mtk_client_free frees it */
		st = MTK_OK;
	} else if (opts->key_file)
		st = mtk__fetcher_iam_new(opts->key_file, opts->iam_endpoint, &c->retry,
		                          &c->fetcher, new_error, sizeof(new_error));
	else if (c->flavour == MTK_FLAVOUR_AWS)
		st = mtk__fetcher_imds_new(
		    opts->endpoint, strcmp(account, "default") == 0 ? NULL : account,
		    opts->aws_session_ttl_s, ko.min_refresh_interval_ms, &c->retry, &c->fetcher);
	else
		st = mtk__fetcher_gce_new(opts->endpoint, account, &c->retry, &c->fetcher);
	if (st != MTK_OK)
		goto out_free;
	if (wrap && (st = wrap->wrap(wrap->arg, &c->fetcher)) != MTK_OK)
		goto out_free;

	if (given) {
		/* The caller's fetcher brings its own I/O: no libcurl. */
	} else if (seams->transport && seams->transport->perform) {
		c->retry.o.transport = *seams->transport;
	} else {
		if ((st = mtk__curl_new(&c->curl)) != MTK_OK ||
		    (st = mtk__curl_set_ca_file(c->curl, opts->ca_file)) != MTK_OK)
			goto out_free;
		c->retry.o.transport.perform = mtk__curl_perform;
		c->retry.o.transport.arg = c->curl;
	}

	ko.fetcher = c->fetcher;
	if ((st = mtk__cache_new(&ko, &c->cache)) != MTK_OK)
		goto out_free;
	*out = c;
	return MTK_OK;

out_free:
	mtk_client_free(c);
	return st;
}

enum mtk_status mtk_client_new(const struct mtk_client_options *in, struct mtk_client **out)
{
	return client_new(in, NULL, NULL, out);
}

enum mtk_status mtk__client_new_with_fetcher(const struct mtk_client_options *opts,
                                             const struct mtk__fetcher *fetcher,
                                             const struct mtk__fetcher_wrap *wrap,
                                             struct mtk_client **out)
{
	struct mtk__fetcher own;
	enum mtk_status st;

	if (!fetcher)
		return client_new(opts, NULL, wrap, out);
	own = *fetcher;
	st = client_new(opts, &own, wrap, out);
	if (own.free) /* not taken */
		own.free(own.self);
	return st;
}

void mtk_client_free(struct mtk_client *c)
{
	if (!c)
		return;
	/* The cache first: it stops every fetch before its fetcher goes. */
	mtk__cache_free(c->cache);
	if (c->fetcher.free)
		c->fetcher.free(c->fetcher.self);
	mtk__retry_release(&c->retry);
	mtk__curl_free(c->curl);
	free(c);
}

enum mtk_status mtk_client_get_token(struct mtk_client *c, struct mtk_token **out)
{
	if (!c || !out)
		return MTK_ERR_INVALID_ARGUMENT;
	return mtk__cache_get(c->cache, out);
}

/* authorization_header and copy_token: the argument checks, then the cache. */
static enum mtk_status copy_out(struct mtk_client *c, const char *prefix, size_t prefix_len,
                                char *buf, size_t buflen, int64_t *expires_in_ms)
{
	if (!buf)
		return MTK_ERR_INVALID_ARGUMENT;
	if (!c || c->flavour == MTK_FLAVOUR_AWS) {
		if (buflen > 0)
			buf[0] = '\0';
		/* AWS requests are signed, not bearer: their credentials are a
		 * set, not one token (aws.h). */
		return c ? MTK_ERR_WRONG_FLAVOUR : MTK_ERR_INVALID_ARGUMENT;
	}
	return mtk__cache_copy(c->cache, prefix, prefix_len, buf, buflen, expires_in_ms);
}

enum mtk_status mtk_client_authorization_header(struct mtk_client *c, char *buf, size_t buflen)
{
	static const char prefix[] = "Authorization: Bearer ";

	return copy_out(c, prefix, sizeof(prefix) - 1, buf, buflen, NULL);
}

enum mtk_status mtk_client_copy_token(struct mtk_client *c, char *buf, size_t buflen,
                                      int64_t *expires_in_ms)
{
	return copy_out(c, "", 0, buf, buflen, expires_in_ms);
}

bool mtk_client_invalidate(struct mtk_client *c, const char *access_token)
{
	return c ? mtk__cache_invalidate(c->cache, access_token) : false;
}

enum mtk_status mtk_client_last_error(struct mtk_client *c, char *buf, size_t buflen)
{
	if (!buf || buflen == 0)
		return MTK_ERR_INVALID_ARGUMENT;
	if (!c) {
		snprintf(buf, buflen, "%s", new_error);
		return MTK_OK;
	}
	mtk__cache_last_error(c->cache, buf, buflen);
	return MTK_OK;
}

const char *mtk_client_token_url(const struct mtk_client *c)
{
	return c ? c->fetcher.where : "";
}

enum mtk_status mtk_client_get_stats(struct mtk_client *c, struct mtk_client_stats *out)
{
	if (!c || !out)
		return MTK_ERR_INVALID_ARGUMENT;
	mtk__cache_stats(c->cache, out);
	out->http_requests = atomic_load_explicit(&c->retry.requests, memory_order_relaxed);
	return MTK_OK;
}

enum mtk_flavour mtk_client_flavour(const struct mtk_client *c)
{
	return c ? c->flavour : MTK_FLAVOUR_AUTO;
}

/* ---- the token ---- */

const char *mtk_token_access_token(const struct mtk_token *t)
{
	return t ? t->access_token : NULL;
}

size_t mtk_token_access_token_len(const struct mtk_token *t)
{
	return t ? t->len : 0;
}

const char *mtk_token_type(const struct mtk_token *t)
{
	return t ? "Bearer" : NULL;
}

int64_t mtk_token_expires_at_ms(const struct mtk_token *t)
{
	return t ? t->expires_at_ms : 0;
}

int64_t mtk_token_expires_in_ms(const struct mtk_token *t)
{
	return t ? t->expires_in_ms : 0;
}

enum mtk_status mtk_token_to_json(const struct mtk_token *t, char **json)
{
	int64_t s;

	if (!t || !json)
		return MTK_ERR_INVALID_ARGUMENT;
	s = t->expires_in_ms / 1000;
	return mtk__token_json(t->access_token, s > 0 ? s : 1, json);
}

void mtk_token_free(struct mtk_token *t)
{
	if (!t)
		return;
	mtk__wipe(t->access_token, t->alloc_len);
	free(t);
}
