/*
 * The functions benchmark's load generator (bench/functions): plain
 * blocking sockets, one keep-alive HTTP/1.1 connection per thread, so that
 * what is measured is metatokend and its runtimes, not a client library.
 *
 *	fn_bench rate HOST:PORT THREADS SECONDS invoke FUNCTION
 *	fn_bench rate HOST:PORT THREADS SECONDS get PATH
 *	    requests per second with THREADS connections, each one request in
 *	    flight: sync invocations (POST /2015-03-31/functions/F/invocations
 *	    with a small event), or GETs of a metadata path (the floor);
 *	fn_bench rtt HOST:PORT FUNCTION PATH SAMPLES
 *	    one connection: the round trip of one sync invocation against three
 *	    sequential GETs of PATH on another keep-alive connection to the
 *	    same server, interleaved in blocks of 100;
 *	fn_bench cold METATOKEND CONFIG FUNCTION BOOTSTRAP SAMPLES
 *	    SAMPLES times: a fresh metatokend with CONFIG, its first invocation
 *	    of FUNCTION (its runtime starts then: metatokend starts runtimes
 *	    when an invocation waits), and the Init Duration of its REPORT
 *	    line; then, as the baseline, BOOTSTRAP --version from fork to exit
 *	    (a process of the same program, without the runtime's work) and
 *	    /bin/echo (a process spawn with only libc to load).
 *
 * Prints one JSON object per line. Every socket has a 10 s timeout, so a
 * stalled server ends a run rather than hanging it.
 */
#include "bench_time.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS  16
#define IO_TIMEOUT_S 10
#define BUF_MAX      65536
#define RTT_BLOCK    100
#define LAT_MAX      (1 << 22) /* latencies kept per thread */
#define EVENT        "{\"bench\":true}"
#define COLD_WAIT_MS 10000

/* The q-th quantile (0..1) of v, sorted in place. */
static double quantile_us(int64_t *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_i64);
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return (double)v[i] / 1000.0;
}

static struct sockaddr_in server;

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* One keep-alive connection and its read buffer. */
struct conn {
	int fd;
	char buf[BUF_MAX];
	size_t have;
};

