/*
 * A reissuing slot: one current value (a service account's access token, an
 * AWS role's credential set, an upstream token), handed out to every caller
 * until it is due, then replaced by a new one that a mint callback makes.
 * The slot holds the policy (lifetime, reissue margin), the lock, the
 * value's generation and the counters; it knows nothing of what a value is
 * beyond its size, and nothing of how it goes on the wire.
 *
 * The boundary rule, the only one:
 *
 *   A value is handed out while its remaining life (expiry minus now) is at
 *   least the effective margin and above zero. It is reissued when its
 *   remaining life is below the effective margin, or when it has expired.
 *
 * The effective margin is the reissue margin, or lifetime/2 when the
 * lifetime is not above the margin (short lifetimes for expiry tests): such
 * a value is handed out for the first half of its life and replaced after
 * that, so the slot never mints on every request. A value handed out thus
 * always has at least the effective margin left. A clock moved backwards
 * only lengthens the remaining life: the value stays current.
 *
 * All arithmetic on times saturates at the int64_t range: an expiry past
 * the end of time is INT64_MAX, never a wrapped value.
 *
 * Generations: every value made current gets a number unique in the process
 * (across all slots) and never 0, so that a caller holding something built
 * from generation g can tell, without a copy, whether it is still right.
 *
 * Every operation takes the slot's lock, and holds it for at most one mint.
 */
#ifndef METATOKEN_SERVER_SLOT_H
#define METATOKEN_SERVER_SLOT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct slot_options {
	/* Bytes of one value. The slot keeps two: the current one and the one
	 * being minted (so a failed mint leaves the current one in place). */
	size_t value_size;
	/* Bytes of what a reader derives from the current value and keeps in
	 * the slot under its lock (slot_read), such as a formatted answer; 0
	 * for none. Zeroed (wiped) whenever the value changes or is dropped. */
	size_t derived_size;
	/*
	 * Makes a value, valid from now_ms to expires_ms, into value
	 * (value_size bytes, zeroed). Returns 0, or -1 on failure (then the
	 * slot wipes what it wrote). Called under the slot's lock.
	 */
	int (*mint)(void *mint_arg, int64_t now_ms, int64_t expires_ms, void *value);
	void *mint_arg; /* borrowed: outlives the slot */
	int64_t lifetime_s;
	int64_t margin_s;
};

struct slot {
	pthread_mutex_t lock;
	/* Set by slot_init; read-only after. */
	int (*mint)(void *mint_arg, int64_t now_ms, int64_t expires_ms, void *value);
	void *mint_arg;
	size_t value_size;
	size_t derived_size;
	void *storage; /* one allocation for the three areas below */
	/* Guarded by lock. */
	void *value;   /* the current value, when has_value */
	void *fresh;   /* where the next value is minted */
	void *derived; /* derived_size bytes, or NULL */
	int has_value;
	int64_t issued_ms;
	int64_t expires_ms;
	uint64_t gen; /* the current value's generation; 0 when none */
	int64_t lifetime_ms;
	int64_t margin_ms;
	uint64_t minted;        /* values minted (get, read and rotate) */
	uint64_t served;        /* values handed out (get and read) */
	uint64_t mint_failures; /* mints that failed */
	int last_mint_failed;   /* the last mint failed (none yet: 0) */
};

/* What a caller learns about the value it got or peeked at. */
struct slot_info {
	uint64_t gen;
	int64_t issued_ms;
	int64_t expires_ms;
	/* slot_get and slot_read: expires_ms - now_ms (saturated); slot_peek
	 * leaves it 0. */
	int64_t remaining_ms;
};

/* Counters and policy, read together under the lock. */
struct slot_snapshot {
	int64_t lifetime_s;
	int64_t margin_s;
	uint64_t minted;
	uint64_t served;
	uint64_t mint_failures;
	int last_mint_failed;
};

/*
 * Whether lifetime and margin make a policy: a positive lifetime and a
 * non-negative margin, both small enough to count in milliseconds.
 */
int slot_policy_valid(int64_t lifetime_s, int64_t margin_s);

/* The margin in force: margin_ms, or lifetime_ms / 2 when the lifetime is
 * not above the margin. */
int64_t slot_effective_margin_ms(int64_t lifetime_ms, int64_t margin_ms);

/*
 * Sets up an empty slot. Returns 0, or -1 if the options are incomplete
 * (no mint, value_size 0), the policy is not valid, or memory or the mutex
 * cannot be had; then s is safe to slot_release().
 */
int slot_init(struct slot *s, const struct slot_options *o);
/* Wipes and frees the values. No operation is performed if s is NULL. */
void slot_release(struct slot *s);

/*
 * Get-current-or-mint: makes sure the slot has a value to hand out at server
 * time now_ms (minting one if there is none or it is due, see the boundary
 * rule above), counts it served and fills *info (when non-NULL). Returns 1
 * if its generation is have_gen (then out is left alone: the caller's copy
 * is still right; pass 0 to always get a copy), 0 after copying the value
 * into out (value_size bytes), or -1 if minting failed (out and *info left
 * alone). The caller wipes out.
 */
int slot_get(struct slot *s, int64_t now_ms, uint64_t have_gen, void *out, struct slot_info *info);

/*
 * Like slot_get, but instead of copying the value out, calls
 * read(arg, value, derived, info) under the slot's lock, and returns what
 * it returns (or -1 if minting failed); the value counts as served when
 * that is not negative. `derived` is the slot's
 * derived_size bytes, which the reader may keep things in until the value
 * changes (then they are zeroed). The reader must be quick and must not
 * call into the slot: it holds up every other caller. The hot path of the
 * GCE token endpoint (gce_token.c).
 */
int slot_read(struct slot *s, int64_t now_ms,
              int (*read)(void *arg, const void *value, void *derived,
                          const struct slot_info *info),
              void *arg);

/*
 * Copies the current value into out (when non-NULL) and fills *info (when
 * non-NULL), minting nothing and counting nothing. Returns 1, or 0 if there
 * is no current value.
 */
int slot_peek(struct slot *s, void *out, struct slot_info *info);

/*
 * Drops the current value if match(arg, value) is non-zero (any value when
 * match is NULL): an atomic check-and-drop, so that a value that replaced
 * the one the caller looked at is left alone. match runs under the lock.
 * Returns 1 if a value was dropped, after copying it into old (when
 * non-NULL; the caller wipes it); else 0. The next get mints a new value.
 */
int slot_drop_if(struct slot *s, int (*match)(void *arg, const void *value), void *arg, void *old);
/* slot_drop_if with no condition. */
int slot_drop(struct slot *s, void *old);

/* Mints a new current value at now_ms, as if the old one were due. Returns
 * 0, or -1 if minting failed (the old value stays current). */
int slot_rotate(struct slot *s, int64_t now_ms);

/* Changes lifetime and margin for values minted or judged from now on; a
 * negative value leaves that one as it is. Returns 0, or -1 (changing
 * nothing) if the resulting policy is not valid. */
int slot_set_policy(struct slot *s, int64_t lifetime_s, int64_t margin_s);

/* Back to the start-up state: no value, counters zero, the given policy.
 * Generations do not restart. Returns 0, or -1 (changing nothing) if the
 * policy is not valid. */
int slot_reset(struct slot *s, int64_t lifetime_s, int64_t margin_s);

/* Reads policy and counters consistently. */
void slot_snapshot(struct slot *s, struct slot_snapshot *out);

#endif
