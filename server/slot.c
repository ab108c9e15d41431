/*
 * The reissuing slot. See slot.h for the contract and the boundary rule.
 */
#include "slot.h"

#include <openssl/crypto.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Generations of values, across all slots: never 0. */
static _Atomic uint64_t slot_gens;

/* a + b and a - b, saturated to the int64_t range instead of overflowing. */
static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

int slot_policy_valid(int64_t lifetime_s, int64_t margin_s)
{
	/* Times are kept in ms; refuse values that do not fit rather than wrap. */
	return lifetime_s > 0 && lifetime_s <= INT64_MAX / 1000 && margin_s >= 0 &&
	       margin_s <= INT64_MAX / 1000;
}

int64_t slot_effective_margin_ms(int64_t lifetime_ms, int64_t margin_ms)
{
	/* A lifetime no longer than the margin would be due at birth: hand such
	 * a value out for the first half of its life instead. */
	return lifetime_ms <= margin_ms ? lifetime_ms / 2 : margin_ms;
}

/* n rounded up so that what follows it is aligned for any type. */
static size_t aligned(size_t n)
{
	const size_t a = alignof(max_align_t);

	return (n + a - 1) / a * a;
}

int slot_init(struct slot *s, const struct slot_options *o)
{
	size_t vsize;

	if (!s)
		return -1;
	memset(s, 0, sizeof(*s));
	if (!o || !o->mint || o->value_size == 0 || !slot_policy_valid(o->lifetime_s, o->margin_s))
		return -1;
	vsize = aligned(o->value_size);
	if (vsize > (SIZE_MAX - o->derived_size) / 2)
		return -1;
	s->storage = calloc(1, 2 * vsize + o->derived_size);
	if (!s->storage)
		return -1;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s->storage);
		s->storage = NULL;
		return -1;
	}
	s->mint = o->mint;
	s->mint_arg = o->mint_arg;
	s->value_size = o->value_size;
	s->derived_size = o->derived_size;
	s->value = s->storage;
	s->fresh = (unsigned char *)s->storage + vsize;
	s->derived = o->derived_size ? (unsigned char *)s->storage + 2 * vsize : NULL;
	s->lifetime_ms = o->lifetime_s * 1000;
	s->margin_ms = o->margin_s * 1000;
	return 0;
}

void slot_release(struct slot *s)
{
	if (!s || !s->storage)
		return;
	OPENSSL_cleanse(s->storage, 2 * aligned(s->value_size) + s->derived_size);
	free(s->storage);
	s->storage = s->value = s->fresh = s->derived = NULL;
	s->has_value = 0;
	pthread_mutex_destroy(&s->lock);
}

/* Forgets the current value and what was derived from it. Caller holds the
 * lock. */
static void forget(struct slot *s)
{
	OPENSSL_cleanse(s->value, s->value_size);
	if (s->derived)
		OPENSSL_cleanse(s->derived, s->derived_size);
	s->has_value = 0;
	s->issued_ms = 0;
	s->expires_ms = 0;
	s->gen = 0;
}

/* Mints a value at now_ms and makes it current under a new generation.
 * Caller holds the lock. Returns 0, or -1 (the current value untouched). */
static int mint_current(struct slot *s, int64_t now_ms)
{
	int64_t expires_ms = sat_add(now_ms, s->lifetime_ms);
	void *old;

	if (s->mint(s->mint_arg, now_ms, expires_ms, s->fresh) != 0) {
		OPENSSL_cleanse(s->fresh, s->value_size);
		s->mint_failures++;
		s->last_mint_failed = 1;
		return -1;
	}
	s->last_mint_failed = 0;
	forget(s);
	old = s->value;
	s->value = s->fresh;
	s->fresh = old; /* wiped by forget */
	s->has_value = 1;
	s->issued_ms = now_ms;
	s->expires_ms = expires_ms;
	s->gen = atomic_fetch_add(&slot_gens, 1) + 1;
	s->minted++;
	return 0;
}

/*
 * Makes sure the slot has a value to hand out at now_ms, by the boundary
 * rule of slot.h, and fills *info. Caller holds the lock. Returns 0, or -1
 * when minting failed.
 */
