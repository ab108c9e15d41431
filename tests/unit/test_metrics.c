/*
 * The counters /metrics and /readyz read: metrics.c's request table and
 * latency histogram (bounded: no input grows them), and the slot's mint
 * failures.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "slot.h"

static struct metrics m;

static void init(void)
{
	metrics_init(&m);
}

static void fini(void)
{
	metrics_release(&m);
}

TestSuite(metrics, .init = init, .fini = fini);

Test(metrics, the_same_labels_share_a_pair)
{
	/* Two flavour names with the same text (two flavour structs). */
	char gce2[] = "gce";

	metrics_count(&m, 3, "gce", 200, 0.001);
	metrics_count(&m, 3, gce2, 200, 0.001);
	metrics_count(&m, 3, "gce", 404, 0.001);
	metrics_count(&m, METRICS_UNMATCHED, "gce", 404, 0.001);
	cr_assert_eq(m.n_pairs, 3);
	cr_assert_eq(m.pairs[0].count, 2);
	cr_assert_eq(m.pairs[0].route, 3);
	cr_assert_eq(m.pairs[2].route, METRICS_UNMATCHED);
	cr_assert_eq(m.overflow, 0);
}

Test(metrics, the_table_is_bounded)
{
	for (unsigned i = 0; i < METRICS_PAIRS + 40; i++)
		metrics_count(&m, (int)i, "gce", 200, -1);
	cr_assert_eq(m.n_pairs, METRICS_PAIRS);
	cr_assert_eq(m.overflow, 40, "the pairs past the table counted unlabelled");
	/* A pair already in the table still counts as itself. */
	metrics_count(&m, 0, "gce", 200, -1);
	cr_assert_eq(m.pairs[0].count, 2);
	cr_assert_eq(m.overflow, 40);
}

Test(metrics, latency_falls_in_the_first_bucket_that_holds_it)
{
	struct metrics copy;

	metrics_count(&m, 0, "ops", 200, metrics_bucket_s[0]); /* le is inclusive */
	metrics_count(&m, 0, "ops", 200, metrics_bucket_s[2] * 0.9);
	metrics_count(&m, 0, "ops", 200, metrics_bucket_s[METRICS_BUCKETS - 1] * 2); /* +Inf */
	metrics_count(&m, 0, "ops", 200, -1);                                        /* untimed */
	metrics_copy(&m, &copy);
	cr_assert_str_eq(copy.hist[0].flavour, "ops");
	cr_assert_eq(copy.hist[0].count, 3);
	cr_assert_eq(copy.hist[0].bucket[0], 1);
	cr_assert_eq(copy.hist[0].bucket[1], 0);
	cr_assert_eq(copy.hist[0].bucket[2], 1);
	for (size_t b = 3; b < METRICS_BUCKETS; b++)
		cr_assert_eq(copy.hist[0].bucket[b], 0, "bucket %zu", b);
	cr_assert_eq(copy.pairs[0].count, 4, "an untimed request is still counted");
}

Test(metrics, flavours_past_the_histograms_are_not_timed)
{
	static char names[METRICS_FLAVOURS + 2][8];

	for (int i = 0; i < METRICS_FLAVOURS + 2; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		metrics_count(&m, 0, names[i], 200, 0.001);
	}
	cr_assert_str_eq(m.hist[METRICS_FLAVOURS - 1].flavour, names[METRICS_FLAVOURS - 1]);
	cr_assert_eq(m.n_pairs, METRICS_FLAVOURS + 2, "but counted");
}

/* ---- the slot's mint failures ---- */

static int fail_next;

static int mint(void *arg, int64_t now_ms, int64_t expires_ms, void *value)
{
	(void)arg;
	(void)now_ms;
	(void)expires_ms;
	memset(value, 'v', 8);
	return fail_next ? -1 : 0;
}

Test(slot_counts, a_failed_mint_is_counted_and_the_next_good_one_clears_it)
{
	struct slot s;
	struct slot_options o = { .value_size = 8, .mint = mint, .lifetime_s = 3600 };
	struct slot_snapshot snap;
	char v[8];

	cr_assert_eq(slot_init(&s, &o), 0);
	slot_snapshot(&s, &snap);
	cr_assert_eq(snap.last_mint_failed, 0, "a slot that never minted is not failing");
	fail_next = 1;
	cr_assert_eq(slot_get(&s, 1000, 0, v, NULL), -1);
	cr_assert_eq(slot_rotate(&s, 1000), -1);
	slot_snapshot(&s, &snap);
	cr_assert_eq(snap.mint_failures, 2);
	cr_assert_eq(snap.last_mint_failed, 1);
	cr_assert_eq(snap.minted, 0);
	fail_next = 0;
	cr_assert_eq(slot_get(&s, 1000, 0, v, NULL), 0);
	slot_snapshot(&s, &snap);
	cr_assert_eq(snap.last_mint_failed, 0);
	cr_assert_eq(snap.mint_failures, 2, "failures only grow");
	cr_assert_eq(slot_reset(&s, 3600, 300), 0);
	slot_snapshot(&s, &snap);
	cr_assert_eq(snap.mint_failures, 0, "reset zeroes it with the other counters");
	slot_release(&s);
}
