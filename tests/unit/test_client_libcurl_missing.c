/*
 * Without a usable libcurl, mtk_client_new() fails with MTK_ERR_NO_LIBCURL,
 * whose message names the file and the package to install; never a crash.
 * The loader's test seam (mtk__libcurl_soname) points it elsewhere before
 * the first load. Criterion runs each test in a process of its own, so
 * each one's first load is its own.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "metatoken/metatoken.h"
#include "metatoken/testing.h"
#include "private/libcurl.h"

static void expect_no_libcurl(const char *soname)
{
	struct mtk_client *c = NULL;
	int i;

	mtk__libcurl_soname = soname;
	/* The first call loads and fails; later ones get the same answer. */
	for (i = 0; i < 2; i++) {
		cr_assert_eq(
		    mtk_client_new(&(struct mtk_client_options){ .struct_size = sizeof(
		                                                     struct mtk_client_options),
		                                                 .endpoint = "127.0.0.1:1" },
		                   &c),
		    MTK_ERR_NO_LIBCURL, "%s: call %d", soname, i + 1);
		cr_assert_null(c, "the out-parameter was written on failure");
	}
	cr_assert_eq(mtk__libcurl_load(), MTK_ERR_NO_LIBCURL);
	cr_assert_eq(mtk__libcurl_global_init(CURL_GLOBAL_DEFAULT), CURLE_FAILED_INIT);
}

Test(client_libcurl_missing, no_such_file)
{
	expect_no_libcurl("/nonexistent/libcurl.so.4");
}

Test(client_libcurl_missing, a_library_that_is_not_libcurl)
{
	expect_no_libcurl("libm.so.6");
}

Test(client_libcurl_missing, the_message_says_what_to_install)
{
	const char *msg = mtk_strerror(MTK_ERR_NO_LIBCURL);

	cr_assert_not_null(strstr(msg, "libcurl.so.4"), "%s", msg);
	cr_assert_not_null(strstr(msg, "libcurl4"), "%s", msg);
	cr_assert_str_eq(mtk_status_name(MTK_ERR_NO_LIBCURL), "MTK_ERR_NO_LIBCURL");
}

/* A client on a transport seam needs no libcurl at all. */
static enum mtk_status fake_perform(void *arg, const struct mtk_http_request *req,
                                    struct mtk_http_response *resp)
{
	(void)arg, (void)req, (void)resp;
	return MTK_ERR_CONNECT;
}

Test(client_libcurl_missing, a_transport_seam_needs_none)
{
	const struct mtk_transport fake = { .perform = fake_perform };
	const struct mtk_testing_seams seams = { .transport = &fake };
	struct mtk_client_options o = MTK_CLIENT_OPTIONS_INIT;
	struct mtk_client *c = NULL;

	o.endpoint = "127.0.0.1:1";
	o.testing = &seams;
	mtk__libcurl_soname = "/nonexistent/libcurl.so.4";
	cr_assert_eq(mtk_client_new(&o, &c), MTK_OK);
	mtk_client_free(c);
}
