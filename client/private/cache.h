/*
 * The token cache (client/cache.c): one token (or AWS set) per client, the
 * fresh/stale/expired state machine, single-flight fetches, keep-last-good,
 * the lock-free snapshot and the optional refresher thread. It performs no
 * I/O of its own: new tokens come from a fetcher (private/fetcher.h), time
 * from a clock. The rules are metatoken.h's "Cache and refresh". Never
 * installed.
 */
#ifndef METATOKEN_CLIENT_CACHE_H
#define METATOKEN_CLIENT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metatoken/metatoken.h"
#include "metatoken/testing.h"
#include "private/fetcher.h"

struct mtk__cache_options {
	/* Borrowed: the owner frees it after mtk__cache_free(). */
	struct mtk__fetcher fetcher;
	struct mtk_clock clock; /* every function set */
	/* The clocks are the real ones: the fast path may read coarse ones. */
	bool real_mono, real_wall;
	uint64_t (*random_u64)(void *arg); /* the refresh jitter's source */
	void *random_arg;
	int64_t refresh_window_ms;
	int64_t refresh_jitter_ms;
	int64_t expiry_margin_ms;
	int64_t min_refresh_interval_ms;
	bool background; /* start the refresher thread */
};

struct mtk__cache;

/* MTK_ERR_NO_MEMORY, or MTK_ERR_INIT when a lock or the thread fails. */
enum mtk_status mtk__cache_new(const struct mtk__cache_options *o, struct mtk__cache **out);
/* Stops the refresher and any refresh under way (waiting for its fetch),
 * wipes the token and frees the cache. NULL is a no-op. */
void mtk__cache_free(struct mtk__cache *c);

/* mtk_client_get_token() (c and out are not NULL). */
enum mtk_status mtk__cache_get(struct mtk__cache *c, struct mtk_token **out);
/*
 * Writes prefix (prefix_len bytes), the access token and a NUL into buf,
 * and its remaining life into *expires_in_ms when that is not NULL: the
 * whole of mtk_client_authorization_header() and mtk_client_copy_token()
 * once their arguments are checked (buf is not NULL). On failure buf holds
 * "" when buflen > 0, never a part of a token.
 */
enum mtk_status mtk__cache_copy(struct mtk__cache *c, const char *prefix, size_t prefix_len,
                                char *buf, size_t buflen, int64_t *expires_in_ms);
/* mtk_client_invalidate(). */
bool mtk__cache_invalidate(struct mtk__cache *c, const char *access_token);
/* mtk_client_last_error() (buf not NULL, buflen > 0). */
void mtk__cache_last_error(struct mtk__cache *c, char *buf, size_t buflen);
/* The counters but http_requests, which is the retry loop's. */
void mtk__cache_stats(struct mtk__cache *c, struct mtk_client_stats *out);

#endif
