/*
 * Creating a client: status strings, option defaults and validation, the
 * endpoint's resolution order and syntax, and account names.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "metatoken/metatoken.h"
#include "test_client_fake.h"

static struct fake f;

static void setup(void)
{
	fake_init(&f);
	unsetenv("YC_METADATA_ADDR");
	unsetenv("GCE_METADATA_HOST");
}

static void teardown(void)
{
	fake_release_all(&f);
}

TestSuite(options, .init = setup, .fini = teardown);

Test(options, every_status_has_a_distinct_message_and_name)
{
	int s, t;

	for (s = MTK_OK; s <= MTK_ERR_NO_TOKEN; s++) {
		cr_assert_not_null(mtk_strerror(s));
		cr_assert_gt(strlen(mtk_strerror(s)), 5);
		cr_assert_eq(strncmp(mtk_status_name(s), "MTK_", 4), 0);
		for (t = MTK_OK; t < s; t++) {
			cr_assert_str_neq(mtk_strerror(s), mtk_strerror(t));
			cr_assert_str_neq(mtk_status_name(s), mtk_status_name(t));
		}
	}
	cr_assert_str_eq(mtk_status_name(MTK_ERR_TIMEOUT), "MTK_ERR_TIMEOUT");
}

Test(options, status_values_are_stable)
{
	/* Append-only: released values never move. */
	cr_assert_eq(MTK_OK, 0);
	cr_assert_eq(MTK_ERR_CONNECT, 6);
	cr_assert_eq(MTK_ERR_BAD_TOKEN_TYPE, 19);
	cr_assert_eq(MTK_ERR_NO_TOKEN, 23);
}

Test(options, unknown_status_still_has_a_string)
{
	cr_assert_str_eq(mtk_strerror((enum mtk_status)9999), "unknown status");
	cr_assert_str_eq(mtk_strerror((enum mtk_status) - 1), "unknown status");
	cr_assert_str_eq(mtk_status_name((enum mtk_status)9999), "MTK_UNKNOWN");
	cr_assert_str_eq(mtk_version(), MTK_VERSION_STRING);
}

static const char *url_for(const struct mtk_client_options *o, enum mtk_status *st)
{
	static char buf[512];
	struct mtk_client *c = NULL;

	*st = mtk_client_new(o, &c);
	if (*st != MTK_OK)
		return NULL;
	strcpy(buf, mtk_client_token_url(c));
	mtk_client_free(c);
	return buf;
}

#define PATH "/computeMetadata/v1/instance/service-accounts/default/token"

Test(options, null_options_mean_defaults_and_the_link_local_address)
{
	struct mtk_client *c = NULL;

	cr_assert_eq(mtk_client_new(NULL, &c), MTK_OK);
	cr_assert_str_eq(mtk_client_token_url(c), "http://169.254.169.254" PATH);
	mtk_client_free(c);
}

Test(options, endpoint_resolution_order)
{
	struct mtk_client_options o = fake_options(&f);
	enum mtk_status st;

	o.endpoint = NULL;
	setenv("GCE_METADATA_HOST", "10.0.0.2:8080", 1);
	cr_assert_str_eq(url_for(&o, &st), "http://10.0.0.2:8080" PATH);
	setenv("YC_METADATA_ADDR", "10.0.0.1", 1);
	cr_assert_str_eq(url_for(&o, &st), "http://10.0.0.1" PATH);
	o.endpoint = "10.0.0.3:81";
	cr_assert_str_eq(url_for(&o, &st), "http://10.0.0.3:81" PATH);
	/* An empty variable counts as unset. */
	o.endpoint = NULL;
	setenv("YC_METADATA_ADDR", "", 1);
	cr_assert_str_eq(url_for(&o, &st), "http://10.0.0.2:8080" PATH);
}

