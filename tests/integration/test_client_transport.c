/*
 * The real libcurl transport against a scripted loopback HTTP server: the
 * request it sends, one kept-alive connection per client, no proxy ever,
 * the body cap, and the per-request timeout. The client's clock is faked so
 * that tokens expire on demand; the network is real.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metatoken/metatoken.h"
#include "metatoken/testing.h"

#define TOKEN_DOC "{\"access_token\":\"tok-1\",\"expires_in\":3600,\"token_type\":\"Bearer\"}"

static int listen_fd;
static int port;
static pthread_t thread;
static _Atomic int accepts;
static _Atomic int requests;
static _Atomic int sent; /* responses the server is done sending, well or not */
static char last_request[4096];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *response; /* whole response, or NULL: never answer */
static size_t response_len;
static char ok_response[512];
static _Atomic int64_t fake_ms = 1000000;

static int64_t mono(void *arg)
{
	(void)arg;
	return atomic_load(&fake_ms);
}

static const struct mtk_clock fake_clock = { .monotonic_ms = mono, .wall_ms = mono };

/* Serves connections one at a time, each until the client closes it. */
static void *serve(void *arg)
{
	char buf[4096];
	size_t have;
	ssize_t n;
	int fd;

	(void)arg;
	while ((fd = accept(listen_fd, NULL, NULL)) >= 0) {
		atomic_fetch_add(&accepts, 1);
		have = 0;
		while ((n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0)) > 0) {
			have += (size_t)n;
			buf[have] = '\0';
			if (!strstr(buf, "\r\n\r\n"))
				continue;
			pthread_mutex_lock(&lock);
			memcpy(last_request, buf, have + 1);
			pthread_mutex_unlock(&lock);
			atomic_fetch_add(&requests, 1);
			have = 0;
			if (response) {
				ssize_t out = send(fd, response, response_len, MSG_NOSIGNAL);

				atomic_fetch_add(&sent, 1);
				if (out < 0)
					break;
			}
			if (response && strstr(response, "Connection: close"))
				break;
		}
		close(fd);
	}
	return NULL;
}

static void start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(listen_fd >= 0);
	cr_assert_eq(bind(listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(listen_fd, 8), 0);
	getsockname(listen_fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	snprintf(
	    ok_response, sizeof(ok_response),
	    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    strlen(TOKEN_DOC), TOKEN_DOC);
	response = ok_response;
	response_len = strlen(response);
	cr_assert_eq(pthread_create(&thread, NULL, serve, NULL), 0);
}

static void stop(void)
{
	shutdown(listen_fd, SHUT_RDWR);
	close(listen_fd);
	pthread_join(thread, NULL);
}

TestSuite(transport, .init = start, .fini = stop, .timeout = 30);

static struct mtk_client *client(struct mtk_client_options o)
{
	static const struct mtk_testing_seams seams = { .clock = &fake_clock };
	struct mtk_client *c = NULL;
	char endpoint[64];

	snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", port);
	o.endpoint = endpoint;
	o.testing = &seams;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_OK);
	return c;
}

static enum mtk_status get(struct mtk_client *c)
{
	struct mtk_token *t = NULL;
	enum mtk_status st = mtk_client_get_token(c, &t);

	if (st == MTK_OK)
		cr_assert_str_eq(mtk_token_access_token(t), "tok-1");
	mtk_token_free(t);
	return st;
}

Test(transport, sends_the_gce_request)
{
	struct mtk_client *c = client((struct mtk_client_options){
	    .struct_size = sizeof(struct mtk_client_options), .account = "sa@p.iam" });

	cr_assert_eq(get(c), MTK_OK);
	pthread_mutex_lock(&lock);
	cr_assert_eq(
	    strncmp(last_request,
	            "GET /computeMetadata/v1/instance/service-accounts/sa@p.iam/token HTTP/1.1\r\n",
	            75),
	    0, "%s", last_request);
	cr_assert_not_null(strstr(last_request, "\r\nMetadata-Flavor: Google\r\n"), "%s",
	                   last_request);
	pthread_mutex_unlock(&lock);
	mtk_client_free(c);
}

