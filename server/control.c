/*
 * The control API. Requests are JSON in and out; errors are
 * {"error": "<what was wrong>"} with 400, 401, 404, 405 or 409.
 */
#include "control.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "authkeys.h"
#include "aws.h"
#include "gce_live.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "upstream.h"
#include "timefmt.h"

#define TEN_YEARS_S (10LL * 365 * 86400)

/* ---- replies ---- */

static void reply_error(struct request *rq, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_error(struct request *rq, unsigned status, const char *fmt, ...)
{
	char msg[512];
	cJSON *o = cJSON_CreateObject();
	char *s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_AddStringToObject(o, "error", msg);
	s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!s) {
		reply_static(rq, 500, CT_JSON, "{\"error\":\"out of memory\"}");
		return;
	}
	reply_owned(rq, status, CT_JSON, s, strlen(s));
}

/* Replies 200 (or status) with obj, which it frees. */
static void reply_obj(struct request *rq, unsigned status, cJSON *obj)
{
	char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;

	cJSON_Delete(obj);
	if (!s) {
		reply_static(rq, 500, CT_JSON, "{\"error\":\"out of memory\"}");
		return;
	}
	reply_owned(rq, status, CT_JSON, s, strlen(s));
}

/*
 * Reads the request body with the strict reader (json.h) into a tree whose
 * keys are all in `known` (NULL-terminated); an empty body is {}. Returns
 * the tree, which the caller frees with cJSON_Delete(), or NULL after
 * replying 400 with the reader's message. jr stays the caller's, for the
 * field readers that follow.
 */
static cJSON *read_body(struct request *rq, struct json_reader *jr, const char *const *known)
{
	cJSON *o = rq->req_body_len == 0 ? cJSON_CreateObject()
	                                 : json_parse(jr, rq->req_body, rq->req_body_len);

	if (!o) {
		if (rq->req_body_len == 0)
			reply_static(rq, 500, CT_JSON, "{\"error\":\"out of memory\"}");
		else
			reply_error(rq, 400, "%s", jr->err);
		return NULL;
	}
	if (!cJSON_IsObject(o))
		json_fail(jr, o, "must be a JSON object");
	else if (json_check_keys(jr, o, known) == 0)
		return o;
	reply_error(rq, 400, "%s", jr->err);
	cJSON_Delete(o);
	return NULL;
}

/* ---- accounts ---- */

static cJSON *account_json(struct server *srv, size_t i)
{
	const struct config_account *a = &srv->cfg.accounts[i];
	struct slot_snapshot snap;
	struct slot_info cur;
	int64_t now = clock_now_ms(&srv->clock);
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	slot_snapshot(&srv->accounts[i].slot, &snap);
	cJSON_AddStringToObject(o, "id", a->id);
	cJSON_AddStringToObject(o, "email", a->email);
	cJSON_AddBoolToObject(o, "default", i == 0);
	cJSON_AddNumberToObject(o, "lifetime_s", (double)snap.lifetime_s);
	cJSON_AddNumberToObject(o, "reissue_margin_s", (double)snap.margin_s);
	cJSON_AddNumberToObject(o, "minted", (double)snap.minted);
	cJSON_AddNumberToObject(o, "served", (double)snap.served);
	cJSON_AddNumberToObject(o, "revoked", (double)atomic_load(&srv->revoked_count[i]));
	if (slot_peek(&srv->accounts[i].slot, NULL, &cur)) {
		cJSON *c = cJSON_AddObjectToObject(o, "current");
		char when[TIMEFMT_RFC3339_SIZE];

		if (c) {
			timefmt_rfc3339(cur.issued_ms, when);
			cJSON_AddStringToObject(c, "issued_at", when);
			timefmt_rfc3339(cur.expires_ms, when);
			cJSON_AddStringToObject(c, "expires_at", when);
			cJSON_AddNumberToObject(c, "remaining_s",
			                        (double)((cur.expires_ms - now) / 1000));
		}
	} else {
		cJSON_AddNullToObject(o, "current");
	}
	if (srv->accounts[i].upstream)
		upstream_add_json(srv->accounts[i].upstream, o);
	if (a->aws_role) {
		cJSON *aws = cJSON_AddObjectToObject(o, "aws");
		char key_id[21], when[TIMEFMT_RFC3339_SIZE];
		int64_t issued_ms, expires_ms;

		if (aws) {
			int64_t aws_lifetime_s;

			cJSON_AddStringToObject(aws, "role", a->aws_role);
			if (aws_account_policy(srv, i, &aws_lifetime_s))
				cJSON_AddNumberToObject(aws, "lifetime_s", (double)aws_lifetime_s);
			if (aws_account_peek(srv, i, key_id, &issued_ms, &expires_ms)) {
				cJSON_AddStringToObject(aws, "access_key_id", key_id);
				timefmt_rfc3339(issued_ms, when);
				cJSON_AddStringToObject(aws, "issued_at", when);
				timefmt_rfc3339(expires_ms, when);
				cJSON_AddStringToObject(aws, "expires_at", when);
			}
		}
	}
	return o;
}

