/*
 * libmetatoken's figures, each against a baseline measured in the same
 * process:
 * - cached get (mtk_client_get_token + mtk_token_free, and
 *   mtk_client_authorization_header, and mtk_client_copy_token into a
 *   caller's buffer) in ns/op with 1, 2, 8 and 32 threads,
 *   against the floor: an uncontended pthread mutex lock/unlock plus a copy
 *   of a token-sized buffer;
 * - HTTP requests made when N threads ask at expiry (a stampede);
 * - with an address: the cold fetch (a get that must go to the server)
 *   against metatokend over loopback, p50/p99, against the same GET made
 *   with one reused libcurl easy handle, interleaved.
 *
 *	client_bench [--quick] [--cold-only] [HOST:PORT]
 *
 * Prints one JSON object per line, one per figure; bench/run makes the
 * table. Cached gets and the stampede use the library's test seams (a fake
 * transport that counts its calls; a fake clock for the stampede); the
 * cached get runs on the real clock, as a user's would.
 */
#include "bench_time.h"
#include <curl/curl.h>
#include <metatoken/metatoken.h>
#include <metatoken/testing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_LEN   300 /* a token-sized buffer: metatokend's are about 200 bytes */
#define MAX_THREADS 64

static char token_body[512];
static size_t token_body_len;
static int quick;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The fake transport: answers every GET with token_body, counting calls;
 * delay_ns of real time first, so that a stampede's threads pile up. */
struct fake_transport {
	atomic_long calls;
	int64_t delay_ns;
};

static enum mtk_status fake_perform(void *arg, const struct mtk_http_request *req,
                                    struct mtk_http_response *resp)
{
	struct fake_transport *t = arg;

	(void)req;
	atomic_fetch_add(&t->calls, 1);
	if (t->delay_ns > 0) {
		struct timespec ts = { 0, (long)t->delay_ns };

		nanosleep(&ts, NULL);
	}
	memcpy(resp->body, token_body, token_body_len);
	resp->body_len = token_body_len;
	resp->status = 200;
	return MTK_OK;
}

/* The fake clock: moves only when told. */
static _Atomic int64_t fake_now_ms = 1000000;

static int64_t fake_mono(void *arg)
{
	(void)arg;
	return atomic_load(&fake_now_ms);
}

static void fake_sleep(void *arg, int64_t ms)
{
	(void)arg;
	atomic_fetch_add(&fake_now_ms, ms);
}

static uint64_t fixed_random(void *arg)
{
	(void)arg;
	return 12345;
}

static void print_json(const char *figure, int threads, const char *unit, double value,
                       const char *baseline, double baseline_value)
{
	printf("{\"bench\":\"client\",\"figure\":\"%s\",\"threads\":%d,\"unit\":\"%s\","
	       "\"value\":%.2f",
	       figure, threads, unit, value);
	if (baseline)
		printf(",\"baseline\":\"%s\",\"baseline_value\":%.2f,\"ratio\":%.3f", baseline,
		       baseline_value, baseline_value > 0 ? value / baseline_value : 0);
	printf("}\n");
	fflush(stdout);
}

/* --- cached get ------------------------------------------------------- */

enum op { OP_FLOOR, OP_GET_TOKEN, OP_AUTH_HEADER, OP_COPY_TOKEN };

struct worker {
	pthread_t thread;
	enum op op;
	struct mtk_client *client;
	pthread_barrier_t *start;
	atomic_int *stop;
	long ops;
	int failed;
};

