/*
 * AWS Signature Version 4, the server's side. See sigv4.h.
 */
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grow.h"

/* ---- parsing the Authorization header ---- */

static int all_of(const char *p, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(set, p[i]) || p[i] == '\0')
			return 0;
	return 1;
}

/* Splits the Credential value into its five fields. */
static int parse_credential(const char *p, size_t n, struct sigv4_auth *a)
{
	struct sigv4_span *field[] = { &a->key_id, &a->date, &a->region, &a->service,
		                       &a->terminator };
	size_t k = 0, start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		if (k == 5 || i == start)
			return -1;
		field[k]->p = p + start;
		field[k++]->len = i - start;
		start = i + 1;
	}
	return k == 5 && a->date.len == 8 && all_of(a->date.p, 8, "0123456789") ? 0 : -1;
}

/* Splits SignedHeaders at ';': names of lowercase token chars. */
static int parse_signed_headers(const char *p, size_t n, struct sigv4_auth *a)
{
	static const char name_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789-_.!#$%&'*+^`|~";
	size_t start = 0;

	a->signed_headers.p = p;
	a->signed_headers.len = n;
	a->n_header_names = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != ';')
			continue;
		if (i == start || a->n_header_names == SIGV4_HEADERS_MAX ||
		    !all_of(p + start, i - start, name_chars))
			return -1;
		a->header_names[a->n_header_names].p = p + start;
		a->header_names[a->n_header_names++].len = i - start;
		start = i + 1;
	}
	return 0;
}

int sigv4_parse_authorization(const char *value, struct sigv4_auth *out, char *err, size_t errlen)
{
	static const char alg[] = SIGV4_ALGORITHM;
	const char *p = value;
	int have_cred = 0, have_headers = 0, have_sig = 0;

	memset(out, 0, sizeof(*out));
	if (strncmp(p, alg, sizeof(alg) - 1) != 0 || p[sizeof(alg) - 1] != ' ') {
		snprintf(err, errlen,
		         "Authorization header must start with '" SIGV4_ALGORITHM " ' (Signature "
		         "Version 4)");
		return -1;
	}
	p += sizeof(alg) - 1;
	while (*p) {
		const char *key, *eq, *end;
		size_t klen, vlen;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		key = p;
		eq = strchr(key, '=');
		end = key + strcspn(key, ", ");
		if (!eq || eq > end) {
			snprintf(err, errlen, "Authorization header: '%.*s' is not Name=Value",
			         (int)((end - key) > 40 ? 40 : (end - key)), key);
			return -1;
		}
		klen = (size_t)(eq - key);
		vlen = (size_t)(end - eq - 1);
		if (klen == 10 && memcmp(key, "Credential", 10) == 0 && !have_cred) {
			have_cred = 1;
			if (parse_credential(eq + 1, vlen, out) != 0) {
				snprintf(err, errlen,
				         "Authorization header: Credential must be "
				         "KEYID/YYYYMMDD/REGION/SERVICE/" SIGV4_TERMINATOR);
				return -1;
			}
		} else if (klen == 13 && memcmp(key, "SignedHeaders", 13) == 0 && !have_headers) {
			have_headers = 1;
			if (parse_signed_headers(eq + 1, vlen, out) != 0) {
				snprintf(
				    err, errlen,
				    "Authorization header: SignedHeaders must be lowercase header "
				    "names separated by ';' (at most %d)",
				    SIGV4_HEADERS_MAX);
				return -1;
			}
		} else if (klen == 9 && memcmp(key, "Signature", 9) == 0 && !have_sig) {
			have_sig = 1;
			out->signature.p = eq + 1;
			out->signature.len = vlen;
			if (vlen != SIGV4_HEX_LEN || !all_of(eq + 1, vlen, "0123456789abcdef")) {
				snprintf(err, errlen,
				         "Authorization header: Signature must be %d "
				         "lowercase hex digits",
				         SIGV4_HEX_LEN);
				return -1;
			}
		} else {
			snprintf(err, errlen,
			         "Authorization header: unexpected or repeated '%.*s' (give "
			         "Credential, SignedHeaders and Signature once each)",
			         (int)(klen > 40 ? 40 : klen), key);
			return -1;
		}
		p = end;
	}
	if (!have_cred || !have_headers || !have_sig) {
		snprintf(err, errlen, "Authorization header requires %s parameter",
		         !have_cred      ? "'Credential'"
		         : !have_headers ? "'SignedHeaders'"
		                         : "'Signature'");
		return -1;
	}
	return 0;
}