void control_accounts_list(struct request *rq)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < rq->srv->n_accounts; i++)
		cJSON_AddItemToArray(arr, account_json(rq->srv, i));
	reply_obj(rq, 200, arr);
}

static void account_get(struct request *rq, int account)
{
	reply_obj(rq, 200, account_json(rq->srv, (size_t)account));
}

/*
 * An account whose tokens come from upstream (upstream.h): metatokend
 * cannot revoke, rotate or re-time a real token, only drop its copy and
 * fetch another. Answers 409 for those and returns 1; 0 for a minted
 * account.
 */
static int upstream_refuses(struct request *rq, int account, const char *what)
{
	struct upstream *u = rq->srv->accounts[account].upstream;

	if (!u)
		return 0;
	reply_error(rq, 409,
	            "%s takes its tokens from upstream (%s): metatokend cannot %s a real token; "
	            "expire drops the cached one and fetches a new one",
	            rq->srv->cfg.accounts[account].id, upstream_kind_name(u), what);
	return 1;
}

static void account_patch(struct request *rq, int account)
{
	static const char *const known[] = { "lifetime_s", "reissue_margin_s", "aws_lifetime_s",
		                             NULL };
	struct server *srv = rq->srv;
	const char *id = srv->cfg.accounts[account].id;
	char err[512];
	struct json_reader jr = { .err = err, .errlen = sizeof(err) };
	int64_t lifetime = -1, margin = -1, aws_lifetime = -1, unused;
	cJSON *o;
	int bad;

	if (upstream_refuses(rq, account, "change the lifetime of"))
		return;
	if (!(o = read_body(rq, &jr, known)))
		return;
	bad = json_get_int(&jr, o, "lifetime_s", 0, 1, TEN_YEARS_S, &lifetime) < 0 ||
	      json_get_int(&jr, o, "reissue_margin_s", 0, 0, TEN_YEARS_S, &margin) < 0 ||
	      json_get_int(&jr, o, "aws_lifetime_s", 0, 1, TEN_YEARS_S, &aws_lifetime) < 0;
	cJSON_Delete(o);
	if (bad) {
		reply_error(rq, 400, "%s", err);
		return;
	}
	if (lifetime < 0 && margin < 0 && aws_lifetime < 0) {
		reply_error(rq, 400,
		            "body: give lifetime_s, reissue_margin_s, aws_lifetime_s or "
		            "a combination");
		return;
	}
	if (aws_lifetime >= 0 && !aws_account_policy(srv, (size_t)account, &unused)) {
		reply_error(rq, 400,
		            "aws_lifetime_s: account %s carries no aws_role (give it one in the "
		            "configuration)",
		            id);
		return;
	}
	/* Valid by the ranges above, so neither call can fail half-way. The
	 * margin is the account's, for its AWS credentials as for its token. */
	slot_set_policy(&srv->accounts[account].slot, lifetime, margin);
	aws_account_set_policy(srv, (size_t)account, aws_lifetime, margin);
	log_msg(LOG_INFO, "control: %s: lifetime %llds, margin %llds, AWS lifetime %llds", id,
	        (long long)lifetime, (long long)margin, (long long)aws_lifetime);
	account_get(rq, account);
}

/* Which token slot_drop_if drops: the one with this nonce. */
struct nonce_match {
	const struct tokens_key *key;
	const uint8_t *nonce;
};

/* slot_drop_if's predicate for an account's token slot. */
static int has_nonce(void *arg, const void *value)
{
	const struct nonce_match *m = arg;
	struct tokens_claims c;
	const char *token = value;

	/* The expiry does not matter here: verify at the start of time. */
	return tokens_verify(m->key, token, strlen(token), INT64_MIN, &c) == TOKENS_VALID &&
	       CRYPTO_memcmp(c.nonce, m->nonce, sizeof(c.nonce)) == 0;
}

/* Takes a dropped token out of service for `why`: validation refuses it
 * from now on. Returns 0, or -1 (after replying 500) when the list is full. */