static int ensure_current(struct slot *s, int64_t now_ms, struct slot_info *info)
{
	int64_t margin_ms = slot_effective_margin_ms(s->lifetime_ms, s->margin_ms);
	int64_t remaining_ms = sat_sub(s->expires_ms, now_ms);

	if (!s->has_value || remaining_ms < margin_ms || remaining_ms <= 0) {
		if (mint_current(s, now_ms) != 0)
			return -1;
		remaining_ms = sat_sub(s->expires_ms, now_ms);
	}
	info->gen = s->gen;
	info->issued_ms = s->issued_ms;
	info->expires_ms = s->expires_ms;
	info->remaining_ms = remaining_ms;
	return 0;
}

int slot_get(struct slot *s, int64_t now_ms, uint64_t have_gen, void *out, struct slot_info *info)
{
	struct slot_info got;
	int ret = -1;

	pthread_mutex_lock(&s->lock);
	if (ensure_current(s, now_ms, &got) != 0)
		goto out_unlock;
	s->served++;
	if (got.gen == have_gen) {
		ret = 1;
	} else {
		memcpy(out, s->value, s->value_size);
		ret = 0;
	}
	if (info)
		*info = got;
out_unlock:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int slot_read(struct slot *s, int64_t now_ms,
              int (*read)(void *arg, const void *value, void *derived,
                          const struct slot_info *info),
              void *arg)
{
	struct slot_info got;
	int ret = -1;

	pthread_mutex_lock(&s->lock);
	if (ensure_current(s, now_ms, &got) == 0) {
		ret = read(arg, s->value, s->derived, &got);
		if (ret >= 0)
			s->served++;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int slot_peek(struct slot *s, void *out, struct slot_info *info)
{
	int had;

	pthread_mutex_lock(&s->lock);
	had = s->has_value;
	if (had && out)
		memcpy(out, s->value, s->value_size);
	if (had && info) {
		info->gen = s->gen;
		info->issued_ms = s->issued_ms;
		info->expires_ms = s->expires_ms;
		info->remaining_ms = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return had;
}

int slot_drop_if(struct slot *s, int (*match)(void *arg, const void *value), void *arg, void *old)
{
	int dropped;

	pthread_mutex_lock(&s->lock);
	dropped = s->has_value && (!match || match(arg, s->value));
	if (dropped) {
		if (old)
			memcpy(old, s->value, s->value_size);
		forget(s);
	}
	pthread_mutex_unlock(&s->lock);
	return dropped;
}

int slot_drop(struct slot *s, void *old)
{
	return slot_drop_if(s, NULL, NULL, old);
}

int slot_rotate(struct slot *s, int64_t now_ms)
{
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = mint_current(s, now_ms);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int slot_set_policy(struct slot *s, int64_t lifetime_s, int64_t margin_s)
{
	int ret = -1;

	pthread_mutex_lock(&s->lock);
	if (lifetime_s < 0)
		lifetime_s = s->lifetime_ms / 1000;
	if (margin_s < 0)
		margin_s = s->margin_ms / 1000;
	if (slot_policy_valid(lifetime_s, margin_s)) {
		s->lifetime_ms = lifetime_s * 1000;
		s->margin_ms = margin_s * 1000;
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int slot_reset(struct slot *s, int64_t lifetime_s, int64_t margin_s)
{
	if (!slot_policy_valid(lifetime_s, margin_s))
		return -1;
	pthread_mutex_lock(&s->lock);
	forget(s);
	s->minted = 0;
	s->served = 0;
	s->mint_failures = 0;
	s->last_mint_failed = 0;
	s->lifetime_ms = lifetime_s * 1000;
	s->margin_ms = margin_s * 1000;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void slot_snapshot(struct slot *s, struct slot_snapshot *out)
{
	pthread_mutex_lock(&s->lock);
	out->lifetime_s = s->lifetime_ms / 1000;
	out->margin_s = s->margin_ms / 1000;
	out->minted = s->minted;
	out->served = s->served;
	out->mint_failures = s->mint_failures;
	out->last_mint_failed = s->last_mint_failed;
	pthread_mutex_unlock(&s->lock);
}
