/*
 * The command source of upstream mode (upstream_command.c): what it reads
 * from a program's output, and the program run for real (through /bin/sh
 * -c here, so that a test spells its program in one line; metatokend
 * itself runs argv with no shell). The one test that waits does so for a
 * 200 ms timeout, on purpose: that is the behaviour under test.
 */
#include "upstream_command.h"

#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#define NOW_MS 1790000000000LL /* 2026-09-21T...Z */

static enum mtk_status parse(const char *text, struct mtk__token_doc *doc, char *why)
{
	return upstream_command_parse(text, strlen(text), 600, NOW_MS, doc, why, 256);
}

Test(upstream_command, bare_token_is_the_first_line_trimmed)
{
	struct mtk__token_doc doc = { 0 };
	char why[256] = "";

	cr_assert_eq(parse("  \n\t t1.abc-DEF_9 \r\nsecond line\n", &doc, why), MTK_OK, "%s", why);
	cr_assert_str_eq(doc.access_token, "t1.abc-DEF_9");
	cr_assert_eq(doc.access_token_len, 12);
	cr_assert_eq(doc.expires_in_s, 600);
	mtk__token_doc_release(&doc);
}

Test(upstream_command, json_answers_oauth_and_yandex_iam)
{
	struct mtk__token_doc doc = { 0 };
	char why[256] = "";

	cr_assert_eq(parse("{\"access_token\":\"ya29.x\",\"expires_in\":3599,\"token_type\":"
	                   "\"Bearer\"}",
	                   &doc, why),
	             MTK_OK, "%s", why);
	cr_assert_str_eq(doc.access_token, "ya29.x");
	cr_assert_eq(doc.expires_in_s, 3599);
	mtk__token_doc_release(&doc);

	/* 2026-09-21T... + 1 h, with a fraction, as Yandex writes it. */
	cr_assert_eq(upstream_parse_rfc3339("2026-09-21T15:33:20.123456789Z", &(int64_t){ 0 }), 0);
	{
		char text[200];
		int64_t at = NOW_MS + 3600 * 1000;
		time_t t = (time_t)(at / 1000);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(text, sizeof(text),
		         "{\"iamToken\": \"t1.9euelZ\", \"expiresAt\": \"%Y-%m-%dT%H:%M:%S.5Z\"}",
		         &tm);
		cr_assert_eq(parse(text, &doc, why), MTK_OK, "%s", why);
		cr_assert_str_eq(doc.access_token, "t1.9euelZ");
		cr_assert_eq(doc.expires_in_s, 3600);
		mtk__token_doc_release(&doc);
	}
}

Test(upstream_command, bad_output_is_refused_without_quoting_it)
{
	struct mtk__token_doc doc = { 0 };
	char why[256];

	cr_assert_eq(parse(" \n\n", &doc, why), MTK_ERR_NO_TOKEN);
	cr_assert_str_eq(why, "it printed nothing on stdout");
	cr_assert_eq(parse("Error: not logged in, run yc init\n", &doc, why),
	             MTK_ERR_BAD_ACCESS_TOKEN);
	cr_assert_null(strstr(why, "yc init"));
	cr_assert_eq(parse("\x01\x02garbage", &doc, why), MTK_ERR_BAD_ACCESS_TOKEN);
	cr_assert_eq(parse("{\"access_token\": \"t1.s3cret\"", &doc, why), MTK_ERR_BAD_JSON);
	cr_assert_str_eq(why, "the output starts with '{' but is not a JSON object");
	cr_assert_eq(parse("{\"access_token\":\"t1.s3cret\",\"access_token\":\"b\",\"expires_in\":"
	                   "1}",
	                   &doc, why),
	             MTK_ERR_BAD_JSON);
	cr_assert_eq(parse("{\"access_token\":\"t1.s3cret\",\"expires_in\":0}", &doc, why),
	             MTK_ERR_BAD_EXPIRES_IN);
	cr_assert_eq(parse("{\"access_token\":\"t1.s3cret\",\"expires_in\":60,\"token_type\":"
	                   "\"Basic\"}",
	                   &doc, why),
	             MTK_ERR_BAD_TOKEN_TYPE);
	cr_assert_eq(parse("{\"iamToken\":\"t1.s3cret\",\"expiresAt\":\"yesterday\"}", &doc, why),
	             MTK_ERR_BAD_EXPIRATION);
	cr_assert_eq(
	    parse("{\"iamToken\":\"t1.s3cret\",\"expiresAt\":\"2020-01-01T00:00:00Z\"}", &doc, why),
	    MTK_ERR_BAD_EXPIRES_IN);
	cr_assert_eq(parse("{\"token\":\"t1.s3cret\"}", &doc, why), MTK_ERR_MISSING_FIELD);
	cr_assert_null(strstr(why, "s3cret"));
	cr_assert_null(doc.access_token, "a refused output left a token behind");
}