static int take_out(struct request *rq, const struct tokens_claims *c, enum revoke_reason why)
{
	struct server *srv = rq->srv;

	if (revocations_add(&srv->revoked, c->nonce, c->expires_ms, why,
	                    clock_now_ms(&srv->clock)) != 0) {
		reply_error(rq, 500, "the revocation list is full");
		return -1;
	}
	return 0;
}

/*
 * Takes the account's current token out of service for `why`, and its AWS
 * credentials with it (their Token is a bearer token of the same account):
 * the next request for either gets a new one. When `only` is non-NULL, acts
 * only if the current token is still that one (a concurrent request may
 * have replaced it since the caller looked).
 */
static void retire_current(struct request *rq, int account, enum revoke_reason why,
                           const uint8_t *only)
{
	struct server *srv = rq->srv;
	struct tokens_claims old, aws_claims;
	struct nonce_match m = { .key = srv->key, .nonce = only };
	char token[TOKENS_MAX_LEN + 1], aws_token[TOKENS_MAX_LEN + 1];
	int had_token, had_aws = 0;

	had_token = slot_drop_if(&srv->accounts[account].slot, only ? has_nonce : NULL, &m, token);
	/* The token was minted by this key, so verification only fails on a
	 * bug; then report no token rather than wrong claims. */
	if (had_token &&
	    tokens_verify(srv->key, token, strlen(token), INT64_MIN, &old) != TOKENS_VALID)
		had_token = 0;
	OPENSSL_cleanse(token, sizeof(token));
	if (!only)
		had_aws = aws_account_drop(srv, (size_t)account, aws_token);
	if (had_aws && tokens_verify(srv->key, aws_token, strlen(aws_token), INT64_MIN,
	                             &aws_claims) == TOKENS_VALID) {
		OPENSSL_cleanse(aws_token, sizeof(aws_token));
		if (take_out(rq, &aws_claims, why) != 0)
			return;
	}
	if (!had_token && !had_aws) {
		reply_error(rq, 409, "%s has no current token", srv->cfg.accounts[account].id);
		return;
	}
	if (had_token && take_out(rq, &old, why) != 0)
		return;
	if (why == REVOKE_REVOKED)
		atomic_fetch_add(&srv->revoked_count[account], (uint64_t)(had_token + had_aws));
	log_msg(LOG_INFO, "control: %s: current token%s %s", srv->cfg.accounts[account].id,
	        had_aws ? " and AWS credentials" : "",
	        why == REVOKE_REVOKED ? "revoked" : "expired");
	account_get(rq, account);
}

static void account_expire(struct request *rq, int account)
{
	struct upstream *u = rq->srv->accounts[account].upstream;

	if (!u) {
		retire_current(rq, account, REVOKE_EXPIRED, NULL);
	} else if (upstream_expire(u) != 0) {
		reply_error(rq, 409,
		            "%s: its upstream token was expired less than retry_interval_ms ago",
		            rq->srv->cfg.accounts[account].id);
	} else {
		log_msg(LOG_INFO, "control: %s: upstream token expired",
		        rq->srv->cfg.accounts[account].id);
		account_get(rq, account);
	}
}

static void account_revoke(struct request *rq, int account)
{
	static const char *const known[] = { "token", NULL };
	char err[512];
	struct json_reader jr = { .err = err, .errlen = sizeof(err) };
	struct server *srv = rq->srv;
	struct tokens_claims claims;
	const char *token = NULL;
	enum tokens_verdict v;
	cJSON *o;
	int got;

	if (upstream_refuses(rq, account, "revoke"))
		return;
	if (!(o = read_body(rq, &jr, known)))
		return;
	got = json_get_string(&jr, o, "token", 0, 0, NULL, &token);
	if (got <= 0) {
		cJSON_Delete(o);
		if (got < 0)
			reply_error(rq, 400, "%s", err);
		else
			retire_current(rq, account, REVOKE_REVOKED, NULL);
		return;
	}
	v = tokens_verify(srv->key, token, strlen(token), clock_now_ms(&srv->clock), &claims);
	cJSON_Delete(o);
	if (v != TOKENS_VALID && v != TOKENS_EXPIRED) {
		reply_error(rq, 400, "token: not a token of this server (%s)",
		            tokens_verdict_str(v));
		return;
	}
	if (strcmp(claims.account, srv->cfg.accounts[account].id) != 0) {
		reply_error(rq, 400, "token: belongs to account %s, not %s", claims.account,
		            srv->cfg.accounts[account].id);
		return;
	}
	/* Out of service whatever happens next; and if it is still the current
	 * token, the next metadata request gets a new one. */
	if (take_out(rq, &claims, REVOKE_REVOKED) != 0)
		return;
	atomic_fetch_add(&srv->revoked_count[account], 1);
	slot_drop_if(&srv->accounts[account].slot, has_nonce,
	             &(struct nonce_match){ .key = srv->key, .nonce = claims.nonce }, NULL);
	account_get(rq, account);
}