static char floor_src[TOKEN_LEN + 1];

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char header[MTK_AUTHORIZATION_HEADER_MAX]; /* also copy_token's buffer */
	char dst[TOKEN_LEN + 1];
	/* The floor's mutex is the worker's own: uncontended by definition. */
	pthread_mutex_t own_lock = PTHREAD_MUTEX_INITIALIZER;
	long ops = 0;

	pthread_barrier_wait(w->start);
	while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
		for (int i = 0; i < 256; i++) {
			struct mtk_token *t;

			switch (w->op) {
			case OP_FLOOR:
				pthread_mutex_lock(&own_lock);
				memcpy(dst, floor_src, sizeof(dst));
				pthread_mutex_unlock(&own_lock);
				__asm__ volatile("" : : "r"(dst) : "memory");
				break;
			case OP_GET_TOKEN:
				if (mtk_client_get_token(w->client, &t) != MTK_OK) {
					w->failed = 1;
					return NULL;
				}
				mtk_token_free(t);
				break;
			case OP_AUTH_HEADER:
				if (mtk_client_authorization_header(w->client, header,
				                                    sizeof(header)) != MTK_OK) {
					w->failed = 1;
					return NULL;
				}
				__asm__ volatile("" : : "r"(header) : "memory");
				break;
			case OP_COPY_TOKEN: {
				int64_t expires_in_ms;

				if (mtk_client_copy_token(w->client, header, sizeof(header),
				                          &expires_in_ms) != MTK_OK) {
					w->failed = 1;
					return NULL;
				}
				__asm__ volatile("" : : "r"(header), "r"(expires_in_ms) : "memory");
				break;
			}
			}
		}
		ops += 256;
	}
	w->ops = ops;
	return NULL;
}

/* Runs n threads doing op for run_ms; returns wall ns per op over all of
 * them (1e9 / aggregate ops per second). */
static double run_threads(enum op op, struct mtk_client *c, int n, int run_ms)
{
	struct worker w[MAX_THREADS];
	pthread_barrier_t start;
	atomic_int stop = 0;
	struct timespec ts = { run_ms / 1000, (long)(run_ms % 1000) * 1000000 };
	int64_t t0, t1;
	long total = 0;

	pthread_barrier_init(&start, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++) {
		w[i] = (struct worker){ .op = op, .client = c, .start = &start, .stop = &stop };
		pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
	}
	pthread_barrier_wait(&start);
	t0 = now_ns();
	nanosleep(&ts, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].thread, NULL);
		if (w[i].failed) {
			fprintf(stderr, "client_bench: a cached get failed\n");
			exit(1);
		}
		total += w[i].ops;
	}
	t1 = now_ns();
	pthread_barrier_destroy(&start);
	return (double)(t1 - t0) / (double)total;
}

static void bench_cached(void)
{
	static const int counts[] = { 1, 2, 8, 32 };
	struct fake_transport ft = { 0 };
	struct mtk_transport tr = { .perform = fake_perform, .arg = &ft };
	struct mtk_client *c;
	struct mtk_token *t;
	int rounds = quick ? 3 : 5, run_ms = quick ? 150 : 300;
	double floor_v[8], get_v[8], hdr_v[8], copy_v[8], floor_ns;

	if (mtk_client_new(
	        &(struct mtk_client_options){ .struct_size = sizeof(struct mtk_client_options),
	                                      .endpoint = "127.0.0.1:9",
	                                      .testing =
	                                          &(struct mtk_testing_seams){ .transport = &tr } },
	        &c) != MTK_OK ||
	    mtk_client_get_token(c, &t) != MTK_OK) {
		fprintf(stderr, "client_bench: cannot prime a client\n");
		exit(1);
	}
	mtk_token_free(t);

	/* The floor, single-threaded and uncontended, interleaved with the
	 * single-threaded gets; medians of the rounds. */
	for (int r = 0; r < rounds; r++) {
		floor_v[r] = run_threads(OP_FLOOR, NULL, 1, run_ms);
		get_v[r] = run_threads(OP_GET_TOKEN, c, 1, run_ms);
		hdr_v[r] = run_threads(OP_AUTH_HEADER, c, 1, run_ms);
		copy_v[r] = run_threads(OP_COPY_TOKEN, c, 1, run_ms);
	}
	floor_ns = median(floor_v, rounds);
	print_json("mutex_copy_floor", 1, "ns/op", floor_ns, NULL, 0);
	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		int n = counts[k];

		if (n > 1) {
			/* Perfect scaling on this machine: each thread on its own
			 * mutex. */
			for (int r = 0; r < rounds; r++)
				floor_v[r] = run_threads(OP_FLOOR, NULL, n, run_ms);
			print_json("mutex_copy_floor", n, "ns/op", median(floor_v, rounds), NULL,
			           0);
		}
		if (n > 1)
			for (int r = 0; r < rounds; r++) {
				get_v[r] = run_threads(OP_GET_TOKEN, c, n, run_ms);
				hdr_v[r] = run_threads(OP_AUTH_HEADER, c, n, run_ms);
				copy_v[r] = run_threads(OP_COPY_TOKEN, c, n, run_ms);
			}
		print_json("cached_get_token", n, "ns/op", median(get_v, rounds),
		           "mutex_copy_floor", floor_ns);
		print_json("cached_authorization_header", n, "ns/op", median(hdr_v, rounds),
		           "mutex_copy_floor", floor_ns);
		print_json("cached_copy_token", n, "ns/op", median(copy_v, rounds),
		           "mutex_copy_floor", floor_ns);
	}
	if (atomic_load(&ft.calls) != 1) {
		fprintf(stderr, "client_bench: the cached gets made %ld HTTP requests\n",
		        atomic_load(&ft.calls) - 1);
		exit(1);
	}
	mtk_client_free(c);
}

