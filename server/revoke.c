#include "revoke.h"

#include <stdlib.h>
#include <string.h>

#include "grow.h"

void revocations_init(struct revocations *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
}

void revocations_release(struct revocations *r)
{
	free(r->e);
	pthread_mutex_destroy(&r->lock);
	r->e = NULL;
	r->n = r->cap = 0;
}

void revocations_clear(struct revocations *r)
{
	pthread_mutex_lock(&r->lock);
	r->n = 0;
	pthread_mutex_unlock(&r->lock);
}

/* Drops entries of tokens that have expired on their own. Caller locks. */
static void prune(struct revocations *r, int64_t now_ms)
{
	size_t kept = 0;

	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].expires_ms > now_ms)
			r->e[kept++] = r->e[i];
	r->n = kept;
}

int revocations_add(struct revocations *r, const uint8_t nonce[16], int64_t expires_ms,
                    enum revoke_reason reason, int64_t now_ms)
{
	int ret = -1;

	pthread_mutex_lock(&r->lock);
	prune(r, now_ms);
	for (size_t i = 0; i < r->n; i++) {
		if (memcmp(r->e[i].nonce, nonce, 16) == 0) {
			r->e[i].reason = reason;
			ret = 0;
			goto out_unlock;
		}
	}
	/* Refused when full (REVOKE_MAX) or out of memory. */
	if (grow_reserve(&r->e, &r->cap, r->n + 1, REVOKE_MAX, sizeof(*r->e)) != 0)
		goto out_unlock;
	memcpy(r->e[r->n].nonce, nonce, 16);
	r->e[r->n].expires_ms = expires_ms;
	r->e[r->n].reason = reason;
	r->n++;
	ret = 0;
out_unlock:
	pthread_mutex_unlock(&r->lock);
	return ret;
}

enum revoke_reason revocations_check(struct revocations *r, const uint8_t nonce[16])
{
	enum revoke_reason why = REVOKE_NONE;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++) {
		if (memcmp(r->e[i].nonce, nonce, 16) == 0) {
			why = r->e[i].reason;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return why;
}
