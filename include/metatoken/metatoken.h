/*
 * libmetatoken: get a valid Bearer token for the VM's (or function's)
 * service account from a GCE-compatible metadata service (metatokend, the
 * Google Compute Engine metadata server, or Yandex Cloud's), cheaply and
 * safely.
 *
 *	struct mtk_client *c;
 *	struct mtk_token *t;
 *
 *	struct mtk_client_options o = MTK_CLIENT_OPTIONS_INIT;
 *
 *	o.account = "default";
 *	if (mtk_client_new(&o, &c) != MTK_OK)
 *		...;
 *	if (mtk_client_get_token(c, &t) == MTK_OK) {
 *		use(mtk_token_access_token(t));
 *		mtk_token_free(t);
 *	}
 *	mtk_client_free(c);
 *
 * Conventions
 * - Every call that can fail returns an enum mtk_status; mtk_strerror()
 *   never returns NULL. Out-parameters are written only on MTK_OK.
 * - mtk_*_free(NULL) is a no-op. Token bytes are wiped before memory that
 *   held them is freed.
 * - Threads: one struct mtk_client is safe to share between any number of
 *   threads, for every call except mtk_client_free(), which the owner calls
 *   once no other thread uses the client any more. A struct mtk_token is
 *   immutable and may be read from any thread.
 *
 * Cache and refresh
 * The client caches one token. Its expiry is kept on the monotonic clock,
 * computed from `expires_in` at the moment the request that fetched it was
 * sent, so wall-clock jumps change nothing. With R = refresh_window_ms plus
 * a random jitter in [0, refresh_jitter_ms) drawn per token, and
 * M = min(expiry_margin_ms, the token's lifetime / 2), a get finds the token:
 * - fresh (more than R left): returned, no I/O, no waiting;
 * - stale (between R and M left): returned; exactly one fetch of a new one
 *   starts meanwhile, in the background refresher when enabled, else in a
 *   thread of its own that the first caller to find the token stale
 *   starts. That caller waits for it at most 100 ms (and never past M): it
 *   gets the new token from a server that quick, else the cached one, even
 *   while the server stalls. Every other caller gets the cached token at
 *   once;
 * - expired (less than M left, absent, or invalidated): callers wait for the
 *   single in-flight fetch; N threads cause exactly one HTTP fetch.
 * A failed refresh keeps serving the last good token until its real expiry;
 * after that the fetch's error is returned. After any fetch the next
 * refresh attempt waits at least min_refresh_interval_ms, so a server that
 * hands out a token already inside the refresh window (or a failing one)
 * is not asked on every call.
 *
 * Fetching: GET <endpoint>/computeMetadata/v1/instance/service-accounts/
 * <account>/token with `Metadata-Flavor: Google` (or, with key_file, the
 * Yandex IAM exchange: a POST of a signed JWT, see the option), over one
 * reused libcurl
 * handle per client (keep-alive), never through a proxy, body capped at
 * MTK_MAX_BODY bytes. Connect errors, timeouts, 429 and 5xx are retried with
 * exponential backoff and full jitter, within fetch_budget_ms; other 4xx and
 * malformed responses are not retried and never cached. A 429 or 503 with
 * Retry-After (delay-seconds or an IMF-fixdate) is retried no sooner than
 * it asks; when that is past the fetch budget, the fetch ends at once with
 * that answer's status, and mtk_client_last_error() says so.
 *
 * libcurl is not linked but loaded (dlopen of libcurl.so.4) when the first
 * client without a transport seam (metatoken/testing.h) is created, so that a program which never
 * fetches does not pay for loading it. Without it, mtk_client_new() returns
 * MTK_ERR_NO_LIBCURL.
 */
#ifndef METATOKEN_METATOKEN_H
#define METATOKEN_METATOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memset, for mtk_client_options_init() */

#include <metatoken/version.h> /* MTK_VERSION_STRING, _MAJOR, _MINOR, _PATCH */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MTK_EXPORT __attribute__((visibility("default")))
#else
#define MTK_EXPORT
#endif

#define MTK_MAX_ACCESS_TOKEN 4096  /* longest access token accepted, bytes */
#define MTK_MAX_BODY         65536 /* longest token response accepted, bytes */
#define MTK_MAX_ACCOUNT      255   /* longest service account name, bytes */
/* Buffer size that always fits "Authorization: Bearer <token>" and its NUL. */
#define MTK_AUTHORIZATION_HEADER_MAX (sizeof("Authorization: Bearer ") + MTK_MAX_ACCESS_TOKEN)

