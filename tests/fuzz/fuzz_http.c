/*
 * Raw HTTP into metatokend: every parser of untrusted input the server has,
 * reached the way a hostile client reaches it. The input is written to a
 * loopback connection to the whole HTTP stack (daemon, route table, every
 * flavour, the reply layer) running in this process, and the answer read
 * to the end. That covers route matching and dispatch, the GCE tree walk
 * and its query parameters, the IMDS tree, its TTL header and the IMDSv2
 * session decode, the container and admin bearer checks, the control
 * API's paths and bodies, and Content-Length and framing checks.
 *
 * The configuration fixes the admin secret and the container token so that
 * seeds reach past the bearer checks. No request is held (a cap of zero
 * held requests answers every wait at once), so each input ends quickly.
 *
 * Invariants: the server answers or closes (it never crashes, hangs or
 * leaks, which the sanitizers check); every answer is HTTP/1.1 with a
 * status from 100 to 599; no answer to a request without the admin secret
 * shows it.
 */
#include "fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "function.h"
#include "route.h"
#include "app.h"
#include "server.h"

#define SECRET  "fuzz-admin-secret-0123456789"
#define HANG_MS 30000 /* silence from the server that counts as a hang */

static const char config[] =
    "{\"control\": {\"secret\": \"" SECRET "\"},"
    " \"aws\": {\"container_token\": \"fuzz-container-token\"},"
    " \"service_accounts\": [{\"id\": \"ajefuzz\", \"email\": \"fuzz@example.iam\","
    " \"aws_role\": \"fuzz-role\"}]}";

static struct server srv;
static struct clock wait_clock;
static struct daemon *daemon_;
static uint16_t port;

static void start(void)
{
	struct daemon_config dc = {
		.host = "127.0.0.1",
		.limits = DAEMON_LIMITS_DEFAULT,
		.wait_clock = &wait_clock,
		.srv = &srv,
		.dispatch = route_dispatch,
		.ended = route_ended,
	};
	char err[512];
	const char *colon;

	signal(SIGPIPE, SIG_IGN);
	log_set_level(getenv("FUZZ_HTTP_LOG") ? LOG_DEBUG : LOG_ERROR);
	if (config_parse(config, strlen(config), "fuzz.json", &srv.cfg, err, sizeof(err)) != 0 ||
	    app_init(&srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		abort();
	}
	clock_init(&wait_clock, NULL, NULL);
	dc.limits.held = 0;
	dc.limits.per_client = 0;
	daemon_ = daemon_start(&dc, err, sizeof(err));
	if (!daemon_) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		abort();
	}
	snprintf(srv.bound, sizeof(srv.bound), "%s", daemon_bound(daemon_));
	snprintf(srv.bound_host, sizeof(srv.bound_host), "%s", daemon_bound_host(daemon_));
	colon = strrchr(srv.bound, ':');
	port = (uint16_t)atoi(colon + 1);
	/* Functions too (the implicit `function` at the root Runtime API): no
	 * hold is granted here, so a /next or a sync invocation is answered at
	 * once (503, 429) rather than waiting. */
	srv.functions = functions_new(&srv, &wait_clock, err, sizeof(err));
	if (!srv.functions || functions_start(srv.functions, daemon_, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		abort();
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits at most timeout_ms for `events` on fd; returns whether they came
 * (or an error or the end of the stream). libFuzzer's -timeout watchdog is
 * a SIGALRM every timeout/2+1 seconds, and its handler has no SA_RESTART:
 * poll() fails with EINTR whenever one lands while it waits. That is no
 * timeout, so the wait goes on for the time left.
 */
static int wait_for(int fd, short events, int64_t timeout_ms)
{
	int64_t deadline_ms = mono_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left_ms = deadline_ms - mono_ms();
		int n;

		if (left_ms <= 0)
			return 0;
		n = poll(&p, 1, (int)left_ms);
		if (n > 0)
			return 1;
		FUZZ_CHECK(n == 0 || errno == EINTR, "poll: %s", strerror(errno));
	}
}

/* connect(), which the watchdog's signal may interrupt too: the connection
 * then goes on being made, and its outcome is read from SO_ERROR. */
static int connect_to(int fd, const struct sockaddr_in *sa)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	if (errno != EINTR)
		return -1;
	if (!wait_for(fd, POLLOUT, HANG_MS) ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return -1;
	errno = err;
	return err ? -1 : 0;
}

/* Whether buf holds a whole answer: its head and the Content-Length bytes
 * of body after it (no body for HEAD, 1xx, 204 and 304). */
static int answer_complete(char *buf, size_t len, int head)
{
	char *end, *cl;
	int status;

	buf[len] = '\0';
	end = strstr(buf, "\r\n\r\n");
	if (!end)
		return 0;
	status = len > 12 ? atoi(buf + 9) : 0;
	if (head || status < 200 || status == 204 || status == 304)
		return 1;
	*end = '\0';
	cl = strcasestr(buf, "\r\nContent-Length: ");
	*end = '\r';
	if (!cl)
		return 0; /* then the end of the stream ends the body */
	return len - (size_t)(end + 4 - buf) >= strtoull(cl + 18, NULL, 10);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	static char out[1 << 20];
	size_t got = 0;
	int fd;

	if (!daemon_)
		start();
	sa.sin_port = htons(port);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0, "socket");
	FUZZ_CHECK(connect_to(fd, &sa) == 0, "the server is gone: %s", strerror(errno));
	if (size)
		(void)send(fd, data, size, MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	/* Read the first answer whole, or to the end of the stream: the server
	 * keeps a half-closed keep-alive connection open. 30 s of silence would
	 * be a hang (an RSA key made on first use takes a second on a loaded
	 * machine). */
	while (!answer_complete(out, got, size >= 5 && memcmp(data, "HEAD ", 5) == 0)) {
		int64_t since_ms = mono_ms();
		ssize_t r;

		if (!wait_for(fd, POLLIN, HANG_MS)) {
			struct daemon_counts c;

			daemon_counts(daemon_, &c);
			FUZZ_CHECK(
			    0,
			    "no answer and no close in %lld ms (open %u, reading %u, idle %u, "
			    "held %u, cap hits %u, timed out %u; %lu sweeps, the last %lld ms ago)",
			    (long long)(mono_ms() - since_ms), c.open, c.reading, c.idle, c.held,
			    c.cap_hits, c.timed_out, c.sweeps, (long long)c.since_sweep_ms);
		}
		r = recv(fd, out + got, sizeof(out) - 1 - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == sizeof(out) - 1)
			break;
	}
	out[got] = '\0';
	close(fd);
	for (const char *p = out; p && *p; p = strstr(p + 1, "\r\n\r\nHTTP/1.1 ")) {
		const char *line = *p == 'H' ? p : p + 4;
		int status;

		FUZZ_CHECK(strncmp(line, "HTTP/1.1 ", 9) == 0, "not HTTP/1.1: %.60s", line);
		status = atoi(line + 9);
		FUZZ_CHECK(status >= 100 && status <= 599, "status %d", status);
		break; /* later answers may sit inside bodies; the first is enough */
	}
	if (!memmem(data, size, SECRET, strlen(SECRET)))
		FUZZ_CHECK(!strstr(out, SECRET), "the admin secret in an answer: %.200s", out);
	return 0;
}
