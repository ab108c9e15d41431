/*
 * AWS Signature Version 4, the server's side: parsing an Authorization
 * header, and computing the canonical request, the string to sign and the
 * signature of a request as the signer did, so that sts.c can compare.
 * Knows no HTTP server and no flavour: the caller hands in the request's
 * parts. Follows AWS's published description of SigV4 (the canonical
 * request, the string to sign, the signing key) for every service but S3:
 * the path's segments are encoded twice, query parameters sorted by
 * encoded name then value, header values trimmed with inner runs of spaces
 * made one.
 *
 * Every output has a hard cap (SIGV4_CANONICAL_MAX); nothing here logs.
 */
#ifndef METATOKEN_SERVER_SIGV4_H
#define METATOKEN_SERVER_SIGV4_H

#include <stddef.h>

#define SIGV4_ALGORITHM     "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR    "aws4_request"
#define SIGV4_CANONICAL_MAX (64 * 1024) /* longest canonical request, NUL excluded */
#define SIGV4_HEADERS_MAX   32          /* most names in SignedHeaders */
#define SIGV4_HEX_LEN       64          /* a SHA-256 in hex */
#define SIGV4_DATE_LEN      16          /* "20150830T123600Z" */

/* A length-delimited piece of an input string. */
struct sigv4_span {
	const char *p;
	size_t len;
};

/* What an Authorization header says. Every span points into the header. */
struct sigv4_auth {
	struct sigv4_span key_id;
	struct sigv4_span date;    /* the scope's date, YYYYMMDD */
	struct sigv4_span region;  /* the scope's region */
	struct sigv4_span service; /* the scope's service */
	struct sigv4_span terminator;
	struct sigv4_span signed_headers; /* "host;x-amz-date" as sent */
	struct sigv4_span signature;      /* 64 lowercase hex digits */
	/* signed_headers split at ';' */
	struct sigv4_span header_names[SIGV4_HEADERS_MAX];
	size_t n_header_names;
};

/*
 * Parses `AWS4-HMAC-SHA256 Credential=ID/DATE/REGION/SERVICE/aws4_request,
 * SignedHeaders=a;b, Signature=HEX` (the three in any order, each once,
 * separated by commas and optional spaces). Returns 0, or -1 with a
 * sentence saying what is wrong in err (for IncompleteSignature). The
 * scope's fields are checked only for shape: the caller decides whether
 * service, date and terminator are the right ones.
 */
int sigv4_parse_authorization(const char *value, struct sigv4_auth *out, char *err, size_t errlen);

/* A query parameter, decoded (what the signer encoded). */
struct sigv4_param {
	const char *name;
	const char *value;
};

/* A signed header: its name lowercase, as in SignedHeaders, and its raw
 * value (NULL: absent; then the request cannot be verified). */
struct sigv4_header {
	struct sigv4_span name;
	const char *value;
};

struct sigv4_request {
	const char *method;
	const char *path; /* decoded, starting with '/' */
	const struct sigv4_param *query;
	size_t n_query;
	const struct sigv4_header *headers; /* in SignedHeaders order */
	size_t n_headers;
	const char *payload_hash; /* SIGV4_HEX_LEN hex digits */
};

/*
 * Writes the canonical request into a malloc'd, NUL-terminated string at
 * *out (the caller frees it) and returns its length; or returns -1 when it
 * would pass SIGV4_CANONICAL_MAX or memory runs out (*out is then NULL).
 */
long sigv4_canonical_request(const struct sigv4_request *r, char **out);

/* SHA-256 of len bytes in lowercase hex, into out[SIGV4_HEX_LEN + 1]. */
void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HEX_LEN + 1]);

/*
 * The signature of a canonical request: the string to sign from the
 * request time (SIGV4_DATE_LEN chars), the scope (date, region, service,
 * terminator) and the canonical request's hash, signed with the key
 * derived from the secret. Into out[SIGV4_HEX_LEN + 1]. Returns 0, or -1
 * if OpenSSL fails or a part is too long. The string to sign is written
 * into sts (when non-NULL, of sts_cap bytes) for tests.
 */
int sigv4_signature(const char *secret, const char *amz_date, const struct sigv4_span *date,
                    const struct sigv4_span *region, const struct sigv4_span *service,
                    const char *canonical, size_t canonical_len, char *sts, size_t sts_cap,
                    char out[SIGV4_HEX_LEN + 1]);

/*
 * Parses an X-Amz-Date value, exactly "YYYYMMDDTHHMMSSZ" (a real date, from
 * 1970 on), into ms since the epoch. Returns 0, or -1 if it is not one.
 */
int sigv4_parse_date(const char *value, long long *ms);

#endif
