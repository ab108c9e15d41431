/*
 * The cache's lock-free copy of its token (private/snapshot.h).
 *
 * While the token is fresh, a get takes no lock and writes no shared
 * memory: every change of the cache's token (under its lock) republishes a
 * copy here, a seqlock. Readers copy the token out with (acquire) atomic
 * loads and keep the copy only if the sequence number did not move
 * meanwhile; otherwise, and whenever the token is not fresh, they take the
 * cache's lock.
 */
#include "private/snapshot.h"

#include <string.h>
#include <time.h>

/* With the real clock, the fast path serves a token only while it stays
 * fresh this much longer by the coarse clock: a margin for late ticks. */
#define COARSE_GUARD_MS 50

/* The fast path's clocks when no test seam replaces them: the kernel's
 * coarse clocks, the time of the last tick, read in a few ns where the
 * precise ones take tens. */
#ifdef CLOCK_MONOTONIC_COARSE
#define FAST_MONOTONIC CLOCK_MONOTONIC_COARSE
#define FAST_REALTIME  CLOCK_REALTIME_COARSE
#else
#define FAST_MONOTONIC CLOCK_MONOTONIC
#define FAST_REALTIME  CLOCK_REALTIME
#endif

static int64_t read_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * How far behind the precise monotonic clock (in ms, as the cache reads it)
 * the fast path's coarse one may be: its resolution, a tick, rounded up to
 * whole ms (both round down to ms, which loses nothing more). Always > 0.
 */
static int64_t coarse_slack_ms(void)
{
	struct timespec res;

	if (clock_getres(FAST_MONOTONIC, &res) != 0 || res.tv_sec > 0)
		return 1000; /* not expected: a second, to be safe */
	return (res.tv_nsec + 999999) / 1000000;
}

void mtk__snap_init(struct mtk__snap *sn, const struct mtk_clock *clock, bool real_mono,
                    bool real_wall)
{
	memset(sn, 0, sizeof(*sn));
	sn->clock = *clock;
	sn->real_wall = real_wall;
	sn->coarse_slack_ms = real_mono ? coarse_slack_ms() : 0;
	atomic_init(&sn->fast_until_ms, INT64_MIN);
}

static int64_t mono(const struct mtk__snap *sn)
{
	return sn->clock.monotonic_ms(sn->clock.arg);
}

/*
 * The monotonic time on the fast path. With the real clock, the coarse
 * clock plus its slack: not earlier than the precise clock's time (a tick
 * later at most) while ticks come on time. A late tick (seen: 5 ms with a
 * 4 ms tick on a busy VM) is what COARSE_GUARD_MS and the clamp in
 * mtk__snap_begin() are for.
 */
static int64_t fast_mono(const struct mtk__snap *sn)
{
	if (sn->coarse_slack_ms)
		return read_ms(FAST_MONOTONIC) + sn->coarse_slack_ms;
	return mono(sn);
}

/* The wall clock on the fast path: the coarse one with the same slack, so
 * that it minus fast_mono() is the precise clocks' difference. */
int64_t mtk__snap_wall(const struct mtk__snap *sn)
{
	if (sn->coarse_slack_ms && sn->real_wall)
		return read_ms(FAST_REALTIME) + sn->coarse_slack_ms;
	return sn->clock.wall_ms(sn->clock.arg);
}