/*
 * Status codes: X(name, message). This table is append-only: a value once
 * released is never renumbered or reused, so statuses may be stored and
 * compared across versions. It generates both the enum and the strings.
 */
#define MTK_STATUS_MAP(X)                                                                          \
	X(MTK_OK, "success")                                                                       \
	X(MTK_ERR_INVALID_ARGUMENT, "invalid argument (NULL pointer or value out of range)")       \
	X(MTK_ERR_NO_MEMORY, "out of memory")                                                      \
	X(MTK_ERR_BAD_ENDPOINT,                                                                    \
	  "metadata endpoint is not host[:port] or http://host[:port], or IAM endpoint not an "    \
	  "http(s) URL")                                                                           \
	X(MTK_ERR_BAD_ACCOUNT, "service account name is empty, too long or not URL-safe")          \
	X(MTK_ERR_INIT, "could not initialise libcurl or a thread")                                \
	X(MTK_ERR_CONNECT, "could not connect to the metadata service (or IAM endpoint)")          \
	X(MTK_ERR_TIMEOUT, "the metadata service (or IAM endpoint) did not answer in time")        \
	X(MTK_ERR_TRANSPORT,                                                                       \
	  "HTTP transport error talking to the metadata service (or IAM endpoint)")                \
	X(MTK_ERR_NO_SUCH_ACCOUNT, "the metadata service has no such service account")             \
	X(MTK_ERR_HTTP_CLIENT, "the metadata service (or IAM endpoint) refused the request")       \
	X(MTK_ERR_HTTP_THROTTLED,                                                                  \
	  "the metadata service (or IAM endpoint) kept answering Too Many Requests")               \
	X(MTK_ERR_HTTP_SERVER,                                                                     \
	  "the metadata service (or IAM endpoint) kept failing with server errors")                \
	X(MTK_ERR_HTTP_UNEXPECTED,                                                                 \
	  "the metadata service (or IAM endpoint) answered an unexpected HTTP status")             \
	X(MTK_ERR_BODY_TOO_LARGE, "the token response is larger than 64 KiB")                      \
	X(MTK_ERR_BAD_JSON, "the token response is not a JSON object")                             \
	X(MTK_ERR_MISSING_FIELD,                                                                   \
	  "the token response lacks access_token, expires_in or token_type")                       \
	X(MTK_ERR_BAD_EXPIRES_IN, "expires_in is not a positive integer of at most 10 years")      \
	X(MTK_ERR_BAD_ACCESS_TOKEN,                                                                \
	  "access_token is empty, longer than 4096 bytes or not printable ASCII")                  \
	X(MTK_ERR_BAD_TOKEN_TYPE, "token_type is not Bearer")                                      \
	X(MTK_ERR_EXPIRED, "no valid token: the cached one expired and no new one was fetched")    \
	X(MTK_ERR_BUFFER_TOO_SMALL, "the caller's buffer is too small")                            \
	X(MTK_ERR_BAD_ENVIRONMENT, "an environment variable has an invalid value")                 \
	X(MTK_ERR_NO_TOKEN, "there is no token")                                                   \
	X(MTK_ERR_BAD_EXPIRATION,                                                                  \
	  "Expiration is not a YYYY-MM-DDTHH:MM:SSZ time in the future, at most 10 years away")    \
	X(MTK_ERR_WRONG_FLAVOUR, "the call does not apply to this client's metadata flavour")      \
	X(MTK_ERR_NO_LIBCURL,                                                                      \
	  "libcurl.so.4 could not be loaded: install libcurl (Debian, Ubuntu: libcurl4)")          \
	X(MTK_ERR_BAD_STRUCT_SIZE,                                                                 \
	  "the options' struct_size is 0 or not a size of that struct: start from its _INIT")      \
	X(MTK_ERR_BAD_KEY_FILE,                                                                    \
	  "the authorized-key file cannot be read, others may read it, or it is not a valid key")  \
	X(MTK_ERR_BAD_CA_FILE, "the CA file cannot be read")                                       \
	X(MTK_ERR_IAM_MISSING_FIELD, "the IAM response lacks iamToken or expiresAt")               \
	X(MTK_ERR_BAD_EXPIRES_AT,                                                                  \
	  "expiresAt is not a YYYY-MM-DDTHH:MM:SS[.fraction]Z time after the request was sent")    \
	X(MTK_ERR_TLS,                                                                             \
	  "the https server's certificate was not trusted (is ca_file its CA?) or did not name "   \
	  "its host")

