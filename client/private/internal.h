/*
 * Internals shared by the library's files. Never installed. Shared names
 * carry the `mtk__` prefix so that a static link never collides with a
 * program's own symbols; none is exported from the shared library.
 */
#ifndef METATOKEN_CLIENT_INTERNAL_H
#define METATOKEN_CLIENT_INTERNAL_H

#include <openssl/crypto.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "metatoken/metatoken.h"
#include "metatoken/testing.h"

/*
 * Wipes n bytes at p so that no compiler drops the stores, as
 * OPENSSL_cleanse() does. With the C library's explicit_bzero() where there
 * is one (glibc 2.25+): its memset is several times faster on a token's few
 * hundred bytes than OpenSSL's byte loop, and the cached get pays for it.
 */
static inline void mtk__wipe(void *p, size_t n)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 25))
	explicit_bzero(p, n);
#else
	OPENSSL_cleanse(p, n);
#endif
}

#define MTK__MAX_EXPIRES_IN_S (10LL * 365 * 24 * 3600) /* 10 years */
#define MTK__DEFAULT_ENDPOINT "169.254.169.254"

/* A validated token response. access_token is malloc'd; release wipes it. */
struct mtk__token_doc {
	char *access_token;
	size_t access_token_len;
	int64_t expires_in_s;
	/* token_type is always "Bearer" once validated. */
	/* AWS flavour only (else NULL); access_token is the session token. */
	char *aws_key_id;
	char *aws_secret;
};

/* A token as handed to the caller: one allocation, immutable. */
struct mtk_token {
	int64_t expires_at_ms; /* wall clock */
	int64_t expires_in_ms; /* as of the get */
	size_t len;
	const char *aws_key_id; /* NULL, or into access_token's allocation */
	const char *aws_secret;
	size_t alloc_len;    /* bytes after the struct, wiped on free */
	char access_token[]; /* NUL-terminated */
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
 * cJSON helpers for documents that carry secrets. delete_wiped wipes every
 * string value in the tree, then frees it (cJSON frees without wiping);
 * NULL is a no-op. duplicate_key returns the first of the NULL-terminated
 * names that is a key of obj more than once, else NULL: parsers differ on
 * which of two equal keys wins, so a document with one is refused.
 */
struct cJSON;
void mtk__json_delete_wiped(struct cJSON *root);
const char *mtk__json_duplicate_key(const struct cJSON *obj, const char *const *names);
/*
 * Parses a response body that must be one JSON object and nothing else:
 * at most MTK_MAX_BODY bytes (else MTK_ERR_BODY_TOO_LARGE), no NUL raw or
 * escaped (cJSON would cut a string short at "\u0000"), none of the
 * NULL-terminated names twice (else MTK_ERR_BAD_JSON). On MTK_OK *root is
 * the caller's, to free with mtk__json_delete_wiped; otherwise why says
 * what was wrong.
 */
enum mtk_status mtk__json_object_parse(const char *body, size_t len, const char *const *names,
                                       struct cJSON **root, char *why, size_t whylen);

/*
 * Times as servers send them (timeparse.c), as ms since the epoch, or -1
 * for anything else. rfc3339: "YYYY-MM-DDTHH:MM:SSZ" (len bytes), and with
 * fraction also "...SS.<1 to 9 digits>Z" (cut to ms): no other zone, no
 * date that does not exist, no year before 1970. imf_fixdate: HTTP's
 * "Sun, 06 Nov 1994 08:49:37 GMT" (Retry-After).
 */
int64_t mtk__rfc3339_ms(const char *s, size_t len, bool fraction);
int64_t mtk__imf_fixdate_ms(const char *s, size_t len);

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

/* Parses host[:port] or http://host[:port][/] into "http://host[:port]". */
enum mtk_status mtk__endpoint_parse(const char *s, char **base_url);

/* MTK_OK when name is 1..MTK_MAX_ACCOUNT bytes of [A-Za-z0-9@._+-]. */
enum mtk_status mtk__account_check(const char *name);

/* The libcurl transport: one easy handle, reused, guarded by its own lock. */
struct mtk__curl;
enum mtk_status mtk__curl_new(struct mtk__curl **out);
void mtk__curl_free(struct mtk__curl *t);
/* The CA bundle (PEM) https peers must chain to, copied; NULL: the system's. */
enum mtk_status mtk__curl_set_ca_file(struct mtk__curl *t, const char *path);
enum mtk_status mtk__curl_perform(void *arg, const struct mtk_http_request *req,
                                  struct mtk_http_response *resp);

/*
 * Parses the body of GET .../iam/security-credentials/: one IAM role name,
 * 1..MTK__AWS_ROLE_MAX bytes of [A-Za-z0-9+=,.@_-] other than "." and
 * "..", then any CR/LF (tolerated, not required). Any byte sequence is
 * safe input. On MTK_OK out holds the name, NUL-terminated; a name that
 * does not fit in cap bytes (cap >= MTK__AWS_ROLE_MAX + 1 fits them all)
 * and anything else is MTK_ERR_BAD_ACCOUNT, with out untouched.
 */
#define MTK__AWS_ROLE_MAX 64
enum mtk_status mtk__aws_role_parse(const char *body, size_t len, char *out, size_t cap);
/* Parses the credentials JSON; expires_in_s is Expiration - now_wall_ms. */
enum mtk_status mtk__aws_creds_parse(const char *body, size_t len, int64_t now_wall_ms,
                                     struct mtk__token_doc *out, char *why, size_t whylen);

/*
 * Clients whose tokens come from elsewhere (metatokend's upstream mode).
 * mtk__client_new_with_fetcher() is mtk_client_new() with two changes:
 * - fetcher, when not NULL, is fetched through instead of the flavour's
 *   fetcher (the flavour should be GCE: bearer tokens). The client owns it
 *   from this call on, even when the call fails (it is freed then), and
 *   loads no libcurl for it;
 * - wrap, when not NULL, is called once with the fetcher the client is to
 *   fetch through (given or made) and replaces *f with one of its own that
 *   fetches through it and frees it, to watch every fetch (metatokend logs
 *   and counts them). When it fails, *f must be left as it was.
 */
struct mtk__fetcher;
struct mtk__fetcher_wrap {
	enum mtk_status (*wrap)(void *arg, struct mtk__fetcher *f);
	void *arg;
};
enum mtk_status mtk__client_new_with_fetcher(const struct mtk_client_options *opts,
                                             const struct mtk__fetcher *fetcher,
                                             const struct mtk__fetcher_wrap *wrap,
                                             struct mtk_client **out);

/* The real clocks. */
int64_t mtk__monotonic_ms(void *arg);
int64_t mtk__wall_ms(void *arg);
void mtk__sleep_ms(void *arg, int64_t ms);
/* Uniform 64 random bits from OpenSSL's CSPRNG (0 if it fails). */
uint64_t mtk__random_u64(void *arg);

/*
 * Copies a caller's options struct of in_size bytes (its struct_size: the
 * size it was compiled with) into out, of this library's out_size: fields
 * the caller does not know of are zeroed (their defaults). An in_size below
 * min_size (the first released struct), or bytes past out_size that are not
 * zero (a newer caller asking for what this library cannot do), give
 * MTK_ERR_BAD_STRUCT_SIZE.
 */
enum mtk_status mtk__options_read(const void *in, size_t in_size, size_t min_size, void *out,
                                  size_t out_size);

#endif
