/*
 * Runtimes metatokend starts and supervises (issue 11): a function whose
 * runtime is a command (here tests/integration/runtimes/sh_runtime.sh, a
 * Runtime API client in sh and curl). Its environment, its log lines,
 * concurrency across processes, and what happens when it crashes, hangs
 * past its timeout, or cannot start. In-process; a timeout ends when the
 * test moves the wait clock.
 */
#include "cr_shim.h"
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "inproc.h"
#include "log.h"

static struct test_inproc ip;
static char dir[PATH_MAX]; /* this file's directory */
static char mark[64];      /* a private folder the runtime marks */
static char log_path[96];  /* where stderr (the server's log) goes */
static const char *code;   /* the function's code_dir: dir unless a test sets it */
static FILE *log_fp;

static void setup(void)
{
	char *slash;

	snprintf(dir, sizeof(dir), "%s", __FILE__);
	slash = strrchr(dir, '/');
	cr_assert_not_null(slash);
	*slash = '\0';
	snprintf(mark, sizeof(mark), "/tmp/mtk-rt-XXXXXX");
	cr_assert_not_null(mkdtemp(mark));
	/* The server's log, function output included, into a file to read;
	 * the test's own messages stay on stderr. */
	code = dir;
	snprintf(log_path, sizeof(log_path), "%s/log", mark);
	log_fp = fopen(log_path, "w");
	cr_assert_not_null(log_fp);
	setvbuf(log_fp, NULL, _IOLBF, 0);
	log_set_file(log_fp);
}

static void teardown(void)
{
	char cmd[128];

	if (ip.daemon)
		test_inproc_stop(&ip, 1000);
	log_set_file(NULL);
	if (log_fp)
		fclose(log_fp);
	log_fp = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mark);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", mark);
}

TestSuite(runtimes, .init = setup, .fini = teardown, .timeout = 60);

static void start(const char *extra, const char *command)
{
	char cfg[3 * PATH_MAX];

	snprintf(cfg, sizeof(cfg),
	         "{\"functions\": [{\"name\": \"sh\", \"runtime\": \"command\","
	         " \"command\": [%s], \"handler\": \"index.handler\", \"code_dir\": \"%s\","
	         " \"environment\": {\"GREETING\": \"hi\", \"MARK_DIR\": \"%s\"}%s}]}",
	         command, code, mark, extra);
	cr_assert_eq(test_inproc_start(&ip, cfg, NULL), 0);
}

static char *sh_command(void)
{
	static char cmd[PATH_MAX + 64];

	snprintf(cmd, sizeof(cmd), "\"/bin/sh\", \"%s/runtimes/sh_runtime.sh\"", dir);
	return cmd;
}

struct bg {
	pthread_t thread;
	const char *event;
	struct test_response r;
	int rc;
};

static void *bg_run(void *arg)
{
	struct bg *b = arg;
	char url[256];

	snprintf(url, sizeof(url), "%s/2015-03-31/functions/sh/invocations", ip.base);
	b->rc = test_http("POST", url, NULL, b->event, &b->r);
	return NULL;
}

static void invoke_bg(struct bg *b, const char *event)
{
	b->event = event;
	cr_assert_eq(pthread_create(&b->thread, NULL, bg_run, b), 0);
}

static void join(struct bg *b)
{
	pthread_join(b->thread, NULL);
	cr_assert_eq(b->rc, 0);
}

static void invoke(const char *event, struct test_response *r)
{
	struct bg b = { 0 };

	invoke_bg(&b, event);
	join(&b);
	*r = b.r;
}

static const char *field(cJSON *o, const char *name)
{
	cJSON *v = cJSON_GetObjectItem(o, name);

	cr_assert(cJSON_IsString(v), "no %s", name);
	return v->valuestring;
}

static int pid_of(const struct test_response *r)
{
	cJSON *o = cJSON_Parse(r->body);
	int pid;

	cr_assert_not_null(o, "%s", r->body);
	pid = cJSON_GetObjectItem(o, "pid")->valueint;
	cJSON_Delete(o);
	return pid;
}