enum mtk_status {
#define MTK_STATUS_ENUM_(name, msg) name,
	MTK_STATUS_MAP(MTK_STATUS_ENUM_)
#undef MTK_STATUS_ENUM_
};

/* A one-line English description of s. Never NULL, even for unknown values. */
MTK_EXPORT const char *mtk_strerror(enum mtk_status s);

/* The enumerator's name ("MTK_ERR_TIMEOUT"), or "MTK_UNKNOWN". Never NULL. */
MTK_EXPORT const char *mtk_status_name(enum mtk_status s);

/* The library's version, MTK_VERSION_STRING of the build. */
MTK_EXPORT const char *mtk_version(void);

/* Which metadata service the client speaks to. */
enum mtk_flavour {
	/* AWS when $AWS_EC2_METADATA_SERVICE_ENDPOINT is set and non-empty and
	 * neither $YC_METADATA_ADDR nor $GCE_METADATA_HOST is; else GCE. */
	MTK_FLAVOUR_AUTO = 0,
	MTK_FLAVOUR_GCE, /* service-account tokens */
	MTK_FLAVOUR_AWS, /* IMDS role credentials: see metatoken/aws.h */
};

/*
 * Options. Start from MTK_CLIENT_OPTIONS_INIT (or mtk_client_options_init()),
 * which sets struct_size and zeroes the rest; zero means "the default" for
 * every other field, so
 *	struct mtk_client_options o = MTK_CLIENT_OPTIONS_INIT;
 *	o.account = "sa@x";
 * is a complete value, and NULL options mean all defaults. Strings are
 * copied at creation.
 *
 * ABI: new fields are only ever added at the end. struct_size tells the
 * library which version of the struct the caller was built with: a caller
 * built against an older, smaller struct gets the defaults for the fields it
 * does not know of; a struct_size of 0, smaller than the first released
 * struct, or larger than this library's struct with any of the bytes it
 * does not know of non-zero is refused with MTK_ERR_BAD_STRUCT_SIZE.
 */
struct mtk_testing_seams;

struct mtk_client_options {
	size_t struct_size; /* sizeof(struct mtk_client_options), set by the init */
	/* host[:port] or http://host[:port]; NULL: $YC_METADATA_ADDR, else
	 * $GCE_METADATA_HOST, else 169.254.169.254 (port 80). The AWS
	 * flavour reads $AWS_EC2_METADATA_SERVICE_ENDPOINT instead. */
	const char *endpoint;
	/* Service account: "default" (NULL) or its email. URL-safe only.
	 * AWS: the IAM role; "default" (NULL) is the one IMDS lists. */
	const char *account;
	int64_t connect_timeout_ms;      /* 0: 1000 */
	int64_t request_timeout_ms;      /* 0: 3000, per attempt */
	int64_t fetch_budget_ms;         /* 0: 10000, one fetch with all its retries */
	int max_attempts;                /* 0: 3 (first try included) */
	int64_t backoff_base_ms;         /* 0: 100, doubled per retry */
	int64_t backoff_max_ms;          /* 0: 2000 */
	int64_t refresh_window_ms;       /* 0: 240000 (4 min) */
	int64_t refresh_jitter_ms;       /* 0: 60000, so refresh starts 4..5 min before expiry */
	int64_t expiry_margin_ms;        /* 0: 10000; less left counts as expired */
	int64_t min_refresh_interval_ms; /* 0: 30000 between refresh attempts */
	/* Start a thread that keeps the token fresh, so that no get ever waits
	 * for I/O once the first token arrived. mtk_client_free() stops it. */
	bool background_refresh;

	/* The flavour (see metatoken/aws.h for the AWS one). */
	enum mtk_flavour flavour;
	/* AWS: the IMDSv2 session TTL asked for, 1..21600 s (0: 21600, what
	 * every AWS SDK asks). The session is renewed before it runs out. */
	int64_t aws_session_ttl_s;
	/* Not a stable interface: the test seams of metatoken/testing.h, whose
	 * contents may change in any release. NULL outside tests. */
	const struct mtk_testing_seams *testing;