static int conn_open(struct conn *c, const struct sockaddr_in *sa)
{
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int one = 1;

	c->have = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/*
 * Sends req (a whole request) and reads one answer: its status, or -1 on
 * a transport error, a malformed answer or one without Content-Length
 * (metatokend always sends it). Bytes past the answer are kept.
 */
static int exchange(struct conn *c, const char *req, size_t len)
{
	size_t off = 0, head_len, body_len;
	const char *end, *p;
	int status;

	while (off < len) {
		ssize_t n = send(c->fd, req + off, len - off, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	for (;;) {
		ssize_t n;

		if (c->have >= 12 && (end = memmem(c->buf, c->have, "\r\n\r\n", 4)))
			break;
		if (c->have == sizeof(c->buf) - 1)
			return -1;
		n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have, 0);
		if (n <= 0)
			return -1;
		c->have += (size_t)n;
	}
	head_len = (size_t)(end - c->buf) + 4;
	c->buf[head_len - 1] = '\0'; /* the head is a string now; the body is bytes */
	if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	p = strcasestr(c->buf, "\r\nContent-Length:");
	if (!p)
		return -1;
	body_len = strtoull(p + 17, NULL, 10);
	if (head_len + body_len > sizeof(c->buf) - 1)
		return -1;
	while (c->have < head_len + body_len) {
		ssize_t n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have, 0);

		if (n <= 0)
			return -1;
		c->have += (size_t)n;
	}
	c->have -= head_len + body_len;
	memmove(c->buf, c->buf + head_len + body_len, c->have);
	return status;
}

/* The request text of an invocation of fn, or of a GET of path. */
static size_t invoke_request(char *out, size_t cap, const char *fn)
{
	return (size_t)snprintf(out, cap,
	                        "POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\n"
	                        "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
	                        "Content-Length: %zu\r\n\r\n%s",
	                        fn, strlen(EVENT), EVENT);
}

static size_t get_request(char *out, size_t cap, const char *path)
{
	return (size_t)snprintf(out, cap,
	                        "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                        "Metadata-Flavor: Google\r\n\r\n",
	                        path);
}

/* ---- rate ---- */

struct worker {
	pthread_t thread;
	char req[1024];
	size_t req_len;
	int64_t stop_ns;
	long done, errors;
	int64_t *lat;
	size_t n_lat;
};

static void *rate_worker(void *arg)
{
	struct worker *w = arg;
	struct conn *c = malloc(sizeof(*c));

	if (!c || conn_open(c, &server) != 0) {
		w->errors++;
		free(c);
		return NULL;
	}
	for (;;) {
		int64_t t0 = now_ns(), t1;
		int status;

		if (t0 >= w->stop_ns)
			break;
		status = exchange(c, w->req, w->req_len);
		t1 = now_ns();
		if (status != 200) {
			w->errors++;
			if (status < 0)
				break; /* the connection is gone */
			continue;
		}
		w->done++;
		if (w->n_lat < LAT_MAX)
			w->lat[w->n_lat++] = t1 - t0;
	}
	conn_close(c);
	free(c);
	return NULL;
}

static int cmd_rate(int argc, char **argv)
{
	int threads = atoi(argv[0]);
	double seconds = atof(argv[1]);
	int invoke = strcmp(argv[2], "invoke") == 0;
	struct worker w[MAX_THREADS];
	int64_t t0, t1, *all;
	long done = 0, errors = 0;
	size_t n_all = 0;

	(void)argc;
	if (threads < 1 || threads > MAX_THREADS || seconds <= 0 ||
	    (!invoke && strcmp(argv[2], "get") != 0)) {
		fprintf(stderr, "fn_bench rate: bad arguments\n");
		return 2;
	}
	memset(w, 0, sizeof(w));
	t0 = now_ns();
	for (int i = 0; i < threads; i++) {
		w[i].req_len = invoke ? invoke_request(w[i].req, sizeof(w[i].req), argv[3])
		                      : get_request(w[i].req, sizeof(w[i].req), argv[3]);
		w[i].stop_ns = t0 + (int64_t)(seconds * 1e9);
		w[i].lat = malloc(LAT_MAX * sizeof(*w[i].lat));
		if (!w[i].lat || pthread_create(&w[i].thread, NULL, rate_worker, &w[i]) != 0) {
			fprintf(stderr, "fn_bench rate: cannot start a thread\n");
			return 1;
		}
	}
	for (int i = 0; i < threads; i++)
		pthread_join(w[i].thread, NULL);
	t1 = now_ns();
	all = malloc(LAT_MAX * (size_t)threads * sizeof(*all));
	for (int i = 0; i < threads; i++) {
		done += w[i].done;
		errors += w[i].errors;
		if (all)
			memcpy(all + n_all, w[i].lat, w[i].n_lat * sizeof(*all));
		n_all += w[i].n_lat;
		free(w[i].lat);
	}
	printf("{\"kind\":\"rate\",\"what\":\"%s\",\"target\":\"%s\",\"threads\":%d,"
	       "\"requests\":%ld,\"errors\":%ld,\"duration_s\":%.3f,\"per_s\":%.1f,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
	       invoke ? "invoke" : "get", argv[3], threads, done, errors, (t1 - t0) / 1e9,
	       done / ((t1 - t0) / 1e9), all ? quantile_us(all, n_all, 0.50) : 0,
	       all ? quantile_us(all, n_all, 0.99) : 0);
	free(all);
	return errors ? 1 : 0;
}

/* ---- rtt ---- */

static int cmd_rtt(int argc, char **argv)
{
	const char *fn = argv[0], *path = argv[1];
	long samples = atol(argv[2]);
	char ireq[1024], greq[1024];
	size_t ilen = invoke_request(ireq, sizeof(ireq), fn);
	size_t glen = get_request(greq, sizeof(greq), path);
	struct conn *ic = malloc(sizeof(*ic)), *gc = malloc(sizeof(*gc));
	int64_t *inv = calloc((size_t)samples, sizeof(*inv));
	int64_t *three = calloc((size_t)samples, sizeof(*three));
	int64_t *one = calloc((size_t)samples * 3, sizeof(*one));
	long ni = 0, ng = 0, errors = 0;

	(void)argc;
	if (samples < 1 || !ic || !gc || !inv || !three || !one || conn_open(ic, &server) != 0 ||
	    conn_open(gc, &server) != 0) {
		fprintf(stderr, "fn_bench rtt: cannot start (samples %ld)\n", samples);
		return 1;
	}
	/* Warm both connections and the runtime. */
	for (int i = 0; i < 200; i++)
		if (exchange(ic, ireq, ilen) != 200 || exchange(gc, greq, glen) != 200) {
			fprintf(stderr, "fn_bench rtt: the warm-up failed\n");
			return 1;
		}
	while (ni < samples || ng < samples) {
		for (int k = 0; k < RTT_BLOCK && ni < samples; k++) {
			int64_t t0 = now_ns();

			if (exchange(ic, ireq, ilen) != 200) {
				errors++;
				goto out;
			}
			inv[ni++] = now_ns() - t0;
		}
		for (int k = 0; k < RTT_BLOCK && ng < samples; k++) {
			int64_t t0 = now_ns(), t;

			for (int j = 0; j < 3; j++) {
				t = now_ns();
				if (exchange(gc, greq, glen) != 200) {
					errors++;
					goto out;
				}
				one[3 * ng + j] = now_ns() - t;
			}
			three[ng++] = now_ns() - t0;
		}
	}
out:
	printf("{\"kind\":\"rtt\",\"what\":\"invoke\",\"target\":\"%s\",\"samples\":%ld,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"errors\":%ld}\n",
	       fn, ni, quantile_us(inv, (size_t)ni, 0.50), quantile_us(inv, (size_t)ni, 0.99),
	       errors);
	printf("{\"kind\":\"rtt\",\"what\":\"three_gets\",\"target\":\"%s\",\"samples\":%ld,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"errors\":0}\n",
	       path, ng, quantile_us(three, (size_t)ng, 0.50),
	       quantile_us(three, (size_t)ng, 0.99));
	printf("{\"kind\":\"rtt\",\"what\":\"one_get\",\"target\":\"%s\",\"samples\":%ld,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"errors\":0}\n",
	       path, 3 * ng, quantile_us(one, (size_t)(3 * ng), 0.50),
	       quantile_us(one, (size_t)(3 * ng), 0.99));
	conn_close(ic);
	conn_close(gc);
	free(ic);
	free(gc);
	free(inv);
	free(three);
	free(one);
	return errors ? 1 : 0;
}

/* ---- cold ---- */

/* Reads fd into buf (NUL-terminated) until buf + from holds want, or the
 * deadline. Returns 0 when found. */
static int read_until(int fd, char *buf, size_t cap, size_t *have, size_t from, const char *want,
                      int64_t deadline_ns)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left_ms = (deadline_ns - now_ns()) / 1000000;
		ssize_t n;

		buf[*have] = '\0';
		if (*have >= from && strstr(buf + from, want))
			return 0;
		if (left_ms <= 0 || *have + 1 >= cap || poll(&p, 1, (int)left_ms) <= 0)
			return -1;
		n = read(fd, buf + *have, cap - 1 - *have);
		if (n <= 0)
			return -1;
		*have += (size_t)n;
	}
}

