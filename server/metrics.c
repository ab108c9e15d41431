#include "metrics.h"

#include <string.h>

const double metrics_bucket_s[METRICS_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	                                           0.05,   0.1,   0.25,   0.5,   1,    5 };

void metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
}

void metrics_release(struct metrics *m)
{
	pthread_mutex_destroy(&m->lock);
}

static void count_pair(struct metrics *m, int route, const char *flavour, unsigned status)
{
	for (unsigned i = 0; i < m->n_pairs; i++) {
		struct metrics_pair *p = &m->pairs[i];

		if (p->route == route && p->status == status && strcmp(p->flavour, flavour) == 0) {
			p->count++;
			return;
		}
	}
	if (m->n_pairs == METRICS_PAIRS) {
		m->overflow++;
		return;
	}
	m->pairs[m->n_pairs++] = (struct metrics_pair){
		.route = route, .flavour = flavour, .status = status, .count = 1
	};
}

static void count_latency(struct metrics *m, const char *flavour, double seconds)
{
	struct metrics_hist *h = NULL;

	/* Flavours are few and named by the route table: a name is found by
	 * its text, as two flavour structs may share one. */
	for (size_t i = 0; i < METRICS_FLAVOURS && !h; i++)
		if (!m->hist[i].flavour || strcmp(m->hist[i].flavour, flavour) == 0)
			h = &m->hist[i];
	if (!h)
		return;
	h->flavour = flavour;
	h->count++;
	h->sum_s += seconds;
	for (size_t b = 0; b < METRICS_BUCKETS; b++)
		if (seconds <= metrics_bucket_s[b]) {
			h->bucket[b]++;
			break;
		}
}

void metrics_count(struct metrics *m, int route, const char *flavour, unsigned status,
                   double seconds)
{
	pthread_mutex_lock(&m->lock);
	count_pair(m, route, flavour, status);
	if (seconds >= 0)
		count_latency(m, flavour, seconds);
	pthread_mutex_unlock(&m->lock);
}

void metrics_copy(struct metrics *m, struct metrics *out)
{
	pthread_mutex_lock(&m->lock);
	memcpy(out->pairs, m->pairs, sizeof(m->pairs));
	out->n_pairs = m->n_pairs;
	out->overflow = m->overflow;
	memcpy(out->hist, m->hist, sizeof(m->hist));
	pthread_mutex_unlock(&m->lock);
}
