/*
 * The runtime loop's socket transport (client/runtime_http.c) against a
 * scripted loopback HTTP server in a thread: the request it writes, the
 * three ways an answer ends (Content-Length, chunked, close), keep-alive and
 * its transparent reconnect, timeouts, refused and unresolvable addresses,
 * caps, and a sink that says "too much". The network is real; every wait
 * is a few hundred milliseconds at most.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "private/runtime.h"

#define MAX_STEPS 8

/* What the server does with the n-th request it reads. */
struct step {
	const char *reply; /* sent as it is (NULL: nothing) */
	size_t reply_len;  /* 0: strlen(reply) */
	int delay_ms;      /* before replying */
	bool close;        /* close the connection after replying */
	bool hang;         /* never reply: wait for the client to give up */
};

static struct {
	int listener, port;
	pthread_t thread;
	struct step steps[MAX_STEPS];
	pthread_mutex_t lock;
	char requests[MAX_STEPS][8192]; /* as received, head and body */
	size_t request_len[MAX_STEPS];
	_Atomic int nreq, accepts, closes;
} S = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct mtk__rthttp *T;

/* Bytes read past the last request on the connection: the start of the
 * next one (a client may send it before the answer). */
static char carry[8192];
static size_t carry_len;

/* Reads one request (head and Content-Length body) into S.requests[i]. */
static int read_request(int fd, int i)
{
	char *buf = S.requests[i], *end, *cl;
	size_t have = carry_len, want;
	ssize_t n;

	memcpy(buf, carry, carry_len);
	carry_len = 0;

	while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
		if ((n = recv(fd, buf + have, sizeof(S.requests[i]) - have, 0)) <= 0)
			return -1;
		have += (size_t)n;
	}
	cl = memmem(buf, (size_t)(end - buf), "Content-Length: ", 16);
	want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 16, NULL, 10) : 0);
	while (have < want) {
		if ((n = recv(fd, buf + have, want - have, 0)) <= 0)
			return -1;
		have += (size_t)n;
	}
	carry_len = have - want;
	memcpy(carry, buf + want, carry_len);
	S.request_len[i] = want;
	return 0;
}

static void *serve(void *arg)
{
	char sink[256];
	struct step *s;
	int fd, i;

	(void)arg;
	while ((fd = accept(S.listener, NULL, NULL)) >= 0) {
		atomic_fetch_add(&S.accepts, 1);
		carry_len = 0;
		while ((i = atomic_load(&S.nreq)) < MAX_STEPS && read_request(fd, i) == 0) {
			s = &S.steps[i];
			atomic_fetch_add(&S.nreq, 1);
			if (s->hang) {
				while (recv(fd, sink, sizeof(sink), 0) > 0)
					;
				break;
			}
			if (s->delay_ms)
				nanosleep(&(struct timespec){ .tv_nsec = s->delay_ms * 1000000L },
				          NULL);
			if (s->reply &&
			    send(fd, s->reply, s->reply_len ? s->reply_len : strlen(s->reply),
			         MSG_NOSIGNAL) < 0)
				break;
			if (s->close)
				break;
		}
		close(fd);
		atomic_fetch_add(&S.closes, 1);
	}
	return NULL;
}

static void start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	S.listener = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(S.listener, 0);
	cr_assert_eq(bind(S.listener, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(S.listener, 8), 0);
	getsockname(S.listener, (struct sockaddr *)&a, &len);
	S.port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&S.thread, NULL, serve, NULL), 0);
	cr_assert_eq(mtk__rthttp_new(&T), MTK_OK);
}

static void stop(void)
{
	mtk__rthttp_free(T);
	shutdown(S.listener, SHUT_RDWR);
	close(S.listener);
	pthread_join(S.thread, NULL);
}

TestSuite(rthttp, .init = start, .fini = stop, .timeout = 20);

/* What the sink received; refuse_* make it say "too much". */
struct got {
	char headers[70000]; /* "name=value\n"... */
	char body[8192];
	size_t body_len;
	bool refuse_header, refuse_body;
};

