/*
 * `metatoken admin key create` against the real metatokend: the key file
 * it writes is mode 0600, never written over an existing file, read by the
 * library's authorized-key reader (common/authkey.h), and its key
 * exchanges a JWT for the account's token.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "authkey.h"
#include "http.h"
#include "jwt.h"
#include "server_proc.h"

static struct test_server srv;
static char dir[] = "/tmp/mtk-iam-cli-XXXXXX";

static void start(void)
{
	cr_assert_eq(test_server_start(&srv, NULL), 0, "metatokend did not start");
	cr_assert_not_null(mkdtemp(dir));
}

static void stop(void)
{
	char cmd[128];

	test_server_stop(&srv);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)system(cmd);
}

TestSuite(iam_cli, .init = start, .fini = stop, .timeout = 60);

/* Runs `metatoken admin --server ... ARGS` in dir; its exit status, and
 * stdout and stderr in out. */
static int admin(const char *args, char *out, size_t outlen)
{
	char cmd[1024];
	size_t n;
	FILE *p;
	int status;

	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && METATOKEN_ADMIN_SECRET='%s' %s admin --server %s %s 2>&1", dir,
	         srv.admin_secret, METATOKEN_CLI_PATH, srv.host_port, args);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Exchanges a JWT signed with k at the daemon; the HTTP status. */
static long exchange(const struct mtk__authkey *k)
{
	char claims[512], err[256], url[256], *jwt, *body;
	const char *const h[] = { "Content-Type: application/json", NULL };
	struct test_response r;
	long long now = (long long)time(NULL);
	long status;

	snprintf(claims, sizeof(claims),
	         "{\"iss\":\"%s\",\"aud\":\"https://iam.api.cloud.yandex.net/iam/v1/tokens\","
	         "\"iat\":%lld,\"exp\":%lld}",
	         k->service_account_id, now, now + 600);
	jwt = mtk__jwt_sign_ps256(k->private_key, k->id, claims, err, sizeof(err));
	cr_assert_not_null(jwt, "%s", err);
	body = malloc(strlen(jwt) + 16);
	sprintf(body, "{\"jwt\":\"%s\"}", jwt);
	snprintf(url, sizeof(url), "%s/iam/v1/tokens", srv.base_url);
	cr_assert_eq(test_http("POST", url, h, body, &r), 0);
	cr_assert(r.status != 200 || strstr(r.body, "\"iamToken\":\"t1."), "%s", r.body);
	status = r.status;
	test_response_free(&r);
	free(body);
	free(jwt);
	return status;
}

Test(iam_cli, key_create_writes_a_0600_key_file_that_exchanges)
{
	char out[4096], path[256], err[256], args[512];
	struct mtk__authkey k;
	struct stat st;

	snprintf(path, sizeof(path), "%s/sa-key.json", dir);
	snprintf(args, sizeof(args), "key create default --output %s", path);
	cr_assert_eq(admin(args, out, sizeof(out)), 0, "%s", out);
	cr_assert_not_null(strstr(out, path), "%s", out);
	cr_assert_null(strstr(out, "PRIVATE"), "the private key was printed: %s", out);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	cr_assert_eq(mtk__authkey_load(path, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(k.service_account_id, "ajemetatokendefault1");
	cr_assert_not_null(strstr(out, k.id), "the key id is not printed: %s", out);
	cr_assert_eq(exchange(&k), 200);

	/* key list names it and nothing secret. */
	cr_assert_eq(admin("key list default", out, sizeof(out)), 0, "%s", out);
	cr_assert_not_null(strstr(out, k.id), "%s", out);
	cr_assert_null(strstr(out, "PRIVATE"), "%s", out);
	mtk__authkey_release(&k);
}

Test(iam_cli, key_create_never_overwrites_and_costs_no_key_when_refused)
{
	char out[4096], path[256], args[512], list[4096];
	FILE *f;
	char back[64] = "";

	snprintf(path, sizeof(path), "%s/taken.json", dir);
	f = fopen(path, "w");
	fputs("precious\n", f);
	fclose(f);
	snprintf(args, sizeof(args), "key create default --output %s", path);
	cr_assert_eq(admin(args, out, sizeof(out)), 1, "%s", out);
	cr_assert_not_null(strstr(out, "exists; not overwriting it"), "%s", out);
	f = fopen(path, "r");
	cr_assert_not_null(fgets(back, sizeof(back), f));
	fclose(f);
	cr_assert_str_eq(back, "precious\n");
	/* No key was made on the server for the file that could not be. */
	cr_assert_eq(admin("key list default", list, sizeof(list)), 0, "%s", list);
	cr_assert_null(strstr(list, "\"id\""), "%s", list);

	/* A symbolic link is not followed either. */
	snprintf(path, sizeof(path), "%s/link.json", dir);
	cr_assert_eq(symlink("/tmp/mtk-iam-cli-elsewhere.json", path), 0);
	snprintf(args, sizeof(args), "key create default --output %s", path);
	cr_assert_eq(admin(args, out, sizeof(out)), 1, "%s", out);
	cr_assert_eq(access("/tmp/mtk-iam-cli-elsewhere.json", F_OK), -1);
}

Test(iam_cli, key_create_names_the_file_after_the_key_id_by_default)
{
	char out[4096], id[64], path[256], err[256];
	struct mtk__authkey k;
	struct stat st;
	const char *p;

	cr_assert_eq(admin("key create default", out, sizeof(out)), 0, "%s", out);
	p = strstr(out, "created key ");
	cr_assert_not_null(p, "%s", out);
	cr_assert_eq(sscanf(p, "created key %63s", id), 1);
	snprintf(path, sizeof(path), "%s/%s.json", dir, id);
	cr_assert_eq(stat(path, &st), 0, "no %s: %s", path, out);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(mtk__authkey_load(path, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(k.id, id);
	mtk__authkey_release(&k);
}

Test(iam_cli, key_create_for_an_unknown_account_says_so_and_leaves_no_file)
{
	char out[4096], path[256], args[512];

	snprintf(path, sizeof(path), "%s/nobody.json", dir);
	snprintf(args, sizeof(args), "key create nobody --output %s", path);
	cr_assert_eq(admin(args, out, sizeof(out)), 1, "%s", out);
	cr_assert_not_null(strstr(out, "no service account nobody"), "%s", out);
	cr_assert_eq(access(path, F_OK), -1, "a file was left behind");
	cr_assert_eq(admin("key create", out, sizeof(out)), 2, "%s", out);
}
