/*
 * metatoken-bootstrap as a process, against a loopback Runtime API fixture
 * in the test: loading the handler .so (and failing to, as init errors that
 * name the file and the symbol), one invocation end to end with the example
 * handlers, and a Runtime API that is not there.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUESTS 16

struct request {
	char method[8];
	char path[256];
	char headers[2048];
	char body[4096];
};

/* The fixture: answers /next with one invocation, then 500; POSTs with 202. */
static struct {
	int listener, port;
	pthread_t thread;
	atomic_bool stop;
	const char *event;
	const char *token_header; /* a Lambda-Runtime-Token-Json line or NULL */
	int served;
	pthread_mutex_t lock;
	struct request req[MAX_REQUESTS];
	int nreq;
} S;

static char err_path[64];

/* Reads one request from fd; 0 when one arrived, -1 at EOF or on error. */
static int read_request(int fd, struct request *r)
{
	char buf[8192], *end, *cl;
	size_t have = 0, want;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
		if (have == sizeof(buf) || (n = read(fd, buf + have, sizeof(buf) - have)) <= 0)
			return -1;
		have += (size_t)n;
	}
	*end = '\0';
	sscanf(buf, "%7s %255s", r->method, r->path);
	snprintf(r->headers, sizeof(r->headers), "%s", strchr(buf, '\n') + 1);
	cl = strcasestr(r->headers, "Content-Length:");
	want = cl ? strtoul(cl + 15, NULL, 10) : 0;
	cr_assert_lt(want, sizeof(r->body));
	have -= (size_t)(end + 4 - buf);
	memcpy(r->body, end + 4, have);
	while (have < want) {
		if ((n = read(fd, r->body + have, want - have)) <= 0)
			return -1;
		have += (size_t)n;
	}
	return 0;
}

static void answer(int fd, struct request *r)
{
	char out[8192];
	int n;

	if (strcmp(r->method, "GET") == 0 && S.served == 0 && S.event) {
		S.served++;
		n = snprintf(out, sizeof(out),
		             "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: rid-1\r\n"
		             "Lambda-Runtime-Deadline-Ms: %lld\r\n"
		             "Lambda-Runtime-Function-Name: fn\r\n%s%s"
		             "Content-Length: %zu\r\n\r\n%s",
		             (long long)time(NULL) * 1000 + 60000,
		             S.token_header ? S.token_header : "", S.token_header ? "\r\n" : "",
		             strlen(S.event), S.event);
	} else if (strcmp(r->method, "GET") == 0) {
		n = snprintf(out, sizeof(out), "HTTP/1.1 500 No\r\nContent-Length: 0\r\n\r\n");
	} else {
		n = snprintf(
		    out, sizeof(out),
		    "HTTP/1.1 202 Accepted\r\nContent-Length: 15\r\n\r\n{\"status\":\"OK\"}");
	}
	cr_assert_eq(write(fd, out, (size_t)n), n);
}

static void *serve(void *arg)
{
	struct pollfd p = { .fd = S.listener, .events = POLLIN };
	struct request r;
	int fd;

	(void)arg;
	while (!atomic_load(&S.stop)) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		if ((fd = accept(S.listener, NULL, NULL)) < 0)
			continue;
		while (read_request(fd, &r) == 0) {
			pthread_mutex_lock(&S.lock);
			if (S.nreq < MAX_REQUESTS)
				S.req[S.nreq++] = r;
			answer(fd, &r);
			pthread_mutex_unlock(&S.lock);
		}
		close(fd);
	}
	return NULL;
}

static void setup(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	memset(&S, 0, sizeof(S));
	pthread_mutex_init(&S.lock, NULL);
	S.listener = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(S.listener, 0);
	cr_assert_eq(bind(S.listener, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(S.listener, 8), 0);
	getsockname(S.listener, (struct sockaddr *)&a, &len);
	S.port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&S.thread, NULL, serve, NULL), 0);
	snprintf(err_path, sizeof(err_path), "/tmp/test_bootstrap.%d.err", (int)getpid());
}

