/*
 * Tokens taken out of service before their expiry: revoked, or expired
 * early by the control API. A token is self-verifying, so this list is the
 * only state validation consults. Entries go once the token's own expiry
 * has passed (it fails verification then anyway), so the list stays small.
 */
#ifndef METATOKEN_SERVER_REVOKE_H
#define METATOKEN_SERVER_REVOKE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define REVOKE_MAX 100000 /* entries at once; more is refused */

enum revoke_reason { REVOKE_NONE = 0, REVOKE_REVOKED, REVOKE_EXPIRED };

struct revoke_entry {
	uint8_t nonce[16];
	int64_t expires_ms; /* the token's own expiry */
	enum revoke_reason reason;
};

struct revocations {
	pthread_mutex_t lock;
	struct revoke_entry *e;
	size_t n, cap;
};

void revocations_init(struct revocations *r);
void revocations_release(struct revocations *r);
void revocations_clear(struct revocations *r);

/*
 * Records a token by its nonce, dropping entries whose token expired by
 * now_ms. Recording the same nonce again updates its reason. Returns 0, or
 * -1 when full or out of memory.
 */
int revocations_add(struct revocations *r, const uint8_t nonce[16], int64_t expires_ms,
                    enum revoke_reason reason, int64_t now_ms);

/* Why the token with this nonce is out of service, or REVOKE_NONE. */
enum revoke_reason revocations_check(struct revocations *r, const uint8_t nonce[16]);

#endif