/* Starts argv with stdout and stderr on pipes (*out, *err). */
static pid_t start(char *const argv[], int *out, int *err)
{
	int po[2], pe[2];
	pid_t pid;

	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	*out = po[0];
	*err = pe[0];
	return pid;
}

/* One cold sample: *ready_ns from fork to metatokend's address line,
 * *first_ns the first invocation's round trip, *init_ms its REPORT's Init
 * Duration. Returns 0 on success. */
static int cold_one(const char *daemon, const char *config, const char *fn, int64_t *ready_ns,
                    int64_t *first_ns, double *init_ms)
{
	char *argv[] = { (char *)daemon, "--listen", "127.0.0.1:0",  "--log-level", "warn",
		         "--no-control", "--config", (char *)config, NULL };
	static char out[8192], err[65536];
	size_t have_out = 0, have_err = 0;
	char req[1024];
	size_t len = invoke_request(req, sizeof(req), fn);
	struct sockaddr_in sa;
	struct conn *c = malloc(sizeof(*c));
	int64_t t0 = now_ns(), t1, t2;
	int fo = -1, fe = -1, rc = -1, status;
	char *p, addr[64];
	pid_t pid = start(argv, &fo, &fe);

	if (pid < 0 || !c)
		goto out;
	if (read_until(fo, out, sizeof(out), &have_out, 0, "# Ctrl-C stops it.",
	               t0 + (int64_t)COLD_WAIT_MS * 1000000) != 0 ||
	    !(p = strstr(out, "export GCE_METADATA_HOST=")) ||
	    sscanf(p + 25, "%63[0-9.:]", addr) != 1 || parse_addr(addr, &sa) != 0) {
		fprintf(stderr, "fn_bench cold: metatokend did not start:\n%s\n", out);
		goto out_kill;
	}
	t1 = now_ns();
	if (conn_open(c, &sa) != 0)
		goto out_kill;
	status = exchange(c, req, len);
	t2 = now_ns();
	conn_close(c);
	if (status != 200) {
		fprintf(stderr, "fn_bench cold: the first invocation answered %d\n", status);
		goto out_kill;
	}
	/* The REPORT line, whole. */
	if (read_until(fe, err, sizeof(err), &have_err, 0, "REPORT",
	               now_ns() + (int64_t)COLD_WAIT_MS * 1000000) != 0 ||
	    read_until(fe, err, sizeof(err), &have_err, (size_t)(strstr(err, "REPORT") - err), "\n",
	               now_ns() + (int64_t)COLD_WAIT_MS * 1000000) != 0 ||
	    !(p = strstr(err, "Init Duration: ")) || sscanf(p + 15, "%lf", init_ms) != 1) {
		fprintf(stderr, "fn_bench cold: no REPORT with an Init Duration:\n%s\n", err);
		goto out_kill;
	}
	*ready_ns = t1 - t0;
	*first_ns = t2 - t1;
	rc = 0;
out_kill:
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
out:
	if (fo >= 0)
		close(fo);
	if (fe >= 0)
		close(fe);
	free(c);
	return rc;
}