/* Runs `sh -c script` once as the fetcher would. */
static enum mtk_status run(const char *script, int64_t timeout_ms, struct mtk__token_doc *doc,
                           char *detail, size_t len)
{
	char *const argv[] = { "/bin/sh", "-c", (char *)script, NULL };
	struct mtk__fetcher f;
	int64_t sent_ms = 0;
	enum mtk_status st;

	cr_assert_eq(upstream_command_fetcher_new(argv, timeout_ms, 600, &f), 0);
	cr_assert_str_eq(f.where, "command /bin/sh", "the arguments stay out of messages");
	st = f.fetch(f.self, doc, &sent_ms, detail, len);
	if (st == MTK_OK)
		cr_assert_gt(sent_ms, 0);
	f.free(f.self);
	return st;
}

Test(upstream_command, a_program_that_prints_a_token)
{
	struct mtk__token_doc doc = { 0 };
	char detail[512] = "";

	cr_assert_eq(
	    run("echo t1.from-the-command; echo chatter >&2", 5000, &doc, detail, sizeof(detail)),
	    MTK_OK, "%s", detail);
	cr_assert_str_eq(doc.access_token, "t1.from-the-command");
	cr_assert_eq(doc.expires_in_s, 600);
	mtk__token_doc_release(&doc);
}

Test(upstream_command, a_failing_program_is_summarized_by_its_stderr_never_its_stdout)
{
	struct mtk__token_doc doc = { 0 };
	char detail[512] = "";

	cr_assert_eq(run("echo t1.half-secret; printf 'ERROR: the token is expired,\\n\\trun "
	                 "yc init\\n' >&2; exit 1",
	                 5000, &doc, detail, sizeof(detail)),
	             MTK_ERR_HTTP_SERVER);
	cr_assert_str_eq(detail, "command /bin/sh: exit status 1; stderr: ERROR: the token is "
	                         "expired, run yc init");
	cr_assert_null(doc.access_token);

	cr_assert_eq(run("exit 0", 5000, &doc, detail, sizeof(detail)), MTK_ERR_NO_TOKEN);
	cr_assert_str_eq(detail, "command /bin/sh: exit status 0 but it printed nothing on stdout");
	cr_assert_eq(run("echo '<html>502 Bad Gateway</html>'", 5000, &doc, detail, sizeof(detail)),
	             MTK_ERR_BAD_ACCESS_TOKEN);
	cr_assert_null(strstr(detail, "Bad Gateway"), "stdout quoted: %s", detail);
	cr_assert_eq(run("kill -9 $$", 5000, &doc, detail, sizeof(detail)), MTK_ERR_HTTP_SERVER);
	cr_assert_str_eq(detail, "command /bin/sh: signal: killed (no stderr)");
	cr_assert_eq(
	    run("head -c 70000 /dev/zero | tr '\\0' a", 5000, &doc, detail, sizeof(detail)),
	    MTK_ERR_BODY_TOO_LARGE);
}

Test(upstream_command, a_program_that_cannot_start)
{
	char *const argv[] = { "/nonexistent/yc", "iam", "create-token", NULL };
	struct mtk__token_doc doc = { 0 };
	struct mtk__fetcher f;
	char detail[512] = "";
	int64_t sent_ms = 0;

	cr_assert_eq(upstream_command_fetcher_new(argv, 5000, 600, &f), 0);
	cr_assert_neq(f.fetch(f.self, &doc, &sent_ms, detail, sizeof(detail)), MTK_OK);
	cr_assert_not_null(strstr(detail, "command /nonexistent/yc:"), "%s", detail);
	f.free(f.self);
}

Test(upstream_command, a_program_that_hangs_is_killed_at_the_timeout)
{
	struct mtk__token_doc doc = { 0 };
	char detail[512] = "";
	struct timespec a, b;
	int64_t took_ms;

	clock_gettime(CLOCK_MONOTONIC, &a);
	/* The grandchild holds stdout open too: the whole group goes. */
	cr_assert_eq(
	    run("echo waiting >&2; sleep 30 & sleep 30", 200, &doc, detail, sizeof(detail)),
	    MTK_ERR_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	took_ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	cr_assert_geq(took_ms, 200);
	cr_assert_lt(took_ms, 5000, "took %lld ms", (long long)took_ms);
	cr_assert_str_eq(detail, "command /bin/sh: no answer within 200 ms (killed); stderr: "
	                         "waiting");
}
