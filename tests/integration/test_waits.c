/*
 * Requests that wait: wait_for_change watches, latency faults, and a held
 * request beside others. The server runs in this process with its wait
 * clock in the test's hands, so a hold of seconds ends when the test moves
 * the clock, and no assertion depends on how fast the machine is.
 */
#include <arpa/inet.h>
#include "cr_shim.h"
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "inproc.h"

static struct test_inproc ip;

static void stop(void)
{
	if (ip.daemon)
		test_inproc_stop(&ip, 1000);
}

TestSuite(waits, .fini = stop, .timeout = 60);

struct bg_get {
	pthread_t thread;
	char url[512];
	long status;
	char body[256];
	char etag[64];
};

static void *bg_run(void *arg)
{
	struct bg_get *g = arg;
	struct test_response r;

	g->status = test_http_gce(g->url, &r) == 0 ? r.status : -1;
	if (g->status >= 0) {
		snprintf(g->body, sizeof(g->body), "%s", r.body);
		test_response_header(&r, "ETag", g->etag, sizeof(g->etag));
		test_response_free(&r);
	}
	return NULL;
}

static void bg_start(struct bg_get *g, const char *path)
{
	snprintf(g->url, sizeof(g->url), "%s%s", ip.base, path);
	cr_assert_eq(pthread_create(&g->thread, NULL, bg_run, g), 0);
}

static unsigned held_now(void)
{
	struct daemon_counts c;

	daemon_counts(ip.daemon, &c);
	return c.held;
}

static long get_now(const char *path, char *body, size_t cap)
{
	struct bg_get g = { 0 };

	snprintf(g.url, sizeof(g.url), "%s%s", ip.base, path);
	bg_run(&g);
	if (body)
		snprintf(body, cap, "%s", g.body);
	return g.status;
}

Test(waits, a_watch_is_held_until_its_timeout_on_the_wait_clock)
{
	struct bg_get w = { 0 };
	char path[256], etag[64];
	struct bg_get first = { 0 };

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	snprintf(first.url, sizeof(first.url), "%s/computeMetadata/v1/instance/id", ip.base);
	bg_run(&first);
	cr_assert_eq(first.status, 200);
	snprintf(etag, sizeof(etag), "%s", first.etag);

	/* A different ETag: the value "changed", answered at once (the wait
	 * clock does not move here, so a held request would never return). */
	cr_assert_eq(get_now("/computeMetadata/v1/instance/id?wait_for_change=true"
	                     "&last_etag=0000000000000000&timeout_sec=5",
	                     NULL, 0),
	             200);

	/* The current ETag: held for the timeout, then the same answer. */
	snprintf(path, sizeof(path),
	         "/computeMetadata/v1/instance/id?wait_for_change=true&last_etag=%s&timeout_sec=10",
	         etag);
	bg_start(&w, path);
	cr_assert_eq(test_inproc_until_held(&ip, 1), 0);
	test_inproc_wait(&ip, 9999);
	cr_assert_eq(held_now(), 1, "answered before its timeout");
	test_inproc_wait(&ip, 1);
	pthread_join(w.thread, NULL);
	cr_assert_eq(w.status, 200);
	cr_assert_str_eq(w.body, "fhm0metatoken0local01");
	cr_assert_str_eq(w.etag, etag);
}

Test(waits, a_latency_fault_holds_only_the_requests_it_matches)
{
	static const char rule[] =
	    "{\"path\": \"/computeMetadata/v1/project/\", \"latency_ms\": 1500, \"count\": 1}";
	struct bg_get held = { 0 };
	char err[256], body[256];
	uint64_t id;
	cpu_set_t one, all;

	/* On one CPU the daemon runs one request thread: a held request must
	 * not hold it. */
	cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &all)) {
			CPU_SET(cpu, &one);
			break;
		}
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
	cr_assert_eq(daemon_threads(ip.daemon), 1);

	cr_assert_eq(faults_add_json(&ip.srv.faults, rule, strlen(rule), &id, err, sizeof(err)), 0,
	             "%s", err);
	bg_start(&held, "/computeMetadata/v1/project/project-id");
	cr_assert_eq(test_inproc_until_held(&ip, 1), 0);
	/* Other paths are answered while it waits, on the one thread. */
	cr_assert_eq(get_now("/computeMetadata/v1/instance/service-accounts/default/token", body,
	                     sizeof(body)),
	             200);
	cr_assert_not_null(strstr(body, "access_token"));
	test_inproc_wait(&ip, 1499);
	cr_assert_eq(held_now(), 1);
	test_inproc_wait(&ip, 1);
	pthread_join(held.thread, NULL);
	cr_assert_eq(held.status, 200);
	cr_assert_str_eq(held.body, "metatoken-local");
	/* count 1: the next one is not held. */
	cr_assert_eq(get_now("/computeMetadata/v1/project/project-id", NULL, 0), 200);
}

struct stopper {
	pthread_t thread;
	struct daemon *d;
};

static void *stop_run(void *arg)
{
	struct stopper *s = arg;

	daemon_stop(s->d, 5000);
	return NULL;
}

Test(waits, new_connections_are_refused_at_once_while_the_drain_goes_on)
{
	static const char partial[] = "POST /computeMetadata/v1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                              "Content-Length: 10\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct daemon_counts c;
	struct stopper st;
	int held, refused = 0;

	cr_assert_eq(test_inproc_start(&ip, NULL, NULL), 0);
	sa.sin_port = htons((uint16_t)atoi(strrchr(ip.srv.bound, ':') + 1));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	held = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(held, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(send(held, partial, strlen(partial), 0), (ssize_t)strlen(partial));
	for (int i = 0; i < 1000000; i++) {
		daemon_counts(ip.daemon, &c);
		if (c.open == 1 && c.idle == 0)
			break;
		sched_yield();
	}
	/* The unfinished request keeps the drain going (its grace never runs
	 * out on the fake clock); meanwhile new connections are refused. */
	st.d = ip.daemon;
	ip.daemon = NULL;
	cr_assert_eq(pthread_create(&st.thread, NULL, stop_run, &st), 0);
	for (int i = 0; i < 1000000 && !refused; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		refused = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0;
		close(fd);
		sched_yield();
	}
	cr_assert(refused, "new connections were still accepted during the drain");
	close(held);
	pthread_join(st.thread, NULL);
	app_release(&ip.srv);
}