/* --- stampede --------------------------------------------------------- */

struct stampeder {
	pthread_t thread;
	struct mtk_client *client;
	pthread_barrier_t *start;
	int failed;
};

static void *stampeder_main(void *arg)
{
	struct stampeder *s = arg;
	struct mtk_token *t = NULL;

	pthread_barrier_wait(s->start);
	if (mtk_client_get_token(s->client, &t) != MTK_OK)
		s->failed = 1;
	mtk_token_free(t);
	return NULL;
}

static void bench_stampede(int n)
{
	struct fake_transport ft = { .delay_ns = 2 * 1000 * 1000 };
	struct mtk_transport tr = { .perform = fake_perform, .arg = &ft };
	struct mtk_clock clk = { .monotonic_ms = fake_mono, .sleep_ms = fake_sleep };
	struct stampeder s[MAX_THREADS];
	pthread_barrier_t start;
	struct mtk_client *c;
	struct mtk_token *t;
	int rounds = quick ? 5 : 20;
	long worst = 0, total = 0;

	if (mtk_client_new(
	        &(struct mtk_client_options){
	            .struct_size = sizeof(struct mtk_client_options),
	            .endpoint = "127.0.0.1:9",
	            .testing = &(struct mtk_testing_seams){ .transport = &tr,
	                                                    .clock = &clk,
	                                                    .random_u64 = fixed_random } },
	        &c) != MTK_OK ||
	    mtk_client_get_token(c, &t) != MTK_OK) {
		fprintf(stderr, "client_bench: cannot prime a client\n");
		exit(1);
	}
	mtk_token_free(t);
	for (int r = 0; r < rounds; r++) {
		long before = atomic_load(&ft.calls), made;

		/* Past the token's expiry (3600 s): every get must wait. */
		atomic_fetch_add(&fake_now_ms, 3600 * 1000 + 1);
		pthread_barrier_init(&start, NULL, (unsigned)n);
		for (int i = 0; i < n; i++) {
			s[i] = (struct stampeder){ .client = c, .start = &start };
			pthread_create(&s[i].thread, NULL, stampeder_main, &s[i]);
		}
		for (int i = 0; i < n; i++) {
			pthread_join(s[i].thread, NULL);
			if (s[i].failed) {
				fprintf(stderr, "client_bench: a get in the stampede failed\n");
				exit(1);
			}
		}
		pthread_barrier_destroy(&start);
		made = atomic_load(&ft.calls) - before;
		total += made;
		if (made > worst)
			worst = made;
	}
	printf("{\"bench\":\"client\",\"figure\":\"stampede_http_requests\",\"threads\":%d,"
	       "\"unit\":\"requests\",\"value\":%ld,\"rounds\":%d,\"total\":%ld,"
	       "\"target\":1}\n",
	       n, worst, rounds, total);
	fflush(stdout);
	mtk_client_free(c);
}

/* --- cold fetch ------------------------------------------------------- */

static size_t sink_body(char *data, size_t size, size_t nmemb, void *arg)
{
	static char body[65536];
	size_t n = size * nmemb;

	(void)arg;
	memcpy(body, data, n < sizeof(body) ? n : sizeof(body));
	return n;
}

