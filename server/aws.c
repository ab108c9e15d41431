/*
 * The AWS IMDS flavour: IMDSv2 sessions, the /latest/ tree and the
 * container credentials endpoint. See aws.h and PROTOCOL.md §2.
 *
 * Bodies follow the real IMDS: text leaves and listings as text/plain with
 * no trailing newline (SDKs put the role name into the next URL verbatim,
 * and the session token into a header), JSON documents pretty-printed with
 * `"Key" : "value"` lines, no Metadata-Flavor header, `Server: EC2ws`.
 */
#include "aws.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "awscreds.h"
#include "b64url.h"
#include "log.h"
#include "secret.h"
#include "server.h"
#include "slot.h"
#include "timefmt.h"

#define SESSION_VERSION     1
#define SESSION_KEY_LEN     32
#define SESSION_NONCE_LEN   16
#define SESSION_PAYLOAD_LEN (1 + 8 + SESSION_NONCE_LEN)
#define SESSION_RAW_LEN     (SESSION_PAYLOAD_LEN + 32)
#define SESSION_TEXT_LEN    (SESSION_RAW_LEN / 3 * 4) /* 76: 57 is a multiple of 3 */
#define SESSION_TTL_MAX_S   21600
#define CONTAINER_TOKEN_MAX 256
#define TTL_HEADER          "X-aws-ec2-metadata-token-ttl-seconds"
#define TOKEN_HEADER        "X-aws-ec2-metadata-token"

_Static_assert(SESSION_RAW_LEN % 3 == 0, "session tokens have no base64 padding");

struct aws {
	pthread_mutex_t lock;
	unsigned char session_key[SESSION_KEY_LEN]; /* guarded by lock */
	/* Numbers session_key (from key_epochs): changed with it, under lock. */
	_Atomic uint64_t key_epoch;

	int role_account; /* index of the account with aws_role, or -1 */
	/* The role's current set (values: struct awscreds_set), and what mints
	 * it. &creds keys the IMDS answers each thread keeps (reply_keep). */
	struct slot creds;
	struct tokens_minter creds_minter;
	/* Its address keys the container endpoint's kept answers. */
	char container_token[CONTAINER_TOKEN_MAX + 1];
	char *info_json;     /* iam/info, built at start */
	char *identity_json; /* dynamic/instance-identity/document */
};

/* Session keys, across all servers: a verdict reached under one is
 * remembered with its number, never 0. */
static _Atomic uint64_t key_epochs;

/*
 * The last session token this thread verified, so that a client sending
 * the same token again (SDKs keep one for hours) costs a comparison instead
 * of a base64 decode and an HMAC. What it remembers, that the token's MAC
 * is right under key `epoch` and when the token expires, depends on nothing
 * but the token and the key; the expiry is still checked on every request.
 * A reset draws a new key under a new epoch, which forgets every memo.
 * Wiped when the thread exits.
 */
struct session_memo {
	const struct aws *aws; /* NULL: nothing remembered */
	uint64_t epoch;
	int64_t expires_ms;
	char token[SESSION_TEXT_LEN];
};

static __thread struct session_memo memo;
static pthread_key_t memo_key;
static pthread_once_t memo_once = PTHREAD_ONCE_INIT;
static int memo_usable;

static void memo_wipe(void *p)
{
	OPENSSL_cleanse(p, sizeof(struct session_memo));
}

static void memo_init_key(void)
{
	memo_usable = pthread_key_create(&memo_key, memo_wipe) == 0;
}

/* Remembers a verified token for this thread, if its memo can be wiped at
 * thread exit. */
static void memo_store(const struct aws *a, uint64_t epoch, const char *token, int64_t expires_ms)
{
	pthread_once(&memo_once, memo_init_key);
	if (!memo_usable || pthread_setspecific(memo_key, &memo) != 0)
		return;
	memo.aws = a;
	memo.epoch = epoch;
	memo.expires_ms = expires_ms;
	memcpy(memo.token, token, SESSION_TEXT_LEN);
}

/* Decodes exactly SESSION_TEXT_LEN chars; returns -1 on any other input. */
static int decode_session(const char *in, size_t len, unsigned char out[SESSION_RAW_LEN])
{
	if (len != SESSION_TEXT_LEN ||
	    b64url_decode(in, len, out, SESSION_RAW_LEN) != SESSION_RAW_LEN)
		return -1;
	return 0;
}

/* Copies the session key, and its epoch into *epoch when non-NULL. */
static void session_key_copy(struct aws *a, unsigned char key[SESSION_KEY_LEN], uint64_t *epoch)
{
	pthread_mutex_lock(&a->lock);
	memcpy(key, a->session_key, SESSION_KEY_LEN);
	if (epoch)
		*epoch = atomic_load(&a->key_epoch);
	pthread_mutex_unlock(&a->lock);
}

/* MACs a session payload under the current key, whose epoch goes into
 * *epoch when non-NULL. */
