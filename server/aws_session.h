/*
 * IMDSv2 session tokens (PROTOCOL.md §2): minting, verifying, and the key
 * that signs them. Private to the AWS flavour (aws.c), whose handlers speak
 * the protocol (aws_session_put, aws_imds_admit); nothing here knows HTTP.
 *
 * Tokens are self-verifying, so the server keeps no table of them: 57 bytes
 * in base64url (76 chars), a version byte, the expiry (ms on the server
 * clock, big-endian), 16 random bytes, and an HMAC-SHA256 of those 25 bytes
 * under a key drawn from the CSPRNG at start (and again on a control-API
 * reset, which ends every session).
 */
#ifndef METATOKEN_SERVER_AWS_SESSION_H
#define METATOKEN_SERVER_AWS_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define AWS_SESSION_KEY_LEN  32
#define AWS_SESSION_TEXT_LEN 76 /* a token's length, without a NUL */

/* The key that signs one server's sessions. */
struct aws_sessions {
	pthread_mutex_t lock;
	unsigned char key[AWS_SESSION_KEY_LEN]; /* guarded by lock */
	/* Numbers key (process-wide, never 0): changed with it, under lock. */
	_Atomic uint64_t epoch;
};

/* Draws the first key. Returns 0, or -1 with a one-line reason in err
 * (nothing to release then). */
int aws_sessions_init(struct aws_sessions *s, char *err, size_t errlen);
/* Wipes the key. */
void aws_sessions_release(struct aws_sessions *s);
/* Draws a new key under a new epoch: every session ends, and every thread's
 * memo is forgotten. Returns -1 (the old key stays) if the CSPRNG fails. */
int aws_sessions_rekey(struct aws_sessions *s);

/* Mints a session expiring at expires_ms into out (NUL-terminated).
 * Returns 0, or -1 if the CSPRNG or the MAC fails. */
int aws_session_mint(struct aws_sessions *s, int64_t expires_ms,
                     char out[AWS_SESSION_TEXT_LEN + 1]);
/* Whether token is a session signed by s and still alive at now_ms. */
int aws_session_valid(struct aws_sessions *s, const char *token, int64_t now_ms);

#endif
