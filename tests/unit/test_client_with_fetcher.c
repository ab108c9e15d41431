/*
 * mtk__client_new_with_fetcher() (client/private/internal.h), the client
 * over a fetcher its caller gives or wraps, which metatokend's upstream
 * mode is built on: the given fetcher is used and owned (freed once, also
 * when creation fails), and a wrapper sees every fetch.
 */
#include "private/fetcher.h"
#include "private/internal.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

struct counts {
	int fetches, frees, wrapped_fetches, wrapped_frees, wraps;
	struct mtk__fetcher inner;
};

static enum mtk_status give_token(void *self, struct mtk__token_doc *doc, int64_t *sent_ms,
                                  char *detail, size_t detail_len)
{
	struct counts *c = self;

	(void)detail;
	(void)detail_len;
	c->fetches++;
	memset(doc, 0, sizeof(*doc));
	doc->access_token = strdup("t1.given");
	doc->access_token_len = strlen("t1.given");
	doc->expires_in_s = 600;
	*sent_ms = mtk__monotonic_ms(NULL);
	return MTK_OK;
}

static void count_free(void *self)
{
	((struct counts *)self)->frees++;
}

static struct mtk__fetcher given(struct counts *c)
{
	return (struct mtk__fetcher){
		.fetch = give_token, .free = count_free, .self = c, .where = "the test's fetcher"
	};
}

Test(client_with_fetcher, the_given_fetcher_is_used_and_freed_once)
{
	struct mtk_client_options o = MTK_CLIENT_OPTIONS_INIT;
	struct counts c = { 0 };
	struct mtk__fetcher f = given(&c);
	struct mtk_client *client = NULL;
	struct mtk_token *t;

	o.flavour = MTK_FLAVOUR_GCE;
	cr_assert_eq(mtk__client_new_with_fetcher(&o, &f, NULL, &client), MTK_OK);
	cr_assert_str_eq(mtk_client_token_url(client), "the test's fetcher");
	cr_assert_eq(mtk_client_get_token(client, &t), MTK_OK);
	cr_assert_str_eq(mtk_token_access_token(t), "t1.given");
	cr_assert_gt(mtk_token_expires_in_ms(t), 590000);
	mtk_token_free(t);
	cr_assert_eq(c.fetches, 1);
	cr_assert_eq(c.frees, 0);
	mtk_client_free(client);
	cr_assert_eq(c.frees, 1);
}

Test(client_with_fetcher, a_failed_creation_still_frees_the_given_fetcher)
{
	struct mtk_client_options o = MTK_CLIENT_OPTIONS_INIT;
	struct counts c = { 0 };
	struct mtk__fetcher f = given(&c);
	struct mtk_client *client = NULL;

	o.account = "not a name";
	cr_assert_eq(mtk__client_new_with_fetcher(&o, &f, NULL, &client), MTK_ERR_BAD_ACCOUNT);
	cr_assert_null(client);
	cr_assert_eq(c.frees, 1);
	cr_assert_eq(c.fetches, 0);
}

static enum mtk_status wrapped_fetch(void *self, struct mtk__token_doc *doc, int64_t *sent_ms,
                                     char *detail, size_t detail_len)
{
	struct counts *c = self;

	c->wrapped_fetches++;
	return c->inner.fetch(c->inner.self, doc, sent_ms, detail, detail_len);
}

static void wrapped_free(void *self)
{
	struct counts *c = self;

	c->wrapped_frees++;
	c->inner.free(c->inner.self);
}

static enum mtk_status wrap(void *arg, struct mtk__fetcher *f)
{
	struct counts *c = arg;

	c->wraps++;
	c->inner = *f;
	*f = (struct mtk__fetcher){
		.fetch = wrapped_fetch, .free = wrapped_free, .self = c, .where = f->where
	};
	return MTK_OK;
}

Test(client_with_fetcher, the_wrapper_sees_every_fetch)
{
	struct mtk_client_options o = MTK_CLIENT_OPTIONS_INIT;
	struct counts c = { 0 };
	struct mtk__fetcher f = given(&c);
	struct mtk__fetcher_wrap w = { .wrap = wrap, .arg = &c };
	struct mtk_client *client = NULL;
	struct mtk_token *t;

	o.flavour = MTK_FLAVOUR_GCE;
	cr_assert_eq(mtk__client_new_with_fetcher(&o, &f, &w, &client), MTK_OK);
	cr_assert_eq(c.wraps, 1);
	cr_assert_eq(mtk_client_get_token(client, &t), MTK_OK);
	mtk_token_free(t);
	cr_assert(mtk_client_invalidate(client, NULL));
	cr_assert_eq(mtk_client_get_token(client, &t), MTK_OK);
	mtk_token_free(t);
	cr_assert_eq(c.wrapped_fetches, 2);
	cr_assert_eq(c.fetches, 2);
	mtk_client_free(client);
	cr_assert_eq(c.wrapped_frees, 1);
	cr_assert_eq(c.frees, 1);
}
