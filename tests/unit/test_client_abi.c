/*
 * The options struct's ABI: struct_size says which version of the struct
 * the caller was built with. A caller built with the same or an older
 * header is served (unknown fields take their defaults), a caller built
 * with a newer header is served only when it left the fields this library
 * does not know of zero, and a missing or impossible size is refused.
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "metatoken/metatoken.h"
#include "metatoken/testing.h"
#include "test_client_fake.h"

static struct fake f;

static void setup(void)
{
	fake_init(&f);
}

static void teardown(void)
{
	fake_release_all(&f);
}

TestSuite(abi, .init = setup, .fini = teardown);

/* What a caller built against a later header passes: this library's struct
 * followed by fields it does not know of. */
struct newer_options {
	struct mtk_client_options known;
	int64_t added_later;
};

Test(abi, the_init_sets_the_callers_size_and_zeroes_the_rest)
{
	struct mtk_client_options a, b = MTK_CLIENT_OPTIONS_INIT;

	memset(&a, 0x5a, sizeof(a));
	mtk_client_options_init(&a);
	cr_assert_eq(a.struct_size, sizeof(struct mtk_client_options));
	cr_assert_null(a.endpoint);
	cr_assert_null(a.testing);
	cr_assert_eq(a.max_attempts, 0);
	cr_assert_eq(b.struct_size, sizeof(struct mtk_client_options));
}

Test(abi, a_missing_or_short_size_is_refused_by_name)
{
	struct mtk_client_options o = fake_options(&f);
	struct mtk_client *c = (struct mtk_client *)&f;

	o.struct_size = 0;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_STRUCT_SIZE);
	o.struct_size = sizeof(o) - 1;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_STRUCT_SIZE);
	o.struct_size = offsetof(struct mtk_client_options, testing);
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_STRUCT_SIZE);
	cr_assert_eq(c, (struct mtk_client *)&f, "out written on failure");
	cr_assert_str_eq(mtk_status_name(MTK_ERR_BAD_STRUCT_SIZE), "MTK_ERR_BAD_STRUCT_SIZE");
	cr_assert_not_null(strstr(mtk_strerror(MTK_ERR_BAD_STRUCT_SIZE), "struct_size"));
}

Test(abi, a_newer_callers_struct_is_read_when_its_new_fields_are_zero)
{
	struct newer_options n = { .known = fake_options(&f) };
	struct mtk_client *c = NULL;

	n.known.struct_size = sizeof(n);
	n.known.account = "sa@p.iam";
	cr_assert_eq(mtk_client_new(&n.known, &c), MTK_OK);
	cr_assert_not_null(strstr(mtk_client_token_url(c), "/service-accounts/sa@p.iam/token"));
	mtk_client_free(c);

	n.added_later = 1; /* asks for something this library cannot do */
	c = NULL;
	cr_assert_eq(mtk_client_new(&n.known, &c), MTK_ERR_BAD_STRUCT_SIZE);
	cr_assert_null(c);
}

Test(abi, the_fields_within_the_size_are_honoured)
{
	struct mtk_client_options o = fake_options(&f);
	struct mtk_client *c = NULL;

	o.max_attempts = 101; /* out of range: proves the field was read */
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_INVALID_ARGUMENT);
	o.max_attempts = 0;
	o.testing = NULL; /* no seams: the real transport, nothing fetched */
	cr_assert_eq(mtk_client_new(&o, &c), MTK_OK);
	mtk_client_free(c);
}

/* The struct as released before key_file, iam_endpoint and ca_file: its
 * size still works, and the fields it lacks are their defaults (no key
 * file: the metadata service). */
Test(abi, the_size_before_the_iam_fields_is_still_accepted)
{
	struct mtk_client_options o = fake_options(&f);
	struct mtk_client *c = NULL;

	o.struct_size = offsetof(struct mtk_client_options, key_file);
	/* Past the caller's size: never read. */
	o.key_file = "/nonexistent/key.json";
	o.ca_file = "/nonexistent/ca.pem";
	cr_assert_eq(mtk_client_new(&o, &c), MTK_OK);
	cr_assert_not_null(strstr(mtk_client_token_url(c), "/computeMetadata/v1/"));
	mtk_client_free(c);

	/* A size between the two releases would read a pointer in part. */
	o.struct_size = offsetof(struct mtk_client_options, key_file) + 4;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_STRUCT_SIZE);
	o.struct_size = offsetof(struct mtk_client_options, ca_file);
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_STRUCT_SIZE);

	/* With the full size the same fields are read, and refused. */
	o.struct_size = sizeof(o);
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_CA_FILE);
	o.ca_file = NULL;
	cr_assert_eq(mtk_client_new(&o, &c), MTK_ERR_BAD_KEY_FILE);
}

Test(abi, the_new_statuses_come_after_every_released_one)
{
	/* Append-only: the last status released before them keeps its value. */
	cr_assert_eq(MTK_ERR_BAD_STRUCT_SIZE, 27);
	cr_assert_eq(MTK_ERR_BAD_KEY_FILE, 28);
	cr_assert_eq(MTK_ERR_BAD_CA_FILE, 29);
	cr_assert_eq(MTK_ERR_IAM_MISSING_FIELD, 30);
	cr_assert_eq(MTK_ERR_BAD_EXPIRES_AT, 31);
	cr_assert_eq(MTK_ERR_TLS, 32);
	cr_assert_str_eq(mtk_status_name(MTK_ERR_BAD_EXPIRES_AT), "MTK_ERR_BAD_EXPIRES_AT");
	cr_assert_not_null(strstr(mtk_strerror(MTK_ERR_BAD_EXPIRES_AT), "expiresAt"));
}
