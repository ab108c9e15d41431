/*
 * The STS stand-in: GetCallerIdentity in the query and JSON protocols,
 * SigV4 checked with the secret awscreds.c derives again. See sts.h.
 */
#include "sts.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws.h"
#include "awscreds.h"
#include "log.h"
#include "reply.h"
#include "revoke.h"
#include "server.h"
#include "sigv4.h"

#define XMLNS       "https://sts.amazonaws.com/doc/2011-06-15/"
#define VERSION     "2011-06-15"
#define OPERATION   "GetCallerIdentity"
#define TARGET      "AWSSecurityTokenServiceV20110615." OPERATION
#define CT_XML      "text/xml"
#define CT_AMZ_JSON "application/x-amz-json-1.0"
#define SKEW_MS     (15LL * 60 * 1000)
#define QUERY_MAX   32 /* query parameters signed */

/* AWS's own words, which SDKs and people search for. */
#define MSG_EXPIRED "The security token included in the request is expired"
#define MSG_INVALID "The security token included in the request is invalid."
#define MSG_SIGNATURE                                                                              \
	"The request signature we calculated does not match the signature you provided. "          \
	"Check your AWS Secret Access Key and signing method. Consult the service "                \
	"documentation for details."

/* An error: its query-protocol code, and the JSON protocol's __type. */
struct sts_err {
	unsigned status;
	const char *code;
	const char *json_type;
};

static const struct sts_err E_MISSING_AUTH = {
	403, "MissingAuthenticationToken",
	"com.amazon.coral.service#MissingAuthenticationTokenException"
};
static const struct sts_err E_INCOMPLETE = {
	400, "IncompleteSignature", "com.amazon.coral.service#IncompleteSignatureException"
};
static const struct sts_err E_INVALID_TOKEN = {
	403, "InvalidClientTokenId", "com.amazon.coral.service#UnrecognizedClientException"
};
static const struct sts_err E_EXPIRED = { 403, "ExpiredToken",
	                                  "com.amazon.coral.service#ExpiredTokenException" };
static const struct sts_err E_SIGNATURE = { 403, "SignatureDoesNotMatch",
	                                    "com.amazon.coral.service#InvalidSignatureException" };
static const struct sts_err E_ACTION = { 400, "InvalidAction",
	                                 "com.amazon.coral.service#UnknownOperationException" };
static const struct sts_err E_MISSING_ACTION = {
	400, "MissingAction", "com.amazon.coral.service#UnknownOperationException"
};
static const struct sts_err E_MALFORMED = { 400, "MalformedInput",
	                                    "com.amazon.coral.service#SerializationException" };

/* ---- answers ---- */

/* Whether the request speaks awsJson1_0 (else the query protocol). */
static int is_json(const struct request *rq)
{
	const char *ct = request_header(rq, "Content-Type");

	return request_header(rq, "X-Amz-Target") ||
	       (ct && strncasecmp(ct, CT_AMZ_JSON, sizeof(CT_AMZ_JSON) - 1) == 0);
}

/* A random request id in UUID form, as AWS's are. */
static void request_id(struct request *rq, char out[37])
{
	unsigned char r[16] = { 0 };

	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0, sizeof(r));
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
	         r[13], r[14], r[15]);
	reply_header(rq, "x-amzn-RequestId", "%s", out);
}

