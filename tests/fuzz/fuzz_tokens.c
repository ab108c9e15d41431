/*
 * tokens_verify: bearer tokens arrive from HTTP headers and query strings.
 *
 * Each input is used twice:
 *
 * 1. Verbatim, as a token, against this process's key. Any verdict is fine;
 *    what must hold is tokens.h's contract: claims are written for
 *    TOKENS_VALID and TOKENS_EXPIRED only, and then the account is a
 *    non-empty NUL-terminated string of at most TOKENS_ACCOUNT_MAX bytes.
 *    Reads past `size` are ASan's to report (the buffer is exactly `size`).
 *
 * 2. As a recipe: a token is minted with this process's key from the
 *    input's first bytes, must verify with the claims it was minted with,
 *    and then the rest of the input edits it. Tokens are signed over their
 *    text and decoded canonically, so an edited token that differs from the
 *    original in any byte must never verify (no second spelling).
 *
 * The key is generated once per process: fixed for a fuzzing run, never
 * written anywhere. Corpus tokens minted by another key reach every check
 * up to the key id; the recipe half reaches the rest.
 */
#include "fuzz.h"

#include "tokens.h"

#include <string.h>

#define NOW_MS 1700000000000LL /* 2023-11-14, for the verbatim half */

static const struct tokens_key *fuzz_key(void)
{
	static struct tokens_key *k;

	if (!k) {
		k = tokens_key_generate();
		FUZZ_CHECK(k != NULL, "tokens_key_generate failed");
	}
	return k;
}

static int64_t get_i64(const uint8_t *p)
{
	uint64_t u = 0;

	for (int i = 0; i < 8; i++)
		u = u << 8 | p[i];
	return (int64_t)u;
}

/* Checks what a verdict promises about *claims, which was all 0xA5 bytes before. */
static void check_claims(enum tokens_verdict v, const struct tokens_claims *claims, int64_t now_ms)
{
	struct tokens_claims canary;
	size_t acclen;

	memset(&canary, 0xA5, sizeof(canary));
	FUZZ_CHECK(tokens_verdict_str(v) != NULL, "verdict %d has no name", (int)v);
	if (v != TOKENS_VALID && v != TOKENS_EXPIRED) {
		FUZZ_CHECK(memcmp(claims, &canary, sizeof(canary)) == 0,
		           "claims written for verdict %s", tokens_verdict_str(v));
		return;
	}
	acclen = strnlen(claims->account, sizeof(claims->account));
	FUZZ_CHECK(acclen >= 1 && acclen <= TOKENS_ACCOUNT_MAX,
	           "account of %zu bytes (or not terminated) for verdict %s", acclen,
	           tokens_verdict_str(v));
	FUZZ_CHECK((v == TOKENS_VALID) == (claims->expires_ms > now_ms),
	           "verdict %s with expires_ms %lld at now %lld", tokens_verdict_str(v),
	           (long long)claims->expires_ms, (long long)now_ms);
}

/* Verifies text[len] with and without claims; the verdicts must agree. */
static enum tokens_verdict verify(const char *text, size_t len, int64_t now_ms,
                                  struct tokens_claims *claims)
{
	enum tokens_verdict v, again;

	memset(claims, 0xA5, sizeof(*claims));
	v = tokens_verify(fuzz_key(), text, len, now_ms, claims);
	check_claims(v, claims, now_ms);
	again = tokens_verify(fuzz_key(), text, len, now_ms, NULL);
	FUZZ_CHECK(v == again, "verdict %s with claims, %s without", tokens_verdict_str(v),
	           tokens_verdict_str(again));
	if (v == TOKENS_VALID || v == TOKENS_EXPIRED)
		FUZZ_CHECK(len <= TOKENS_MAX_LEN, "a %zu-byte token verified", len);
	return v;
}

/*
 * The recipe: byte 0 is the account length a; bytes 1..16 issued_ms and
 * expires_ms (big-endian); then a bytes of account (cut at a NUL); then
 * edits of 3 bytes each: a 16-bit position and a byte. A zero byte deletes
 * the char at the position, any other is XORed into it (at the end it is
 * appended).
 */
static void mint_and_edit(const uint8_t *data, size_t size)
{
	char account[256], token[TOKENS_MAX_LEN + 1], edited[TOKENS_MAX_LEN + 64];
	struct tokens_claims claims;
	enum tokens_verdict v;
	int64_t issued_ms, expires_ms;
	size_t a, acclen, len, elen, pos;
	int n;

	if (size < 17)
		return;
	a = data[0];
	issued_ms = get_i64(data + 1);
	expires_ms = get_i64(data + 9);
	data += 17;
	size -= 17;
	if (a > size)
		a = size;
	memcpy(account, data, a);
	account[a] = '\0';
	acclen = strlen(account);
	data += a;
	size -= a;

	n = tokens_mint(fuzz_key(), account, issued_ms, expires_ms, token, sizeof(token));
	if (acclen == 0 || acclen > TOKENS_ACCOUNT_MAX) {
		FUZZ_CHECK(n == -1, "minted for an account of %zu bytes", acclen);
		return;
	}
	FUZZ_CHECK(n > 0 && (size_t)n <= TOKENS_MAX_LEN && token[n] == '\0',
	           "mint returned %d for an account of %zu bytes", n, acclen);
	len = (size_t)n;

	/* The minted token verifies, with exactly the claims it was minted with. */
	v = verify(token, len, issued_ms, &claims);
	FUZZ_CHECK(v == (expires_ms > issued_ms ? TOKENS_VALID : TOKENS_EXPIRED), "fresh token: %s",
	           tokens_verdict_str(v));
	FUZZ_CHECK(claims.issued_ms == issued_ms && claims.expires_ms == expires_ms &&
	               strcmp(claims.account, account) == 0,
	           "fresh token: claims differ from what was minted");

	/* Edited, it verifies only if it is byte for byte the same token. */
	memcpy(edited, token, len);
	elen = len;
	for (; size >= 3; data += 3, size -= 3) {
		pos = ((size_t)data[0] << 8 | data[1]) % (elen + 1);
		if (data[2] == 0 && pos < elen) {
			memmove(edited + pos, edited + pos + 1, elen - pos - 1);
			elen--;
		} else if (pos < elen) {
			edited[pos] = (char)(edited[pos] ^ data[2]);
		} else if (data[2] != 0 && elen < sizeof(edited)) {
			edited[elen++] = (char)data[2];
		}
	}
	v = verify(edited, elen, issued_ms, &claims);
	if (elen != len || memcmp(edited, token, len) != 0)
		FUZZ_CHECK(v == TOKENS_MALFORMED || v == TOKENS_BAD_SIGNATURE,
		           "an edited token verified: %s", tokens_verdict_str(v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tokens_claims claims;
	char fp[TOKENS_FINGERPRINT_LEN + 1];

	verify((const char *)data, size, NOW_MS, &claims);
	tokens_fingerprint((const char *)data, size, fp);
	FUZZ_CHECK(strlen(fp) == TOKENS_FINGERPRINT_LEN &&
	               strspn(fp, "0123456789abcdef") == TOKENS_FINGERPRINT_LEN,
	           "fingerprint \"%s\"", fp);
	mint_and_edit(data, size);
	return 0;
}
