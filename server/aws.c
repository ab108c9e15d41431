/*
 * The AWS IMDS flavour: the IMDSv2 session handlers (the tokens are
 * aws_session.c's), the /latest/ tree with the role's credentials and the
 * container credentials endpoint. See aws.h and PROTOCOL.md §2.
 *
 * Bodies follow the real IMDS: text leaves and listings as text/plain with
 * no trailing newline (SDKs put the role name into the next URL verbatim,
 * and the session token into a header), JSON documents pretty-printed with
 * `"Key" : "value"` lines, no Metadata-Flavor header, `Server: EC2ws`.
 */
#include "aws.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws_session.h"
#include "awscreds.h"
#include "b64url.h"
#include "log.h"
#include "secret.h"
#include "server.h"
#include "slot.h"
#include "timefmt.h"

#define SESSION_TTL_MAX_S   21600
#define CONTAINER_TOKEN_MAX 256
#define TTL_HEADER          "X-aws-ec2-metadata-token-ttl-seconds"
#define TOKEN_HEADER        "X-aws-ec2-metadata-token"

struct aws {
	struct aws_sessions sessions; /* the IMDSv2 session key */

	int role_account; /* index of the account with aws_role, or -1 */
	/* The role's current set (values: struct awscreds_set), and what mints
	 * it. &creds keys the IMDS answers each thread keeps (reply_keep). */
	struct slot creds;
	struct awscreds_minter creds_minter;
	/* Its address keys the container endpoint's kept answers. */
	char container_token[CONTAINER_TOKEN_MAX + 1];
	char *info_json;     /* iam/info, built at start */
	char *identity_json; /* dynamic/instance-identity/document */
};

/* ---- set-up ---- */

/* "AIPA" and 17 base32 chars derived from the ARN: stable across restarts. */
static void profile_id(const char *arn, char out[22])
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)arn, strlen(arn), md);
	memcpy(out, "AIPA", 4);
	for (int i = 0; i < 17; i++)
		out[4 + i] = b32[md[i] & 31];
	out[21] = '\0';
}

static int build_documents(struct aws *a, const struct config *c, int64_t now_ms)
{
	char when[32], arn[256], id[22];
	int n;

	timefmt_rfc3339(now_ms, when);
	n = asprintf(&a->identity_json,
	             "{\n"
	             "  \"accountId\" : \"%s\",\n"
	             "  \"architecture\" : \"x86_64\",\n"
	             "  \"availabilityZone\" : \"%s\",\n"
	             "  \"billingProducts\" : null,\n"
	             "  \"devpayProductCodes\" : null,\n"
	             "  \"marketplaceProductCodes\" : null,\n"
	             "  \"imageId\" : \"ami-0123456789abcdef0\",\n"
	             "  \"instanceId\" : \"%s\",\n"
	             "  \"instanceType\" : \"t3.micro\",\n"
	             "  \"kernelId\" : null,\n"
	             "  \"pendingTime\" : \"%s\",\n"
	             "  \"privateIp\" : \"%s\",\n"
	             "  \"ramdiskId\" : null,\n"
	             "  \"region\" : \"%s\",\n"
	             "  \"version\" : \"2017-09-30\"\n"
	             "}",
	             c->aws_account_id, c->aws_availability_zone, c->aws_instance_id, when,
	             c->aws_local_ipv4, c->aws_region);
	if (n < 0) {
		a->identity_json = NULL;
		return -1;
	}
	if (a->role_account < 0)
		return 0;
	snprintf(arn, sizeof(arn), "arn:aws:iam::%s:instance-profile/%s", c->aws_account_id,
	         c->accounts[a->role_account].aws_role);
	profile_id(arn, id);
	n = asprintf(&a->info_json,
	             "{\n"
	             "  \"Code\" : \"Success\",\n"
	             "  \"LastUpdated\" : \"%s\",\n"
	             "  \"InstanceProfileArn\" : \"%s\",\n"
	             "  \"InstanceProfileId\" : \"%s\"\n"
	             "}",
	             when, arn, id);
	if (n < 0) {
		a->info_json = NULL;
		return -1;
	}
	return 0;
}

