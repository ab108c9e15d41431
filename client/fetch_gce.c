/*
 * The GCE metadata source: a service account's token from a GCE-compatible
 * metadata service (metatokend, Google's, Yandex Cloud's), one GET with
 * the retry loop's rules (metatoken/metatoken.h, "Fetching").
 */
#include "private/fetcher.h"
#include "private/internal.h"
#include "private/retry.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>

struct gce {
	struct mtk__retry *retry;
	char *token_url;
};

static enum mtk_status gce_fetch(void *self, struct mtk__token_doc *doc, int64_t *sent_ms,
                                 char *detail, size_t detail_len)
{
	static const char *const headers[] = { "Metadata-Flavor: Google", NULL };
	struct gce *g = self;
	struct mtk__answer a;
	enum mtk_status st;
	char why[160] = "";

	st = mtk__retry_request(g->retry, NULL, g->token_url, headers, mtk__retry_mono(g->retry),
	                        &a, detail, detail_len);
	if (st != MTK_OK)
		return st;
	if (a.http != 200) {
		OPENSSL_cleanse(a.body, a.len);
		return mtk__http_status(a.http); /* detail was written */
	}
	st = mtk__token_parse(a.body, a.len, doc, why, sizeof(why));
	OPENSSL_cleanse(a.body, a.len);
	if (st != MTK_OK)
		snprintf(detail, detail_len, "GET %s: malformed token response: %s", g->token_url,
		         why);
	else
		*sent_ms = a.sent_ms;
	return st;
}

static void gce_free(void *self)
{
	struct gce *g = self;

	if (!g)
		return;
	free(g->token_url);
	free(g);
}

enum mtk_status mtk__fetcher_gce_new(const char *endpoint, const char *account,
                                     struct mtk__retry *r, struct mtk__fetcher *out)
{
	struct gce *g;
	enum mtk_status st;
	char *base = NULL;

	if ((st = mtk__endpoint_resolve(endpoint, &base)) != MTK_OK)
		return st;
	g = calloc(1, sizeof(*g));
	if (!g ||
	    asprintf(&g->token_url, "%s/computeMetadata/v1/instance/service-accounts/%s/token",
	             base, account) < 0) {
		free(g);
		free(base);
		return MTK_ERR_NO_MEMORY;
	}
	free(base);
	g->retry = r;
	*out = (struct mtk__fetcher){
		.fetch = gce_fetch, .free = gce_free, .self = g, .where = g->token_url
	};
	return MTK_OK;
}