static void teardown(void)
{
	atomic_store(&S.stop, true);
	pthread_join(S.thread, NULL);
	close(S.listener);
	pthread_mutex_destroy(&S.lock);
	unlink(err_path);
}

TestSuite(bootstrap, .init = setup, .fini = teardown);

/*
 * Runs the bootstrap with _HANDLER=handler (NULL: unset), LAMBDA_TASK_ROOT
 * root (NULL: unset), the Runtime API at port, and extra arguments; stderr
 * goes to err_path. Returns the exit status; fails the test after 20 s.
 */
static int run(const char *handler, const char *root, int port, const char *arg1, const char *arg2)
{
	char api[32];
	int status, i;
	pid_t pid;

	snprintf(api, sizeof(api), "127.0.0.1:%d", port);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (!freopen(err_path, "w", stderr) || !freopen("/dev/null", "w", stdout))
			_exit(127);
		handler ? setenv("_HANDLER", handler, 1) : unsetenv("_HANDLER");
		root ? setenv("LAMBDA_TASK_ROOT", root, 1) : unsetenv("LAMBDA_TASK_ROOT");
		setenv("AWS_LAMBDA_RUNTIME_API", api, 1);
		unsetenv("YC_METADATA_ADDR");
		setenv("GCE_METADATA_HOST", "127.0.0.1:1", 1); /* no token fallback here */
		execl(METATOKEN_BOOTSTRAP_PATH, METATOKEN_BOOTSTRAP_PATH, arg1, arg2, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 2000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	cr_assert_fail("metatoken-bootstrap did not exit");
	return -1;
}

static const char *stderr_text(void)
{
	static char text[8192];
	FILE *f = fopen(err_path, "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;

	text[n] = '\0';
	if (f)
		fclose(f);
	return text;
}

/* The one request to path; fails the test if there is none. */
static const struct request *request_to(const char *method, const char *path)
{
	int i;

	for (i = 0; i < S.nreq; i++)
		if (strcmp(S.req[i].method, method) == 0 && strcmp(S.req[i].path, path) == 0)
			return &S.req[i];
	cr_assert_fail("no %s %s among %d requests", method, path, S.nreq);
	return NULL;
}

/* Checks the init error's type (header and body) and that its message
 * holds each of the NULL-terminated words. */
static void expect_init_error(const char *type, ...)
{
	const struct request *r = request_to("POST", "/2018-06-01/runtime/init/error");
	cJSON *doc = cJSON_Parse(r->body);
	const char *msg, *word;
	char header[128];
	va_list ap;

	snprintf(header, sizeof(header), "Lambda-Runtime-Function-Error-Type: %s", type);
	cr_assert(strstr(r->headers, header), "%s", r->headers);
	cr_assert(cJSON_IsObject(doc), "%s", r->body);
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "errorType")->valuestring, type);
	msg = cJSON_GetObjectItem(doc, "errorMessage")->valuestring;
	va_start(ap, type);
	while ((word = va_arg(ap, const char *)))
		cr_assert(strstr(msg, word), "\"%s\" not in \"%s\"", word, msg);
	va_end(ap);
	cr_assert(cJSON_IsArray(cJSON_GetObjectItem(doc, "stackTrace")));
	cJSON_Delete(doc);
}

Test(bootstrap, a_missing_file_is_an_import_error_naming_file_and_symbol)
{
	cr_assert_eq(run("/nonexistent/libnope.so:handle", NULL, S.port, NULL, NULL), 1);
	expect_init_error("Runtime.ImportModuleError", "/nonexistent/libnope.so", "handle", NULL);
	cr_assert(strstr(stderr_text(), "metatoken-bootstrap: "), "%s", stderr_text());
}

