/*
 * Stand-ins for the cloud APIs an SDK calls with its token: they accept a
 * token exactly while the real cloud would (signed by this server, not
 * expired on the server's clock, not revoked or expired early through the
 * control API, for an account this server knows).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "control.h"
#include "server.h"

enum check {
	CHECK_VALID,
	CHECK_MISSING,
	CHECK_MALFORMED,
	CHECK_BAD_SIGNATURE,
	CHECK_EXPIRED,
	CHECK_REVOKED,
	CHECK_UNKNOWN_ACCOUNT,
};

static const char *const check_text[] = {
	[CHECK_VALID] = "The access token is valid",
	[CHECK_MISSING] = "No access token was given",
	[CHECK_MALFORMED] = "The access token is malformed",
	[CHECK_BAD_SIGNATURE] = "The access token signature is invalid",
	[CHECK_EXPIRED] = "The access token expired",
	[CHECK_REVOKED] = "The access token was revoked",
	[CHECK_UNKNOWN_ACCOUNT] = "The access token names an unknown service account",
};

/* Checks len bytes of token; on CHECK_VALID sets *claims and *account. */
static enum check check_token(struct server *srv, const char *token, size_t len,
                              struct tokens_claims *claims, int *account)
{
	enum tokens_verdict v;

	if (!token || len == 0)
		return CHECK_MISSING;
	v = tokens_verify(srv->key, token, len, clock_now_ms(&srv->clock), claims);
	switch (v) {
	case TOKENS_VALID:
		break;
	case TOKENS_EXPIRED:
		return CHECK_EXPIRED;
	case TOKENS_BAD_SIGNATURE:
		return CHECK_BAD_SIGNATURE;
	case TOKENS_MALFORMED:
	default:
		return CHECK_MALFORMED;
	}
	switch (revocations_check(&srv->revoked, claims->nonce)) {
	case REVOKE_REVOKED:
		return CHECK_REVOKED;
	case REVOKE_EXPIRED:
		return CHECK_EXPIRED;
	case REVOKE_NONE:
		break;
	}
	for (size_t i = 0; i < srv->cfg.n_accounts; i++) {
		if (strcmp(srv->cfg.accounts[i].id, claims->account) == 0) {
			*account = (int)i;
			return CHECK_VALID;
		}
	}
	return CHECK_UNKNOWN_ACCOUNT;
}

static char *scopes_joined(const struct config_account *a)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < a->n_scopes; i++)
		len += strlen(a->scopes[i]) + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < a->n_scopes; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, a->scopes[i]);
	}
	return s;
}

/*
 * Google's tokeninfo: 200 with azp, aud, scope, exp and expires_in (as
 * strings, as Google sends them), email; 400 with an error otherwise.
 */
void validate_handle_tokeninfo(struct request *rq)
{
	struct server *srv = rq->srv;
	const char *tok = request_query(rq, "access_token");
	struct tokens_claims claims;
	int account = -1;
	enum check c = check_token(srv, tok, tok ? strlen(tok) : 0, &claims, &account);
	const struct config_account *a;
	char num[32], *scopes;
	cJSON *o;
	char *s;

	if (c != CHECK_VALID) {
		reply_printf(rq, 400, CT_JSON,
		             "{\"error\":\"invalid_token\",\"error_description\":\"%s\"}",
		             check_text[c]);
		return;
	}
	a = &srv->cfg.accounts[account];
	scopes = scopes_joined(a);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "azp", a->id);
	cJSON_AddStringToObject(o, "aud", a->id);
	cJSON_AddStringToObject(o, "sub", a->id);
	cJSON_AddStringToObject(o, "scope", scopes ? scopes : "");
	snprintf(num, sizeof(num), "%lld", (long long)(claims.expires_ms / 1000));
	cJSON_AddStringToObject(o, "exp", num);
	snprintf(num, sizeof(num), "%lld",
	         (long long)((claims.expires_ms - clock_now_ms(&srv->clock)) / 1000));
	cJSON_AddStringToObject(o, "expires_in", num);
	cJSON_AddStringToObject(o, "email", a->email);
	cJSON_AddStringToObject(o, "email_verified", "true");
	cJSON_AddStringToObject(o, "access_type", "online");
	free(scopes);
	s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!s) {
		reply_static(rq, 500, CT_JSON, "{\"error\":\"out of memory\"}");
		return;
	}
	reply_owned(rq, 200, CT_JSON, s, strlen(s));
}

/*
 * A protected API: 200 naming the caller's account, or 401 with the
 * RFC 6750 WWW-Authenticate challenge saying what was wrong.
 */
void validate_handle_protected(struct request *rq)
{
	struct server *srv = rq->srv;
	const char *h = request_header(rq, "Authorization"), *tok = NULL;
	struct tokens_claims claims;
	int account = -1;
	enum check c;

	if (h && strncasecmp(h, "Bearer ", 7) == 0)
		tok = h + 7;
	c = check_token(srv, tok, tok ? strlen(tok) : 0, &claims, &account);
	if (c == CHECK_MISSING) {
		reply_header(rq, "WWW-Authenticate", "Bearer realm=\"metatoken\"");
		reply_printf(rq, 401, CT_JSON,
		             "{\"error\":\"invalid_request\",\"error_description\":\"%s\"}",
		             "Authorization: Bearer <token> is required");
		return;
	}
	if (c != CHECK_VALID) {
		reply_header(rq, "WWW-Authenticate",
		             "Bearer error=\"invalid_token\", error_description=\"%s\"",
		             check_text[c]);
		reply_printf(rq, 401, CT_JSON,
		             "{\"error\":\"invalid_token\",\"error_description\":\"%s\"}",
		             check_text[c]);
		return;
	}
	reply_printf(rq, 200, CT_JSON,
	             "{\"account\":\"%s\",\"email\":\"%s\",\"expires_in\":%lld,\"method\":\"%s\"}",
	             srv->cfg.accounts[account].id, srv->cfg.accounts[account].email,
	             (long long)((claims.expires_ms - clock_now_ms(&srv->clock)) / 1000),
	             rq->method_bit == METHOD_OTHER ? "OTHER" : rq->method);
}