/* Reads the log so far. */
static char *read_log(void)
{
	static char buf[65536];
	FILE *f;
	size_t n;

	fflush(log_fp);
	f = fopen(log_path, "r");
	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

Test(runtimes, a_runtime_gets_the_lambda_environment_pointed_back_at_metatokend)
{
	struct test_response r;
	char real_dir[PATH_MAX];
	cJSON *o;

	start("", sh_command());
	invoke("\"env\"", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	o = cJSON_Parse(r.body);
	cr_assert_not_null(o, "%s", r.body);
	cr_assert_not_null(realpath(dir, real_dir));
	/* Its own Runtime API, a listener of its own; the metadata is ours. */
	cr_assert_str_neq(field(o, "api"), strchr(ip.base, '/') + 2);
	cr_assert(strncmp(field(o, "api"), "127.0.0.1:", 10) == 0, "%s", field(o, "api"));
	cr_assert_str_eq(field(o, "yc"), strchr(ip.base, '/') + 2);
	cr_assert_str_eq(field(o, "gce"), strchr(ip.base, '/') + 2);
	cr_assert_str_eq(field(o, "handler"), "index.handler");
	cr_assert_str_eq(field(o, "root"), real_dir);
	cr_assert_str_eq(field(o, "pwd"), real_dir);
	cr_assert_str_eq(field(o, "name"), "sh");
	cr_assert_str_eq(field(o, "mem"), "128");
	cr_assert_str_eq(field(o, "group"), "/aws/lambda/sh");
	cr_assert(strstr(field(o, "stream"), "/[$LATEST]"), "%s", field(o, "stream"));
	cr_assert_str_eq(field(o, "greeting"), "hi");
	cJSON_Delete(o);
	test_response_free(&r);
}

Test(runtimes, output_and_report_lines_reach_the_log_with_the_request_id)
{
	struct test_response r;
	char id[64], want[160];
	const char *log;

	start("", sh_command());
	invoke("{\"k\":1}", &r);
	cr_assert_eq(r.status, 200);
	cr_assert_not_null(test_response_header(&r, "X-Amzn-RequestId", id, sizeof(id)));
	/* The process's line is read by the supervisor: wait for it. */
	snprintf(want, sizeof(want), "fn    sh %s handling {\"k\":1}", id);
	for (int i = 0; i < 500 && !strstr(read_log(), want); i++)
		usleep(10000);
	log = read_log();
	cr_assert(strstr(log, want), "no '%s' in:\n%s", want, log);
	snprintf(want, sizeof(want), "fn    sh START RequestId: %s Version: $LATEST", id);
	cr_assert(strstr(log, want), "%s", log);
	snprintf(want, sizeof(want), "fn    sh END RequestId: %s", id);
	cr_assert(strstr(log, want), "%s", log);
	snprintf(want, sizeof(want), "fn    sh REPORT RequestId: %s\tDuration: ", id);
	cr_assert(strstr(log, want), "%s", log);
	cr_assert(strstr(log, "\tMax Memory Used: "), "%s", log);
	cr_assert(strstr(log, "\tInit Duration: "), "a cold start says so: %s", log);
	test_response_free(&r);
}

Test(runtimes, a_crash_fails_its_invocation_and_the_runtime_is_started_again)
{
	struct test_response r;
	int pid1, pid2;

	start("", sh_command());
	invoke("1", &r);
	pid1 = pid_of(&r);
	test_response_free(&r);
	invoke("\"crash\"", &r);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.headers, "X-Amz-Function-Error: Unhandled"), "%s", r.headers);
	cr_assert(strstr(r.body, "\"errorType\":\"Runtime.ExitError\""), "%s", r.body);
	cr_assert(strstr(r.body, "exit status 3"), "%s", r.body);
	test_response_free(&r);
	invoke("2", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	pid2 = pid_of(&r);
	cr_assert_neq(pid1, pid2, "a new process");
	test_response_free(&r);
}

Test(runtimes, a_timeout_kills_the_runtime_and_a_fresh_one_serves_the_next)
{
	struct test_response r;
	struct bg b = { 0 };
	char hang[96];
	int pid1, pid2;

	start(", \"timeout_s\": 2", sh_command());
	invoke("1", &r);
	pid1 = pid_of(&r);
	test_response_free(&r);
	invoke_bg(&b, "\"hang\"");
	snprintf(hang, sizeof(hang), "%s/hang", mark);
	for (int i = 0; i < 1000 && access(hang, F_OK) != 0; i++)
		usleep(10000);
	cr_assert_eq(access(hang, F_OK), 0, "the runtime never took the invocation");
	fake_clock_advance(&ip.wait_time, 2001);
	join(&b);
	cr_assert_eq(b.r.status, 200);
	cr_assert(strstr(b.r.body, "\"errorType\":\"Sandbox.Timedout\""), "%s", b.r.body);
	cr_assert(strstr(b.r.body, "after 2.00 seconds"), "%s", b.r.body);
	/* Killed at once, reaped by the supervisor soon after. */
	for (int i = 0; i < 500 && kill(pid1, 0) == 0; i++)
		usleep(10000);
	cr_assert_eq(kill(pid1, 0), -1, "the runtime that timed out is gone");
	test_response_free(&b.r);
	invoke("2", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	pid2 = pid_of(&r);
	cr_assert_neq(pid1, pid2);
	test_response_free(&r);
}

Test(runtimes, a_function_error_from_a_runtime_reaches_the_invoker)
{
	struct test_response r;

	start("", sh_command());
	invoke("\"fail\"", &r);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.headers, "X-Amz-Function-Error: Unhandled"), "%s", r.headers);
	cr_assert(strstr(r.body, "\"errorType\":\"Failure\""), "%s", r.body);
	test_response_free(&r);
}