struct aws *aws_new(const struct server *srv, char *err, size_t errlen)
{
	const struct config *c = &srv->cfg;
	struct aws *a = calloc(1, sizeof(*a));

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->role_account = -1;
	if (aws_sessions_init(&a->sessions, err, errlen) != 0) {
		free(a);
		return NULL;
	}
	if (c->aws_container_token) {
		snprintf(a->container_token, sizeof(a->container_token), "%s",
		         c->aws_container_token);
	} else {
		unsigned char raw[24];

		if (RAND_bytes(raw, sizeof(raw)) != 1) {
			snprintf(err, errlen,
			         "cannot generate the container token (OpenSSL failed)");
			goto out_free;
		}
		mtk__b64url_encode(raw, sizeof(raw), a->container_token);
		OPENSSL_cleanse(raw, sizeof(raw));
	}
	for (size_t i = 0; i < c->n_accounts; i++) {
		const struct slot_options o = {
			.value_size = sizeof(struct awscreds_set),
			.mint = awscreds_mint,
			.mint_arg = &a->creds_minter,
			.lifetime_s = c->accounts[i].aws_lifetime_s,
			.margin_s = c->accounts[i].reissue_margin_s,
		};

		if (!c->accounts[i].aws_role)
			continue;
		if (awscreds_minter_init(&a->creds_minter, srv->key, c->accounts[i].id) != 0 ||
		    slot_init(&a->creds, &o) != 0) {
			snprintf(err, errlen,
			         "%s: service_accounts[%zu]: cannot set up its AWS credentials",
			         c->source, i);
			goto out_free;
		}
		a->role_account = (int)i;
		break;
	}
	if (build_documents(a, c, clock_now_ms(&srv->clock)) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	return a;

out_free:
	aws_free(a);
	return NULL;
}

void aws_free(struct aws *a)
{
	if (!a)
		return;
	if (a->role_account >= 0)
		slot_release(&a->creds);
	awscreds_minter_release(&a->creds_minter);
	aws_sessions_release(&a->sessions);
	OPENSSL_cleanse(a->container_token, sizeof(a->container_token));
	free(a->info_json);
	free(a->identity_json);
	free(a);
}

const char *aws_container_token(const struct aws *a)
{
	return a ? a->container_token : "";
}

const struct awscreds_minter *aws_creds_minter(const struct server *srv)
{
	if (!srv->aws || srv->aws->role_account < 0)
		return NULL;
	return &srv->aws->creds_minter;
}

const char *aws_role(const struct server *srv)
{
	if (!srv->aws || srv->aws->role_account < 0)
		return NULL;
	return srv->cfg.accounts[srv->aws->role_account].aws_role;
}

/* ---- replies ---- */

static void reply_text(struct request *rq, unsigned status, const char *body)
{
	reply_header(rq, "Server", "EC2ws");
	reply_static(rq, status, CT_PLAIN, body);
}

/* Serves a credential set; the body is wiped when sent. */
static void reply_creds(struct request *rq, const struct awscreds_set *s, int container)
{
	const struct config *c = &rq->srv->cfg;
	char updated[32], expires[32];

	timefmt_rfc3339(s->issued_ms, updated);
	timefmt_rfc3339(s->expires_ms, expires);
	if (container)
		reply_printf(rq, 200, CT_JSON,
		             "{\"RoleArn\":\"arn:aws:iam::%s:role/%s\",\"AccessKeyId\":\"%s\","
		             "\"SecretAccessKey\":\"%s\",\"Token\":\"%s\",\"Expiration\":\"%s\"}",
		             c->aws_account_id, c->accounts[rq->srv->aws->role_account].aws_role,
		             s->access_key_id, s->secret_access_key, s->token, expires);
	else
		reply_printf(rq, 200, CT_PLAIN,
		             "{\n"
		             "  \"Code\" : \"Success\",\n"
		             "  \"LastUpdated\" : \"%s\",\n"
		             "  \"Type\" : \"AWS-HMAC\",\n"
		             "  \"AccessKeyId\" : \"%s\",\n"
		             "  \"SecretAccessKey\" : \"%s\",\n"
		             "  \"Token\" : \"%s\",\n"
		             "  \"Expiration\" : \"%s\"\n"
		             "}",
		             updated, s->access_key_id, s->secret_access_key, s->token, expires);
	rq->secret = rq->status == 200;
}

/*
 * The hot path of every AWS SDK. A set's answer is the same for as long as
 * it is current (nothing in it depends on the time of the request), so each
 * pool thread builds its response once per set and shape and queues it
 * again until its slot hands out a set of another generation (minted when
 * due, or after a control rotate, expire, revoke or reset).
 */
static void serve_creds(struct request *rq, int container)
{
	struct server *srv = rq->srv;
	struct aws *a = srv->aws;
	const void *key = container ? (const void *)a->container_token : (const void *)&a->creds;
	uint64_t have = rq->has_fault ? 0 : reply_cached_gen(key);
	struct awscreds_set s;
	struct slot_info info;
	int rc;

	rc = slot_get(&a->creds, clock_now_ms(&srv->clock), have, &s, &info);
	if (rc < 0) {
		reply_static(rq, 500, CT_PLAIN, "could not mint credentials\n");
		return;
	}
	if (rc == 1) {
		reply_reuse(rq, key);
		return;
	}
	reply_creds(rq, &s, container);
	if (rq->status == 200)
		reply_keep(rq, key, info.gen);
	OPENSSL_cleanse(&s, sizeof(s));
}

/* ---- IMDSv2 sessions ---- */

/* A TTL header value: 1..21600 in plain decimal digits, nothing else. */
static int64_t parse_ttl(const char *v)
{
	int64_t n = 0;
	size_t len;

	if (!v)
		return -1;
	len = strlen(v);
	if (len == 0 || len > 5 || strspn(v, "0123456789") != len)
		return -1;
	for (size_t i = 0; i < len; i++)
		n = n * 10 + (v[i] - '0');
	return n >= 1 && n <= SESSION_TTL_MAX_S ? n : -1;
}

void aws_session_put(struct request *rq)
{
	struct server *srv = rq->srv;
	char *token;
	int64_t ttl;

	ttl = parse_ttl(request_header(rq, TTL_HEADER));
	if (ttl < 0) {
		reply_text(rq, 400,
		           "Bad Request: " TTL_HEADER " must be an integer from 1 to 21600\n");
		return;
	}
	token = malloc(AWS_SESSION_TEXT_LEN + 1);
	if (!token || aws_session_mint(&srv->aws->sessions, clock_now_ms(&srv->clock) + ttl * 1000,
	                               token) != 0) {
		free(token);
		reply_text(rq, 500, "could not mint a session token\n");
		return;
	}
	reply_header(rq, "Server", "EC2ws");
	reply_header(rq, TTL_HEADER, "%lld", (long long)ttl);
	reply_owned(rq, 200, CT_PLAIN, token, AWS_SESSION_TEXT_LEN);
	rq->secret = 1;
}

/* ---- the tree ---- */

/* Every IMDS answer names EC2's web server, as the real one does. */
void aws_imds_decorate(struct request *rq)
{
	reply_header(rq, "Server", "EC2ws");
}

/*
 * Every GET carries a valid session token (IMDSv2), or none when the
 * server is not v2-only (IMDSv1). An invalid or expired one is 401.
 */
int aws_imds_admit(struct request *rq)
{
	struct server *srv = rq->srv;
	const char *token = request_header(rq, TOKEN_HEADER);

	if (token ? aws_session_valid(&srv->aws->sessions, token, clock_now_ms(&srv->clock))
	          : !srv->cfg.aws_imdsv2_only)
		return 1;
	reply_text(rq, 401, "Unauthorized\n");
	return 0;
}

void aws_imds_leaf(struct request *rq)
{
	const struct config *c = &rq->srv->cfg;
	const char *role = aws_role(rq->srv);

	switch ((enum aws_leaf)rq->leaf) {
	case AWS_LEAF_ROOT:
		reply_text(rq, 200, "dynamic\nmeta-data");
		return;
	case AWS_LEAF_META:
		reply_text(
		    rq, 200,
		    role ? "hostname\niam/\ninstance-id\nlocal-hostname\nlocal-ipv4\nplacement/"
		         : "hostname\ninstance-id\nlocal-hostname\nlocal-ipv4\nplacement/");
		return;
	case AWS_LEAF_HOSTNAME:
		reply_text(rq, 200, c->aws_hostname);
		return;
	case AWS_LEAF_INSTANCE_ID:
		reply_text(rq, 200, c->aws_instance_id);
		return;
	case AWS_LEAF_LOCAL_IPV4:
		reply_text(rq, 200, c->aws_local_ipv4);
		return;
	case AWS_LEAF_PLACEMENT:
		reply_text(rq, 200, "availability-zone\nregion");
		return;
	case AWS_LEAF_ZONE:
		reply_text(rq, 200, c->aws_availability_zone);
		return;
	case AWS_LEAF_REGION:
		reply_text(rq, 200, c->aws_region);
		return;
	case AWS_LEAF_DYNAMIC:
		reply_text(rq, 200, "instance-identity/");
		return;
	case AWS_LEAF_IDENTITY_DIR:
		reply_text(rq, 200, "document");
		return;
	case AWS_LEAF_IDENTITY_DOC:
		reply_text(rq, 200, rq->srv->aws->identity_json);
		return;
	case AWS_LEAF_IAM:
	case AWS_LEAF_IAM_INFO:
	case AWS_LEAF_ROLE:
		break;
	}
	/* The iam/ subtree exists only when an account carries a role. */
	if (!role)
		reply_text(rq, 404, "Not Found\n");
	else if (rq->leaf == AWS_LEAF_IAM)
		reply_text(rq, 200, "info\nsecurity-credentials/");
	else if (rq->leaf == AWS_LEAF_IAM_INFO)
		reply_text(rq, 200, rq->srv->aws->info_json);
	else
		reply_text(rq, 200, role);
}

/* .../iam/security-credentials/<role>: the role's current credentials. */
void aws_imds_creds(struct request *rq)
{
	const char *role = aws_role(rq->srv);

	if (!role || strlen(role) != rq->arg_len[0] ||
	    memcmp(rq->arg[0], role, rq->arg_len[0]) != 0) {
		reply_text(rq, 404, "Not Found\n");
		return;
	}
	serve_creds(rq, 0);
}

/* The whole header is the token; compared in constant time (secret.h). */
static int container_authorized(const struct request *rq)
{
	return secret_equal(rq->srv->aws->container_token, request_header(rq, "Authorization"));
}

void aws_handle_container(struct request *rq)
{
	if (!request_header(rq, "Authorization")) {
		reply_static(rq, 401, CT_PLAIN,
		             "Unauthorized: an Authorization header is required "
		             "(AWS_CONTAINER_AUTHORIZATION_TOKEN)\n");
		return;
	}
	if (!container_authorized(rq)) {
		reply_static(rq, 403, CT_PLAIN,
		             "Forbidden: the Authorization header does not match the container "
		             "token metatokend printed at start\n");
		return;
	}
	if (!aws_role(rq->srv)) {
		reply_static(rq, 404, CT_PLAIN, "no service account carries an aws_role\n");
		return;
	}
	serve_creds(rq, 1);
}

/* ---- control hooks ---- */

int aws_account_drop(struct server *srv, size_t account, char token[TOKENS_MAX_LEN + 1])
{
	struct awscreds_set old;
	int had;

	if (!srv->aws || srv->aws->role_account != (int)account)
		return 0;
	had = slot_drop(&srv->aws->creds, &old);
	if (had && token)
		memcpy(token, old.token, TOKENS_MAX_LEN + 1);
	OPENSSL_cleanse(&old, sizeof(old));
	return had;
}

int aws_account_rotate(struct server *srv, size_t account)
{
	if (!srv->aws || srv->aws->role_account != (int)account)
		return 0;
	return slot_rotate(&srv->aws->creds, clock_now_ms(&srv->clock)) == 0;
}

int aws_account_peek(struct server *srv, size_t account, char key_id[21], int64_t *issued_ms,
                     int64_t *expires_ms)
{
	struct awscreds_set cur;
	struct slot_info info;
	int had;

	if (!srv->aws || srv->aws->role_account != (int)account)
		return 0;
	had = slot_peek(&srv->aws->creds, &cur, &info);
	if (had) {
		memcpy(key_id, cur.access_key_id, AWSCREDS_KEY_ID_LEN + 1);
		*issued_ms = info.issued_ms;
		*expires_ms = info.expires_ms;
	}
	OPENSSL_cleanse(&cur, sizeof(cur));
	return had;
}

int aws_account_set_policy(struct server *srv, size_t account, int64_t lifetime_s, int64_t margin_s)
{
	if (!srv->aws || srv->aws->role_account != (int)account)
		return 0;
	return slot_set_policy(&srv->aws->creds, lifetime_s, margin_s) == 0 ? 1 : -1;
}

int aws_account_policy(struct server *srv, size_t account, int64_t *lifetime_s)
{
	struct slot_snapshot snap;

	if (!srv->aws || srv->aws->role_account != (int)account)
		return 0;
	slot_snapshot(&srv->aws->creds, &snap);
	*lifetime_s = snap.lifetime_s;
	return 1;
}

void aws_reset(struct server *srv)
{
	struct aws *a = srv->aws;

	if (!a)
		return;
	if (a->role_account >= 0)
		slot_reset(&a->creds,
		           atomic_load(&srv->accounts[a->role_account].conf_aws_lifetime_s),
		           atomic_load(&srv->accounts[a->role_account].conf_margin_s));
	if (aws_sessions_rekey(&a->sessions) != 0)
		log_msg(LOG_WARN, "control: reset: could not draw a new IMDSv2 session key");
}