/* s with &, < and > escaped for XML text, into out (cut short to fit). */
static const char *xml_text(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s && o + 6 < cap; s++) {
		const char *e = *s == '&'   ? "&amp;"
		                : *s == '<' ? "&lt;"
		                : *s == '>' ? "&gt;"
		                            : NULL;

		if (e) {
			memcpy(out + o, e, strlen(e));
			o += strlen(e);
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return out;
}

static void reply_err(struct request *rq, int json, const struct sts_err *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reply_err(struct request *rq, int json, const struct sts_err *e, const char *fmt, ...)
{
	const char *fault = e->status >= 500 ? "Receiver" : "Sender";
	char msg[512], esc[1024], id[37];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	request_id(rq, id);
	if (json) {
		cJSON *o = cJSON_CreateObject();
		char *s;

		cJSON_AddStringToObject(o, "__type", e->json_type);
		cJSON_AddStringToObject(o, "message", msg);
		s = o ? cJSON_PrintUnformatted(o) : NULL;
		cJSON_Delete(o);
		reply_header(rq, "x-amzn-query-error", "%s;%s", e->code, fault);
		if (s)
			reply_owned(rq, e->status, CT_AMZ_JSON, s, strlen(s));
		else
			reply_static(rq, 500, CT_AMZ_JSON, "{\"message\":\"out of memory\"}");
		return;
	}
	reply_printf(rq, e->status, CT_XML,
	             "<ErrorResponse xmlns=\"" XMLNS "\">\n"
	             "  <Error>\n"
	             "    <Type>%s</Type>\n"
	             "    <Code>%s</Code>\n"
	             "    <Message>%s</Message>\n"
	             "  </Error>\n"
	             "  <RequestId>%s</RequestId>\n"
	             "</ErrorResponse>\n",
	             fault, e->code, xml_text(msg, esc, sizeof(esc)), id);
}

void sts_flavour_error(struct request *rq, unsigned status, const char *text)
{
	struct sts_err e = { status, "InvalidRequest",
		             "com.amazon.coral.service#ValidationException" };
	size_t len = strlen(text);

	if (status == 403)
		e = (struct sts_err){ 403, "AccessDenied",
			              "com.amazon.coral.service#AccessDeniedException" };
	else if (status == 413)
		e = (struct sts_err){ 413, "RequestEntityTooLarge",
			              "com.amazon.coral.service#RequestEntityTooLargeException" };
	else if (status == 429)
		e = (struct sts_err){ 429, "Throttling",
			              "com.amazon.coral.service#ThrottlingException" };
	else if (status == 503)
		e = (struct sts_err){ 503, "ServiceUnavailable",
			              "com.amazon.coral.service#ServiceUnavailableException" };
	else if (status >= 500)
		e = (struct sts_err){ status, "InternalFailure",
			              "com.amazon.coral.service#InternalFailure" };
	if (len && text[len - 1] == '\n')
		len--;
	reply_err(rq, is_json(rq), &e, "%.*s", (int)len, text);
}

/* "AROA" and 17 base32 chars derived from the role's ARN, like a role id. */
static void role_id(const char *arn, char out[22])
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)arn, strlen(arn), md);
	memcpy(out, "AROA", 4);
	for (int i = 0; i < 17; i++)
		out[4 + i] = b32[md[i] & 31];
	out[21] = '\0';
}

/* Who the caller is: the instance role's session on this instance. */
static void reply_identity(struct request *rq, int json)
{
	const struct config *c = &rq->srv->cfg;
	char role_arn[384], arn[512], user[320], rid[22], id[37];
	char e_arn[1024], e_user[1024], e_acct[256];

	snprintf(role_arn, sizeof(role_arn), "arn:aws:iam::%s:role/%s", c->aws_account_id,
	         aws_role(rq->srv));
	role_id(role_arn, rid);
	snprintf(arn, sizeof(arn), "arn:aws:sts::%s:assumed-role/%s/%s", c->aws_account_id,
	         aws_role(rq->srv), c->aws_instance_id);
	snprintf(user, sizeof(user), "%s:%s", rid, c->aws_instance_id);
	request_id(rq, id);
	if (json) {
		cJSON *o = cJSON_CreateObject();
		char *s;

		cJSON_AddStringToObject(o, "UserId", user);
		cJSON_AddStringToObject(o, "Account", c->aws_account_id);
		cJSON_AddStringToObject(o, "Arn", arn);
		s = o ? cJSON_PrintUnformatted(o) : NULL;
		cJSON_Delete(o);
		if (s)
			reply_owned(rq, 200, CT_AMZ_JSON, s, strlen(s));
		else
			reply_static(rq, 500, CT_AMZ_JSON, "{\"message\":\"out of memory\"}");
		return;
	}
	reply_printf(rq, 200, CT_XML,
	             "<GetCallerIdentityResponse xmlns=\"" XMLNS "\">\n"
	             "  <GetCallerIdentityResult>\n"
	             "    <Arn>%s</Arn>\n"
	             "    <UserId>%s</UserId>\n"
	             "    <Account>%s</Account>\n"
	             "  </GetCallerIdentityResult>\n"
	             "  <ResponseMetadata>\n"
	             "    <RequestId>%s</RequestId>\n"
	             "  </ResponseMetadata>\n"
	             "</GetCallerIdentityResponse>\n",
	             xml_text(arn, e_arn, sizeof(e_arn)), xml_text(user, e_user, sizeof(e_user)),
	             xml_text(c->aws_account_id, e_acct, sizeof(e_acct)), id);
}