static int on_header(void *arg, const char *name, size_t name_len, const char *value,
                     size_t value_len)
{
	struct got *g = arg;
	size_t n = strlen(g->headers);

	if (g->refuse_header)
		return -1;
	snprintf(g->headers + n, sizeof(g->headers) - n, "%.*s=%.*s\n", (int)name_len, name,
	         (int)value_len, value);
	return 0;
}

static int on_body(void *arg, const char *data, size_t len)
{
	struct got *g = arg;

	if (g->refuse_body || len > sizeof(g->body) - g->body_len)
		return -1;
	memcpy(g->body + g->body_len, data, len);
	g->body_len += len;
	return 0;
}

/* One request to path on the server (or at url when not NULL). */
static enum mtk_status req_at(const char *url, const char *method, const char *path,
                              const char *const *headers, const char *body, size_t body_len,
                              int64_t timeout_ms, struct got *g, long *status)
{
	char u[256];
	const struct mtk_runtime_request r = {
		.method = method,
		.url = u,
		.headers = headers,
		.body = body,
		.body_len = body_len,
		.connect_timeout_ms = 1000,
		.timeout_ms = timeout_ms,
	};
	const struct mtk_runtime_sink sink = { .header = on_header, .body = on_body, .arg = g };

	if (url)
		snprintf(u, sizeof(u), "%s", url);
	else
		snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", S.port, path);
	*status = -1;
	return mtk__rthttp_perform(T, &r, &sink, status);
}

static enum mtk_status get(const char *path, int64_t timeout_ms, struct got *g, long *status)
{
	return req_at(NULL, "GET", path, NULL, NULL, 0, timeout_ms, g, status);
}

static void script(int i, struct step s)
{
	S.steps[i] = s;
}

#define OK_HELLO "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

Test(rthttp, a_get_with_content_length_and_what_it_sends)
{
	static const char *const headers[] = { "X-One: 1", "Content-Type: application/json", NULL };
	struct got g = { 0 };
	long status;

	script(0, (struct step){
	              .reply = "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id:"
	                       "   r-1 \t\r\nX-Empty:\r\nContent-Length: 7\r\n\r\n{\"a\":1}" });
	cr_assert_eq(req_at(NULL, "GET", "/2018-06-01/runtime/invocation/next", headers, NULL, 0, 0,
	                    &g, &status),
	             MTK_OK);
	cr_assert_eq(status, 200);
	cr_assert(strstr(g.headers, "Lambda-Runtime-Aws-Request-Id=r-1\n"), "%s", g.headers);
	cr_assert(strstr(g.headers, "X-Empty=\n"), "%s", g.headers);
	cr_assert(strstr(g.headers, "Content-Length=7\n"), "%s", g.headers);
	cr_assert_eq(g.body_len, 7);
	cr_assert_eq(memcmp(g.body, "{\"a\":1}", 7), 0);
	cr_assert(
	    strncmp(S.requests[0], "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n", 50) == 0,
	    "%s", S.requests[0]);
	cr_assert(strstr(S.requests[0], "\r\nHost: 127.0.0.1:"), "%s", S.requests[0]);
	cr_assert(strstr(S.requests[0], "\r\nX-One: 1\r\nContent-Type: application/json\r\n"));
	cr_assert_null(strstr(S.requests[0], "Content-Length"), "a GET has no body");
	cr_assert_null(strcasestr(S.requests[0], "Expect"));
}

