/*
 * What a token refresh costs through each of libmetatoken's sources, each
 * against the metadata fetch measured in the same run, interleaved:
 * - metadata: GET .../token from metatokend (the baseline);
 * - iam-http: an authorized key exchanged at metatokend's /iam/v1/tokens
 *   (the client signs a PS256 JWT, the server verifies it);
 * - iam-https: the same over metatokend's TLS listener.
 * Each refresh is an invalidation then a get, so every get is a fetch, on
 * one client per source (its keep-alive connection reused, as a long-lived
 * client's is).
 *
 *	iam_bench METADATA_HOST:PORT IAM_HTTP_URL IAM_HTTPS_URL CA_FILE KEY_FILE N ROUNDS
 *
 * Prints one JSON object per line: {"source", "round", "p50_us", "p99_us"};
 * bench/iam makes the table.
 */
#include "bench_time.h"
#include <metatoken/metatoken.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct source {
	const char *name;
	struct mtk_client *c;
};

/* n refreshes on s; prints its p50 and p99. Returns 0, or -1 on a failure. */
static int measure(struct source *s, int n, int round, int64_t *samples)
{
	for (int i = 0; i < n; i++) {
		struct mtk_token *t;
		enum mtk_status st;
		int64_t t0;

		/* The invalidation is refused within min_refresh_interval_ms
		 * (1 ms here) of the last: wait that out, untimed. */
		while (!mtk_client_invalidate(s->c, NULL))
			;
		t0 = now_ns();
		st = mtk_client_get_token(s->c, &t);
		samples[i] = now_ns() - t0;
		if (st != MTK_OK) {
			char why[512];

			mtk_client_last_error(s->c, why, sizeof(why));
			fprintf(stderr, "iam_bench: %s: %s: %s\n", s->name, mtk_strerror(st), why);
			return -1;
		}
		mtk_token_free(t);
	}
	qsort(samples, (size_t)n, sizeof(*samples), cmp_i64);
	printf("{\"source\":\"%s\",\"round\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f}\n", s->name, round,
	       samples[n / 2] / 1e3, samples[n * 99 / 100] / 1e3);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct mtk_client_options o[3];
	struct source src[3] = { { "metadata", NULL },
		                 { "iam-http", NULL },
		                 { "iam-https", NULL } };
	int64_t *samples;
	int n, rounds, rc = 1;

	if (argc != 8 || (n = atoi(argv[6])) < 10 || (rounds = atoi(argv[7])) < 1) {
		fprintf(stderr, "usage: iam_bench METADATA_HOST:PORT IAM_HTTP_URL IAM_HTTPS_URL "
		                "CA_FILE KEY_FILE N ROUNDS\n");
		return 2;
	}
	for (int i = 0; i < 3; i++) {
		mtk_client_options_init(&o[i]);
		o[i].min_refresh_interval_ms = 1;
	}
	o[0].endpoint = argv[1];
	o[1].key_file = o[2].key_file = argv[5];
	o[1].iam_endpoint = argv[2];
	o[2].iam_endpoint = argv[3];
	o[2].ca_file = argv[4];
	samples = calloc((size_t)n, sizeof(*samples));
	for (int i = 0; i < 3; i++)
		if (mtk_client_new(&o[i], &src[i].c) != MTK_OK) {
			fprintf(stderr, "iam_bench: %s: cannot make a client\n", src[i].name);
			goto out;
		}
	/* A first fetch each (connections, TLS session), not counted. */
	for (int i = 0; i < 3; i++)
		if (measure(&src[i], 10, -1, samples) != 0)
			goto out;
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < 3; i++)
			if (measure(&src[i], n, r, samples) != 0)
				goto out;
	rc = 0;
out:
	for (int i = 0; i < 3; i++)
		mtk_client_free(src[i].c);
	free(samples);
	return rc;
}