/* ---- the signature ---- */

/* The query parameters, collected for the canonical request. */
struct query_list {
	struct sigv4_param p[QUERY_MAX];
	size_t n;
	int too_many;
};

static void collect_param(void *arg, const char *name, const char *value)
{
	struct query_list *q = arg;

	if (q->n == QUERY_MAX) {
		q->too_many = 1;
		return;
	}
	q->p[q->n].name = name;
	q->p[q->n++].value = value ? value : ""; /* signed as "name=" */
}

/* ms as X-Amz-Date spells it. */
static void amz_date(long long ms, char out[SIGV4_DATE_LEN + 1])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) == 0)
		snprintf(out, SIGV4_DATE_LEN + 1, "%s", "00000000T000000Z");
}

/*
 * The request date against the server clock (or the host's, while the
 * server clock is shifted: see sts.h). Returns 0, or -1 after answering.
 */
static int check_date(struct request *rq, int json, const char *date, long long date_ms)
{
	const struct clock *clk = &rq->srv->clock;
	long long now = clock_now_ms(clk), offset = atomic_load(&clk->offset_ms);
	long long host = now - offset;
	char now_s[SIGV4_DATE_LEN + 1], edge_s[SIGV4_DATE_LEN + 1];

	if (date_ms >= now - SKEW_MS && date_ms <= now + SKEW_MS)
		return 0;
	if (offset != 0 && date_ms >= host - SKEW_MS && date_ms <= host + SKEW_MS)
		return 0;
	amz_date(now, now_s);
	if (date_ms < now) {
		amz_date(now - SKEW_MS, edge_s);
		reply_err(rq, json, &E_SIGNATURE,
		          "Signature expired: %s is now earlier than %s (%s - 15 min.)", date,
		          edge_s, now_s);
	} else {
		amz_date(now + SKEW_MS, edge_s);
		reply_err(rq, json, &E_SIGNATURE,
		          "Signature not yet current: %s is still later than %s (%s + 15 min.)",
		          date, edge_s, now_s);
	}
	return -1;
}

/* Whether the session token is still in service (not revoked or expired
 * early by the control API). Returns 0, or -1 after answering. */
static int check_revoked(struct request *rq, int json, const struct tokens_claims *claims)
{
	switch (revocations_check(&rq->srv->revoked, claims->nonce)) {
	case REVOKE_NONE:
		return 0;
	case REVOKE_EXPIRED:
		reply_err(rq, json, &E_EXPIRED, MSG_EXPIRED);
		return -1;
	case REVOKE_REVOKED:
		break;
	}
	reply_err(rq, json, &E_INVALID_TOKEN, MSG_INVALID);
	return -1;
}

/* Computes the request's signature with secret and compares. Returns 0,
 * or -1 after answering. */
