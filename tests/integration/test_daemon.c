/*
 * metatokend as a process: start-up errors, signals, and what it logs.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "server_proc.h"

TestSuite(daemon, .timeout = 30);

/* Runs metatokend with argv; asserts exit status 2 and one error line that
 * contains `want`. */
static void expect_startup_error(const char *const *argv, const char *want)
{
	char err[2048];
	int code = test_server_run_to_exit(argv, err, sizeof(err));

	cr_assert_eq(code, 2, "exit status %d, stderr: %s", code, err);
	cr_assert_not_null(strstr(err, want), "stderr lacks \"%s\": %s", want, err);
	cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "one line expected: %s", err);
}

static char *write_temp(const char *content)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/metatoken-test-XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

Test(daemon, sigterm_and_sigint_exit_0)
{
	struct test_server s;
	int status;

	cr_assert_eq(test_server_start(&s, NULL), 0);
	status = test_server_stop(&s);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);

	cr_assert_eq(test_server_start(&s, NULL), 0);
	kill(s.pid, SIGINT);
	cr_assert_eq(waitpid(s.pid, &status, 0), s.pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	s.pid = 0;
	test_server_stop(&s); /* removes its folder */
}

Test(daemon, bad_listen_address_is_a_one_line_error)
{
	expect_startup_error((const char *const[]){ "--listen", "999.1.1.1:80", NULL },
	                     "999.1.1.1");
	expect_startup_error((const char *const[]){ "--listen", "127.0.0.1", NULL }, "--listen");
	expect_startup_error((const char *const[]){ "--listen", "127.0.0.1:99999", NULL },
	                     "--listen");
}

Test(daemon, port_in_use_is_a_one_line_error)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	char listen_arg[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", ntohs(sa.sin_port));
	expect_startup_error((const char *const[]){ "--listen", listen_arg, NULL },
	                     "Address already in use");
	close(fd);
}

Test(daemon, bad_configuration_names_file_and_field)
{
	char *path = write_temp("{\"service_accounts\": [{\"id\": \"ajeok\", \"email\": "
	                        "\"a@b.iam\", \"lifetime_s\": \"ten\"}]}");
	char want[128];

	snprintf(want, sizeof(want), "%s: service_accounts[0].lifetime_s:", path);
	expect_startup_error((const char *const[]){ "--config", path, NULL }, want);
	unlink(path);
	expect_startup_error(
	    (const char *const[]){ "--config", "/nonexistent/metatoken.json", NULL },
	    "/nonexistent/metatoken.json");
}

Test(daemon, unknown_flags_and_arguments_are_usage_errors)
{
	char err[2048];

	cr_assert_eq(test_server_run_to_exit((const char *const[]){ "--frobnicate", NULL }, err,
	                                     sizeof(err)),
	             2);
	cr_assert_eq(
	    test_server_run_to_exit((const char *const[]){ "stray", NULL }, err, sizeof(err)), 2);
	cr_assert_not_null(strstr(err, "stray"));
	cr_assert_eq(test_server_run_to_exit((const char *const[]){ "--log-level", "loud", NULL },
	                                     err, sizeof(err)),
	             2);
	cr_assert_not_null(strstr(err, "--log-level"));
}

/* Reads what the server logged into buf (NUL-terminated) and removes the
 * log file. */
static void take_log(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f, "%s", path);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
}

