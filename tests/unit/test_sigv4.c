/*
 * Unit tests for server/sigv4.c against AWS's published Signature Version 4
 * examples: the SigV4 test suite's get-vanilla, get-vanilla-query-order-
 * key-case and post-vanilla cases (credentials AKIDEXAMPLE, 2015-08-30
 * 12:36:00 UTC, us-east-1, service "service"), and the IAM ListUsers
 * example of AWS's signing guide. Then the Authorization parser and the
 * date parser on good and bad input.
 */
#include "sigv4.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define WHEN      "20150830T123600Z"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

TestSuite(sigv4);

static bool same(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static struct sigv4_span span(const char *s)
{
	return (struct sigv4_span){ s, strlen(s) };
}

static const struct sigv4_header vanilla_headers[] = {
	{ { "host", 4 }, "example.amazonaws.com" },
	{ { "x-amz-date", 10 }, WHEN },
};

/* Signs r as the suite does; returns the signature, writes the canonical
 * request and string to sign when asked. */
static void sign(const struct sigv4_request *r, const char *service, char sig[SIGV4_HEX_LEN + 1],
                 char **canonical, char *sts, size_t sts_cap)
{
	struct sigv4_span date = span("20150830"), region = span("us-east-1"), svc = span(service);
	char *c = NULL;
	long len = sigv4_canonical_request(r, &c);

	cr_assert_geq(len, 0, "no canonical request");
	cr_assert_eq(
	    sigv4_signature(SECRET, WHEN, &date, &region, &svc, c, (size_t)len, sts, sts_cap, sig),
	    0);
	if (canonical)
		*canonical = c;
	else
		free(c);
}

Test(sigv4, get_vanilla)
{
	const struct sigv4_request r = { .method = "GET",
		                         .path = "/",
		                         .headers = vanilla_headers,
		                         .n_headers = 2,
		                         .payload_hash = EMPTY_SHA };
	char sig[SIGV4_HEX_LEN + 1], sts[512], *canonical;

	sign(&r, "service", sig, &canonical, sts, sizeof(sts));
	cr_expect(same(canonical, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:" WHEN
	                          "\n\nhost;x-amz-date\n" EMPTY_SHA),
	          "%s", canonical);
	cr_expect(same(sts, "AWS4-HMAC-SHA256\n" WHEN "\n20150830/us-east-1/service/aws4_request\n"
	                    "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
	          "%s", sts);
	cr_expect(same(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
	          "%s", sig);
	free(canonical);
}

Test(sigv4, get_vanilla_query_order_key_case)
{
	/* Sent as ?Param2=value2&Param1=value1: signed sorted. */
	const struct sigv4_param q[] = { { "Param2", "value2" }, { "Param1", "value1" } };
	const struct sigv4_request r = { .method = "GET",
		                         .path = "/",
		                         .query = q,
		                         .n_query = 2,
		                         .headers = vanilla_headers,
		                         .n_headers = 2,
		                         .payload_hash = EMPTY_SHA };
	char sig[SIGV4_HEX_LEN + 1], *canonical;

	sign(&r, "service", sig, &canonical, NULL, 0);
	cr_expect(strstr(canonical, "\nParam1=value1&Param2=value2\n") != NULL, "%s", canonical);
	cr_expect(same(sig, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
	          "%s", sig);
	free(canonical);
}

Test(sigv4, post_vanilla)
{
	const struct sigv4_request r = { .method = "POST",
		                         .path = "/",
		                         .headers = vanilla_headers,
		                         .n_headers = 2,
		                         .payload_hash = EMPTY_SHA };
	char sig[SIGV4_HEX_LEN + 1];

	sign(&r, "service", sig, NULL, NULL, 0);
	cr_expect(same(sig, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
	          "%s", sig);
}

Test(sigv4, iam_list_users_example)
{
	const struct sigv4_param q[] = { { "Action", "ListUsers" }, { "Version", "2010-05-08" } };
	const struct sigv4_header h[] = {
		{ { "content-type", 12 }, "application/x-www-form-urlencoded; charset=utf-8" },
		{ { "host", 4 }, "iam.amazonaws.com" },
		{ { "x-amz-date", 10 }, WHEN },
	};
	const struct sigv4_request r = { .method = "GET",
		                         .path = "/",
		                         .query = q,
		                         .n_query = 2,
		                         .headers = h,
		                         .n_headers = 3,
		                         .payload_hash = EMPTY_SHA };
	char sig[SIGV4_HEX_LEN + 1], hash[SIGV4_HEX_LEN + 1], *canonical;

	sign(&r, "iam", sig, &canonical, NULL, 0);
	sigv4_sha256_hex(canonical, strlen(canonical), hash);
	cr_expect(same(hash, "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"),
	          "%s", canonical);
	cr_expect(same(sig, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"),
	          "%s", sig);
	free(canonical);
}

Test(sigv4, a_changed_part_changes_the_signature)
{
	struct sigv4_header h[] = {
		{ { "host", 4 }, "example.amazonaws.com" },
		{ { "x-amz-date", 10 }, WHEN },
	};
	struct sigv4_request r = { .method = "POST",
		                   .path = "/",
		                   .headers = h,
		                   .n_headers = 2,
		                   .payload_hash = EMPTY_SHA };
	char base[SIGV4_HEX_LEN + 1], sig[SIGV4_HEX_LEN + 1];

	sign(&r, "service", base, NULL, NULL, 0);
	h[0].value = "example.amazonaws.com:80";
	sign(&r, "service", sig, NULL, NULL, 0);
	cr_expect(!same(base, sig), "the Host is signed");
	h[0].value = "example.amazonaws.com";
	r.payload_hash = "0000000000000000000000000000000000000000000000000000000000000000";
	sign(&r, "service", sig, NULL, NULL, 0);
	cr_expect(!same(base, sig), "the payload is signed");
	r.payload_hash = EMPTY_SHA;
	sign(&r, "sts", sig, NULL, NULL, 0);
	cr_expect(!same(base, sig), "the service is signed");
}

Test(sigv4, header_values_trimmed_and_path_encoded_twice)
{
	const struct sigv4_header h[] = { { { "my-header", 9 }, "  a   b \t c  " } };
	const struct sigv4_param q[] = { { "k y", "v+~/" } };
	const struct sigv4_request r = { .method = "GET",
		                         .path = "/a b/é",
		                         .query = q,
		                         .n_query = 1,
		                         .headers = h,
		                         .n_headers = 1,
		                         .payload_hash = EMPTY_SHA };
	char *c = NULL;

	cr_assert_geq(sigv4_canonical_request(&r, &c), 0);
	cr_expect(
	    same(
	        c,
	        "GET\n/a%2520b/%25C3%25A9\nk%20y=v%2B~%2F\nmy-header:a b c\n\nmy-header\n" EMPTY_SHA),
	    "%s", c);
	free(c);
}

Test(sigv4, a_canonical_request_over_the_cap_is_refused)
{
	char *big = malloc(SIGV4_CANONICAL_MAX + 2), *c = (char *)1;
	const struct sigv4_header h[] = { { { "x", 1 }, big } };
	const struct sigv4_request r = { .method = "GET",
		                         .path = "/",
		                         .headers = h,
		                         .n_headers = 1,
		                         .payload_hash = EMPTY_SHA };

	cr_assert_not_null(big);
	memset(big, 'a', SIGV4_CANONICAL_MAX + 1);
	big[SIGV4_CANONICAL_MAX + 1] = '\0';
	cr_expect_eq(sigv4_canonical_request(&r, &c), -1);
	cr_expect_null(c);
	free(big);
}

Test(sigv4, parses_an_sdk_authorization_header)
{
	const char *v =
	    "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20150830/eu-west-1/sts/aws4_request, "
	    "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
	    "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
	struct sigv4_auth a;
	char err[256];

	cr_assert_eq(sigv4_parse_authorization(v, &a, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(a.key_id.len, 11);
	cr_expect(strncmp(a.key_id.p, "ASIAEXAMPLE", 11) == 0);
	cr_expect(strncmp(a.date.p, "20150830", a.date.len) == 0);
	cr_expect(strncmp(a.region.p, "eu-west-1", a.region.len) == 0);
	cr_expect(strncmp(a.service.p, "sts", a.service.len) == 0 && a.service.len == 3);
	cr_expect(strncmp(a.terminator.p, "aws4_request", a.terminator.len) == 0);
	cr_expect_eq(a.n_header_names, 4);
	cr_expect(strncmp(a.header_names[3].p, "x-amz-security-token", a.header_names[3].len) == 0);
	cr_expect_eq(a.signature.len, 64);
	/* Commas with no spaces, any order. */
	cr_expect_eq(
	    sigv4_parse_authorization(
	        "AWS4-HMAC-SHA256 Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e"
	        "06b5924a6f2b5d7,SignedHeaders=host,Credential=A/20150830/r/sts/aws4_request",
	        &a, err, sizeof(err)),
	    0, "%s", err);
}

Test(sigv4, refuses_malformed_authorization_headers)
{
	static const char sig[] =
	    "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
	char many[2048] =
	    "AWS4-HMAC-SHA256 Credential=A/20150830/r/sts/aws4_request, SignedHeaders=h0";
	const char *bad[] = {
		"",
		"Bearer abc",
		"AWS4-HMAC-SHA1 Credential=A/20150830/r/sts/aws4_request, SignedHeaders=host, x",
		"AWS4-HMAC-SHA256",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/sts/aws4_request, SignedHeaders=host",
		"AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
		"AWS4-HMAC-SHA256 Credential=A/2015083/r/sts/aws4_request, SignedHeaders=host, Signature="
		"5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/sts, SignedHeaders=host, Signature="
		"5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/sts/aws4_request/x, SignedHeaders=host, "
		"Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		"AWS4-HMAC-SHA256 Credential=A//r/sts/aws4_request, SignedHeaders=host, Signature="
		"5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/sts/aws4_request, SignedHeaders=Host, "
		"Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/sts/aws4_request, SignedHeaders=host;;x, "
		"Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/sts/aws4_request, SignedHeaders=host, "
		"Signature=5D672D79C15B13162D9279B0855CFBA6789A8EDB4C82C400E06B5924A6F2B5D7",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/sts/aws4_request, SignedHeaders=host, "
		"Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/sts/aws4_request, SignedHeaders=host, "
		"Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7, "
		"Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/sts/aws4_request, SignedHeaders=host, "
		"Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7, Extra=1",
		many,
	};
	struct sigv4_auth a;
	char err[256];

	/* One more name than SignedHeaders may hold. */
	for (int i = 1; i <= SIGV4_HEADERS_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), ";h%d", i);
	snprintf(many + strlen(many), sizeof(many) - strlen(many), ", %s", sig);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_expect_eq(sigv4_parse_authorization(bad[i], &a, err, sizeof(err)), -1,
		             "accepted: %s", bad[i]);
		cr_expect(err[0] != '\0', "no reason for: %s", bad[i]);
	}
}

Test(sigv4, parses_amz_dates)
{
	long long ms = 0;

	cr_expect_eq(sigv4_parse_date(WHEN, &ms), 0);
	cr_expect_eq(ms, 1440938160000LL);
	cr_expect_eq(sigv4_parse_date("20240229T000000Z", &ms), 0);
	cr_expect_eq(sigv4_parse_date("20230229T000000Z", &ms), -1, "no Feb 29 in 2023");
	cr_expect_eq(sigv4_parse_date("20150830T123600", &ms), -1);
	cr_expect_eq(sigv4_parse_date("2015-08-30T12:36:00Z", &ms), -1);
	cr_expect_eq(sigv4_parse_date("20150830T253600Z", &ms), -1);
	cr_expect_eq(sigv4_parse_date("2015083OT123600Z", &ms), -1);
	cr_expect_eq(sigv4_parse_date("19691231T235959Z", &ms), -1, "before 1970");
	cr_expect_eq(sigv4_parse_date(NULL, &ms), -1);
}