Test(rthttp, a_post_sends_its_bytes_with_a_content_length)
{
	static const char body[] = { 'a', '\0', '\r', '\n', 'b' };
	struct got g = { 0 };
	char *sent;
	long status;

	script(0, (struct step){ .reply = "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok" });
	script(1, (struct step){ .reply = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n" });
	cr_assert_eq(
	    req_at(NULL, "POST", "/r/response", NULL, body, sizeof(body), 1000, &g, &status),
	    MTK_OK);
	cr_assert_eq(status, 202);
	sent = S.requests[0];
	cr_assert(strncmp(sent, "POST /r/response HTTP/1.1\r\n", 27) == 0, "%s", sent);
	cr_assert(strstr(sent, "\r\nContent-Length: 5\r\n\r\n"), "%s", sent);
	cr_assert_null(strcasestr(sent, "Expect"));
	cr_assert_eq(memcmp(sent + S.request_len[0] - 5, body, 5), 0);
	/* An empty body is "Content-Length: 0", and the connection is kept. */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(req_at(NULL, "POST", "/e", NULL, NULL, 0, 1000, &g, &status), MTK_OK);
	cr_assert(strstr(S.requests[1], "\r\nContent-Length: 0\r\n\r\n"), "%s", S.requests[1]);
	cr_assert_eq(atomic_load(&S.accepts), 1);
}

Test(rthttp, a_chunked_answer_with_extensions_and_trailers)
{
	struct got g = { 0 };
	long status;

	script(0, (struct step){
	              .reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                       "4;ext=1\r\nhell\r\nA\r\no, chunked\r\n0\r\nX-Trailer: t\r\n\r\n" });
	script(1, (struct step){ .reply = OK_HELLO });
	cr_assert_eq(get("/c", 1000, &g, &status), MTK_OK);
	cr_assert_eq(status, 200);
	cr_assert_eq(g.body_len, 14);
	cr_assert_eq(memcmp(g.body, "hello, chunked", 14), 0);
	/* The answer ended where the chunks did: the connection goes on. */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(get("/again", 1000, &g, &status), MTK_OK);
	cr_assert_eq(g.body_len, 5);
	cr_assert_eq(atomic_load(&S.accepts), 1);
}

Test(rthttp, a_bad_chunk_size_is_a_transport_error)
{
	struct got g = { 0 };
	long status;

	script(0, (struct step){ .reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                                  "zz\r\nhell\r\n0\r\n\r\n" });
	cr_assert_eq(get("/c", 1000, &g, &status), MTK_ERR_TRANSPORT);
	cr_assert_eq(status, -1, "status is written only on success");
}

Test(rthttp, an_answer_without_length_ends_with_the_connection)
{
	struct got g = { 0 };
	long status;

	script(0, (struct step){ .reply = "HTTP/1.0 200 OK\r\n\r\nuntil the end", .close = true });
	script(1, (struct step){ .reply = OK_HELLO });
	cr_assert_eq(get("/a", 1000, &g, &status), MTK_OK);
	cr_assert_eq(g.body_len, 13);
	cr_assert_eq(memcmp(g.body, "until the end", 13), 0);
	cr_assert_eq(get("/b", 1000, &g, &status), MTK_OK);
	cr_assert_eq(atomic_load(&S.accepts), 2);
}

Test(rthttp, an_answer_cut_short_is_a_transport_error)
{
	struct got g = { 0 };
	long status;

	script(0, (struct step){ .reply = "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",
	                         .close = true });
	cr_assert_eq(get("/a", 1000, &g, &status), MTK_ERR_TRANSPORT);
}

Test(rthttp, interim_answers_are_skipped)
{
	struct got g = { 0 };
	long status;

	script(0,
	       (struct step){ .reply = "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n" OK_HELLO });
	cr_assert_eq(get("/a", 1000, &g, &status), MTK_OK);
	cr_assert_eq(status, 200);
	cr_assert_null(strstr(g.headers, "X-Interim"), "%s", g.headers);
}

Test(rthttp, one_connection_serves_every_request)
{
	struct got g = { 0 };
	long status;
	int i;

	for (i = 0; i < 4; i++) {
		script(i, (struct step){ .reply = OK_HELLO });
		cr_assert_eq(get("/k", 1000, &g, &status), MTK_OK);
	}
	cr_assert_eq(atomic_load(&S.nreq), 4);
	cr_assert_eq(atomic_load(&S.accepts), 1);
}

Test(rthttp, a_kept_connection_the_server_closed_is_replaced_once)
{
	struct got g = { 0 };
	long status;

	/* The server answers, then closes the idle connection. */
	script(0, (struct step){ .reply = OK_HELLO, .close = true });
	script(1, (struct step){ .reply = OK_HELLO });
	cr_assert_eq(get("/1", 1000, &g, &status), MTK_OK);
	/* Wait (bounded) until the server has closed its side, rather than a
	 * guessed 50 ms. */
	for (int i = 0; i < 5000 && atomic_load(&S.closes) < 1; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	cr_assert_geq(atomic_load(&S.closes), 1, "the server never closed");
	memset(&g, 0, sizeof(g));
	cr_assert_eq(req_at(NULL, "POST", "/2", NULL, "x", 1, 1000, &g, &status), MTK_OK);
	cr_assert_eq(status, 200);
	cr_assert_eq(g.body_len, 5);
	cr_assert_eq(atomic_load(&S.accepts), 2);
	cr_assert_eq(atomic_load(&S.nreq), 2, "the request went once to the new connection");
}

Test(rthttp, a_new_connection_closed_without_an_answer_is_not_retried)
{
	struct got g = { 0 };
	long status;

	script(0, (struct step){ .close = true });
	script(1, (struct step){ .reply = OK_HELLO });
	cr_assert_eq(get("/1", 1000, &g, &status), MTK_ERR_TRANSPORT);
	cr_assert_eq(atomic_load(&S.accepts), 1);
}

Test(rthttp, a_slow_server_hits_the_request_timeout)
{
	struct got g = { 0 };
	struct timespec t0, t1;
	long status, ms;

	script(0, (struct step){ .hang = true });
	script(1, (struct step){ .reply = OK_HELLO });
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(get("/slow", 200, &g, &status), MTK_ERR_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	cr_assert(ms >= 190 && ms < 2000, "took %ld ms", ms);
	/* The timed-out connection is dropped; the next request has its own. */
	cr_assert_eq(get("/next", 1000, &g, &status), MTK_OK);
	cr_assert_eq(atomic_load(&S.accepts), 2);
}

Test(rthttp, no_timeout_waits_as_long_as_it_takes)
{
	struct got g = { 0 };
	long status;

	script(0, (struct step){ .reply = OK_HELLO, .delay_ms = 300 });
	cr_assert_eq(get("/next", 0, &g, &status), MTK_OK);
	cr_assert_eq(g.body_len, 5);
}

Test(rthttp, a_refused_port_and_an_unknown_name_are_connect_errors)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct got g = { 0 };
	char url[64];
	long status;

	/* A port that was just free: nothing listens there. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/next", ntohs(a.sin_port));
	cr_assert_eq(req_at(url, "GET", NULL, NULL, NULL, 0, 1000, &g, &status), MTK_ERR_CONNECT);
	cr_assert_eq(req_at("http://no-such-host.invalid:9001/next", "GET", NULL, NULL, NULL, 0,
	                    1000, &g, &status),
	             MTK_ERR_CONNECT);
}

Test(rthttp, a_listener_that_never_accepts_times_out)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct got g = { 0 };
	char url[64];
	long status;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/next", ntohs(a.sin_port));
	cr_assert_eq(req_at(url, "GET", NULL, NULL, NULL, 0, 200, &g, &status), MTK_ERR_TIMEOUT);
	close(fd);
}

Test(rthttp, names_and_ipv6_literals_are_reached)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t len = sizeof(a);
	struct got g = { 0 };
	char url[64];
	long status;
	int fd;

	script(0, (struct step){ .reply = OK_HELLO, .close = true });
	snprintf(url, sizeof(url), "http://localhost:%d/n", S.port);
	cr_assert_eq(req_at(url, "GET", NULL, NULL, NULL, 0, 1000, &g, &status), MTK_OK);
	cr_assert(strstr(S.requests[0], "\r\nHost: localhost:"), "%s", S.requests[0]);

	/* [::1]: a listener of its own, which answers nothing but connects. */
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1) != 0)
		cr_skip_test("no IPv6 loopback here");
	getsockname(fd, (struct sockaddr *)&a, &len);
	snprintf(url, sizeof(url), "http://[::1]:%d/n", ntohs(a.sin6_port));
	cr_assert_eq(req_at(url, "GET", NULL, NULL, NULL, 0, 100, &g, &status), MTK_ERR_TIMEOUT,
	             "connected, then no answer");
	close(fd);
}

Test(rthttp, a_header_block_over_64_kib_is_an_error_and_under_it_is_not)
{
	static char big[80000];
	struct got *g = calloc(1, sizeof(*g));
	size_t n, start;
	long status;

	/* 60 KiB of header value passes whole... */
	n = start = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX-Big: ");
	memset(big + n, 'v', 60000);
	n += 60000;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\nContent-Length: 0\r\n\r\n");
	script(0, (struct step){ .reply = big, .reply_len = n });
	cr_assert_eq(get("/a", 2000, g, &status), MTK_OK);
	cr_assert_eq(strlen(g->headers), strlen("X-Big=\nContent-Length=0\n") + 60000);
	/* ...70 KiB does not. */
	memset(big + start, 'v', 70000);
	memcpy(big + start + 70000, "\r\n\r\n", 4);
	script(1, (struct step){ .reply = big, .reply_len = start + 70000 + 4, .close = true });
	cr_assert_eq(get("/b", 2000, g, &status), MTK_ERR_TRANSPORT);
	free(g);
}

Test(rthttp, a_sink_that_refuses_is_body_too_large)
{
	struct got g = { .refuse_header = true };
	long status;

	script(0, (struct step){ .reply = OK_HELLO });
	script(1, (struct step){ .reply = OK_HELLO });
	script(2, (struct step){ .reply = OK_HELLO });
	cr_assert_eq(get("/h", 1000, &g, &status), MTK_ERR_BODY_TOO_LARGE);
	g = (struct got){ .refuse_body = true };
	cr_assert_eq(get("/b", 1000, &g, &status), MTK_ERR_BODY_TOO_LARGE);
	/* A refused answer leaves the connection unusable: the next has a new one. */
	g = (struct got){ 0 };
	cr_assert_eq(get("/ok", 1000, &g, &status), MTK_OK);
	cr_assert_eq(atomic_load(&S.accepts), 3);
}

Test(rthttp, no_header_injection_and_only_plain_http_urls)
{
	static const char *const bad[] = { "X-A: 1\r\nX-Injected: 2", NULL };
	static const char *const bad_lf[] = { "X-A: 1\nX-B: 2", NULL };
	struct got g = { 0 };
	long status;

	cr_assert_eq(req_at(NULL, "POST", "/p", bad, "x", 1, 1000, &g, &status),
	             MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(req_at(NULL, "POST", "/p", bad_lf, "x", 1, 1000, &g, &status),
	             MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(req_at(NULL, "GET", "/p HTTP/1.1\r\nX: 1", NULL, NULL, 0, 1000, &g, &status),
	             MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(req_at("https://127.0.0.1:1/p", "GET", NULL, NULL, NULL, 0, 1000, &g, &status),
	             MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(
	    req_at("http://user@127.0.0.1:1/p", "GET", NULL, NULL, NULL, 0, 1000, &g, &status),
	    MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(req_at(NULL, "PUT", "/p", NULL, NULL, 0, 1000, &g, &status),
	             MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(atomic_load(&S.accepts), 0, "nothing was sent");
}

/* ---- a GET sent behind a POST (the loop's /next behind its /response) ---- */

#define ACCEPTED "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"

/* POSTs to path with a GET of then_path sent right behind it. */
static enum mtk_status post_then(const char *path, const char *then_path, struct got *g,
                                 long *status)
{
	char u[256], then[256];
	const struct mtk_runtime_request r = {
		.method = "POST",
		.url = u,
		.body = "{}",
		.body_len = 2,
		.connect_timeout_ms = 1000,
		.timeout_ms = 1000,
	};
	const struct mtk_runtime_sink sink = { .header = on_header, .body = on_body, .arg = g };

	snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", S.port, path);
	snprintf(then, sizeof(then), "http://127.0.0.1:%d%s", S.port, then_path);
	*status = -1;
	return mtk__rthttp_perform_then(T, &r, &sink, status, then);
}

/* Waits (at most 2 s) for the server to have read n requests. */
static bool server_read(int n)
{
	for (int i = 0; i < 2000 && atomic_load(&S.nreq) < n; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000L }, NULL);
	return atomic_load(&S.nreq) >= n;
}

Test(rthttp, a_get_sent_behind_a_post_is_answered_to_the_next_get_and_not_sent_again)
{
	struct got g = { 0 };
	long status;

	script(0, (struct step){ .reply = ACCEPTED });
	script(1, (struct step){ .reply = OK_HELLO });
	script(2, (struct step){ .reply = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye" });
	cr_assert_eq(post_then("/r/response", "/next", &g, &status), MTK_OK);
	cr_assert_eq(status, 202);
	/* The GET went out with the POST, before anything asked for it. */
	cr_assert(server_read(2));
	memset(&g, 0, sizeof(g));
	cr_assert_eq(get("/next", 1000, &g, &status), MTK_OK);
	cr_assert_eq(status, 200);
	cr_assert_eq(g.body_len, 5);
	cr_assert_eq(memcmp(g.body, "hello", 5), 0);
	cr_assert(strncmp(S.requests[1], "GET /next HTTP/1.1\r\n", 20) == 0, "%s", S.requests[1]);
	/* Sent once: the request after it is the server's third, not a
	 * fourth behind a copy. */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(get("/other", 1000, &g, &status), MTK_OK);
	cr_assert_eq(g.body_len, 3);
	cr_assert_eq(memcmp(g.body, "bye", 3), 0);
	cr_assert_eq(atomic_load(&S.nreq), 3);
	cr_assert_eq(atomic_load(&S.accepts), 1);
}

Test(rthttp, an_answer_already_there_behind_the_post_answer_is_kept)
{
	struct got g = { 0 };
	long status;

	/* The GET's answer comes in the same write as the POST's. */
	script(0, (struct step){ .reply = ACCEPTED OK_HELLO });
	cr_assert_eq(post_then("/r/response", "/next", &g, &status), MTK_OK);
	cr_assert_eq(status, 202);
	memset(&g, 0, sizeof(g));
	cr_assert_eq(get("/next", 1000, &g, &status), MTK_OK);
	cr_assert_eq(status, 200);
	cr_assert_eq(memcmp(g.body, "hello", 5), 0);
	cr_assert_eq(atomic_load(&S.accepts), 1);
}

Test(rthttp, another_request_than_the_one_sent_behind_goes_on_a_new_connection)
{
	struct got g = { 0 };
	long status;

	script(0, (struct step){ .reply = ACCEPTED });
	script(1, (struct step){ .reply = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate" });
	script(2, (struct step){ .reply = OK_HELLO });
	cr_assert_eq(post_then("/r/response", "/next", &g, &status), MTK_OK);
	memset(&g, 0, sizeof(g));
	cr_assert_eq(get("/other", 1000, &g, &status), MTK_OK);
	cr_assert_eq(status, 200);
	cr_assert_eq(memcmp(g.body, "hello", 5), 0, "the answer to /next was taken for /other's");
	cr_assert_eq(atomic_load(&S.accepts), 2);
}

Test(rthttp, a_get_sent_behind_on_a_connection_the_server_closed_is_sent_again)
{
	struct got g = { 0 };
	long status;

	/* The server answers the POST, then closes without reading on. */
	script(0, (struct step){ .reply = ACCEPTED, .close = true });
	script(1, (struct step){ .reply = OK_HELLO });
	cr_assert_eq(post_then("/r/response", "/next", &g, &status), MTK_OK);
	cr_assert_eq(status, 202);
	memset(&g, 0, sizeof(g));
	cr_assert_eq(get("/next", 1000, &g, &status), MTK_OK);
	cr_assert_eq(status, 200);
	cr_assert_eq(memcmp(g.body, "hello", 5), 0);
	cr_assert(strncmp(S.requests[1], "GET /next HTTP/1.1\r\n", 20) == 0, "%s", S.requests[1]);
	cr_assert_eq(atomic_load(&S.accepts), 2);
}
