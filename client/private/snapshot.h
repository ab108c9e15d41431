/*
 * The cache's lock-free copy of its token (client/snapshot.c): a seqlock
 * that the fast path of a get reads without taking a lock or writing
 * shared memory, on the kernel's coarse clocks when the clocks are the
 * real ones. The cache writes it, under its lock, whenever its token
 * changes. Never installed.
 */
#ifndef METATOKEN_CLIENT_SNAPSHOT_H
#define METATOKEN_CLIENT_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metatoken/metatoken.h"
#include "metatoken/testing.h"

#define MTK__SNAP_WORDS ((MTK_MAX_ACCESS_TOKEN + 8) / 8)

/*
 * seq is odd while the snapshot is written. fast_until is the monotonic
 * time until which the token may be served without the lock, or INT64_MIN
 * when there is none.
 */
struct mtk__snap {
	/* Immutable after mtk__snap_init(). */
	struct mtk_clock clock;
	bool real_wall;
	/* How far a coarse clock may lag the precise one (a tick, and the
	 * rounding to ms); 0 when the fast path reads the seam's clock. */
	int64_t coarse_slack_ms;

	_Atomic uint64_t seq;
	_Atomic int64_t fast_until_ms;
	_Atomic int64_t expires_ms;
	_Atomic int64_t published_ms; /* monotonic, precise: when written */
	_Atomic size_t len;
	_Atomic uint64_t words[MTK__SNAP_WORDS]; /* the token's bytes, then zeros */
};

/* A lock-free read under way (see mtk__snap_begin). */
struct mtk__snap_read {
	uint64_t seq;
	size_t len;
	int64_t expires_ms;
	int64_t now_ms; /* the fast path's monotonic time of the read */
};

/* clock is complete; real_mono and real_wall say its clocks are the
 * real ones, which the fast path may then read through coarse clocks. */
void mtk__snap_init(struct mtk__snap *sn, const struct mtk_clock *clock, bool real_mono,
                    bool real_wall);

/*
 * Publishes len bytes of tok (len 0: nothing to serve without the lock),
 * to be served while the monotonic clock is before fast_until_ms. Bytes
 * of a previous, longer token are zeroed. One writer at a time.
 */
void mtk__snap_publish(struct mtk__snap *sn, const char *tok, size_t len, int64_t fast_until_ms,
                       int64_t expires_ms);

/*
 * Starts a read: true when the published token is fresh at the fast path's
 * monotonic time, with its length, expiry and that time in *r. The caller
 * then copies it with mtk__snap_copy() and may use the copy only if
 * mtk__snap_check() confirms that no writer came meanwhile; on false, or a
 * failed check, it takes the slow path.
 */
bool mtk__snap_begin(struct mtk__snap *sn, struct mtk__snap_read *r);
/* Copies the r->len published bytes and a NUL into dst. */
void mtk__snap_copy(const struct mtk__snap *sn, const struct mtk__snap_read *r, char *dst);
/* True when the snapshot did not change since mtk__snap_begin(r). */
bool mtk__snap_check(const struct mtk__snap *sn, const struct mtk__snap_read *r);
/* The wall clock the fast path pairs with r->now_ms. */
int64_t mtk__snap_wall(const struct mtk__snap *sn);

#endif