static void account_rotate(struct request *rq, int account)
{
	if (upstream_refuses(rq, account, "rotate"))
		return;
	if (slot_rotate(&rq->srv->accounts[account].slot, clock_now_ms(&rq->srv->clock)) != 0) {
		reply_error(rq, 500, "could not mint a token");
		return;
	}
	if (rq->srv->cfg.accounts[account].aws_role &&
	    !aws_account_rotate(rq->srv, (size_t)account)) {
		reply_error(rq, 500, "could not mint AWS credentials");
		return;
	}
	log_msg(LOG_INFO, "control: %s: rotated", rq->srv->cfg.accounts[account].id);
	account_get(rq, account);
}

/* ---- clock ---- */

void control_clock_get(struct request *rq)
{
	struct server *srv = rq->srv;
	int64_t now = clock_now_ms(&srv->clock);
	cJSON *o = cJSON_CreateObject();
	char when[TIMEFMT_RFC3339_SIZE];

	timefmt_rfc3339(now, when);
	cJSON_AddNumberToObject(o, "now_ms", (double)now);
	cJSON_AddStringToObject(o, "now", when);
	cJSON_AddNumberToObject(o, "offset_ms", (double)atomic_load(&srv->clock.offset_ms));
	reply_obj(rq, 200, o);
}

void control_clock_post(struct request *rq)
{
	static const char *const known[] = { "advance_s", "advance_ms", "offset_s", NULL };
	char err[512];
	struct json_reader jr = { .err = err, .errlen = sizeof(err) };
	int64_t advance_s = 0, advance_ms = 0, offset_s = 0;
	int a, b = -1, c = -1;
	cJSON *o = read_body(rq, &jr, known);

	if (!o)
		return;
	a = json_get_int(&jr, o, "advance_s", 0, -TEN_YEARS_S, TEN_YEARS_S, &advance_s);
	if (a >= 0)
		b = json_get_int(&jr, o, "advance_ms", 0, -TEN_YEARS_S * 1000, TEN_YEARS_S * 1000,
		                 &advance_ms);
	if (b >= 0)
		c = json_get_int(&jr, o, "offset_s", 0, -TEN_YEARS_S, TEN_YEARS_S, &offset_s);
	cJSON_Delete(o);
	if (c < 0) {
		reply_error(rq, 400, "%s", err);
		return;
	}
	if (a + b + c != 1) {
		reply_error(rq, 400, "body: give exactly one of advance_s, advance_ms, offset_s");
		return;
	}
	if (c)
		clock_set_offset_ms(&rq->srv->clock, offset_s * 1000);
	else
		clock_advance_ms(&rq->srv->clock, advance_s * 1000 + advance_ms);
	log_msg(LOG_INFO, "control: clock offset now %lldms",
	        (long long)atomic_load(&rq->srv->clock.offset_ms));
	control_clock_get(rq);
}

/* ---- faults ---- */

void control_faults_get(struct request *rq)
{
	char *s = faults_to_json(&rq->srv->faults);

	if (!s)
		reply_static(rq, 500, CT_JSON, "{\"error\":\"out of memory\"}");
	else
		reply_owned(rq, 200, CT_JSON, s, strlen(s));
}

void control_faults_post(struct request *rq)
{
	char err[512];
	uint64_t id;

	if (faults_add_json(&rq->srv->faults, rq->req_body, rq->req_body_len, &id, err,
	                    sizeof(err)) != 0) {
		reply_error(rq, 400, "%s", err);
		return;
	}
	log_msg(LOG_INFO, "control: fault rule %llu added", (unsigned long long)id);
	reply_printf(rq, 201, CT_JSON, "{\"id\":%llu}", (unsigned long long)id);
}

void control_faults_delete(struct request *rq)
{
	faults_clear(&rq->srv->faults);
	reply_static(rq, 200, CT_JSON, "[]");
}

/* The fault rule id the route's `*` names, or -1 after answering 404. */
static int rule_arg(struct request *rq)
{
	size_t len = rq->arg_len[0];
	char num[24];
	char *end;
	long v;

	snprintf(num, sizeof(num), "%.*s", (int)(len < 23 ? len : 23), rq->arg[0]);
	v = strtol(num, &end, 10);
	if (*end || v <= 0 || v > 1000000000 || len > 10) {
		reply_error(rq, 404, "no fault rule %s", num);
		return -1;
	}
	return (int)v;
}