/* Moves the client's clock on, so that each invalidation is honoured
 * (a second one within min_refresh_interval_ms would be ignored). */
static int64_t stepped_mono(void *arg)
{
	(void)arg;
	return now_ns() / 1000000 + atomic_load(&fake_now_ms);
}

static void bench_cold(const char *addr)
{
	struct mtk_clock clk = { .monotonic_ms = stepped_mono };
	struct curl_slist *hdrs = curl_slist_append(NULL, "Metadata-Flavor: Google");
	int per_round = 100, rounds = quick ? 5 : 20, n = per_round * rounds;
	int64_t *lib = calloc((size_t)n, sizeof(int64_t)),
	        *raw = calloc((size_t)n, sizeof(int64_t));
	struct mtk_client_stats stats;
	struct mtk_client *c;
	char url[256];
	CURL *e;

	atomic_store(&fake_now_ms, 0);
	if (mtk_client_new(
	        &(struct mtk_client_options){ .struct_size = sizeof(struct mtk_client_options),
	                                      .endpoint = addr,
	                                      .min_refresh_interval_ms = 1,
	                                      .testing =
	                                          &(struct mtk_testing_seams){ .clock = &clk } },
	        &c) != MTK_OK) {
		fprintf(stderr, "client_bench: cannot make a client for %s\n", addr);
		exit(1);
	}
	snprintf(url, sizeof(url), "%s", mtk_client_token_url(c));
	e = curl_easy_init();
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_body);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");

	/* Warm both up: a connection each, page faults, the server's token. */
	for (int i = -per_round; i < n; i += per_round) {
		for (int k = 0; k < per_round; k++) {
			struct mtk_token *t;
			int64_t t0;
			long status = 0;

			atomic_fetch_add(&fake_now_ms, 1000);
			t0 = now_ns();
			if (!mtk_client_invalidate(c, NULL) ||
			    mtk_client_get_token(c, &t) != MTK_OK) {
				fprintf(stderr, "client_bench: a cold fetch failed\n");
				exit(1);
			}
			if (i >= 0)
				lib[i + k] = now_ns() - t0;
			mtk_token_free(t);

			t0 = now_ns();
			if (curl_easy_perform(e) != CURLE_OK ||
			    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
			    status != 200) {
				fprintf(stderr, "client_bench: the libcurl baseline failed\n");
				exit(1);
			}
			if (i >= 0)
				raw[i + k] = now_ns() - t0;
		}
	}
	/* Each cold get must have been one real request. */
	mtk_client_get_stats(c, &stats);
	if (stats.http_requests != (uint64_t)(n + per_round)) {
		fprintf(stderr, "client_bench: %llu requests for %d cold gets\n",
		        (unsigned long long)stats.http_requests, n + per_round);
		exit(1);
	}
	qsort(lib, (size_t)n, sizeof(*lib), cmp_i64);
	qsort(raw, (size_t)n, sizeof(*raw), cmp_i64);
	print_json("cold_fetch_p50", 1, "us", (double)lib[n / 2] / 1000, "reused_libcurl_p50",
	           (double)raw[n / 2] / 1000);
	print_json("cold_fetch_p99", 1, "us", (double)lib[n * 99 / 100] / 1000,
	           "reused_libcurl_p99", (double)raw[n * 99 / 100] / 1000);
	curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	mtk_client_free(c);
	free(lib);
	free(raw);
}

int main(int argc, char **argv)
{
	const char *addr = NULL;
	int n, cold_only = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--cold-only") == 0)
			cold_only = 1;
		else
			addr = argv[i];
	}
	memset(floor_src, 'x', TOKEN_LEN);
	n = snprintf(token_body, sizeof(token_body), "{\"access_token\":\"t1.");
	memset(token_body + n, 'A', TOKEN_LEN - 3);
	n += TOKEN_LEN - 3;
	n += snprintf(token_body + n, sizeof(token_body) - (size_t)n,
	              "\",\"expires_in\":3600,\"token_type\":\"Bearer\"}");
	token_body_len = (size_t)n;

	if (!cold_only) {
		bench_cached();
		bench_stampede(8);
		bench_stampede(64);
	}
	if (addr)
		bench_cold(addr);
	return 0;
}
