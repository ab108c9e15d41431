/*
 * Upstream mode: an account whose tokens come from a real source instead of
 * being minted here (config.h's "upstream"; README "Upstream tokens"):
 * another metadata server (chaining), an authorized key exchanged at an IAM
 * endpoint, or a command that prints a token.
 *
 * There is one credentials cache: each upstream is a libmetatoken client
 * (client/cache.c: fresh/stale/expired, single flight, keep-last-good, the
 * background refresher), fetching through the source's fetcher, which this
 * file wraps to watch every fetch: it logs each failure and the recovery
 * (with a short fingerprint, never the token), counts failures for
 * /metrics, and keeps what the control API shows.
 *
 * Real tokens live on the real clock: the server clock's `clock advance`
 * does not age them, and expires_in is their true remaining life. The
 * token's bytes are held by the client's cache only, wiped when replaced;
 * answers made from them are wiped by the caller.
 */
#ifndef METATOKEN_SERVER_UPSTREAM_H
#define METATOKEN_SERVER_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metatoken/metatoken.h" /* MTK_MAX_ACCESS_TOKEN */

struct upstream;
struct cJSON;

/*
 * Starts the upstream of account `id` (where names it in messages, e.g.
 * "cfg.json: service_accounts[1].upstream"): checks what the configuration
 * could not (the key file's mode and form, the source's options) and
 * starts the client, whose refresher fetches the first token at once.
 * Returns it, or NULL with a one-line reason in err.
 */
struct upstream *upstream_new(const struct config_upstream *cfg, const char *id, const char *where,
                              char *err, size_t errlen);

/* Stops the refresher (waiting for a fetch under way, at most the source's
 * timeout), wipes the token and frees u. NULL is a no-op. */
void upstream_free(struct upstream *u);

/* Longest GCE token answer of an upstream token, NUL excluded: real tokens
 * may be as long as the client accepts (Google's reach 2048 bytes), longer
 * than those minted here. */
#define UPSTREAM_ANSWER_MAX (MTK_MAX_ACCESS_TOKEN + 80)

/*
 * The token itself, NUL-terminated into tok (MTK_MAX_ACCESS_TOKEN + 1 bytes
 * always suffice), and its true remaining life in *left_ms, for the other
 * flavours that hand it out (the IAM exchange, a function's context).
 * Never waits for the source: with no usable token returns -1 with why, as
 * upstream_answer. The caller wipes tok.
 */
int upstream_token(struct upstream *u, char *tok, size_t toklen, int64_t *left_ms, char *why,
                   size_t whylen);

/*
 * The GCE token answer {"access_token","expires_in","token_type"} with the
 * token's true remaining life in whole seconds (at least 1), or, when
 * expires_in_override is not NULL, that value (a fault rule's). Never
 * waits for the source (a request thread serves many connections): with
 * no usable token (none yet, dropped by an expire, failing, or within the
 * last 10 s of its life) returns -1 with why ("upstream: <last error>",
 * which names the source). Returns the answer's length, or -1. The caller wipes out.
 */
int upstream_answer(struct upstream *u, const int64_t *expires_in_override, char *out,
                    size_t outlen, char *why, size_t whylen);

/*
 * The control API's `expire`: drops the cached token and fetches a new
 * one before returning (waiting at most the source's timeout; the outcome
 * is in the view and the log). Returns 0, or -1 when an expire was
 * honoured less than the retry interval ago (the client's rule against
 * fetch loops).
 */
int upstream_expire(struct upstream *u);

/* Whether a token is held that has not expired (fresh or last good). */
int upstream_ready(struct upstream *u);

/* Failed fetches since start (metatoken_upstream_refresh_failures_total). */
uint64_t upstream_failures(struct upstream *u);

/* Whether the last fetch failed while a good token is still served. */
int upstream_serving_last_good(struct upstream *u);

/* "metadata", "key_file" or "command". */
const char *upstream_kind_name(const struct upstream *u);

/*
 * The control API's view, added to o as "upstream": source, where, whether
 * it holds a token and its remaining life, whether it is serving a last
 * good one, the last error and when, the last success, counts. Returns 0,
 * or -1 when out of memory.
 */
int upstream_add_json(struct upstream *u, struct cJSON *o);

#endif