Test(runtimes, concurrency_two_runs_two_processes_at_once)
{
	struct bg a = { 0 }, b = { 0 };
	struct test_response r;
	char hang[96];
	int pid;

	start(", \"concurrency\": 2, \"timeout_s\": 1", sh_command());
	/* One hangs in one process; the other is served by the second. */
	invoke_bg(&a, "\"hang\"");
	snprintf(hang, sizeof(hang), "%s/hang", mark);
	for (int i = 0; i < 1000 && access(hang, F_OK) != 0; i++)
		usleep(10000);
	cr_assert_eq(access(hang, F_OK), 0);
	invoke_bg(&b, "7");
	join(&b);
	cr_assert_eq(b.r.status, 200, "%s", b.r.body);
	pid = pid_of(&b.r);
	cr_assert(pid > 0);
	test_response_free(&b.r);
	fake_clock_advance(&ip.wait_time, 1001);
	join(&a);
	cr_assert(strstr(a.r.body, "Sandbox.Timedout"), "%s", a.r.body);
	test_response_free(&a.r);
	invoke("8", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	test_response_free(&r);
}

Test(runtimes, a_runtime_that_cannot_start_fails_the_invocation_naming_it)
{
	struct test_response r;

	start("", "\"/nonexistent/bootstrap\"");
	invoke("{}", &r);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "Runtime.InvalidEntrypoint"), "%s", r.body);
	cr_assert(strstr(r.body, "/nonexistent/bootstrap"), "%s", r.body);
	test_response_free(&r);
}

/* ---- the C runtime: metatoken-bootstrap and a handler .so ---- */

static void start_c(const char *handler, const char *extra)
{
	char cfg[3 * PATH_MAX];

	snprintf(cfg, sizeof(cfg),
	         "{\"functions\": [{\"name\": \"sh\", \"handler\": \"%s\", \"code_dir\": \"%s\","
	         " \"memory_mb\": 256%s}]}",
	         handler, MTK_EXAMPLES_DIR, extra);
	cr_assert_eq(test_inproc_start(&ip, cfg, NULL), 0);
}