	/* The IAM exchange and https: added after `testing`, as the ABI rule
	 * above says. */

	/* A Yandex Cloud authorized-key file (what `yc iam key create
	 * --output key.json` or `metatoken admin key create` writes). When
	 * set, the client does not ask a metadata service: each fetch signs
	 * a PS256 JWT with the file's private key (kid = its id, iss = its
	 * service_account_id, aud = the Yandex IAM audience, exp = iat +
	 * 1 h on the wall clock) and exchanges it with a POST of {"jwt"} at
	 * iam_endpoint for {"iamToken","expiresAt"}; the token lives until
	 * expiresAt as seen at the moment the request was sent (at most 12 h).
	 * The cache, retries and keep-last-good are the same as for metadata.
	 * The file is read once, at mtk_client_new(), and refused
	 * (MTK_ERR_BAD_KEY_FILE, the reason from mtk_client_last_error(NULL,
	 * ...)) when it is unreadable, not a valid key, or readable by its
	 * group or others (chmod 600 it). endpoint, account and flavour (but
	 * MTK_FLAVOUR_AWS, refused) are then ignored. Yandex's error answers
	 * ({"code","message"}) go into mtk_client_last_error(). */
	const char *key_file;
	/* The IAM token endpoint, a full http:// or https:// URL; NULL:
	 * $METATOKEN_IAM_ENDPOINT, else
	 * https://iam.api.cloud.yandex.net/iam/v1/tokens. metatokend serves
	 * one at http://HOST:PORT/iam/v1/tokens. MTK_ERR_BAD_ENDPOINT when it
	 * is not such a URL (no user info, query or fragment). */
	const char *iam_endpoint;
	/* A PEM file of the CA certificates that an https:// endpoint's
	 * certificate must chain to (the IAM endpoint's: metadata endpoints
	 * are http://); NULL: the system's store. Certificates are always
	 * verified, host names included (MTK_ERR_TLS, not retried).
	 * MTK_ERR_BAD_CA_FILE when it cannot be read at mtk_client_new(). */
	const char *ca_file;
};

#define MTK_CLIENT_OPTIONS_INIT                                                                    \
	{                                                                                          \
		.struct_size = sizeof(struct mtk_client_options)                                   \
	}

/* Sets *o to MTK_CLIENT_OPTIONS_INIT. Inline on purpose: struct_size must be
 * the size the caller was compiled with, not the library's. */
static inline void mtk_client_options_init(struct mtk_client_options *o)
{
	memset(o, 0, sizeof(*o));
	o->struct_size = sizeof(*o);
}

struct mtk_client;
struct mtk_token;

/*
 * Creates a client. Resolves the endpoint and validates the account now
 * (MTK_ERR_BAD_ENDPOINT, MTK_ERR_BAD_ACCOUNT); performs no I/O unless
 * background_refresh is set, in which case the first fetch starts at once.
 * Without a transport seam, the first call in a process loads libcurl
 * (MTK_ERR_NO_LIBCURL when libcurl.so.4 cannot be loaded, then and on every
 * later call).
 */
MTK_EXPORT enum mtk_status mtk_client_new(const struct mtk_client_options *opts,
                                          struct mtk_client **out);

/* Stops the refresher, waiting for a fetch it (or a refresh a stale get
 * started) has under way, wipes the cached token and frees the client. No
 * operation is performed if c is NULL. */
MTK_EXPORT void mtk_client_free(struct mtk_client *c);

/*
 * Returns a valid token in *out, which the caller frees with
 * mtk_token_free(). May wait for a fetch (see "Cache and refresh" above).
 * On failure, returns the status of the fetch that failed.
 */
MTK_EXPORT enum mtk_status mtk_client_get_token(struct mtk_client *c, struct mtk_token **out);

/*
 * Writes "Authorization: Bearer <token>" (NUL-terminated, ready for
 * curl_slist_append) into buf, with the same caching as get_token and no
 * allocation. MTK_AUTHORIZATION_HEADER_MAX bytes always suffice. The caller
 * should wipe buf when done. On failure buf holds "" (when buflen > 0): never
 * a part of a token, nor what it held before.
 */
