/*
 * The AWS IMDS flavour (PROTOCOL.md §2): IMDSv2 sessions, the /latest/
 * metadata tree with the instance role's rotating credentials, and the
 * container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI).
 * IMDSv2 session tokens themselves are minted and verified in
 * aws_session.c (aws_session.h says what one holds).
 */
#ifndef METATOKEN_SERVER_AWS_H
#define METATOKEN_SERVER_AWS_H

#include <stddef.h>
#include <stdint.h>

#include "tokens.h"

struct server;
struct request;
struct aws;
struct awscreds_minter;

/* The container credentials endpoint's path. */
#define AWS_CONTAINER_PATH "/v1/credentials"

/* Sets up the flavour from srv->cfg (after the signing key is loaded).
 * Returns NULL with a one-line reason in err on failure. */
struct aws *aws_new(const struct server *srv, char *err, size_t errlen);
/* Wipes every secret and frees. No operation is performed if a is NULL. */
void aws_free(struct aws *a);

/* The Authorization value the container endpoint expects. */
const char *aws_container_token(const struct aws *a);
/* The instance role's name, or NULL when no account carries one. */
const char *aws_role(const struct server *srv);
/* What the role's credentials are minted and recognised with (sts.c), or
 * NULL when no account carries a role. */
const struct awscreds_minter *aws_creds_minter(const struct server *srv);

/* The IMDS tree's leaves and directories, by route (route.c). */
enum aws_leaf {
	AWS_LEAF_ROOT,
	AWS_LEAF_META,
	AWS_LEAF_HOSTNAME,
	AWS_LEAF_INSTANCE_ID,
	AWS_LEAF_LOCAL_IPV4,
	AWS_LEAF_PLACEMENT,
	AWS_LEAF_ZONE,
	AWS_LEAF_REGION,
	AWS_LEAF_IAM,
	AWS_LEAF_IAM_INFO,
	AWS_LEAF_ROLE,
	AWS_LEAF_DYNAMIC,
	AWS_LEAF_IDENTITY_DIR,
	AWS_LEAF_IDENTITY_DOC,
};

/* The IMDS flavour's rules (route.h): the session token on every GET, and
 * EC2's Server header on every answer. */
int aws_imds_admit(struct request *rq);
void aws_imds_decorate(struct request *rq);
/* PUT /latest/api/token: a new IMDSv2 session. */
void aws_session_put(struct request *rq);
/* A leaf or directory of the tree: rq->leaf is an enum aws_leaf. */
void aws_imds_leaf(struct request *rq);
/* .../iam/security-credentials/<role> (the role in rq->arg[0]). */
void aws_imds_creds(struct request *rq);
/* GET AWS_CONTAINER_PATH. */
void aws_handle_container(struct request *rq);

/*
 * Control hooks. Each returns 1 if it acted on `account`'s credentials and
 * 0 when that account carries no role (or, for drop, had no current set).
 * drop copies the dropped set's Token into token (when non-NULL).
 */
int aws_account_drop(struct server *srv, size_t account, char token[TOKENS_MAX_LEN + 1]);
int aws_account_rotate(struct server *srv, size_t account);
/* Copies the current set's key id and times for the control API's view. */
int aws_account_peek(struct server *srv, size_t account, char key_id[21], int64_t *issued_ms,
                     int64_t *expires_ms);
/*
 * Changes the lifetime and reissue margin of the account's credentials (a
 * negative value leaves that one as it is). Returns 1, 0 when the account
 * carries no role, or -1 (changing nothing) if the policy is not valid.
 */
int aws_account_set_policy(struct server *srv, size_t account, int64_t lifetime_s,
                           int64_t margin_s);
/* The credentials' lifetime in force: 1 and *lifetime_s, or 0 when the
 * account carries no role. */
int aws_account_policy(struct server *srv, size_t account, int64_t *lifetime_s);
/* Start-up state: no credentials, counters zero, a new session key (every
 * IMDSv2 session ends). */
void aws_reset(struct server *srv);

#endif