Test(daemon, one_log_line_per_request_and_never_a_token)
{
	char log_path[] = "/tmp/metatoken-log-XXXXXX", url[1024], log[16384];
	struct test_response r;
	struct test_server s;
	const char *tok, *end;
	char token[512];
	int fd = mkstemp(log_path);

	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(test_server_start_logged(&s, NULL, log_path), 0);
	snprintf(url, sizeof(url), "%s/computeMetadata/v1/instance/service-accounts/default/token",
	         s.base_url);
	cr_assert_eq(test_http_gce(url, &r), 0);
	cr_assert_eq(r.status, 200);
	tok = strstr(r.body, "t1.");
	end = strchr(tok, '"');
	snprintf(token, sizeof(token), "%.*s", (int)(end - tok), tok);
	test_response_free(&r);
	snprintf(url, sizeof(url), "%s/computeMetadata/v1/nope?access_token=%s", s.base_url, token);
	cr_assert_eq(test_http_gce(url, &r), 0);
	test_response_free(&r);
	/* A token a client put in a path: the log names the route instead. */
	snprintf(url, sizeof(url), "%s/computeMetadata/v1/%s", s.base_url, token);
	cr_assert_eq(test_http_gce(url, &r), 0);
	cr_assert_eq(r.status, 404);
	test_response_free(&r);
	snprintf(url, sizeof(url), "%s/protected/%s", s.base_url, token);
	cr_assert_eq(test_http_gce(url, &r), 0);
	test_response_free(&r);
	snprintf(url, sizeof(url), "%s/no/such/%s", s.base_url, token);
	cr_assert_eq(test_http_gce(url, &r), 0);
	test_response_free(&r);
	cr_assert_eq(test_server_stop(&s), 0);

	take_log(log_path, log, sizeof(log));
	cr_assert_not_null(
	    strstr(log, "GET /computeMetadata/v1/instance/service-accounts/default/token 200 "),
	    "log: %s", log);
	cr_assert_not_null(strstr(log, "GET /computeMetadata/** 404 "), "log: %s", log);
	cr_assert_not_null(strstr(log, "GET /protected/** 401 "), "log: %s", log);
	cr_assert_not_null(strstr(log, "GET /** 404 "), "log: %s", log);
	cr_assert_null(strstr(log, token), "the log shows a token: %s", log);
	cr_assert_null(strstr(log, "t1."), "the log shows a token: %s", log);
}

Test(daemon, listens_on_ipv6_loopback)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct test_response r;
	struct test_server s;
	char url[128];
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (fd >= 0)
			close(fd);
		cr_skip_test("no IPv6 loopback on this machine");
	}
	close(fd);
	/* A second --listen overrides the harness's 127.0.0.1:0. */
	cr_assert_eq(test_server_start(&s, (const char *const[]){ "--listen", "[::1]:0", NULL }),
	             0);
	cr_assert_eq(strncmp(s.host_port, "[::1]:", 6), 0, "%s", s.host_port);
	snprintf(url, sizeof(url), "%s/computeMetadata/v1/project/project-id", s.base_url);
	cr_assert_eq(test_http_gce(url, &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "metatoken-local");
	test_response_free(&r);
	test_server_stop(&s);
}

/* Starts the server with `--listen addr` and its log at info; returns the
 * log. The warning about a non-loopback address is judged on the socket,
 * not on the text given. */
static void log_of_listen(const char *addr, char *log, size_t size)
{
	char log_path[] = "/tmp/metatoken-log-XXXXXX";
	struct test_server s;
	int fd = mkstemp(log_path);

	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(
	    test_server_start_logged(&s, (const char *const[]){ "--listen", addr, NULL }, log_path),
	    0, "%s", addr);
	cr_assert_eq(test_server_stop(&s), 0);
	take_log(log_path, log, size);
}

Test(daemon, the_loopback_warning_judges_the_address_bound_not_its_spelling)
{
	char log[16384];

	log_of_listen("[0:0:0:0:0:0:0:1]:0", log, sizeof(log));
	cr_assert_null(strstr(log, "not a loopback"), "warned for ::1: %s", log);
	log_of_listen("127.9.8.7:0", log, sizeof(log));
	cr_assert_null(strstr(log, "not a loopback"), "warned for 127/8: %s", log);
	log_of_listen("0.0.0.0:0", log, sizeof(log));
	cr_assert_not_null(strstr(log, "not a loopback"), "no warning for 0.0.0.0: %s", log);
}
