/*
 * libmetatoken and the `metatoken` CLI against the real metatokend, started
 * on an ephemeral loopback port: the real clock, the real libcurl transport.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "http.h"
#include "metatoken/context.h"
#include "metatoken/metatoken.h"
#include "server_proc.h"

#define DEFAULT_EMAIL "default@metatoken-local.iam.gserviceaccount.com"

static struct test_server srv;
static bool running;
static struct mtk_client *c;

static void start(void)
{
	unsetenv("YC_METADATA_ADDR");
	unsetenv("GCE_METADATA_HOST");
	cr_assert_eq(test_server_start(&srv, NULL), 0, "metatokend did not start");
	running = true;
	c = NULL;
}

static void stop(void)
{
	mtk_client_free(c);
	if (running)
		test_server_stop(&srv);
}

TestSuite(client_daemon, .init = start, .fini = stop, .timeout = 60);

static struct mtk_client *client_for(const char *account)
{
	struct mtk_client *x = NULL;
	enum mtk_status st;

	st = mtk_client_new(
	    &(struct mtk_client_options){ .struct_size = sizeof(struct mtk_client_options),
	                                  .endpoint = srv.host_port,
	                                  .account = account },
	    &x);
	cr_assert_eq(st, MTK_OK, "%s", mtk_strerror(st));
	return x;
}

/* What curl (the test support's libcurl GET) gets from the token URL. */
static char *curl_token(const char *account)
{
	struct test_response r;
	char url[512], *tok;
	cJSON *j;

	snprintf(url, sizeof(url), "%s/computeMetadata/v1/instance/service-accounts/%s/token",
	         srv.base_url, account);
	cr_assert_eq(test_http_gce(url, &r), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = cJSON_Parse(r.body);
	cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "access_token")));
	tok = strdup(cJSON_GetObjectItemCaseSensitive(j, "access_token")->valuestring);
	cJSON_Delete(j);
	test_response_free(&r);
	return tok;
}

static char *get(struct mtk_client *x, enum mtk_status *st)
{
	struct mtk_token *t = NULL;
	char *s;

	*st = mtk_client_get_token(x, &t);
	if (*st != MTK_OK)
		return NULL;
	s = strdup(mtk_token_access_token(t));
	mtk_token_free(t);
	return s;
}

Test(client_daemon, gets_the_token_curl_gets)
{
	struct mtk_token *t;
	char *want = curl_token("default");

	c = client_for(NULL);
	cr_assert_eq(mtk_client_get_token(c, &t), MTK_OK);
	cr_assert_str_eq(mtk_token_access_token(t), want);
	cr_assert_eq(strncmp(want, "t1.", 3), 0);
	cr_assert_str_eq(mtk_token_type(t), "Bearer");
	/* A fresh twelve-hour token, give or take the test's own seconds. */
	cr_assert(mtk_token_expires_in_ms(t) > 43200000 - 60000 &&
	          mtk_token_expires_in_ms(t) <= 43200000);
	mtk_token_free(t);
	free(want);
}

Test(client_daemon, a_cache_hit_does_no_io)
{
	struct mtk_client_stats s;
	enum mtk_status st;
	char *first, *again;
	int i;

	c = client_for(NULL);
	first = get(c, &st);
	cr_assert_eq(st, MTK_OK);
	for (i = 0; i < 100; i++) {
		again = get(c, &st);
		cr_assert_str_eq(again, first);
		free(again);
	}
	mtk_client_get_stats(c, &s);
	cr_assert_eq(s.http_requests, 1);
	/* With the server gone, the cached token is still served. */
	test_server_stop(&srv);
	running = false;
	again = get(c, &st);
	cr_assert_eq(st, MTK_OK);
	cr_assert_str_eq(again, first);
	free(again);
	free(first);
}

Test(client_daemon, account_by_email_and_an_unknown_account)
{
	enum mtk_status st;
	char *by_email, *want;
	struct mtk_client *other;

	want = curl_token("default");
	c = client_for(DEFAULT_EMAIL);
	by_email = get(c, &st);
	cr_assert_eq(st, MTK_OK, "%s", mtk_strerror(st));
	cr_assert_str_eq(by_email, want);
	other = client_for("nobody@example.com");
	cr_assert_null(get(other, &st));
	cr_assert_eq(st, MTK_ERR_NO_SUCH_ACCOUNT);
	mtk_client_free(other);
	free(by_email);
	free(want);
}