Test(runtimes, a_c_handler_gets_a_context_exact_for_both_seeds_with_a_live_token)
{
	/* base64 of {"client":{"installation_id":"i-1","app_title":"t","app_version_name":"v",
	 * "app_version_code":"1","app_package_name":"p"},"custom":{"k":"v"},"env":{"e":"1"}} */
	static const char cc[] =
	    "X-Amz-Client-Context: eyJjbGllbnQiOnsiaW5zdGFsbGF0aW9uX2lkIjoiaS0xIiwiYXBwX3RpdGxlIjoi"
	    "dCIsImFwcF92ZXJzaW9uX25hbWUiOiJ2IiwiYXBwX3ZlcnNpb25fY29kZSI6IjEiLCJhcHBfcGFja2FnZV9u"
	    "YW1lIjoicCJ9LCJjdXN0b20iOnsiayI6InYifSwiZW52Ijp7ImUiOiIxIn19";
	struct test_response r, prot;
	char url[256], id[64], auth[600];
	cJSON *o, *tok, *c;
	long long deadline, now_ms;
	struct timespec ts;

	start_c("./libhello.so:context", "");
	snprintf(url, sizeof(url), "%s/2015-03-31/functions/sh/invocations", ip.base);
	cr_assert_eq(test_http("POST", url, (const char *const[]){ cc, NULL }, "{}", &r), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_not_null(test_response_header(&r, "X-Amzn-RequestId", id, sizeof(id)));
	o = cJSON_Parse(r.body);
	cr_assert_not_null(o, "%s", r.body);
	/* Yandex's seed. */
	cr_assert_str_eq(field(o, "function_name"), "sh");
	cr_assert_str_eq(field(o, "function_version"), "$LATEST");
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "memory_limit_in_mb")));
	cr_assert_eq(cJSON_GetObjectItem(o, "memory_limit_in_mb")->valueint, 256);
	cr_assert_str_eq(field(o, "request_id"), id);
	/* AWS's seed. */
	cr_assert_str_eq(field(o, "aws_request_id"), id);
	cr_assert_str_eq(field(o, "invoked_function_arn"),
	                 "arn:aws:lambda:us-east-1:123456789012:function:sh");
	cr_assert_str_eq(field(o, "log_group_name"), "/aws/lambda/sh");
	cr_assert(strstr(field(o, "log_stream_name"), "/[$LATEST]"));
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "identity")), "%s", r.body);
	c = cJSON_GetObjectItem(o, "client_context");
	cr_assert(cJSON_IsObject(c), "%s", r.body);
	cr_assert_str_eq(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(c, "client"), "installation_id")->valuestring,
	    "i-1");
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "custom"), "k")->valuestring,
	                 "v");
	/* The deadline is wall-clock epoch ms, the timeout (3 s) ahead. */
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	deadline = (long long)cJSON_GetObjectItem(o, "deadline_ms")->valuedouble;
	cr_assert(deadline > now_ms - 1000 && deadline <= now_ms + 3000, "%lld vs %lld", deadline,
	          now_ms);
	/* A live token, accepted by the cloud API stand-in. */
	tok = cJSON_GetObjectItem(o, "token");
	cr_assert(cJSON_IsObject(tok), "%s", r.body);
	cr_assert_str_eq(cJSON_GetObjectItem(tok, "token_type")->valuestring, "Bearer");
	cr_assert_eq(cJSON_GetObjectItem(tok, "expires_in")->valueint, 43200);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	         cJSON_GetObjectItem(tok, "access_token")->valuestring);
	snprintf(url, sizeof(url), "%s/protected/compute", ip.base);
	cr_assert_eq(test_http("GET", url, (const char *const[]){ auth, NULL }, NULL, &prot), 0);
	cr_assert_eq(prot.status, 200, "%s", prot.body);
	cJSON_Delete(o);
	test_response_free(&r);
	test_response_free(&prot);
}

Test(runtimes, a_missing_handler_symbol_is_an_init_error_naming_file_and_symbol)
{
	struct test_response r;
	char url[256];

	start_c("./libhello.so:nosuch", "");
	snprintf(url, sizeof(url), "%s/2015-03-31/functions/sh/invocations", ip.base);
	cr_assert_eq(test_http("POST", url, NULL, "{}", &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.headers, "X-Amz-Function-Error: Unhandled"), "%s", r.headers);
	cr_assert(strstr(r.body, "Runtime.HandlerNotFound"), "%s", r.body);
	cr_assert(strstr(r.body, "libhello.so"), "%s", r.body);
	cr_assert(strstr(r.body, "nosuch"), "%s", r.body);
	test_response_free(&r);
}

Test(runtimes, a_revoked_token_is_replaced_in_the_next_invocations_context)
{
	struct test_response r;
	char url[256], first[600], second[600];
	cJSON *o;

	start_c("./libhello.so:context", "");
	snprintf(url, sizeof(url), "%s/2015-03-31/functions/sh/invocations", ip.base);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(test_http("POST", url, NULL, "{}", &r), 0);
		o = cJSON_Parse(r.body);
		cr_assert_not_null(o, "%s", r.body);
		snprintf(i ? second : first, sizeof(first), "%s",
		         cJSON_GetObjectItem(cJSON_GetObjectItem(o, "token"), "access_token")
		             ->valuestring);
		cJSON_Delete(o);
		test_response_free(&r);
		if (i == 0) {
			cr_assert_eq(test_control(ip.base, ip.srv.admin_secret, "POST",
			                          "accounts/default/expire", NULL, &r),
			             0);
			cr_assert_eq(r.status, 200, "%s", r.body);
			test_response_free(&r);
		}
	}
	cr_assert_str_neq(first, second, "the same token after expire");
}

Test(runtimes, a_runtime_that_exits_while_a_child_holds_its_pipes_is_seen_and_replaced)
{
	struct test_response r;

	/* The runtime exits at once; its child keeps stdout and stderr open. */
	start("", "\"/bin/sh\", \"-c\", \"sleep 120 & exit 3\"");
	invoke("{}", &r);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "Runtime.ExitError"), "%s", r.body);
	cr_assert(strstr(r.body, "exit status 3"), "%s", r.body);
	test_response_free(&r);
}