static int session_mac(struct aws *a, const unsigned char *payload, unsigned char mac[32],
                       uint64_t *epoch)
{
	unsigned char key[SESSION_KEY_LEN];
	unsigned int maclen = 0;
	int ok;

	session_key_copy(a, key, epoch);
	ok = HMAC(EVP_sha256(), key, SESSION_KEY_LEN, payload, SESSION_PAYLOAD_LEN, mac, &maclen) !=
	         NULL &&
	     maclen == 32;
	OPENSSL_cleanse(key, sizeof(key));
	return ok ? 0 : -1;
}

/* Mints a session token expiring at expires_ms into out[SESSION_TEXT_LEN + 1]. */
static int session_mint(struct aws *a, int64_t expires_ms, char *out)
{
	unsigned char raw[SESSION_RAW_LEN];
	uint64_t e = (uint64_t)expires_ms;
	int rc = -1;

	raw[0] = SESSION_VERSION;
	for (int i = 8; i >= 1; i--, e >>= 8)
		raw[i] = (unsigned char)e;
	if (RAND_bytes(raw + 9, SESSION_NONCE_LEN) != 1 ||
	    session_mac(a, raw, raw + SESSION_PAYLOAD_LEN, NULL) != 0)
		goto out;
	b64url_encode(raw, SESSION_RAW_LEN, out);
	rc = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

/* Whether `token` is a session of this server still alive at now_ms. */
static int session_valid(struct aws *a, const char *token, int64_t now_ms)
{
	unsigned char raw[SESSION_RAW_LEN], mac[32];
	size_t len = strlen(token);
	uint64_t e = 0, epoch = 0;
	int ok = 0;

	/* The memo holds a live token: compare in constant time. */
	if (len == SESSION_TEXT_LEN && memo.aws == a && memo.epoch == atomic_load(&a->key_epoch) &&
	    CRYPTO_memcmp(memo.token, token, SESSION_TEXT_LEN) == 0)
		return memo.expires_ms > now_ms;
	if (decode_session(token, len, raw) != 0 || raw[0] != SESSION_VERSION)
		goto out;
	if (session_mac(a, raw, mac, &epoch) != 0 ||
	    CRYPTO_memcmp(mac, raw + SESSION_PAYLOAD_LEN, sizeof(mac)) != 0)
		goto out;
	for (int i = 1; i <= 8; i++)
		e = e << 8 | raw[i];
	memo_store(a, epoch, token, (int64_t)e);
	ok = (int64_t)e > now_ms;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

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
	if (pthread_mutex_init(&a->lock, NULL) != 0) {
		free(a);
		snprintf(err, errlen, "cannot set up the AWS flavour (mutex)");
		return NULL;
	}
	if (RAND_bytes(a->session_key, sizeof(a->session_key)) != 1) {
		snprintf(err, errlen, "cannot generate the IMDSv2 session key (OpenSSL failed)");
		goto out_free;
	}
	atomic_store(&a->key_epoch, atomic_fetch_add(&key_epochs, 1) + 1);
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
		b64url_encode(raw, sizeof(raw), a->container_token);
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
		a->creds_minter.key = srv->key;
		a->creds_minter.account = c->accounts[i].id;
		if (tokens_minter_check(&a->creds_minter) != 0 || slot_init(&a->creds, &o) != 0) {
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
	OPENSSL_cleanse(a->session_key, sizeof(a->session_key));
	OPENSSL_cleanse(a->container_token, sizeof(a->container_token));
	free(a->info_json);
	free(a->identity_json);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

const char *aws_container_token(const struct aws *a)
{
	return a ? a->container_token : "";
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
	token = malloc(SESSION_TEXT_LEN + 1);
	if (!token || session_mint(srv->aws, clock_now_ms(&srv->clock) + ttl * 1000, token) != 0) {
		free(token);
		reply_text(rq, 500, "could not mint a session token\n");
		return;
	}
	reply_header(rq, "Server", "EC2ws");
	reply_header(rq, TTL_HEADER, "%lld", (long long)ttl);
	reply_owned(rq, 200, CT_PLAIN, token, SESSION_TEXT_LEN);
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

	if (token ? session_valid(srv->aws, token, clock_now_ms(&srv->clock))
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

void aws_reset(struct server *srv)
{
	struct aws *a = srv->aws;
	unsigned char key[SESSION_KEY_LEN];

	if (!a)
		return;
	if (a->role_account >= 0)
		slot_reset(&a->creds, srv->cfg.accounts[a->role_account].aws_lifetime_s,
		           srv->cfg.accounts[a->role_account].reissue_margin_s);
	if (RAND_bytes(key, sizeof(key)) != 1) {
		log_msg(LOG_WARN, "control: reset: could not draw a new IMDSv2 session key");
		return;
	}
	pthread_mutex_lock(&a->lock);
	memcpy(a->session_key, key, sizeof(key));
	atomic_store(&a->key_epoch, atomic_fetch_add(&key_epochs, 1) + 1);
	pthread_mutex_unlock(&a->lock);
	OPENSSL_cleanse(key, sizeof(key));
}