static int check_signature(struct request *rq, int json, const struct sigv4_auth *a,
                           const char *date, const char *secret)
{
	struct sigv4_header h[SIGV4_HEADERS_MAX];
	struct query_list q = { .n = 0 };
	char payload_hash[SIGV4_HEX_LEN + 1], sig[SIGV4_HEX_LEN + 1], *canonical = NULL;
	struct sigv4_request r = { .method = rq->method, .path = rq->path, .headers = h };
	int has_host = 0, rc = -1;
	long len;

	for (size_t i = 0; i < a->n_header_names; i++) {
		char name[128];

		if (a->header_names[i].len >= sizeof(name)) {
			reply_err(rq, json, &E_INCOMPLETE,
			          "SignedHeaders: a header name is too long");
			return -1;
		}
		memcpy(name, a->header_names[i].p, a->header_names[i].len);
		name[a->header_names[i].len] = '\0';
		has_host |= strcmp(name, "host") == 0;
		h[i].name = a->header_names[i];
		h[i].value = request_header(rq, name);
		if (!h[i].value) {
			reply_err(rq, json, &E_SIGNATURE,
			          "SignedHeaders names %s, which the "
			          "request does not carry",
			          name);
			return -1;
		}
	}
	if (!has_host) {
		reply_err(
		    rq, json, &E_SIGNATURE,
		    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
		return -1;
	}
	request_each_query(rq, collect_param, &q);
	if (q.too_many) {
		reply_err(rq, json, &E_MALFORMED, "more than %d query parameters", QUERY_MAX);
		return -1;
	}
	sigv4_sha256_hex(rq->req_body, rq->req_body_len, payload_hash);
	r.n_headers = a->n_header_names;
	r.query = q.p;
	r.n_query = q.n;
	r.payload_hash = payload_hash;
	len = sigv4_canonical_request(&r, &canonical);
	if (len < 0) {
		reply_err(rq, json, &E_MALFORMED,
		          "the request is too large to verify its signature");
		return -1;
	}
	if (sigv4_signature(secret, date, &a->date, &a->region, &a->service, canonical, (size_t)len,
	                    NULL, 0, sig) != 0)
		reply_err(rq, json, &E_SIGNATURE, MSG_SIGNATURE);
	else if (CRYPTO_memcmp(sig, a->signature.p, SIGV4_HEX_LEN) != 0)
		reply_err(rq, json, &E_SIGNATURE, MSG_SIGNATURE);
	else
		rc = 0;
	OPENSSL_cleanse(sig, sizeof(sig));
	free(canonical);
	return rc;
}

/*
 * Authenticates the request as AWS does, in AWS's order: the header's
 * shape, the credentials (key id and session token), the scope and the
 * date, then the signature. Returns 0, or -1 after answering.
 */
static int authenticate(struct request *rq, int json)
{
	const struct awscreds_minter *m = aws_creds_minter(rq->srv);
	const char *auth = request_header(rq, "Authorization");
	const char *token = request_header(rq, "X-Amz-Security-Token");
	const char *date = request_header(rq, "X-Amz-Date");
	char err[256], secret[AWSCREDS_SECRET_LEN + 1];
	struct tokens_claims claims;
	struct sigv4_auth a;
	enum awscreds_verdict v;
	long long date_ms;
	int rc = -1;

	if (!auth) {
		reply_err(rq, json, &E_MISSING_AUTH, "Request is missing Authentication Token");
		return -1;
	}
	if (sigv4_parse_authorization(auth, &a, err, sizeof(err)) != 0) {
		reply_err(rq, json, &E_INCOMPLETE, "%s", err);
		return -1;
	}
	if (!m || !token) {
		reply_err(rq, json, &E_INVALID_TOKEN, MSG_INVALID);
		return -1;
	}
	v = awscreds_check(m, a.key_id.p, a.key_id.len, token, strlen(token),
	                   clock_now_ms(&rq->srv->clock), secret, &claims);
	if (v == AWSCREDS_UNKNOWN) {
		reply_err(rq, json, &E_INVALID_TOKEN, MSG_INVALID);
		return -1;
	}
	if (v == AWSCREDS_EXPIRED) {
		reply_err(rq, json, &E_EXPIRED, MSG_EXPIRED);
		goto out_wipe;
	}
	if (check_revoked(rq, json, &claims) != 0)
		goto out_wipe;
	if (a.service.len != 3 || memcmp(a.service.p, "sts", 3) != 0) {
		reply_err(rq, json, &E_SIGNATURE,
		          "Credential should be scoped to correct service: 'sts'. ");
		goto out_wipe;
	}
	if (a.terminator.len != sizeof(SIGV4_TERMINATOR) - 1 ||
	    memcmp(a.terminator.p, SIGV4_TERMINATOR, a.terminator.len) != 0) {
		reply_err(rq, json, &E_SIGNATURE,
		          "Credential should be scoped with a valid terminator: '" SIGV4_TERMINATOR
		          "', not '%.*s'.",
		          (int)(a.terminator.len > 64 ? 64 : a.terminator.len), a.terminator.p);
		goto out_wipe;
	}
	if (!date || sigv4_parse_date(date, &date_ms) != 0) {
		reply_err(rq, json, &E_INCOMPLETE,
		          "Authorization header requires existence of a valid 'X-Amz-Date' header "
		          "(YYYYMMDDTHHMMSSZ).");
		goto out_wipe;
	}
	if (memcmp(a.date.p, date, 8) != 0) {
		reply_err(rq, json, &E_SIGNATURE,
		          "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
		          "of date from HTTP: '%.8s' != '%.8s', from '%s'.",
		          a.date.p, date, date);
		goto out_wipe;
	}
	if (check_date(rq, json, date, date_ms) != 0)
		goto out_wipe;
	rc = check_signature(rq, json, &a, date, secret);
out_wipe:
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

/* ---- the operation ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes n bytes of a form field (`+` is a space, %XX a byte) into out
 * (cap bytes, NUL-terminated). Returns 0, 1 when it does not fit (the
 * value is not one we look for), or -1 on a bad escape or a NUL.
 */
static int form_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi = i + 2 < n ? hexval(s[i + 1]) : -1,
			    lo = i + 2 < n ? hexval(s[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == 0)
			return -1;
		if (o + 1 >= cap) {
			out[o] = '\0';
			return 1;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/*
 * Finds Action and Version in the form body (and then the query string,
 * which AWS also reads). Returns 0, or -1 after answering.
 */
static int query_operation(struct request *rq, char action[64], char version[32])
{
	const char *p = rq->req_body, *end = rq->req_body + rq->req_body_len;
	const char *qa, *qv;

	action[0] = version[0] = '\0';
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
		const char *stop = amp ? amp : end;
		char name[16];
		int r;

		eq = memchr(p, '=', (size_t)(stop - p));
		r = form_decode(p, (size_t)((eq ? eq : stop) - p), name, sizeof(name));
		/* A name too long for name[] is none we look for (r 1). */
		if (r == 0 && eq && strcmp(name, "Action") == 0 &&
		    (r = form_decode(eq + 1, (size_t)(stop - eq - 1), action, 64)) > 0)
			snprintf(action, 64, "(too long)");
		else if (r == 0 && eq && strcmp(name, "Version") == 0 &&
		         (r = form_decode(eq + 1, (size_t)(stop - eq - 1), version, 32)) > 0)
			snprintf(version, 32, "(too long)");
		if (r < 0) {
			reply_err(
			    rq, 0, &E_MALFORMED,
			    "the body is not application/x-www-form-urlencoded (a bad %%-escape "
			    "or a NUL at byte %zu)",
			    (size_t)(p - rq->req_body));
			return -1;
		}
		p = stop + (amp ? 1 : 0);
	}
	qa = request_query(rq, "Action");
	qv = request_query(rq, "Version");
	if (!action[0] && qa)
		snprintf(action, 64, "%s", qa);
	if (!version[0] && qv)
		snprintf(version, 32, "%s", qv);
	if (!action[0]) {
		reply_err(rq, 0, &E_MISSING_ACTION, "Missing Action");
		return -1;
	}
	if (strcmp(action, OPERATION) != 0 || strcmp(version, VERSION) != 0) {
		reply_err(rq, 0, &E_ACTION, "Could not find operation %s for version %s", action,
		          version[0] ? version : "NO_VERSION_SPECIFIED");
		return -1;
	}
	return 0;
}

/* The JSON protocol's operation: X-Amz-Target, and a body that is a JSON
 * object. Returns 0, or -1 after answering. */
static int json_operation(struct request *rq)
{
	const char *target = request_header(rq, "X-Amz-Target");
	cJSON *body;
	int is_object;

	if (!target || strcmp(target, TARGET) != 0) {
		reply_err(rq, 1, &E_ACTION,
		          "%s%.80s: not an operation of this service (metatokend "
		          "serves " TARGET ")",
		          target ? "" : "no X-Amz-Target header", target ? target : "");
		return -1;
	}
	body = rq->req_body_len ? cJSON_ParseWithLength(rq->req_body, rq->req_body_len) : NULL;
	is_object = rq->req_body_len == 0 || cJSON_IsObject(body);
	cJSON_Delete(body);
	if (!is_object) {
		reply_err(rq, 1, &E_MALFORMED,
		          "the body must be a JSON object ({} for " OPERATION ")");
		return -1;
	}
	return 0;
}

void sts_handle(struct request *rq)
{
	int json = is_json(rq);
	char action[64], version[32];

	if (authenticate(rq, json) != 0)
		return;
	if (json ? json_operation(rq) != 0 : query_operation(rq, action, version) != 0)
		return;
	reply_identity(rq, json);
}