Test(transport, one_connection_is_kept_alive_across_fetches)
{
	struct mtk_client *c = client((struct mtk_client_options)MTK_CLIENT_OPTIONS_INIT);
	int i;

	for (i = 0; i < 3; i++) {
		cr_assert_eq(get(c), MTK_OK);
		atomic_fetch_add(&fake_ms, 3600 * 1000); /* expire it */
	}
	cr_assert_eq(atomic_load(&requests), 3);
	cr_assert_eq(atomic_load(&accepts), 1);
	mtk_client_free(c);
}

Test(transport, never_goes_through_a_proxy)
{
	struct mtk_client *c;

	setenv("http_proxy", "http://127.0.0.1:1", 1);
	setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
	setenv("ALL_PROXY", "http://127.0.0.1:1", 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	c = client((struct mtk_client_options){ .struct_size = sizeof(struct mtk_client_options),
	                                        .max_attempts = 1 });
	cr_assert_eq(get(c), MTK_OK);
	cr_assert_eq(atomic_load(&requests), 1);
	mtk_client_free(c);
}

/* Waits until the server is done sending every answer asked for, so that
 * the test may change or free the response (a client that refused a body
 * may close while the server still sends it). */
static void until_sent(void)
{
	for (long i = 0; i < 100000000 && atomic_load(&sent) < atomic_load(&requests); i++)
		sched_yield();
	cr_assert_eq(atomic_load(&sent), atomic_load(&requests));
}

Test(transport, a_body_over_the_cap_is_refused)
{
	static const char head_len[] = "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n";
	static const char head_close[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
	struct mtk_client *c;
	char *big = malloc(70100);

	/* With a Content-Length, and without one (read until close). */
	memcpy(big, head_len, sizeof(head_len) - 1);
	memset(big + sizeof(head_len) - 1, ' ', 70000);
	response = big;
	response_len = sizeof(head_len) - 1 + 70000;
	c = client((struct mtk_client_options)MTK_CLIENT_OPTIONS_INIT);
	cr_assert_eq(get(c), MTK_ERR_BODY_TOO_LARGE);
	mtk_client_free(c);
	until_sent();

	memcpy(big, head_close, sizeof(head_close) - 1);
	memset(big + sizeof(head_close) - 1, ' ', 70000);
	response_len = sizeof(head_close) - 1 + 70000;
	c = client((struct mtk_client_options)MTK_CLIENT_OPTIONS_INIT);
	cr_assert_eq(get(c), MTK_ERR_BODY_TOO_LARGE);
	mtk_client_free(c);
	cr_assert_eq(atomic_load(&requests), 2, "retried");
	until_sent();
	response = NULL;
	free(big);
}

Test(transport, a_silent_server_times_out)
{
	struct mtk_client *c;

	response = NULL; /* read the request, never answer */
	c = client((struct mtk_client_options){ .struct_size = sizeof(struct mtk_client_options),
	                                        .request_timeout_ms = 200,
	                                        .max_attempts = 2 });
	cr_assert_eq(get(c), MTK_ERR_TIMEOUT);
	cr_assert_eq(atomic_load(&requests), 2);
	mtk_client_free(c);
}

/* libcurl hands the Retry-After header over: a 503 asking for more time
 * than the budget has left gets one request, and the message says why. */
Test(transport, a_retry_after_past_the_budget_is_one_request)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
	                           "retry-after:   5\r\n\r\n";
	struct mtk_client *c;
	char why[512];

	response = busy;
	response_len = sizeof(busy) - 1;
	c = client((struct mtk_client_options){ .struct_size = sizeof(struct mtk_client_options),
	                                        .fetch_budget_ms = 2000 });
	cr_assert_eq(get(c), MTK_ERR_HTTP_SERVER);
	cr_assert_eq(atomic_load(&requests), 1);
	cr_assert_eq(mtk_client_last_error(c, why, sizeof(why)), MTK_OK);
	cr_assert(strstr(why, "retried in 5000 ms (Retry-After)"), "%s", why);
	mtk_client_free(c);
	until_sent();
}
