/*
 * POST /iam/v1/tokens: the Yandex IAM exchange. See iam.h.
 *
 * A JWT is judged in this order, and the first check that fails is the
 * answer: the body (400), the JWT's shape and its header and claims as
 * JSON (400), alg and kid (401), the signature (401), then the claims'
 * values: iss, aud, iat and exp (401 when well-typed but wrong, 400 when
 * missing or mistyped), and last whether it was seen before (401). Only a
 * JWT that passed every check is remembered against replay, so that
 * garbage cannot fill the set.
 */
#include "iam.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authkeys.h"
#include "jwt.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "timefmt.h"
#include "upstream.h"

#define TIME_MAX_S 100000000000LL /* iat and exp beyond this (year 5138) are refused */

/* ---- replay ---- */

struct seen {
	unsigned char digest[32]; /* SHA-256 of the JWT as sent */
	int64_t expires_ms;       /* forgotten after this */
};

struct iam {
	pthread_mutex_t lock;
	struct seen *seen; /* guarded by lock */
	size_t n, cap;
};

struct iam *iam_new(void)
{
	struct iam *iam = calloc(1, sizeof(*iam));

	if (iam && pthread_mutex_init(&iam->lock, NULL) != 0) {
		free(iam);
		iam = NULL;
	}
	return iam;
}

void iam_free(struct iam *iam)
{
	if (!iam)
		return;
	free(iam->seen);
	pthread_mutex_destroy(&iam->lock);
	free(iam);
}

enum remember { REMEMBERED, REPLAYED, REPLAY_FULL };

/*
 * Remembers digest until expires_ms, unless it is remembered already:
 * check and insertion are one step under the lock, so that two requests
 * racing with the same JWT cannot both pass. Entries past their expiry at
 * now_ms are dropped on the way.
 */
static enum remember remember(struct iam *iam, const unsigned char digest[32], int64_t expires_ms,
                              int64_t now_ms)
{
	enum remember r = REMEMBERED;
	size_t kept = 0;

	pthread_mutex_lock(&iam->lock);
	for (size_t i = 0; i < iam->n; i++) {
		if (iam->seen[i].expires_ms <= now_ms)
			continue;
		if (CRYPTO_memcmp(iam->seen[i].digest, digest, 32) == 0)
			r = REPLAYED;
		iam->seen[kept++] = iam->seen[i];
	}
	iam->n = kept;
	if (r == REMEMBERED && iam->n == iam->cap) {
		size_t cap = iam->cap ? iam->cap * 2 : 64;
		struct seen *grown =
		    cap <= IAM_REPLAY_MAX ? realloc(iam->seen, cap * sizeof(*grown)) : NULL;

		if (grown) {
			iam->seen = grown;
			iam->cap = cap;
		} else {
			r = REPLAY_FULL;
		}
	}
	if (r == REMEMBERED) {
		memcpy(iam->seen[iam->n].digest, digest, 32);
		iam->seen[iam->n].expires_ms = expires_ms;
		iam->n++;
	}
	pthread_mutex_unlock(&iam->lock);
	return r;
}

/* ---- replies ---- */

void iam_format_time(int64_t ms, char out[IAM_TIME_SIZE])
{
	char base[TIMEFMT_RFC3339_SIZE];
	int64_t frac = ms % 1000;
	size_t len;

	if (frac < 0)
		frac += 1000; /* timefmt rounds down before 1970 too */
	timefmt_rfc3339(ms, base);
	len = strlen(base);
	if (len > 0 && base[len - 1] == 'Z')
		base[--len] = '\0';
	snprintf(out, IAM_TIME_SIZE, "%s.%03lld000000Z", base, (long long)frac);
}

/* The google.rpc.Code of an HTTP status, as Yandex maps them. */
static int grpc_code(unsigned status)
{
	switch (status) {
	case 400:
	case 413:
		return 3; /* INVALID_ARGUMENT */
	case 401:
		return 16; /* UNAUTHENTICATED */
	case 403:
		return 7; /* PERMISSION_DENIED */
	case 404:
		return 5; /* NOT_FOUND */
	case 405:
		return 12; /* UNIMPLEMENTED */
	case 429:
		return 8; /* RESOURCE_EXHAUSTED */
	case 500:
		return 13; /* INTERNAL */
	case 503:
		return 14; /* UNAVAILABLE */
	case 504:
		return 4; /* DEADLINE_EXCEEDED */
	default:
		return 2; /* UNKNOWN */
	}
}