/* ---- the canonical request ---- */

struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (grow_reserve(&b->p, &b->cap, b->len + n + 1, SIGV4_CANONICAL_MAX + 1, 1) != 0) {
		b->failed = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* SigV4's URI encoding: all but A-Z a-z 0-9 - _ . ~ (and '/' when
 * keep_slash) as %XX, uppercase. */
static void put_encoded(struct buf *b, const char *s, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n && !b->failed; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
			put(b, (const char *)&c, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			put(b, e, 3);
		}
	}
}

/* A header value as canonicalised: leading and trailing spaces and tabs
 * gone, each inner run of them one space. */
static void put_trimmed(struct buf *b, const char *v)
{
	size_t n = strlen(v), i = 0;
	int space = 0;

	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	for (; i < n; i++) {
		if (v[i] == ' ' || v[i] == '\t') {
			space = 1;
			continue;
		}
		if (space)
			put(b, " ", 1);
		space = 0;
		put(b, v + i, 1);
	}
}

/* One query parameter, encoded, for sorting. */
struct enc_param {
	char *name, *value;
};

static int cmp_param(const void *a, const void *b)
{
	const struct enc_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static char *encode_dup(const char *s, int *failed)
{
	struct buf b = { 0 };

	put(&b, "", 0);
	put_encoded(&b, s, strlen(s), 0);
	if (b.failed) {
		free(b.p);
		*failed = 1;
		return NULL;
	}
	return b.p;
}

/* The canonical query string: encoded name=value pairs, sorted, '&'-joined. */
static void put_query(struct buf *b, const struct sigv4_param *q, size_t n)
{
	struct enc_param *e;
	int failed = 0;

	if (n == 0)
		return;
	e = n <= SIGV4_CANONICAL_MAX ? calloc(n, sizeof(*e)) : NULL;
	if (!e) {
		b->failed = 1;
		return;
	}
	for (size_t i = 0; i < n && !failed; i++) {
		e[i].name = encode_dup(q[i].name, &failed);
		e[i].value = failed ? NULL : encode_dup(q[i].value ? q[i].value : "", &failed);
	}
	if (failed)
		b->failed = 1;
	else
		qsort(e, n, sizeof(*e), cmp_param);
	for (size_t i = 0; i < n; i++) {
		if (!failed) {
			if (i)
				put(b, "&", 1);
			puts_(b, e[i].name);
			put(b, "=", 1);
			puts_(b, e[i].value);
		}
		free(e[i].name);
		free(e[i].value);
	}
	free(e);
}

long sigv4_canonical_request(const struct sigv4_request *r, char **out)
{
	struct buf b = { 0 }, once = { 0 };
	const char *path = r->path && r->path[0] ? r->path : "/";

	*out = NULL;
	puts_(&b, r->method);
	put(&b, "\n", 1);
	/* Every service but S3 encodes the (already encoded) path again. */
	put(&once, "", 0);
	put_encoded(&once, path, strlen(path), 1);
	if (once.failed)
		b.failed = 1;
	else
		put_encoded(&b, once.p, once.len, 1);
	free(once.p);
	put(&b, "\n", 1);
	put_query(&b, r->query, r->n_query);
	put(&b, "\n", 1);
	for (size_t i = 0; i < r->n_headers; i++) {
		if (!r->headers[i].value) {
			b.failed = 1;
			break;
		}
		put(&b, r->headers[i].name.p, r->headers[i].name.len);
		put(&b, ":", 1);
		put_trimmed(&b, r->headers[i].value);
		put(&b, "\n", 1);
	}
	put(&b, "\n", 1);
	for (size_t i = 0; i < r->n_headers; i++) {
		if (i)
			put(&b, ";", 1);
		put(&b, r->headers[i].name.p, r->headers[i].name.len);
	}
	put(&b, "\n", 1);
	put(&b, r->payload_hash, SIGV4_HEX_LEN);
	if (b.failed) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	return (long)b.len;
}

/* ---- the signature ---- */

void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE] = { 0 };
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		memset(md, 0, sizeof(md));
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[SIGV4_HEX_LEN] = '\0';
}