void control_fault_delete(struct request *rq)
{
	int id = rule_arg(rq);

	if (id <= 0)
		return;
	if (faults_remove(&rq->srv->faults, (uint64_t)id) != 0) {
		reply_error(rq, 404, "no fault rule %d", id);
		return;
	}
	control_faults_get(rq);
}

/* ---- stats and reset ---- */

void control_stats_get(struct request *rq)
{
	struct server *srv = rq->srv;
	cJSON *o = cJSON_CreateObject(), *accounts;

	if (!o || stats_add_json(&srv->stats, o) != 0) {
		cJSON_Delete(o);
		reply_static(rq, 500, CT_JSON, "{\"error\":\"out of memory\"}");
		return;
	}
	accounts = cJSON_AddObjectToObject(o, "accounts");
	for (size_t i = 0; accounts && i < srv->n_accounts; i++) {
		struct slot_snapshot snap;
		cJSON *a = cJSON_AddObjectToObject(accounts, srv->cfg.accounts[i].id);

		if (!a)
			break;
		slot_snapshot(&srv->accounts[i].slot, &snap);
		cJSON_AddStringToObject(a, "email", srv->cfg.accounts[i].email);
		cJSON_AddNumberToObject(a, "minted", (double)snap.minted);
		cJSON_AddNumberToObject(a, "served", (double)snap.served);
		cJSON_AddNumberToObject(a, "revoked", (double)atomic_load(&srv->revoked_count[i]));
	}
	reply_obj(rq, 200, o);
}

void control_reset_post(struct request *rq)
{
	struct server *srv = rq->srv;

	/* Revoked and expired-early tokens stay out of service: a reset must
	 * not bring back a token a test took away. So does a JWT exchanged
	 * (iam.c): it stays refused as a replay. */
	clock_set_offset_ms(&srv->clock, 0);
	faults_clear(&srv->faults);
	for (size_t i = 0; i < srv->n_accounts; i++) {
		slot_reset(&srv->accounts[i].slot, atomic_load(&srv->accounts[i].conf_lifetime_s),
		           atomic_load(&srv->accounts[i].conf_margin_s));
		atomic_store(&srv->revoked_count[i], 0);
	}
	aws_reset(srv);
	/* Keys created at run time go; the configured ones stay. */
	authkeys_reset(srv->authkeys);
	stats_reset(&srv->stats);
	/* The configured attributes and labels; watches on them wake. */
	if (gce_live_reset(srv->gce, srv) != 0) {
		reply_error(rq, 500, "out of memory restoring the configured metadata");
		return;
	}
	log_msg(LOG_INFO, "control: reset to the start-up state");
	reply_static(rq, 200, CT_JSON, "{\"reset\":true}");
}

/* ---- the flavour's rule, and the account the route names ---- */

/*
 * The flavour's rule: the control API is on, and the request carries the
 * admin secret. Answers 404 or 401 otherwise.
 */
int control_admit(struct request *rq)
{
	if (!rq->srv->control_enabled) {
		reply_static(rq, 404, CT_JSON,
		             "{\"error\":\"the control API is off (--no-control)\"}");
		return 0;
	}
	if (!admin_authorized(rq->srv, request_header(rq, "Authorization"))) {
		reply_header(rq, "WWW-Authenticate", "Bearer realm=\"metatoken-admin\"");
		reply_error(
		    rq, 401,
		    "Authorization: Bearer <admin secret> required (the secret is in the file metatokend printed at start)");
		return 0;
	}
	return 1;
}

/* The account the route's `*` names (`default`, its email or id), or -1
 * after answering 404. */
static int account_arg(struct request *rq)
{
	int account = server_find_account(rq->srv, rq->arg[0], rq->arg_len[0], 1);

	if (account < 0)
		reply_error(rq, 404, "no service account %.*s",
		            (int)(rq->arg_len[0] > 128 ? 128 : rq->arg_len[0]), rq->arg[0]);
	return account;
}

#define WITH_ACCOUNT(name, fn)                                                                     \
	void name(struct request *rq)                                                              \
	{                                                                                          \
		int account = account_arg(rq);                                                     \
		if (account >= 0)                                                                  \
			fn(rq, account);                                                           \
	}

WITH_ACCOUNT(control_account_get, account_get)
WITH_ACCOUNT(control_account_patch, account_patch)
WITH_ACCOUNT(control_account_expire, account_expire)
WITH_ACCOUNT(control_account_revoke, account_revoke)
WITH_ACCOUNT(control_account_rotate, account_rotate)