Test(bootstrap, a_missing_symbol_is_handler_not_found_naming_file_and_symbol)
{
	cr_assert_eq(run("libhello.so:no_such_symbol", EXAMPLES_DIR, S.port, NULL, NULL), 1);
	expect_init_error("Runtime.HandlerNotFound", EXAMPLES_DIR "/libhello.so", "no_such_symbol",
	                  NULL);
	cr_assert_eq(S.served, 0, "it asked for an invocation after an init error");
}

Test(bootstrap, no_handler_is_a_malformed_handler_name)
{
	cr_assert_eq(run(NULL, NULL, S.port, NULL, NULL), 1);
	expect_init_error("Runtime.MalformedHandlerName", "_HANDLER", NULL);
	cr_assert_eq(run("libhello.so:not-an-identifier", NULL, S.port, NULL, NULL), 1);
}

Test(bootstrap, the_example_runs_one_invocation_with_the_token_of_the_header)
{
	const struct request *r;
	cJSON *doc;

	S.event = "{\"k\":1}";
	S.token_header = "Lambda-Runtime-Token-Json: {\"access_token\":\"tok.1\",\"expires_in\":"
	                 "3599,\"token_type\":\"Bearer\"}";
	cr_assert_eq(run("libhello.so:context", EXAMPLES_DIR, S.port, "--invocations", "1"), 0,
	             "%s", stderr_text());
	r = request_to("POST", "/2018-06-01/runtime/invocation/rid-1/response");
	doc = cJSON_Parse(r->body);
	cr_assert(cJSON_IsObject(doc), "%s", r->body);
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "request_id")->valuestring, "rid-1");
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "function_name")->valuestring, "fn");
	cr_assert_str_eq(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "token"), "access_token")->valuestring,
	    "tok.1");
	cJSON_Delete(doc);
}

Test(bootstrap, the_default_symbol_is_handler)
{
	const struct request *r;

	S.event = "{}";
	cr_assert_eq(run(EXAMPLES_DIR "/libhello.so", NULL, S.port, "--invocations", "1"), 0, "%s",
	             stderr_text());
	r = request_to("POST", "/2018-06-01/runtime/invocation/rid-1/response");
	cr_assert(strstr(r->body, "\"message\":\"hello\""), "%s", r->body);
	cr_assert(strstr(r->body, "\"has_token\":false"), "%s", r->body);
}

Test(bootstrap, the_error_example_posts_its_error)
{
	const struct request *r;

	S.event = "{}";
	cr_assert_eq(run("liberror.so:greet", EXAMPLES_DIR, S.port, "--invocations", "1"), 0, "%s",
	             stderr_text());
	r = request_to("POST", "/2018-06-01/runtime/invocation/rid-1/error");
	cr_assert(strstr(r->headers, "Lambda-Runtime-Function-Error-Type: ValidationError"), "%s",
	          r->headers);
	cr_assert(strstr(r->body, "\"errorType\":\"ValidationError\""), "%s", r->body);
}

Test(bootstrap, no_runtime_api_is_a_clear_error_naming_the_address, .timeout = 30)
{
	char want[64];
	int port;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	/* A port nobody listens on: bound, never listened to. */
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	cr_assert_eq(run(EXAMPLES_DIR "/libhello.so", NULL, port, NULL, NULL), 1);
	close(fd);
	snprintf(want, sizeof(want), "Runtime API at http://127.0.0.1:%d", port);
	cr_assert(strstr(stderr_text(), want), "%s", stderr_text());
	cr_assert(strstr(stderr_text(), "metatoken-bootstrap: giving up"), "%s", stderr_text());
}

Test(bootstrap, help_exits_zero)
{
	cr_assert_eq(run(NULL, NULL, S.port, "--help", NULL), 0);
	cr_assert_eq(run(NULL, NULL, S.port, "--bogus", NULL), 2);
	cr_assert(strstr(stderr_text(), "usage: metatoken-bootstrap"), "%s", stderr_text());
	cr_assert_eq(S.nreq, 0);
}