void mtk__snap_publish(struct mtk__snap *sn, const char *tok, size_t len, int64_t fast_until_ms,
                       int64_t expires_ms)
{
	uint64_t seq = atomic_load_explicit(&sn->seq, memory_order_relaxed);
	size_t old_len = atomic_load_explicit(&sn->len, memory_order_relaxed);
	size_t used = len ? len / 8 + 1 : 0, old_used = old_len ? old_len / 8 + 1 : 0;

	if (sn->coarse_slack_ms)
		fast_until_ms -= COARSE_GUARD_MS; /* the locked path serves the rest */
	/* Release stores after the odd seq: a reader that loads any of them
	 * (with acquire) then sees seq moved. */
	atomic_store_explicit(&sn->seq, seq + 1, memory_order_relaxed);
	atomic_store_explicit(&sn->fast_until_ms, len ? fast_until_ms : INT64_MIN,
	                      memory_order_release);
	atomic_store_explicit(&sn->expires_ms, expires_ms, memory_order_release);
	atomic_store_explicit(&sn->published_ms, mono(sn), memory_order_release);
	atomic_store_explicit(&sn->len, len, memory_order_release);
	for (size_t i = 0; i < used; i++) {
		uint64_t w = 0;
		size_t n = len - i * 8 < 8 ? len - i * 8 : 8;

		memcpy(&w, tok + i * 8, n);
		atomic_store_explicit(&sn->words[i], w, memory_order_release);
	}
	for (size_t i = used; i < old_used; i++)
		atomic_store_explicit(&sn->words[i], 0, memory_order_release);
	atomic_store_explicit(&sn->seq, seq + 2, memory_order_release);
}

bool mtk__snap_begin(struct mtk__snap *sn, struct mtk__snap_read *r)
{
	int64_t until;

	r->seq = atomic_load_explicit(&sn->seq, memory_order_acquire);
	if (r->seq & 1)
		return false;
	until = atomic_load_explicit(&sn->fast_until_ms, memory_order_acquire);
	r->expires_ms = atomic_load_explicit(&sn->expires_ms, memory_order_acquire);
	r->len = atomic_load_explicit(&sn->len, memory_order_acquire);
	/* Torn values are possible until mtk__snap_check(): len must not be
	 * trusted further than the bounds of the buffers. */
	if (r->len == 0 || r->len > MTK_MAX_ACCESS_TOKEN)
		return false;
	r->now_ms = fast_mono(sn);
	if (sn->coarse_slack_ms) {
		/* A tick can come late (a busy VM): the coarse clock may then
		 * lag more than its slack. Not before the snapshot was written,
		 * at least, so a remaining life is never above the lifetime. */
		int64_t from = atomic_load_explicit(&sn->published_ms, memory_order_acquire);

		if (r->now_ms < from)
			r->now_ms = from;
	}
	return r->now_ms < until;
}

void mtk__snap_copy(const struct mtk__snap *sn, const struct mtk__snap_read *r, char *dst)
{
	size_t i, len = r->len;

	/* Four words a turn, each stored on its own: a wide copy of words
	 * just stored would stall on store forwarding. */
	for (i = 0; i + 32 <= len; i += 32) {
		uint64_t w0 = atomic_load_explicit(&sn->words[i / 8], memory_order_acquire);
		uint64_t w1 = atomic_load_explicit(&sn->words[i / 8 + 1], memory_order_acquire);
		uint64_t w2 = atomic_load_explicit(&sn->words[i / 8 + 2], memory_order_acquire);
		uint64_t w3 = atomic_load_explicit(&sn->words[i / 8 + 3], memory_order_acquire);

		memcpy(dst + i, &w0, 8);
		memcpy(dst + i + 8, &w1, 8);
		memcpy(dst + i + 16, &w2, 8);
		memcpy(dst + i + 24, &w3, 8);
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w = atomic_load_explicit(&sn->words[i / 8], memory_order_acquire);

		memcpy(dst + i, &w, 8);
	}
	if (i < len) {
		uint64_t w = atomic_load_explicit(&sn->words[i / 8], memory_order_acquire);

		memcpy(dst + i, &w, len - i);
	}
	dst[len] = '\0';
}

/*
 * Every load of the read was an acquire, so this load of seq cannot move
 * before any of them, and a value that a writer stored (with release, after
 * its odd seq) makes it see that seq or a later one. This takes the place
 * of fences, which ThreadSanitizer does not model; on x86 it costs nothing
 * more.
 */
bool mtk__snap_check(const struct mtk__snap *sn, const struct mtk__snap_read *r)
{
	return atomic_load_explicit(&sn->seq, memory_order_relaxed) == r->seq;
}