static int hmac(const unsigned char *key, size_t key_len, const void *msg, size_t msg_len,
                unsigned char out[32])
{
	unsigned int n = 0;

	return HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &n) && n == 32 ? 0 : -1;
}

#define PART_MAX 128 /* longest scope field signed */

int sigv4_signature(const char *secret, const char *amz_date, const struct sigv4_span *date,
                    const struct sigv4_span *region, const struct sigv4_span *service,
                    const char *canonical, size_t canonical_len, char *sts, size_t sts_cap,
                    char out[SIGV4_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char k[32], sig[32];
	char kfirst[4 + 128], text[512], hash[SIGV4_HEX_LEN + 1];
	size_t slen = strlen(secret);
	int n, rc = -1;

	if (slen > 128 || date->len > PART_MAX || region->len > PART_MAX || service->len > PART_MAX)
		return -1;
	memcpy(kfirst, "AWS4", 4);
	memcpy(kfirst + 4, secret, slen);
	sigv4_sha256_hex(canonical, canonical_len, hash);
	n = snprintf(text, sizeof(text),
	             SIGV4_ALGORITHM "\n%.16s\n%.*s/%.*s/%.*s/" SIGV4_TERMINATOR "\n%s", amz_date,
	             (int)date->len, date->p, (int)region->len, region->p, (int)service->len,
	             service->p, hash);
	if (n < 0 || (size_t)n >= sizeof(text))
		goto out_wipe;
	if (hmac((unsigned char *)kfirst, 4 + slen, date->p, date->len, k) != 0 ||
	    hmac(k, 32, region->p, region->len, k) != 0 ||
	    hmac(k, 32, service->p, service->len, k) != 0 ||
	    hmac(k, 32, SIGV4_TERMINATOR, sizeof(SIGV4_TERMINATOR) - 1, k) != 0 ||
	    hmac(k, 32, text, (size_t)n, sig) != 0)
		goto out_wipe;
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[sig[i] >> 4];
		out[2 * i + 1] = hex[sig[i] & 15];
	}
	out[SIGV4_HEX_LEN] = '\0';
	if (sts && sts_cap)
		snprintf(sts, sts_cap, "%s", text);
	rc = 0;
out_wipe:
	OPENSSL_cleanse(kfirst, sizeof(kfirst));
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(sig, sizeof(sig));
	return rc;
}

/* ---- X-Amz-Date ---- */

static int digits(const char *p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (p[i] - '0');
	return v;
}

int sigv4_parse_date(const char *value, long long *ms)
{
	struct tm tm = { 0 }, back;
	time_t t;

	if (!value || strlen(value) != SIGV4_DATE_LEN || value[8] != 'T' || value[15] != 'Z' ||
	    !all_of(value, 8, "0123456789") || !all_of(value + 9, 6, "0123456789"))
		return -1;
	if (digits(value, 4) < 1970)
		return -1;
	tm.tm_year = digits(value, 4) - 1900;
	tm.tm_mon = digits(value + 4, 2) - 1;
	tm.tm_mday = digits(value + 6, 2);
	tm.tm_hour = digits(value + 9, 2);
	tm.tm_min = digits(value + 11, 2);
	tm.tm_sec = digits(value + 13, 2);
	back = tm;
	t = timegm(&tm);
	/* timegm normalises: a date it moved (Feb 30, 25:00) was not one. */
	if (t == (time_t)-1 || tm.tm_year != back.tm_year || tm.tm_mon != back.tm_mon ||
	    tm.tm_mday != back.tm_mday || tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min ||
	    tm.tm_sec != back.tm_sec)
		return -1;
	*ms = (long long)t * 1000;
	return 0;
}