Test(client_daemon, the_endpoint_comes_from_the_environment)
{
	enum mtk_status st;
	char *tok;

	setenv("GCE_METADATA_HOST", srv.host_port, 1);
	cr_assert_eq(mtk_client_new(NULL, &c), MTK_OK);
	tok = get(c, &st);
	cr_assert_eq(st, MTK_OK, "%s", mtk_strerror(st));
	free(tok);
	/* YC_METADATA_ADDR wins over GCE_METADATA_HOST. */
	mtk_client_free(c);
	setenv("YC_METADATA_ADDR", "127.0.0.1:1", 1);
	cr_assert_eq(mtk_client_new(
	                 &(struct mtk_client_options){
	                     .struct_size = sizeof(struct mtk_client_options), .max_attempts = 1 },
	                 &c),
	             MTK_OK);
	cr_assert_null(get(c, &st));
	cr_assert_eq(st, MTK_ERR_CONNECT);
}

Test(client_daemon, a_stopped_server_is_a_connect_error_with_a_clear_message)
{
	enum mtk_status st;
	char why[512];

	c = client_for(NULL);
	test_server_stop(&srv);
	running = false;
	cr_assert_null(get(c, &st));
	cr_assert_eq(st, MTK_ERR_CONNECT, "%s", mtk_status_name(st));
	mtk_client_last_error(c, why, sizeof(why));
	cr_assert(strstr(why, srv.host_port) && strstr(why, "3 attempts"), "%s", why);
}

static void *herd(void *arg)
{
	enum mtk_status st;
	char **out = arg;

	*out = get(c, &st);
	return NULL;
}

Test(client_daemon, sixty_four_threads_on_a_cold_client_make_one_request)
{
	pthread_t th[64];
	char *got[64];
	struct mtk_client_stats s;
	int i;

	c = client_for(NULL);
	for (i = 0; i < 64; i++)
		pthread_create(&th[i], NULL, herd, &got[i]);
	for (i = 0; i < 64; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 64; i++) {
		cr_assert_not_null(got[i]);
		cr_assert_str_eq(got[i], got[0]);
	}
	for (i = 0; i < 64; i++)
		free(got[i]);
	mtk_client_get_stats(c, &s);
	cr_assert_eq(s.http_requests, 1);
}

Test(client_daemon, an_injected_context_carries_the_servers_token)
{
	struct mtk_context *ctx;
	char *want = curl_token("default");

	c = client_for(NULL);
	cr_assert_eq(
	    mtk_context_from_env(&(struct mtk_context_overrides){ .request_id = "r-1" }, &ctx),
	    MTK_OK);
	cr_assert_eq(mtk_context_inject_token(ctx, c), MTK_OK);
	cr_assert_str_eq(mtk_context_token_access_token(ctx), want);
	cr_assert_gt(mtk_context_token_expires_in_s(ctx), 43000);
	mtk_context_free(ctx);
	free(want);
}

/* Runs the CLI; returns its exit status, stdout in out. */
static int run_cli(const char *args, char *out, size_t outlen)
{
	char cmd[1024];
	size_t n;
	FILE *p;
	int status;

	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", METATOKEN_CLI_PATH, args);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(client_daemon, cli_prints_the_token_curl_gets)
{
	char out[8192], args[256], *want = curl_token("default");
	cJSON *j;

	snprintf(args, sizeof(args), "token --endpoint %s", srv.host_port);
	cr_assert_eq(run_cli(args, out, sizeof(out)), 0, "%s", out);
	cr_assert_eq(strlen(out), strlen(want) + 1);
	cr_assert_eq(strncmp(out, want, strlen(want)), 0, "%s", out);
	cr_assert_eq(out[strlen(want)], '\n');

	snprintf(args, sizeof(args), "token --json --endpoint %s", srv.host_port);
	cr_assert_eq(run_cli(args, out, sizeof(out)), 0, "%s", out);
	j = cJSON_Parse(out);
	cr_assert_not_null(j, "%s", out);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "access_token")->valuestring, want);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "token_type")->valuestring, "Bearer");
	cr_assert_gt(cJSON_GetObjectItemCaseSensitive(j, "expires_in")->valuedouble, 43000);
	cJSON_Delete(j);
	free(want);
}

Test(client_daemon, cli_fails_with_one_line_and_status_1)
{
	char out[4096], args[256];

	test_server_stop(&srv);
	running = false;
	snprintf(args, sizeof(args), "token --endpoint %s", srv.host_port);
	cr_assert_eq(run_cli(args, out, sizeof(out)), 1, "%s", out);
	cr_assert_eq(strncmp(out, "metatoken: ", 11), 0, "%s", out);
	cr_assert_not_null(strstr(out, "could not connect"), "%s", out);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "not one line: %s", out);
	cr_assert_eq(run_cli("token --bogus", out, sizeof(out)), 2, "%s", out);
	cr_assert_eq(run_cli("frobnicate", out, sizeof(out)), 2, "%s", out);
	cr_assert_eq(run_cli("token --endpoint https://x", out, sizeof(out)), 2, "%s", out);
}
