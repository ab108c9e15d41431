/*
 * The first clients of a process, created by many threads at once, share
 * one load of libcurl (pthread_once): every one gets a working transport.
 * Also run under ThreadSanitizer.
 */
#include "cr_shim.h"
#include <pthread.h>

#include "metatoken/metatoken.h"

#define NTHREADS 16

TestSuite(client_libcurl_threads, .timeout = 30);

static pthread_barrier_t start;

/* Creates a client after all threads are ready; nothing listens on port 1,
 * so its one fetch fails fast on the loaded libcurl. */
static void *create(void *arg)
{
	enum mtk_status *st = arg;
	struct mtk_client *c = NULL;
	struct mtk_token *t = NULL;

	pthread_barrier_wait(&start);
	st[0] = mtk_client_new(
	    &(struct mtk_client_options){ .struct_size = sizeof(struct mtk_client_options),
	                                  .endpoint = "127.0.0.1:1",
	                                  .max_attempts = 1 },
	    &c);
	if (st[0] == MTK_OK) {
		st[1] = mtk_client_get_token(c, &t);
		mtk_token_free(t);
	}
	mtk_client_free(c);
	return NULL;
}

Test(client_libcurl_threads, the_first_clients_at_once_share_one_load)
{
	pthread_t th[NTHREADS];
	enum mtk_status st[NTHREADS][2];
	int i;

	cr_assert_eq(pthread_barrier_init(&start, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, create, st[i]), 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	for (i = 0; i < NTHREADS; i++) {
		cr_assert_eq(st[i][0], MTK_OK, "thread %d: %s", i, mtk_strerror(st[i][0]));
		cr_assert_eq(st[i][1], MTK_ERR_CONNECT, "thread %d: %s", i, mtk_strerror(st[i][1]));
	}
}