/* A request id for the error's details: a random UUID (version 4). */
static void request_id(char out[37])
{
	unsigned char b[16] = { 0 };

	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

/* Replies with a google.rpc.Status document saying message. */
static void reply_status(struct request *rq, unsigned status, const char *message)
{
	cJSON *o = cJSON_CreateObject(), *details, *info;
	char id[37];
	char *s = NULL;

	request_id(id);
	if (o && cJSON_AddNumberToObject(o, "code", grpc_code(status)) &&
	    cJSON_AddStringToObject(o, "message", message) &&
	    (details = cJSON_AddArrayToObject(o, "details")) && (info = cJSON_CreateObject())) {
		cJSON_AddItemToArray(details, info);
		cJSON_AddStringToObject(info, "@type",
		                        "type.googleapis.com/google.rpc.RequestInfo");
		cJSON_AddStringToObject(info, "requestId", id);
		s = cJSON_PrintUnformatted(o);
	}
	cJSON_Delete(o);
	if (!s) {
		reply_static(rq, 500, CT_JSON, "{\"code\":13,\"message\":\"out of memory\"}");
		return;
	}
	reply_owned(rq, status, CT_JSON, s, strlen(s));
}

void iam_flavour_error(struct request *rq, unsigned status, const char *text)
{
	char msg[256];
	size_t len = strlen(text);

	if (len && text[len - 1] == '\n')
		len--;
	snprintf(msg, sizeof(msg), "%.*s", (int)len, text);
	reply_status(rq, status, msg);
}

static void refuse(struct request *rq, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Refuses the exchange: 400 or 401, saying which check failed. */
static void refuse(struct request *rq, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(LOG_INFO, "iam: exchange refused (%u): %s", status, msg);
	reply_status(rq, status, msg);
}

/* ---- the checks ---- */

/* What one exchange holds, freed at its end. */
struct exchange {
	struct mtk__jwt jwt;
	int split;
	cJSON *body, *header, *claims;
	EVP_PKEY *pub;
	size_t account;
	const char *kid;
	int64_t iat, exp;
};

/* Parses one decoded JWT part as a JSON object, named `what` in messages.
 * Returns the tree, or NULL after replying 400. */
static cJSON *parse_part(struct request *rq, const char *what, const char *text)
{
	char err[512];
	struct json_reader jr = { .source = what, .err = err, .errlen = sizeof(err) };
	cJSON *o = json_parse(&jr, text, strlen(text));

	if (o && !cJSON_IsObject(o)) {
		json_fail(&jr, o, "must be a JSON object");
		cJSON_Delete(o);
		o = NULL;
	}
	if (!o)
		refuse(rq, 400, "%s", err);
	return o;
}

/* The body, the JWT's shape, its header and claims as JSON objects, alg,
 * typ and kid. Returns 0, or -1 after replying. */
static int check_form(struct request *rq, struct exchange *x)
{
	static const char *const body_keys[] = { "jwt", NULL };
	char err[512];
	struct json_reader jr = { .err = err, .errlen = sizeof(err) };
	struct json_reader hr = { .source = "jwt header", .err = err, .errlen = sizeof(err) };
	const char *jwt = NULL, *alg = NULL, *typ = NULL;
	char why[256];

	x->body = json_parse(&jr, rq->req_body, rq->req_body_len);
	if (!x->body || !cJSON_IsObject(x->body)) {
		if (x->body)
			json_fail(&jr, x->body, "must be a JSON object {\"jwt\": \"...\"}");
		refuse(rq, 400, "%s", err);
		return -1;
	}
	if (json_check_keys(&jr, x->body, body_keys) < 0 ||
	    json_get_string(&jr, x->body, "jwt", JSON_REQUIRED, MTK__JWT_MAX, NULL, &jwt) < 0) {
		refuse(rq, 400, "%s", err);
		return -1;
	}
	if (mtk__jwt_split(jwt, strlen(jwt), &x->jwt, why, sizeof(why)) != 0) {
		refuse(rq, 400, "jwt: not a JWT (header.claims.signature): %s", why);
		return -1;
	}
	x->split = 1;
	if (!(x->header = parse_part(rq, "jwt header", x->jwt.header)) ||
	    !(x->claims = parse_part(rq, "jwt claims", x->jwt.claims)))
		return -1;
	if (json_get_string(&hr, x->header, "alg", JSON_REQUIRED, 0, NULL, &alg) < 0 ||
	    json_get_string(&hr, x->header, "typ", 0, 0, NULL, &typ) < 0 ||
	    json_get_string(&hr, x->header, "kid", JSON_REQUIRED, AUTHKEYS_ID_MAX, NULL, &x->kid) <
	        0) {
		refuse(rq, 400, "%s", err);
		return -1;
	}
	if (typ && strcmp(typ, "JWT") != 0) {
		refuse(rq, 400, "jwt header: typ: must be \"JWT\" when given (got \"%.32s\")", typ);
		return -1;
	}
	if (strcmp(alg, "PS256") != 0) {
		refuse(rq, 401, "jwt header: alg: must be PS256 (got \"%.32s\")", alg);
		return -1;
	}
	return 0;
}

/* The key the kid names, and the signature under it. Returns 0, or -1
 * after replying. */
static int check_key(struct request *rq, struct exchange *x)
{
	struct server *srv = rq->srv;
	int v;

	x->pub = authkeys_find(srv->authkeys, x->kid, strlen(x->kid), &x->account);
	if (!x->pub || x->account >= srv->n_accounts) {
		refuse(rq, 401,
		       "jwt header: kid: no authorized key \"%.128s\" (create one with `metatoken "
		       "admin key create ACCOUNT` or list it in the account's authorized_keys)",
		       x->kid);
		return -1;
	}
	v = mtk__jwt_verify_ps256(x->pub, &x->jwt);
	if (v != 1) {
		refuse(rq, v == 0 ? 401 : 500,
		       v == 0 ? "jwt signature: does not verify with authorized key %.128s (PS256)"
		              : "jwt signature: cannot be checked (OpenSSL failed) for key %.128s",
		       x->kid);
		return -1;
	}
	return 0;
}

/* Whether aud (a string, or an array of strings) names the IAM API.
 * Returns 1, 0, or -1 when it has neither shape. */
static int aud_matches(const cJSON *aud)
{
	const cJSON *a;
	int found = 0;

	if (cJSON_IsString(aud))
		return strcmp(aud->valuestring, IAM_AUDIENCE) == 0;
	if (!cJSON_IsArray(aud) || cJSON_GetArraySize(aud) == 0)
		return -1;
	cJSON_ArrayForEach(a, aud)
	{
		if (!cJSON_IsString(a))
			return -1;
		found |= strcmp(a->valuestring, IAM_AUDIENCE) == 0;
	}
	return found;
}

/* iss, aud, iat and exp, on the server clock at now_ms. Returns 0, or -1
 * after replying. */
static int check_claims(struct request *rq, struct exchange *x, int64_t now_ms)
{
	const struct config_account *a = &rq->srv->cfg.accounts[x->account];
	char err[512];
	struct json_reader cr = { .source = "jwt claims", .err = err, .errlen = sizeof(err) };
	const cJSON *aud = cJSON_GetObjectItemCaseSensitive(x->claims, "aud");
	const char *iss = NULL;
	int m;

	if (json_get_string(&cr, x->claims, "iss", JSON_REQUIRED, 0, NULL, &iss) < 0 ||
	    json_get_int(&cr, x->claims, "iat", JSON_REQUIRED, 0, TIME_MAX_S, &x->iat) < 0 ||
	    json_get_int(&cr, x->claims, "exp", JSON_REQUIRED, 0, TIME_MAX_S, &x->exp) < 0) {
		refuse(rq, 400, "%s", err);
		return -1;
	}
	if (strcmp(iss, a->id) != 0) {
		refuse(rq, 401,
		       "jwt claims: iss: must be the service account id of key %.128s, %s (got "
		       "\"%.128s\")",
		       x->kid, a->id, iss);
		return -1;
	}
	m = aud_matches(aud);
	if (m < 0) {
		refuse(rq, 400, "jwt claims: aud: must be a string or an array of strings%s",
		       aud ? "" : " (is required)");
		return -1;
	}
	if (m == 0) {
		refuse(rq, 401, "jwt claims: aud: must be %s", IAM_AUDIENCE);
		return -1;
	}
	if (x->exp <= x->iat || x->exp - x->iat > IAM_JWT_MAX_LIFE_S) {
		refuse(rq, 401,
		       "jwt claims: exp: must be after iat and at most %d s after it (exp - iat "
		       "is %lld s)",
		       IAM_JWT_MAX_LIFE_S, (long long)(x->exp - x->iat));
		return -1;
	}
	if (x->iat * 1000 > now_ms + IAM_SKEW_MS) {
		refuse(rq, 401,
		       "jwt claims: iat: %lld s in the future on the server clock (at most %d s "
		       "allowed)",
		       (long long)((x->iat * 1000 - now_ms) / 1000), IAM_SKEW_MS / 1000);
		return -1;
	}
	if (x->exp * 1000 <= now_ms) {
		refuse(rq, 401, "jwt claims: exp: the JWT expired %lld s ago on the server clock",
		       (long long)((now_ms - x->exp * 1000) / 1000));
		return -1;
	}
	return 0;
}

/* Refuses a JWT seen before (until its exp). Returns 0, or -1 after
 * replying. */
static int check_replay(struct request *rq, struct exchange *x, const char *jwt, int64_t now_ms)
{
	unsigned char digest[32];
	unsigned int dlen = 0;

	if (EVP_Digest(jwt, strlen(jwt), digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32) {
		refuse(rq, 500, "cannot hash the JWT (OpenSSL failed)");
		return -1;
	}
	switch (remember(rq->srv->iam, digest, x->exp * 1000, now_ms)) {
	case REMEMBERED:
		return 0;
	case REPLAYED:
		refuse(rq, 401,
		       "jwt: replayed: this JWT was exchanged before; sign a new one for each "
		       "exchange");
		return -1;
	case REPLAY_FULL:
	default:
		reply_header(rq, "Retry-After", "60");
		refuse(rq, 429, "too many JWTs exchanged within their lifetime (%d); retry later",
		       IAM_REPLAY_MAX);
		return -1;
	}
}

/* The real time, ms since the epoch: an upstream token's expiry. */
static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The account's current token, as the answer. */
static void issue(struct request *rq, struct exchange *x, int64_t now_ms)
{
	struct server *srv = rq->srv;
	/* An upstream's token may be longer than those minted here. */
	char token[MTK_MAX_ACCESS_TOKEN + 1], when[IAM_TIME_SIZE], fp[TOKENS_FINGERPRINT_LEN + 1];
	struct slot_info info;
	size_t cap;
	char *body;
	int n;

	if (srv->accounts[x->account].upstream) {
		/* An upstream account's token is the real one, on the real clock
		 * (upstream.h): what its token route serves. */
		char why[600];
		int64_t left_ms = 0;

		if (upstream_token(srv->accounts[x->account].upstream, token, sizeof(token),
		                   &left_ms, why, sizeof(why)) != 0) {
			OPENSSL_cleanse(token, sizeof(token));
			refuse(rq, 503, "%s", why);
			return;
		}
		iam_format_time(wall_ms() + left_ms, when);
	} else if (slot_get(&srv->accounts[x->account].slot, now_ms, 0, token, &info) != 0) {
		OPENSSL_cleanse(token, sizeof(token));
		refuse(rq, 500, "could not mint a token for %s", srv->cfg.accounts[x->account].id);
		return;
	} else {
		iam_format_time(info.expires_ms, when);
	}
	cap = strlen(token) + IAM_TIME_SIZE + 64;
	body = malloc(cap);
	n = body ? snprintf(body, cap, "{\"iamToken\":\"%s\",\"expiresAt\":\"%s\"}", token, when)
	         : -1;
	tokens_fingerprint(token, strlen(token), fp);
	OPENSSL_cleanse(token, sizeof(token));
	if (n < 0 || (size_t)n >= cap) {
		if (body)
			OPENSSL_cleanse(body, cap);
		free(body);
		refuse(rq, 500, "out of memory");
		return;
	}
	reply_owned(rq, 200, CT_JSON, body, (size_t)n);
	rq->secret = 1;
	log_msg(LOG_INFO, "iam: token %s of %s issued for key %s", fp,
	        srv->cfg.accounts[x->account].id, x->kid);
}

void iam_tokens_post(struct request *rq)
{
	int64_t now_ms = clock_now_ms(&rq->srv->clock);
	struct exchange x;
	const cJSON *jwt;

	memset(&x, 0, sizeof(x));
	if (check_form(rq, &x) == 0 && check_key(rq, &x) == 0 &&
	    check_claims(rq, &x, now_ms) == 0) {
		jwt = cJSON_GetObjectItemCaseSensitive(x.body, "jwt");
		if (check_replay(rq, &x, jwt->valuestring, now_ms) == 0)
			issue(rq, &x, now_ms);
	}
	if (x.split)
		mtk__jwt_release(&x.jwt);
	EVP_PKEY_free(x.pub);
	cJSON_Delete(x.claims);
	cJSON_Delete(x.header);
	/* A JWT not yet exchanged is a credential for its hour. */
	jwt = x.body ? cJSON_GetObjectItemCaseSensitive(x.body, "jwt") : NULL;
	if (cJSON_IsString(jwt))
		OPENSSL_cleanse(jwt->valuestring, strlen(jwt->valuestring));
	cJSON_Delete(x.body);
}