/* A baseline: PROGRAM ARG, fork to exit. */
static int64_t spawn_one(const char *program, const char *arg)
{
	char *argv[] = { (char *)program, (char *)arg, NULL };
	char buf[256];
	size_t have = 0;
	int64_t t0 = now_ns();
	int fo, fe, status;
	pid_t pid = start(argv, &fo, &fe);

	if (pid < 0)
		return -1;
	read_until(fo, buf, sizeof(buf), &have, 0, "\n", t0 + (int64_t)COLD_WAIT_MS * 1000000);
	waitpid(pid, &status, 0);
	close(fo);
	close(fe);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? now_ns() - t0 : -1;
}

static int cmd_cold(int argc, char **argv)
{
	long samples = atol(argv[4]);
	int64_t *ready = calloc((size_t)samples, sizeof(*ready));
	int64_t *first = calloc((size_t)samples, sizeof(*first));
	int64_t *spawn = calloc((size_t)samples, sizeof(*spawn));
	int64_t *init = calloc((size_t)samples, sizeof(*init));
	int64_t *floor = calloc((size_t)samples, sizeof(*floor));
	long n = 0;

	(void)argc;
	if (samples < 1 || !ready || !first || !spawn || !init || !floor)
		return 1;
	for (long i = 0; i < samples; i++) {
		double init_ms;

		if (cold_one(argv[0], argv[1], argv[2], &ready[n], &first[n], &init_ms) != 0)
			return 1;
		init[n] = (int64_t)(init_ms * 1e6);
		if ((spawn[n] = spawn_one(argv[3], "--version")) < 0 ||
		    (floor[n] = spawn_one("/bin/echo", "spawn")) < 0) {
			fprintf(stderr, "fn_bench cold: %s --version or /bin/echo failed\n",
			        argv[3]);
			return 1;
		}
		n++;
	}
	printf("{\"kind\":\"cold\",\"what\":\"first_invocation\",\"samples\":%ld,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
	       n, quantile_us(first, (size_t)n, 0.5), quantile_us(first, (size_t)n, 0.99),
	       quantile_us(first, (size_t)n, 1));
	printf("{\"kind\":\"cold\",\"what\":\"init_duration\",\"samples\":%ld,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
	       n, quantile_us(init, (size_t)n, 0.5), quantile_us(init, (size_t)n, 0.99),
	       quantile_us(init, (size_t)n, 1));
	printf("{\"kind\":\"cold\",\"what\":\"metatokend_ready\",\"samples\":%ld,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
	       n, quantile_us(ready, (size_t)n, 0.5), quantile_us(ready, (size_t)n, 0.99),
	       quantile_us(ready, (size_t)n, 1));
	printf("{\"kind\":\"cold\",\"what\":\"bootstrap_version_spawn\",\"samples\":%ld,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
	       n, quantile_us(spawn, (size_t)n, 0.5), quantile_us(spawn, (size_t)n, 0.99),
	       quantile_us(spawn, (size_t)n, 1));
	printf("{\"kind\":\"cold\",\"what\":\"echo_spawn\",\"samples\":%ld,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
	       n, quantile_us(floor, (size_t)n, 0.5), quantile_us(floor, (size_t)n, 0.99),
	       quantile_us(floor, (size_t)n, 1));
	free(ready);
	free(first);
	free(spawn);
	free(floor);
	free(init);
	return 0;
}

