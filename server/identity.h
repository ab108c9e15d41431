/*
 * Identity tokens: .../service-accounts/<account>/identity?audience=X
 * answers a JWT signed RS256, as Google's metadata server does
 * (PROTOCOL.md §1), and GET /oauth2/v3/certs (a JWK set) and
 * /oauth2/v1/certs (PEM by key id) publish the public key so that a test
 * can verify what it got.
 *
 * The RSA key is made on first use (key generation takes tens of
 * milliseconds; most runs never need one) and lives as long as the server.
 */
#ifndef METATOKEN_SERVER_IDENTITY_H
#define METATOKEN_SERVER_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

struct identity;
struct request;

struct identity *identity_new(void);
/* No operation is performed if id is NULL. */
void identity_free(struct identity *id);

/* Claims of the `format=full` view. */
struct identity_instance {
	const char *instance_id, *instance_name, *project_id, *zone;
	int64_t project_number;
	int64_t created_s; /* instance_creation_timestamp */
};

/*
 * Mints a JWT for `account` (its id as sub and azp, its email when full)
 * with audience aud, issued at now_ms, valid one hour. inst is used only
 * when full. Returns a malloc'd NUL-terminated string, or NULL when OpenSSL
 * or memory fails.
 */
char *identity_mint(struct identity *id, const char *account_id, const char *email, const char *aud,
                    int full, const struct identity_instance *inst, int64_t now_ms);

/* GET /oauth2/v3/certs: {"keys":[{kty, alg, use, kid, n, e}]}. */
void identity_handle_certs(struct request *rq);
/* GET /oauth2/v1/certs: {"<kid>": "<PEM public key>"}, the shape google-auth's
 * id_token.verify_token reads. */
void identity_handle_certs_v1(struct request *rq);

#endif
