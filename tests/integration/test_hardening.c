/*
 * A hostile process on the same machine (issue 10): Host names, proxies,
 * NULs in URLs, request smuggling, connections and requests that take every
 * slot, and the drain on shutdown. The server runs in this process on fake
 * clocks: a deadline of ten seconds passes when the test says so.
 */
#include <arpa/inet.h>
#include "cr_shim.h"
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "http.h"
#include "inproc.h"
#include "route.h"

#define TOKEN_PATH "/computeMetadata/v1/instance/service-accounts/default/token"

static struct test_inproc ip;
static int port;

static void start(const struct daemon_limits *limits)
{
	const char *colon;

	cr_assert_eq(test_inproc_start(&ip, NULL, limits), 0);
	colon = strrchr(ip.srv.bound, ':');
	port = atoi(colon + 1);
}

static void stop(void)
{
	if (ip.daemon)
		test_inproc_stop(&ip, 1000);
}

TestSuite(hardening, .fini = stop, .timeout = 60);

/* Sends one request with Connection: close and reads the whole answer. */
static long ask(const char *method, const char *path, const char *headers, char *out, size_t cap)
{
	char req[2048];

	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\n%sConnection: close\r\n\r\n", method, path,
	         headers);
	return test_raw(port, req, strlen(req), out, cap);
}

static int connect_idle(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	cr_assert(fd >= 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Whether the server closed fd: reads until end of stream, with a backstop
 * of 5 s of real time against a hang (never reached when the code works). */
static int closed_by_server(int fd)
{
	char buf[4096];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5000) <= 0)
			return 0;
		r = recv(fd, buf, sizeof(buf), 0);
		if (r <= 0)
			return 1;
	}
}

static int open_at_least(const struct daemon_counts *c, void *arg)
{
	return c->open >= *(unsigned *)arg;
}

static int open_at_most(const struct daemon_counts *c, void *arg)
{
	return c->open <= *(unsigned *)arg;
}

/* Answered: the connection waits for a next request, or is gone. */
static int answered(const struct daemon_counts *c, void *arg)
{
	(void)arg;
	return c->idle >= 1 || c->open == 0;
}

static int reading_at_least(const struct daemon_counts *c, void *arg)
{
	return c->reading >= *(unsigned *)arg;
}

static void until_open(unsigned n)
{
	cr_assert_eq(test_inproc_until(&ip, open_at_least, &n), 0, "%u connections never opened",
	             n);
}

/* ---- Host names (DNS rebinding) ---- */

Test(hardening, a_host_name_not_ours_is_refused_on_every_flavour)
{
	static const char *const paths[] = { TOKEN_PATH, "/latest/meta-data/instance-id",
		                             "/metatoken/v1/stats", "/" };
	char out[4096], hdr[512];

	start(NULL);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		snprintf(hdr, sizeof(hdr),
		         "Host: attacker.example\r\nMetadata-Flavor: Google\r\n"
		         "Authorization: Bearer %s\r\n",
		         ip.srv.admin_secret);
		cr_assert(ask("GET", paths[i], hdr, out, sizeof(out)) > 0);
		cr_assert(strncmp(out, "HTTP/1.1 403", 12) == 0, "%s: %s", paths[i], out);
		cr_assert_not_null(strstr(out, "attacker.example"), "%s", out);
		cr_assert_not_null(strstr(out, "DNS rebinding"), "%s", out);
		cr_assert_null(strstr(out, "access_token"), "%s", out);
	}
	/* The GCE refusal still says which flavour answered. */
	ask("GET", TOKEN_PATH, "Host: attacker.example\r\nMetadata-Flavor: Google\r\n", out,
	    sizeof(out));
	cr_assert_not_null(strstr(out, "Metadata-Flavor: Google"), "%s", out);
}

