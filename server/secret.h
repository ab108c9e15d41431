/*
 * The one comparison of a secret a client presents (the admin secret, the
 * AWS container authorization token) with the one the server holds.
 */
#ifndef METATOKEN_SERVER_SECRET_H
#define METATOKEN_SERVER_SECRET_H

/*
 * Returns 1 if got equals want, else 0, in time that tells nothing of
 * either: both are hashed with SHA-256 first and the digests compared with
 * CRYPTO_memcmp(), so neither the content nor the length of want leaks
 * through timing. An empty or NULL want matches nothing, not even "": a
 * secret not (yet) set admits no one. A NULL got (no header) matches
 * nothing. Both are NUL-terminated.
 */
int secret_equal(const char *want, const char *got);

#endif