static int py_modes(int argc, char **argv); /* bench/python's modes, below */

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strncmp(argv[1], "py-", 3) == 0)
		return py_modes(argc, argv);
	if (argc == 7 && strcmp(argv[1], "rate") == 0 && parse_addr(argv[2], &server) == 0)
		return cmd_rate(argc - 3, argv + 3);
	if (argc == 6 && strcmp(argv[1], "rtt") == 0 && parse_addr(argv[2], &server) == 0)
		return cmd_rtt(argc - 3, argv + 3);
	if (argc == 7 && strcmp(argv[1], "cold") == 0)
		return cmd_cold(argc - 2, argv + 2);
	fprintf(stderr, "usage: fn_bench rate HOST:PORT THREADS SECONDS invoke|get FUNCTION|PATH\n"
	                "       fn_bench rtt HOST:PORT FUNCTION PATH SAMPLES\n"
	                "       fn_bench cold METATOKEND CONFIG FUNCTION BOOTSTRAP SAMPLES\n");
	return 2;
}

/*
 * ---- bench/python's modes (see bench/README.md, "Python runtime") ----
 *
 *	fn_bench py-rtt HOST:PORT FN_A FN_B SAMPLES
 *	    two keep-alive connections: sync invocations of FN_A and of FN_B
 *	    (the Python and the C runtime's echo), one at a time, interleaved
 *	    in blocks of 100 after a warm-up of 200 each; the round trip of each
 *	    and the rate one connection gets from it (samples over the time
 *	    spent in them);
 *	fn_bench py-cold METATOKEND CONFIG FUNCTION PYTHON CODE_DIR MODULE RUNTIME SAMPLES
 *	    SAMPLES times, after one untimed round: a fresh metatokend's first
 *	    invocation of FUNCTION (as `cold` does), then, from fork to exit,
 *	    `PYTHON -c pass`, `PYTHON -c 'import MODULE'` in CODE_DIR (the
 *	    baseline: the interpreter and the handler's own import) and
 *	    `PYTHON RUNTIME --version` (the runtime's own imports, no handler,
 *	    no socket). The three run in a rotating order, in the environment
 *	    metatokend gives a runtime (the variables it passes on).
 */