MTK_EXPORT enum mtk_status mtk_client_authorization_header(struct mtk_client *c, char *buf,
                                                           size_t buflen);

/*
 * Copies the bare access token (NUL-terminated) into buf, with the same
 * caching as get_token and no allocation: for SDKs that put the token into
 * a header or a message of their own. MTK_MAX_ACCESS_TOKEN + 1 bytes always
 * suffice; a smaller buf that cannot hold the token gets
 * MTK_ERR_BUFFER_TOO_SMALL. When expires_in_ms is not NULL, it receives the
 * token's remaining life, as mtk_token_expires_in_ms() would. The caller
 * should wipe buf when done. On failure buf holds "" (when buflen > 0), as
 * with mtk_client_authorization_header(). AWS clients get
 * MTK_ERR_WRONG_FLAVOUR: their credentials are a set (see metatoken/aws.h).
 */
MTK_EXPORT enum mtk_status mtk_client_copy_token(struct mtk_client *c, char *buf, size_t buflen,
                                                 int64_t *expires_in_ms);

/*
 * Call when an API answered 401 to `access_token` (or pass NULL for "the
 * current token"): the next get fetches again, once. Returns true when it
 * will; false when the cached token is already a different one, or when an
 * invalidation was honoured less than min_refresh_interval_ms ago (a server
 * that hands back the same token would otherwise cause a fetch loop).
 */
MTK_EXPORT bool mtk_client_invalidate(struct mtk_client *c, const char *access_token);

/*
 * Copies a one-line description of the last failed fetch (what, where and
 * why, e.g. "GET http://...: HTTP 503 after 3 attempts") into buf,
 * truncated to fit. Writes "" when no fetch failed yet.
 * With c NULL: why the calling thread's last mtk_client_new() failed, when
 * there is more to say than its status (a key file's problem and how to fix
 * it, a CA file that cannot be read), else "".
 */
MTK_EXPORT enum mtk_status mtk_client_last_error(struct mtk_client *c, char *buf, size_t buflen);

/* The token URL the client fetches (for messages). Valid until free. */
MTK_EXPORT const char *mtk_client_token_url(const struct mtk_client *c);

struct mtk_client_stats {
	uint64_t gets;           /* get_token, authorization_header and copy_token calls */
	uint64_t fetches;        /* fetches started (each one may retry) */
	uint64_t fetch_failures; /* fetches that ended without a token */
	uint64_t http_requests;  /* transport calls, retries included */
	uint64_t waits;          /* gets that waited for another thread's fetch */
};

/* Copies the client's counters (for metrics, and tests). */
MTK_EXPORT enum mtk_status mtk_client_get_stats(struct mtk_client *c, struct mtk_client_stats *out);

/* The token: immutable, owned by the caller. */
MTK_EXPORT const char *mtk_token_access_token(const struct mtk_token *t); /* NUL-terminated */
MTK_EXPORT size_t mtk_token_access_token_len(const struct mtk_token *t);
MTK_EXPORT const char *mtk_token_type(const struct mtk_token *t); /* "Bearer" */
/* Absolute expiry, ms since the Unix epoch (wall clock at the get + the
 * remaining life on the monotonic clock). */
MTK_EXPORT int64_t mtk_token_expires_at_ms(const struct mtk_token *t);
/* Remaining life in ms when the get returned (> 0, at most the lifetime).
 * A get served from the cache on the real clock reads the kernel's coarse
 * clock: the figure (and expires_at) may then be off by a few ms, a tick. */
MTK_EXPORT int64_t mtk_token_expires_in_ms(const struct mtk_token *t);

/*
 * Writes the token document {"access_token","expires_in","token_type"}
 * (expires_in in whole seconds as of the get, at least 1) into *json; free
 * it with mtk_json_free().
 */
MTK_EXPORT enum mtk_status mtk_token_to_json(const struct mtk_token *t, char **json);

/* Wipes and frees the token. No operation is performed if t is NULL. */
MTK_EXPORT void mtk_token_free(struct mtk_token *t);

/* Wipes and frees a string this library returned as JSON. NULL is a no-op. */
MTK_EXPORT void mtk_json_free(char *json);

#ifdef __cplusplus
}
#endif

#endif