Test(options, endpoint_syntax)
{
	static const struct {
		const char *in, *base;
	} ok[] = {
		{ "127.0.0.1:8080", "http://127.0.0.1:8080" },
		{ "http://127.0.0.1:8080", "http://127.0.0.1:8080" },
		{ "HTTP://metadata.google.internal/", "http://metadata.google.internal" },
		{ "metadata", "http://metadata" },
		{ "[::1]:8080", "http://[::1]:8080" },
		{ "http://[fd00:ec2::254]/", "http://[fd00:ec2::254]" },
		{ "[::ffff:169.254.169.254]", "http://[::ffff:169.254.169.254]" },
	};
	static const char *const bad[] = {
		"",
		"https://127.0.0.1",
		"ftp://x",
		"127.0.0.1:",
		"127.0.0.1:0",
		"127.0.0.1:65536",
		"127.0.0.1:80a",
		"127.0.0.1/path",
		"user@host",
		"host:80/x",
		"[]:80",
		/* Brackets hold an IPv6 address, nothing else. */
		"[zz]:80",
		"[1.2.3.4]",
		"[::1::2]",
		"[.]",
		"a b",
		"host\r\nX: y",
	};
	struct mtk_client_options o = fake_options(&f);
	enum mtk_status st;
	char want[256];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		o.endpoint = ok[i].in;
		strcpy(want, ok[i].base);
		strcat(want, PATH);
		cr_expect_str_eq(url_for(&o, &st), want, "%s", ok[i].in);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.endpoint = bad[i];
		cr_expect_null(url_for(&o, &st), "%s", bad[i]);
		cr_expect_eq(st, MTK_ERR_BAD_ENDPOINT, "%s", bad[i]);
	}
	/* A host name has at most 253 bytes (DNS). */
	memset(want, 'a', 253);
	want[253] = '\0';
	o.endpoint = want;
	cr_expect_not_null(url_for(&o, &st), "a 253-byte host");
	strcat(want, "a");
	cr_expect_null(url_for(&o, &st), "a 254-byte host");
	cr_expect_eq(st, MTK_ERR_BAD_ENDPOINT);
	/* A bad variable is an error, not a silent fallback. */
	o.endpoint = NULL;
	setenv("GCE_METADATA_HOST", "https://x", 1);
	cr_expect_null(url_for(&o, &st));
	cr_expect_eq(st, MTK_ERR_BAD_ENDPOINT);
}

Test(options, account_names)
{
	static const char *const bad[] = { "",    "a/b",   "../default", "..",  ".",
		                           "a b", "a%2fb", "a?b",        "a#b", "a\nb" };
	struct mtk_client_options o = fake_options(&f);
	enum mtk_status st;
	char big[MTK_MAX_ACCOUNT + 2];
	size_t i;

	o.account = "my-sa_1+x@folder.iam.example";
	cr_assert_str_eq(url_for(&o, &st),
	                 "http://127.0.0.1:1/computeMetadata/v1/instance/service-accounts/"
	                 "my-sa_1+x@folder.iam.example/token");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.account = bad[i];
		cr_expect_null(url_for(&o, &st), "%s", bad[i]);
		cr_expect_eq(st, MTK_ERR_BAD_ACCOUNT, "%s", bad[i]);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	o.account = big;
	cr_expect_null(url_for(&o, &st));
	big[MTK_MAX_ACCOUNT] = '\0';
	cr_expect_not_null(url_for(&o, &st));
}

Test(options, negative_values_are_refused_and_out_is_untouched)
{
	struct mtk_client_options o = fake_options(&f);
	struct mtk_client *c = (struct mtk_client *)&f;

	o.request_timeout_ms = -1;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(c, (struct mtk_client *)&f);
	o = fake_options(&f);
	o.max_attempts = -3;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_INVALID_ARGUMENT);
	o.max_attempts = 1000;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(mtk_client_new(&o, NULL), MTK_ERR_INVALID_ARGUMENT);
}

Test(options, null_arguments_are_refused)
{
	struct mtk_client_stats s;
	char buf[8];

	cr_assert_eq(mtk_client_get_token(NULL, NULL), MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(mtk_client_authorization_header(NULL, buf, sizeof(buf)),
	             MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(mtk_client_copy_token(NULL, buf, sizeof(buf), NULL), MTK_ERR_INVALID_ARGUMENT);
	cr_assert_eq(mtk_client_get_stats(NULL, &s), MTK_ERR_INVALID_ARGUMENT);
	/* A NULL client asks why this thread's last mtk_client_new() failed:
	 * none did here. A NULL buffer is still refused. */
	cr_assert_eq(mtk_client_last_error(NULL, buf, sizeof(buf)), MTK_OK);
	cr_assert_str_eq(buf, "");
	cr_assert_eq(mtk_client_last_error(NULL, NULL, sizeof(buf)), MTK_ERR_INVALID_ARGUMENT);
	cr_assert_not(mtk_client_invalidate(NULL, NULL));
	mtk_client_free(NULL);
	mtk_token_free(NULL);
	mtk_json_free(NULL);
}