static double mean_per_s(const int64_t *v, size_t n)
{
	int64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += v[i];
	return sum > 0 ? (double)n / ((double)sum / 1e9) : 0;
}

static int cmd_py_rtt(char **argv)
{
	const char *fn[2] = { argv[0], argv[1] };
	long samples = atol(argv[2]);
	char req[2][1024];
	size_t len[2];
	struct conn *c[2] = { malloc(sizeof(struct conn)), malloc(sizeof(struct conn)) };
	int64_t *lat[2] = { calloc((size_t)samples + 1, sizeof(int64_t)),
		            calloc((size_t)samples + 1, sizeof(int64_t)) };
	long n[2] = { 0, 0 }, errors = 0;

	for (int s = 0; s < 2; s++) {
		if (samples < 1 || !c[s] || !lat[s] || conn_open(c[s], &server) != 0) {
			fprintf(stderr, "fn_bench py-rtt: cannot start (samples %ld)\n", samples);
			return 1;
		}
		len[s] = invoke_request(req[s], sizeof(req[s]), fn[s]);
	}
	for (int i = 0; i < 200; i++)
		for (int s = 0; s < 2; s++)
			if (exchange(c[s], req[s], len[s]) != 200) {
				fprintf(stderr, "fn_bench py-rtt: the warm-up of %s failed\n",
				        fn[s]);
				return 1;
			}
	while (n[0] < samples || n[1] < samples)
		for (int s = 0; s < 2; s++)
			for (int k = 0; k < RTT_BLOCK && n[s] < samples; k++) {
				int64_t t0 = now_ns();

				if (exchange(c[s], req[s], len[s]) != 200) {
					errors++;
					goto out;
				}
				lat[s][n[s]++] = now_ns() - t0;
			}
out:
	for (int s = 0; s < 2; s++) {
		double per_s = mean_per_s(lat[s], (size_t)n[s]);

		printf("{\"kind\":\"py_rtt\",\"what\":\"%s\",\"target\":\"%s\",\"samples\":%ld,"
		       "\"per_s\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
		       "\"errors\":%ld}\n",
		       s == 0 ? "a" : "b", fn[s], n[s], per_s,
		       quantile_us(lat[s], (size_t)n[s], 0.50),
		       quantile_us(lat[s], (size_t)n[s], 0.90),
		       quantile_us(lat[s], (size_t)n[s], 0.99), errors);
		conn_close(c[s]);
		free(c[s]);
		free(lat[s]);
	}
	return errors ? 1 : 0;
}

/* The variables metatokend passes on to a runtime (function_env.c), so that
 * the baselines' interpreter starts in the same environment. */
static char **runtime_like_env(void)
{
	static const char *const names[] = { "PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR" };
	static char *env[8];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = getenv(names[i]);

		if (v && asprintf(&env[n], "%s=%s", names[i], v) > 0)
			n++;
	}
	env[n] = NULL;
	return env;
}

/* argv in dir, fork to exit (its output read and dropped); -1 when it fails
 * or runs past COLD_WAIT_MS (then it is killed). */