/* Writes text into the file at path (made or replaced in place). */
static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static int invoke_pid(void)
{
	struct test_response r;
	int pid;

	invoke("1", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	pid = pid_of(&r);
	test_response_free(&r);
	return pid;
}

/* A code directory of its own in the test's folder (the folder holds the
 * log, which changes at every invocation). */
static const char *code_dir(void)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/code", mark);
	cr_assert_eq(mkdir(path, 0700), 0);
	return path;
}

Test(runtimes, with_reload_a_changed_file_takes_effect_at_the_next_invocation)
{
	char path[PATH_MAX], pyc[PATH_MAX];
	int first, second;

	code = code_dir();
	snprintf(path, sizeof(path), "%s/index.py", code);
	write_file(path, "v1\n");
	start(", \"reload\": true", sh_command());
	first = invoke_pid();
	cr_assert_eq(invoke_pid(), first, "restarted with nothing changed");

	/* What an import writes, and hidden files, are not changes. */
	snprintf(pyc, sizeof(pyc), "%s/__pycache__", code);
	cr_assert_eq(mkdir(pyc, 0700), 0);
	snprintf(pyc, sizeof(pyc), "%s/__pycache__/index.cpython-311.pyc", code);
	write_file(pyc, "x");
	snprintf(pyc, sizeof(pyc), "%s/.index.py.swp", code);
	write_file(pyc, "x");
	cr_assert_eq(invoke_pid(), first, "restarted for __pycache__ or a hidden file");

	/* Same size, maybe the same second: still a change. */
	write_file(path, "v2\n");
	second = invoke_pid();
	cr_assert_neq(second, first, "the old runtime served code that changed");
	cr_assert_eq(invoke_pid(), second, "restarted again with nothing changed");
	cr_assert(strstr(read_log(), "code changed in"), "%s", read_log());

	/* A new file in a new sub-directory is a change too. */
	snprintf(pyc, sizeof(pyc), "%s/pkg", code);
	cr_assert_eq(mkdir(pyc, 0700), 0);
	snprintf(pyc, sizeof(pyc), "%s/pkg/mod.py", code);
	write_file(pyc, "x");
	cr_assert_neq(invoke_pid(), second);
}

Test(runtimes, without_reload_a_warm_runtime_keeps_serving_after_a_change)
{
	char path[PATH_MAX];
	int first;

	code = code_dir();
	snprintf(path, sizeof(path), "%s/index.py", code);
	write_file(path, "v1\n");
	start("", sh_command());
	first = invoke_pid();
	write_file(path, "v2 is longer\n");
	cr_assert_eq(invoke_pid(), first);
	cr_assert_null(strstr(read_log(), "code changed in"));
}

Test(runtimes, a_runtime_connection_is_not_held_to_the_per_client_cap)
{
	/* The caller's connection is the one 127.0.0.1 may have; the runtime's,
	 * to its own Runtime API address, is the server's own business. */
	const struct daemon_limits limits = { .per_client = 1 };
	char cfg[3 * PATH_MAX];
	struct test_response r;

	snprintf(cfg, sizeof(cfg),
	         "{\"functions\": [{\"name\": \"sh\", \"handler\": \"./libhello.so:handler\","
	         " \"code_dir\": \"%s\"}]}",
	         MTK_EXAMPLES_DIR);
	cr_assert_eq(test_inproc_start(&ip, cfg, &limits), 0);
	/* The runtime connects while the caller's connection waits open. */
	invoke("{}", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(strstr(r.body, "\"message\":\"hello\""), "%s", r.body);
	test_response_free(&r);
}

Test(runtimes, a_server_that_runs_functions_serves_on_one_thread_unless_told)
{
	char cfg[3 * PATH_MAX];

	/* One event loop: an invocation crosses no thread (app.c). */
	start_c("./libhello.so:handler", "");
	cr_assert_eq(daemon_threads(ip.daemon), 1);
	test_inproc_stop(&ip, 1000);
	snprintf(cfg, sizeof(cfg),
	         "{\"limits\": {\"threads\": 3}, \"functions\": [{\"name\": \"sh\","
	         " \"handler\": \"./libhello.so:handler\", \"code_dir\": \"%s\"}]}",
	         MTK_EXAMPLES_DIR);
	cr_assert_eq(test_inproc_start(&ip, cfg, NULL), 0);
	cr_assert_eq(daemon_threads(ip.daemon), 3);
}
