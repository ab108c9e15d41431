/*
 * Internals shared by the library's files. Never installed. Shared names
 * carry the `mtk__` prefix so that a static link never collides with a
 * program's own symbols; none is exported from the shared library.
 */
#ifndef METATOKEN_CLIENT_INTERNAL_H
#define METATOKEN_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "metatoken/metatoken.h"

#define MTK__MAX_EXPIRES_IN_S (10LL * 365 * 24 * 3600) /* 10 years */
#define MTK__DEFAULT_ENDPOINT "169.254.169.254"

/* A validated token response. access_token is malloc'd; release wipes it. */
struct mtk__token_doc {
	char *access_token;
	size_t access_token_len;
	int64_t expires_in_s;
	/* token_type is always "Bearer" once validated. */
};

/*
 * Parses and validates `len` bytes of a token document
 * {"access_token","expires_in","token_type"}. Any byte sequence is safe
 * input; nothing is kept from a rejected document. On failure writes a
 * short reason (no token bytes) into why.
 */
enum mtk_status mtk__token_parse(const char *body, size_t len, struct mtk__token_doc *out,
                                 char *why, size_t whylen);
void mtk__token_doc_release(struct mtk__token_doc *d);

/*
 * Validates a token's text: 1..MTK_MAX_ACCESS_TOKEN bytes of 0x21..0x7e.
 */
enum mtk_status mtk__access_token_check(const char *s, size_t len);

/* Builds {"access_token","expires_in","token_type":"Bearer"} (caller frees
 * with mtk_json_free). */
enum mtk_status mtk__token_json(const char *access_token, int64_t expires_in_s, char **json);

/*
 * Resolves the endpoint (explicit, $YC_METADATA_ADDR, $GCE_METADATA_HOST,
 * 169.254.169.254) into a malloc'd base URL "http://host[:port]" without a
 * trailing slash.
 */
enum mtk_status mtk__endpoint_resolve(const char *explicit_endpoint, char **base_url);

/* MTK_OK when name is 1..MTK_MAX_ACCOUNT bytes of [A-Za-z0-9@._+-]. */
enum mtk_status mtk__account_check(const char *name);

/* The libcurl transport: one easy handle, reused, guarded by its own lock. */
struct mtk__curl;
enum mtk_status mtk__curl_new(struct mtk__curl **out);
void mtk__curl_free(struct mtk__curl *t);
enum mtk_status mtk__curl_perform(void *arg, const struct mtk_http_request *req,
                                  struct mtk_http_response *resp);

/* The real clocks. */
int64_t mtk__monotonic_ms(void *arg);
int64_t mtk__wall_ms(void *arg);
void mtk__sleep_ms(void *arg, int64_t ms);
/* Uniform 64 random bits from OpenSSL's CSPRNG (0 if it fails). */
uint64_t mtk__random_u64(void *arg);

#endif