static int64_t spawn_in(const char *dir, char *const argv[])
{
	char buf[4096];
	int p[2], status;
	int64_t t0 = now_ns(), deadline = t0 + (int64_t)COLD_WAIT_MS * 1000000;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		if (dir && chdir(dir) != 0)
			_exit(126);
		execve(argv[0], argv, runtime_like_env());
		_exit(127);
	}
	close(p[1]);
	for (;;) { /* until the pipe's end: it has exited, or closed them */
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		int64_t left_ms = (deadline - now_ns()) / 1000000;

		if (pid < 0 || left_ms <= 0 || poll(&pf, 1, (int)left_ms) <= 0 ||
		    read(p[0], buf, sizeof(buf)) <= 0)
			break;
	}
	close(p[0]);
	if (pid < 0)
		return -1;
	if (now_ns() >= deadline)
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? now_ns() - t0 : -1;
}

static void print_cold(const char *what, int64_t *v, long n)
{
	printf("{\"kind\":\"py_cold\",\"what\":\"%s\",\"samples\":%ld,\"p50_us\":%.1f,"
	       "\"p99_us\":%.1f,\"max_us\":%.1f}\n",
	       what, n, quantile_us(v, (size_t)n, 0.5), quantile_us(v, (size_t)n, 0.99),
	       quantile_us(v, (size_t)n, 1));
}

static int cmd_py_cold(char **argv)
{
	const char *daemon = argv[0], *config = argv[1], *fn = argv[2], *code_dir = argv[4];
	long samples = atol(argv[7]);
	char import[256];
	char *pass_argv[] = { argv[3], "-c", "pass", NULL };
	char *import_argv[] = { argv[3], "-c", import, NULL };
	char *runtime_argv[] = { argv[3], argv[6], "--version", NULL };
	char *const *base_argv[3] = { pass_argv, import_argv, runtime_argv };
	const char *base_dir[3] = { NULL, code_dir, NULL };
	static const char *const base_name[3] = { "python_pass", "python_import_handler",
		                                  "runtime_version" };
	int64_t *v[6];
	long n = 0;

	snprintf(import, sizeof(import), "import %s", argv[5]);
	for (int k = 0; k < 6; k++)
		if (samples < 1 || !(v[k] = calloc((size_t)samples + 1, sizeof(int64_t))))
			return 1;
	for (long i = -1; i < samples; i++) { /* i == -1: untimed (byte-compiles) */
		int64_t ready, first, t;
		double init_ms;

		if (cold_one(daemon, config, fn, &ready, &first, &init_ms) != 0)
			return 1;
		for (int j = 0; j < 3; j++) {
			int b = (int)((i + 1 + j) % 3);

			if ((t = spawn_in(base_dir[b], base_argv[b])) < 0) {
				fprintf(stderr, "fn_bench py-cold: %s %s %s failed\n",
				        base_argv[b][0], base_argv[b][1], base_argv[b][2]);
				return 1;
			}
			if (i >= 0)
				v[3 + b][n] = t;
		}
		if (i < 0)
			continue;
		v[0][n] = first;
		v[1][n] = (int64_t)(init_ms * 1e6);
		v[2][n] = ready;
		n++;
	}
	print_cold("first_invocation", v[0], n);
	print_cold("init_duration", v[1], n);
	print_cold("metatokend_ready", v[2], n);
	for (int b = 0; b < 3; b++)
		print_cold(base_name[b], v[3 + b], n);
	for (int k = 0; k < 6; k++)
		free(v[k]);
	return 0;
}

static int py_modes(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "py-rtt") == 0 && parse_addr(argv[2], &server) == 0)
		return cmd_py_rtt(argv + 3);
	if (argc == 10 && strcmp(argv[1], "py-cold") == 0)
		return cmd_py_cold(argv + 2);
	fprintf(stderr, "usage: fn_bench py-rtt HOST:PORT FN_A FN_B SAMPLES\n"
	                "       fn_bench py-cold METATOKEND CONFIG FUNCTION PYTHON CODE_DIR MODULE "
	                "RUNTIME SAMPLES\n");
	return 2;
}
