/*
 * The control API's admin secret: what makes it, where it is written for
 * the user (and `metatoken admin`) to read, and the one check of a
 * request's `Authorization: Bearer <admin secret>`. The secret itself
 * lives in struct server (admin_secret, admin_secret_file).
 */
#ifndef METATOKEN_SERVER_ADMIN_H
#define METATOKEN_SERVER_ADMIN_H

#include <stddef.h>

struct server;

/*
 * Sets the admin secret: the configured one, or 32 random bytes in
 * base64url. app_init calls it, so the secret is in place before the
 * daemon takes its first request. Does nothing when the control API is
 * off. Returns 0, or -1 with a reason in err.
 */
int admin_make_secret(struct server *srv, char *err, size_t errlen);

/*
 * Writes the admin secret to the secret file (mode 0600, its folder 0700
 * when we create it): the configured path, or the default one for the
 * bound port (common/secretfile.h). Call after app_start, which
 * knows the port. Returns 0, or -1 with a one-line reason in err.
 */
int admin_write_file(struct server *srv, char *err, size_t errlen);

/* Removes the secret file admin_write_file() wrote, if any, and wipes the
 * secret. Safe to call when nothing was written. */
void admin_release(struct server *srv);

/*
 * Whether an Authorization header value (NULL: none) is "Bearer " and the
 * admin secret, compared in constant time (secret.h). No secret (yet):
 * nothing matches, not even an empty one.
 */
int admin_authorized(const struct server *srv, const char *authorization);

#endif