Test(hardening, loopback_metadata_and_bound_names_are_accepted)
{
	const char *const hosts[] = { "localhost",
		                      "LOCALHOST:8169",
		                      "127.0.0.1",
		                      "127.1.2.3:80",
		                      "[::1]:8169",
		                      "metadata.google.internal",
		                      "Metadata.Google.Internal.",
		                      "metadata",
		                      "169.254.169.254",
		                      "169.254.169.254:80" };
	char out[4096], hdr[256];

	start(NULL);
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		snprintf(hdr, sizeof(hdr), "Host: %s\r\nMetadata-Flavor: Google\r\n", hosts[i]);
		cr_assert(ask("GET", TOKEN_PATH, hdr, out, sizeof(out)) > 0);
		cr_assert(strncmp(out, "HTTP/1.1 200", 12) == 0, "Host %s: %s", hosts[i], out);
	}
	snprintf(hdr, sizeof(hdr), "Host: %s\r\nMetadata-Flavor: Google\r\n", ip.srv.bound);
	cr_assert(ask("GET", TOKEN_PATH, hdr, out, sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 200", 12) == 0, "%s", out);
}

Test(hardening, host_values_are_judged_by_name_not_by_prefix)
{
	const char *const extra[] = { "dev.test" };

	cr_assert(route_host_allowed("dev.test:80", "127.0.0.1", extra, 1));
	cr_assert(route_host_allowed("[::1]", "127.0.0.1", NULL, 0));
	cr_assert(route_host_allowed("10.0.0.5:8169", "10.0.0.5", NULL, 0));
	cr_assert_not(route_host_allowed("dev.test.evil.example", "127.0.0.1", extra, 1));
	cr_assert_not(route_host_allowed("127.0.0.1.nip.io", "127.0.0.1", NULL, 0));
	cr_assert_not(route_host_allowed("localhost.evil.example", "127.0.0.1", NULL, 0));
	cr_assert_not(route_host_allowed("metadata.google.internal.evil", "127.0.0.1", NULL, 0));
	cr_assert_not(route_host_allowed("[::1", "127.0.0.1", NULL, 0));
	cr_assert_not(route_host_allowed("[::1]x", "127.0.0.1", NULL, 0));
	cr_assert_not(route_host_allowed("::1", "127.0.0.1", NULL, 0));
	cr_assert_not(route_host_allowed("", "127.0.0.1", NULL, 0));
	cr_assert_not(route_host_allowed(":80", "127.0.0.1", NULL, 0));
	cr_assert_not(route_host_allowed("10.0.0.5", "127.0.0.1", NULL, 0));
	cr_assert_not(route_host_allowed("0x7f.0.0.1", "127.0.0.1", NULL, 0));
}

/* ---- X-Forwarded-For ---- */

Test(hardening, x_forwarded_for_is_refused_wherever_credentials_are)
{
	const struct {
		const char *method, *path;
	} refused[] = {
		{ "GET", TOKEN_PATH },
		{ "GET", "/latest/meta-data/iam/security-credentials/" },
		{ "GET", "/latest/meta-data/instance-id" },
		{ "PUT", "/latest/api/token" },
		{ "GET", "/v1/credentials" },
		{ "GET", "/metatoken/v1/stats" },
	};
	char out[4096], hdr[512];

	start(NULL);
	snprintf(hdr, sizeof(hdr),
	         "Host: 127.0.0.1\r\nMetadata-Flavor: Google\r\nX-Forwarded-For: 203.0.113.9\r\n"
	         "X-aws-ec2-metadata-token-ttl-seconds: 60\r\nAuthorization: Bearer %s\r\n"
	         "Content-Length: 0\r\n",
	         ip.srv.admin_secret);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		cr_assert(ask(refused[i].method, refused[i].path, hdr, out, sizeof(out)) > 0);
		cr_assert(strncmp(out, "HTTP/1.1 403", 12) == 0, "%s %s: %s", refused[i].method,
		          refused[i].path, out);
		cr_assert_null(strstr(out, "\"Token\""), "%s", out);
	}
	/* The stand-ins for cloud APIs sit behind proxies like the real ones:
	 * there the header is no reason to refuse. */
	cr_assert(ask("GET", "/protected/x", "Host: 127.0.0.1\r\nX-Forwarded-For: 203.0.113.9\r\n",
	              out, sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 401", 12) == 0, "%s", out);
}

/* ---- URLs and framing ---- */

Test(hardening, a_nul_in_the_url_is_refused_not_cut_short)
{
	char out[4096];

	start(NULL);
	cr_assert(ask("GET", TOKEN_PATH "%00.json",
	              "Host: 127.0.0.1\r\nMetadata-Flavor: Google\r\n", out, sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 400", 12) == 0, "%s", out);
	cr_assert_null(strstr(out, "access_token"), "%s", out);
	cr_assert(ask("GET", "/computeMetadata/v1/project/project-id?alt=te%00xt",
	              "Host: 127.0.0.1\r\nMetadata-Flavor: Google\r\n", out, sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 400", 12) == 0, "%s", out);
}

Test(hardening, ambiguous_framing_is_refused_and_the_connection_closed)
{
	static const struct {
		const char *headers;
		const char *status;
	} cases[] = {
		{ "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", "HTTP/1.1 400" },
		{ "Content-Length: 2\r\nContent-Length: 3\r\n", "HTTP/1.1 400" },
		{ "Content-Length: 2\r\nContent-Length: 2\r\n", "HTTP/1.1 400" },
		{ "Transfer-Encoding: gzip\r\n", "HTTP/1.1 501" },
		{ "Transfer-Encoding: gzip, chunked\r\n", "HTTP/1.1 501" },
	};
	char req[512], out[4096];

	start(NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* A second request follows on the same connection: it must not
		 * be answered, since the first one's end is unknown. */
		snprintf(
		    req, sizeof(req),
		    "POST /protected/x HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\nab"
		    "GET /computeMetadata/v1/project/project-id HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		    "Metadata-Flavor: Google\r\n\r\n",
		    cases[i].headers);
		cr_assert(test_raw(port, req, strlen(req), out, sizeof(out)) > 0, "%s",
		          cases[i].headers);
		cr_assert(strncmp(out, cases[i].status, 12) == 0, "%s-> %s", cases[i].headers, out);
		cr_assert_not_null(strstr(out, "Connection: close"), "%s", out);
		cr_assert_null(strstr(out + 12, "HTTP/1.1"), "smuggled a second answer: %s", out);
	}
}

/* ---- caps ---- */

Test(hardening, one_client_address_cannot_take_every_connection)
{
	struct daemon_limits l = { .per_client = 3 };
	struct daemon_counts c;
	char out[4096];
	int fds[3];

	start(&l);
	for (int i = 0; i < 3; i++)
		fds[i] = connect_idle();
	until_open(3);
	cr_assert(ask("GET", "/computeMetadata/v1/project/project-id",
	              "Host: 127.0.0.1\r\nMetadata-Flavor: Google\r\n", out, sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 503", 12) == 0, "%s", out);
	cr_assert_not_null(strstr(out, "Retry-After: 1"), "%s", out);
	cr_assert_not_null(strstr(out, "too many connections from this client"), "%s", out);
	daemon_counts(ip.daemon, &c);
	cr_assert_geq(c.cap_hits, 1);
	/* A slot given back is a slot to use. */
	close(fds[0]);
	cr_assert_eq(test_inproc_until(&ip, open_at_most, &(unsigned){ 2 }), 0);
	cr_assert(ask("GET", "/computeMetadata/v1/project/project-id",
	              "Host: 127.0.0.1\r\nMetadata-Flavor: Google\r\n", out, sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 200", 12) == 0, "%s", out);
	close(fds[1]);
	close(fds[2]);
}

Test(hardening, past_the_connection_cap_clients_get_503_not_a_hang)
{
	struct daemon_limits l = { .connections = 4 };
	char out[4096];
	int fds[4];

	start(&l);
	cr_assert_eq(daemon_limits(ip.daemon).connections, 4);
	for (int i = 0; i < 4; i++)
		fds[i] = connect_idle();
	until_open(4);
	cr_assert(ask("GET", "/latest/meta-data/instance-id", "Host: 127.0.0.1\r\n", out,
	              sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 503", 12) == 0, "%s", out);
	cr_assert_not_null(strstr(out, "Retry-After: 1"), "%s", out);
	cr_assert_not_null(strstr(out, "Server: EC2ws"), "in the IMDS shape: %s", out);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

Test(hardening, the_connection_cap_follows_the_descriptor_limit)
{
	struct rlimit rl = { .rlim_cur = 400, .rlim_max = 400 };

	/* This test runs in a process of its own: lowering the hard limit
	 * here touches no other test. */
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	start(NULL);
	cr_assert_lt(daemon_limits(ip.daemon).connections, 400);
	cr_assert_gt(daemon_limits(ip.daemon).connections, 200);
	cr_assert_leq(daemon_limits(ip.daemon).per_client, daemon_limits(ip.daemon).connections);
}

struct asked {
	pthread_t thread;
	const char *path;
	const char *headers;
	char out[4096];
	long n;
};

/* Like ask(), for a request the server holds until the test moves its
 * clock: it reads until the server closes, with a 30 s backstop (test_raw's
 * 2 s of silence could pass on a loaded machine before the test moves it). */
static void *ask_thread(void *arg)
{
	struct asked *a = arg;
	char req[1024];
	size_t got = 0;
	int fd = connect_idle();

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n%sConnection: close\r\n\r\n", a->path,
	         a->headers);
	a->n = send(fd, req, strlen(req), MSG_NOSIGNAL);
	while (a->n > 0 && got + 1 < sizeof(a->out)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 30000) <= 0)
			break;
		r = recv(fd, a->out + got, sizeof(a->out) - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	a->out[got] = '\0';
	close(fd);
	return NULL;
}

#define WATCH "/computeMetadata/v1/project/project-id?wait_for_change=true&timeout_sec=30"
#define GCE_H "Host: 127.0.0.1\r\nMetadata-Flavor: Google\r\n"

Test(hardening, held_requests_have_a_cap_and_the_one_past_it_is_answered_at_once)
{
	struct daemon_limits l = { .held = 2 };
	struct asked a[2] = { { .path = WATCH, .headers = GCE_H },
		              { .path = WATCH, .headers = GCE_H } };
	struct daemon_counts c;
	char out[4096];

	start(&l);
	for (int i = 0; i < 2; i++)
		pthread_create(&a[i].thread, NULL, ask_thread, &a[i]);
	cr_assert_eq(test_inproc_until_held(&ip, 2), 0);
	/* The third watch would wait 30 s; over the cap it is answered now. */
	cr_assert(ask("GET", WATCH, GCE_H, out, sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 200", 12) == 0, "%s", out);
	cr_assert_not_null(strstr(out, "metatoken-local"), "%s", out);
	daemon_counts(ip.daemon, &c);
	cr_assert_eq(c.held, 2);
	cr_assert_geq(c.cap_hits, 1);
	/* The two held ones are answered when their 30 s pass on the clock. */
	test_inproc_wait(&ip, 30000);
	for (int i = 0; i < 2; i++) {
		pthread_join(a[i].thread, NULL);
		cr_assert(strncmp(a[i].out, "HTTP/1.1 200", 12) == 0, "%s", a[i].out);
	}
}

/* ---- deadlines ---- */

Test(hardening, a_trickling_client_cannot_extend_the_header_deadline)
{
	struct daemon_limits l = { .header_timeout_ms = 10000 };
	struct daemon_counts c;
	static const char line[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";
	int fd;

	start(&l);
	fd = connect_idle();
	cr_assert_eq(send(fd, line, strlen(line), MSG_NOSIGNAL), (ssize_t)strlen(line));
	cr_assert_eq(test_inproc_until(&ip, reading_at_least, &(unsigned){ 1 }), 0);
	/* The sweep times a state from when it first sees it (daemon.c
	 * sweeps every 250 ms): let it see this one now. */
	test_inproc_wait(&ip, 0);
	/* A header line every 4 s: each byte would restart an idle timer. */
	for (int i = 0; i < 2; i++) {
		test_inproc_wait(&ip, 4000);
		cr_assert_eq(send(fd, "X-A: 1\r\n", 8, MSG_NOSIGNAL), 8);
	}
	test_inproc_wait(&ip, 1999);
	daemon_counts(ip.daemon, &c);
	cr_assert_eq(c.timed_out, 0, "cut before the deadline");
	test_inproc_wait(&ip, 1);
	daemon_counts(ip.daemon, &c);
	cr_assert_eq(c.timed_out, 1);
	cr_assert(closed_by_server(fd));
	close(fd);
}

Test(hardening, an_idle_connection_is_closed_after_the_idle_timeout)
{
	struct daemon_limits l = { .idle_timeout_ms = 30000 };
	struct daemon_counts c;
	int fd;

	start(&l);
	fd = connect_idle();
	until_open(1);
	test_inproc_wait(&ip, 29999);
	daemon_counts(ip.daemon, &c);
	cr_assert_eq(c.timed_out, 0);
	test_inproc_wait(&ip, 1);
	daemon_counts(ip.daemon, &c);
	cr_assert_eq(c.timed_out, 1);
	cr_assert(closed_by_server(fd));
	close(fd);
}

/* ---- the drain ---- */

Test(hardening, stopping_answers_held_requests_with_connection_close_and_ends_idle_ones)
{
	struct asked a = { .path = "/computeMetadata/v1/project/project-id", .headers = GCE_H };
	static const char rule[] =
	    "{\"path\":\"/computeMetadata/v1/project/\",\"latency_ms\":60000}";
	struct daemon_counts c;
	char req[256];
	uint64_t id;
	int idle;

	start(NULL);
	cr_assert_eq(faults_add_json(&ip.srv.faults, rule, strlen(rule), &id, req, sizeof(req)), 0);
	/* The held request asks for keep-alive: only the drain closes it. */
	a.headers = GCE_H "Connection: keep-alive\r\n";
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n%s\r\n", a.path, a.headers);
	idle = connect_idle();
	{
		int fd = connect_idle();
		char out[4096];

		cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
		cr_assert_eq(test_inproc_until_held(&ip, 1), 0);
		daemon_counts(ip.daemon, &c);
		cr_assert_eq(c.open, 2);
		/* Grace on the fake wait clock never runs out by itself: the
		 * stop returns only because every connection ended. */
		daemon_stop(ip.daemon, 5000);
		ip.daemon = NULL;
		long n = recv(fd, out, sizeof(out) - 1, 0);
		cr_assert_gt(n, 0);
		out[n] = '\0';
		cr_assert(strncmp(out, "HTTP/1.1 200", 12) == 0, "%s", out);
		cr_assert_not_null(strstr(out, "Connection: close"), "%s", out);
		cr_assert_not_null(strstr(out, "metatoken-local"), "%s", out);
		close(fd);
	}
	cr_assert(closed_by_server(idle));
	close(idle);
	app_release(&ip.srv);
}

/* ---- the admin secret's folder ---- */

Test(hardening, an_open_secret_folder_is_made_private_and_a_foreign_one_refused)
{
	char run[] = "/tmp/metatoken-xdg-XXXXXX", dir[128], err[512];
	struct stat st;

	cr_assert_not_null(mkdtemp(run));
	snprintf(dir, sizeof(dir), "%s/metatoken", run);
	cr_assert_eq(mkdir(dir, 0700), 0);
	cr_assert_eq(chmod(dir, 0777), 0);
	setenv("XDG_RUNTIME_DIR", run, 1);
	start(NULL);
	cr_assert_eq(admin_write_file(&ip.srv, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700, "mode %o", (unsigned)(st.st_mode & 0777));
	admin_release(&ip.srv);

	/* A folder someone else owns could be theirs to read: refused. */
	if (geteuid() == 0) {
		cr_assert_eq(chown(dir, 65534, 65534), 0);
		cr_assert_neq(admin_write_file(&ip.srv, err, sizeof(err)), 0);
		cr_assert_not_null(strstr(err, "belongs to another user"), "%s", err);
	}
	rmdir(dir);
	rmdir(run);
}

Test(hardening, a_client_that_closed_its_side_does_not_keep_a_slot)
{
	static const char req[] =
	    "GET /computeMetadata/v1/project/project-id HTTP/1.1\r\n" GCE_H "\r\n";
	struct daemon_counts c;
	char out[4096] = "";
	int fd;

	start(NULL);
	fd = connect_idle();
	cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	shutdown(fd, SHUT_WR);
	/* Once answered, the next sweep frees the slot, long before the idle
	 * timeout. */
	for (size_t got = 0; !strstr(out, "metatoken-local");) {
		ssize_t r = recv(fd, out + got, sizeof(out) - 1 - got, 0);

		cr_assert_gt(r, 0, "no answer");
		got += (size_t)r;
		out[got] = '\0';
	}
	cr_assert_eq(test_inproc_until(&ip, answered, NULL), 0);
	test_inproc_wait(&ip, 300);
	cr_assert(closed_by_server(fd));
	daemon_counts(ip.daemon, &c);
	cr_assert_eq(c.timed_out, 0);
	close(fd);
}

Test(hardening, names_in_allowed_hosts_are_accepted_too)
{
	char out[4096];

	cr_assert_eq(test_inproc_start(&ip, "{\"allowed_hosts\": [\"dev.test\"]}", NULL), 0);
	port = atoi(strrchr(ip.srv.bound, ':') + 1);
	cr_assert(ask("GET", TOKEN_PATH,
	              "Host: DEV.test:8169\r\n"
	              "Metadata-Flavor: Google\r\n",
	              out, sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 200", 12) == 0, "%s", out);
	cr_assert(ask("GET", TOKEN_PATH,
	              "Host: dev.test.evil\r\n"
	              "Metadata-Flavor: Google\r\n",
	              out, sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 403", 12) == 0, "%s", out);
}

Test(hardening, a_client_that_closed_its_side_mid_request_does_not_keep_a_slot)
{
	static const char part[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";
	struct daemon_counts c;
	char buf[256];
	int fd, closed = 0;

	start(NULL);
	fd = connect_idle();
	cr_assert_eq(send(fd, part, strlen(part), MSG_NOSIGNAL), (ssize_t)strlen(part));
	shutdown(fd, SHUT_WR);
	/* The rest can never come. The wait clock stands still, so no
	 * deadline can end it: only the sweep seeing the end of the stream
	 * (or libmicrohttpd itself). */
	for (int i = 0; i < 2000 && !closed; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		test_inproc_wait(&ip, 0);
		if (poll(&p, 1, 5) > 0)
			closed = recv(fd, buf, sizeof(buf), 0) <= 0;
	}
	cr_assert(closed, "the half-closed connection was kept");
	daemon_counts(ip.daemon, &c);
	cr_assert_eq(c.timed_out, 0);
	close(fd);
}

/* A hang report (tests/fuzz/fuzz_http.c) tells a stopped sweep from a
 * running one by these two counts. */
Test(hardening, the_counts_say_when_the_deadline_sweep_last_ran)
{
	struct daemon_counts c;

	start(NULL);
	test_inproc_wait(&ip, 0);
	daemon_counts(ip.daemon, &c);
	cr_assert_geq(c.sweeps, 1);
	cr_assert_eq(c.since_sweep_ms, 0);
	/* Less than a sweep interval: the timer thread does not sweep yet. */
	fake_clock_advance(&ip.wait_time, 100);
	daemon_counts(ip.daemon, &c);
	cr_assert_eq(c.since_sweep_ms, 100);
	test_inproc_wait(&ip, 0);
	daemon_counts(ip.daemon, &c);
	cr_assert_eq(c.since_sweep_ms, 0);
}

Test(hardening, a_path_without_a_leading_slash_is_a_404_not_a_crash)
{
	char out[4096];

	start(NULL);
	cr_assert(ask("GET", "y", "Host: 127.0.0.1\r\n", out, sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 404", 12) == 0, "%s", out);
	cr_assert(ask("GET", "*", "Host: 127.0.0.1\r\n", out, sizeof(out)) > 0);
	cr_assert(strncmp(out, "HTTP/1.1 404", 12) == 0 || strncmp(out, "HTTP/1.1 400", 12) == 0,
	          "%s", out);
}
