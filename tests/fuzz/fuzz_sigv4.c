/*
 * The STS stand-in's parsers of untrusted input (sigv4.c): an Authorization
 * header, an X-Amz-Date, and the canonical request built from what a
 * request carries. The input is "authorization\ndate\nheader value\nrest";
 * the rest is the path and query values.
 *
 * Invariants: a parsed header's spans lie inside it; the scope's date is 8
 * digits, the signature 64 lowercase hex digits, SignedHeaders at most
 * SIGV4_HEADERS_MAX non-empty names; a parsed date prints back as itself;
 * a canonical request is NUL-terminated, no longer than its cap, and ends
 * in the payload hash; signing it gives 64 hex digits.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sigv4.h"

#define HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static int inside(const struct sigv4_span *s, const char *base, size_t len)
{
	return s->p >= base && s->p + s->len <= base + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[8192], err[256], *auth, *date, *value, *rest, *nl, *canonical = NULL;
	struct sigv4_auth a;
	long long ms;
	long len;

	if (size >= sizeof(buf) || memchr(data, '\0', size))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	auth = buf;
	date = (nl = strchr(auth, '\n')) ? (*nl = '\0', nl + 1) : auth + strlen(auth);
	value = (nl = strchr(date, '\n')) ? (*nl = '\0', nl + 1) : date + strlen(date);
	rest = (nl = strchr(value, '\n')) ? (*nl = '\0', nl + 1) : value + strlen(value);

	if (sigv4_parse_authorization(auth, &a, err, sizeof(err)) == 0) {
		size_t alen = strlen(auth);
		struct sigv4_header h[SIGV4_HEADERS_MAX];
		const struct sigv4_param q[] = { { rest, value }, { value, rest } };
		char sig[SIGV4_HEX_LEN + 1];

		FUZZ_CHECK(inside(&a.key_id, auth, alen) && inside(&a.region, auth, alen) &&
		               inside(&a.service, auth, alen) && inside(&a.signature, auth, alen),
		           "a span outside the header");
		FUZZ_CHECK(a.date.len == 8 && strspn(a.date.p, "0123456789") >= 8, "scope date");
		FUZZ_CHECK(a.signature.len == SIGV4_HEX_LEN &&
		               strspn(a.signature.p, "0123456789abcdef") >= SIGV4_HEX_LEN,
		           "signature");
		FUZZ_CHECK(a.n_header_names >= 1 && a.n_header_names <= SIGV4_HEADERS_MAX,
		           "%zu names", a.n_header_names);
		for (size_t i = 0; i < a.n_header_names; i++) {
			FUZZ_CHECK(a.header_names[i].len > 0 &&
			               inside(&a.header_names[i], auth, alen),
			           "name %zu", i);
			h[i] = (struct sigv4_header){ a.header_names[i], value };
		}
		len =
		    sigv4_canonical_request(&(struct sigv4_request){ .method = "POST",
		                                                     .path = rest,
		                                                     .query = q,
		                                                     .n_query = 2,
		                                                     .headers = h,
		                                                     .n_headers = a.n_header_names,
		                                                     .payload_hash = HASH },
		                            &canonical);
		if (len >= 0) {
			FUZZ_CHECK(len <= SIGV4_CANONICAL_MAX && (size_t)len == strlen(canonical),
			           "canonical length %ld", len);
			FUZZ_CHECK(len >= SIGV4_HEX_LEN &&
			               strcmp(canonical + len - SIGV4_HEX_LEN, HASH) == 0,
			           "no payload hash at the end");
			if (sigv4_signature("secret", "20150830T123600Z", &a.date, &a.region,
			                    &a.service, canonical, (size_t)len, NULL, 0, sig) == 0)
				FUZZ_CHECK(strlen(sig) == SIGV4_HEX_LEN, "signature length");
			free(canonical);
		} else {
			FUZZ_CHECK(canonical == NULL, "output on failure");
		}
	}
	if (sigv4_parse_date(date, &ms) == 0) {
		time_t t = (time_t)(ms / 1000);
		struct tm tm;
		char back[SIGV4_DATE_LEN + 1];

		FUZZ_CHECK(gmtime_r(&t, &tm) &&
		               strftime(back, sizeof(back), "%Y%m%dT%H%M%SZ", &tm) ==
		                   SIGV4_DATE_LEN &&
		               strcmp(back, date) == 0,
		           "date %s", date);
	}
	return 0;
}
