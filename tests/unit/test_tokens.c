/*
 * Unit tests for server/tokens.c: token minting and verification, and key
 * loading. (An account's current token lives in a slot: test_slot.c.) Time
 * is a plain integer everywhere; nothing sleeps.
 */
#include "tokens.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0           INT64_C(1700000000000) /* an arbitrary "now", ms since the epoch */
#define HOUR_MS      INT64_C(3600000)
#define SIG_TEXT_LEN 86

TestSuite(tokens);

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Compares strings; a function, so that arrays can be passed on to the
 * assertion macros of both runners without -Waddress complaints. */
static bool same(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static struct tokens_key *new_key(void)
{
	struct tokens_key *k = tokens_key_generate();

	cr_assert_not_null(k, "tokens_key_generate failed");
	return k;
}

static int mint(const struct tokens_key *k, const char *account, int64_t issued_ms,
                int64_t expires_ms, char out[TOKENS_MAX_LEN + 1])
{
	int n = tokens_mint(k, account, issued_ms, expires_ms, out, TOKENS_MAX_LEN + 1);

	cr_assert_gt(n, 0, "tokens_mint failed");
	cr_assert_eq((size_t)n, strlen(out));
	return n;
}

/* Verifies a heap copy of exactly len bytes, so that ASan sees any read past
 * the end. */
static enum tokens_verdict verify_copy(const struct tokens_key *k, const char *token, size_t len,
                                       int64_t now_ms, struct tokens_claims *claims)
{
	char *copy = malloc(len ? len : 1);
	enum tokens_verdict v;

	cr_assert_not_null(copy);
	memcpy(copy, token, len);
	v = tokens_verify(k, copy, len, now_ms, claims);
	free(copy);
	return v;
}

/* Test-side unpadded base64url encoder, for hand-built payloads. */
static size_t b64url(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = acc << 8 | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = alphabet[acc >> bits & 63];
		}
	}
	if (bits)
		out[o++] = alphabet[acc << (6 - bits) & 63];
	out[o] = '\0';
	return o;
}

/*
 * Builds "t1.<b64(payload)>.<sig>" with a hand-made payload: version, key id
 * length byte kid_len_byte followed by kid_bytes bytes of key id, times,
 * nonce, account length byte acc_len_byte followed by acc_bytes bytes of acc.
 */
static size_t build_token_kid(char *out, uint8_t version, uint8_t kid_len_byte, size_t kid_bytes,
                              uint8_t acc_len_byte, const char *acc, size_t acc_bytes,
                              const char *sig)
{
	uint8_t payload[600];
	size_t n = 0;

	payload[n++] = version;
	payload[n++] = kid_len_byte;
	memset(payload + n, 0x5a, kid_bytes);
	n += kid_bytes;
	memset(payload + n, 0, 16); /* issued, expires */
	payload[n + 7] = 1;
	payload[n + 15] = 2;
	n += 16;
	memset(payload + n, 0x33, 16); /* nonce */
	n += 16;
	payload[n++] = acc_len_byte;
	memcpy(payload + n, acc, acc_bytes);
	n += acc_bytes;

	strcpy(out, "t1.");
	n = 3 + b64url(payload, n, out + 3);
	out[n++] = '.';
	strcpy(out + n, sig);
	return n + strlen(sig);
}

/* The same with a key id length byte that tells the truth. */
static size_t build_token(char *out, uint8_t version, uint8_t kid_len, uint8_t acc_len_byte,
                          const char *acc, size_t acc_bytes, const char *sig)
{
	return build_token_kid(out, version, kid_len, kid_len, acc_len_byte, acc, acc_bytes, sig);
}

static bool is_b64url_char(char c)
{
	return c && strchr(alphabet, c) != NULL;
}

Test(tokens, mint_verify_round_trip)
{
	struct tokens_key *k = new_key();
	struct tokens_claims c;
	char tok[TOKENS_MAX_LEN + 1];
	int n = mint(k, "sa-123@folder", T0, T0 + 12 * HOUR_MS, tok);
	const char *d1, *d2;

	memset(&c, 0, sizeof(c));
	cr_assert_eq(tokens_verify(k, tok, (size_t)n, T0 + 1, &c), TOKENS_VALID);
	cr_assert(same(c.account, "sa-123@folder"));
	cr_assert_eq(c.issued_ms, T0);
	cr_assert_eq(c.expires_ms, T0 + 12 * HOUR_MS);
	cr_assert_eq(tokens_verify(k, tok, (size_t)n, T0 + 1, NULL), TOKENS_VALID);

	/* Shape: t1.<payload>.<86 base64url chars>, exactly two dots. */
	cr_assert_eq(strncmp(tok, "t1.", 3), 0, "token starts with %.3s", tok);
	d1 = strchr(tok, '.');
	d2 = strchr(d1 + 1, '.');
	cr_assert_not_null(d2);
	cr_assert_null(strchr(d2 + 1, '.'), "more than two dots");
	cr_assert_gt(d2 - d1, 1, "empty payload");
	cr_assert_eq(strlen(d2 + 1), SIG_TEXT_LEN);
	for (const char *p = tok + 3; *p; p++) {
		if (p != d2)
			cr_assert(is_b64url_char(*p), "bad char 0x%02x at %zu", *p,
			          (size_t)(p - tok));
	}
	tokens_key_free(k);
}

Test(tokens, claims_survive_extreme_times)
{
	struct tokens_key *k = new_key();
	struct tokens_claims c;
	char tok[TOKENS_MAX_LEN + 1];
	int n = mint(k, "a", -5, INT64_MAX, tok);

	cr_assert_eq(tokens_verify(k, tok, (size_t)n, INT64_MAX - 1, &c), TOKENS_VALID);
	cr_assert_eq(c.issued_ms, -5);
	cr_assert_eq(c.expires_ms, INT64_MAX);
	cr_assert(same(c.account, "a"));
	tokens_key_free(k);
}

Test(tokens, mint_checks_account_and_buffer)
{
	struct tokens_key *k = new_key();
	char acc[TOKENS_ACCOUNT_MAX + 2];
	char tok[TOKENS_MAX_LEN + 1];
	struct tokens_claims c;
	int n;

	cr_assert_eq(tokens_mint(k, "", T0, T0 + 1000, tok, sizeof(tok)), -1);
	memset(acc, 'x', sizeof(acc) - 1);
	acc[sizeof(acc) - 1] = '\0';
	cr_assert_eq(tokens_mint(k, acc, T0, T0 + 1000, tok, sizeof(tok)), -1,
	             "a %d-byte account id was accepted", TOKENS_ACCOUNT_MAX + 1);

	/* The longest account id fits TOKENS_MAX_LEN and round-trips. */
	acc[TOKENS_ACCOUNT_MAX] = '\0';
	n = mint(k, acc, T0, T0 + 1000, tok);
	cr_assert_leq(n, TOKENS_MAX_LEN);
	cr_assert_eq(tokens_verify(k, tok, (size_t)n, T0, &c), TOKENS_VALID);
	cr_assert(same(c.account, acc));

	/* The NUL needs room too. */
	n = mint(k, "abc", T0, T0 + 1000, tok);
	cr_assert_eq(tokens_mint(k, "abc", T0, T0 + 1000, tok, (size_t)n), -1);
	cr_assert_eq(tokens_mint(k, "abc", T0, T0 + 1000, tok, (size_t)n + 1), n);
	tokens_key_free(k);
}

Test(tokens, two_mints_differ_by_nonce)
{
	struct tokens_key *k = new_key();
	char a[TOKENS_MAX_LEN + 1], b[TOKENS_MAX_LEN + 1];
	struct tokens_claims ca, cb;
	int na = mint(k, "acc", T0, T0 + HOUR_MS, a);
	int nb = mint(k, "acc", T0, T0 + HOUR_MS, b);

	cr_assert(!same(a, b));
	cr_assert_eq(tokens_verify(k, a, (size_t)na, T0, &ca), TOKENS_VALID);
	cr_assert_eq(tokens_verify(k, b, (size_t)nb, T0, &cb), TOKENS_VALID);
	cr_assert_neq(memcmp(ca.nonce, cb.nonce, sizeof(ca.nonce)), 0);
	tokens_key_free(k);
}

Test(tokens, every_substituted_char_is_rejected)
{
	static const char extra[] = ".=+/ \0";
	struct tokens_key *k = new_key();
	char tok[TOKENS_MAX_LEN + 1], bad[TOKENS_MAX_LEN + 1];
	size_t n = (size_t)mint(k, "acc", T0, T0 + HOUR_MS, tok);
	struct tokens_claims c;

	/* Every position, every other base64url char and a few outsiders. This
	 * also catches a decoder that ignores the unused low bits of the last
	 * char of a group. */
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < sizeof(alphabet) - 1 + sizeof(extra) - 1; j++) {
			char ch = j < sizeof(alphabet) - 1 ? alphabet[j]
			                                   : extra[j - (sizeof(alphabet) - 1)];
			enum tokens_verdict v;

			if (ch == tok[i])
				continue;
			memcpy(bad, tok, n + 1);
			bad[i] = ch;
			memset(&c, 0xa5, sizeof(c));
			v = tokens_verify(k, bad, n, T0, &c);
			cr_assert_neq(v, TOKENS_VALID, "'%c' at %zu of %zu accepted", ch, i, n);
			cr_assert_neq(v, TOKENS_EXPIRED, "'%c' at %zu of %zu accepted", ch, i, n);
			cr_assert_eq(c.issued_ms, (int64_t)0xa5a5a5a5a5a5a5a5u,
			             "claims written for a rejected token");
		}
	}
	tokens_key_free(k);
}

Test(tokens, swapped_signature_is_bad_signature)
{
	struct tokens_key *k = new_key();
	char a[TOKENS_MAX_LEN + 1], b[TOKENS_MAX_LEN + 1];
	size_t na = (size_t)mint(k, "acc", T0, T0 + HOUR_MS, a);

	mint(k, "acc", T0, T0 + HOUR_MS, b);
	/* Same key id, same shape, signature of another token. */
	memcpy(a + na - SIG_TEXT_LEN, b + strlen(b) - SIG_TEXT_LEN, SIG_TEXT_LEN);
	cr_assert_eq(tokens_verify(k, a, na, T0, NULL), TOKENS_BAD_SIGNATURE);
	tokens_key_free(k);
}

Test(tokens, every_truncation_and_extension_is_malformed)
{
	struct tokens_key *k = new_key();
	char tok[TOKENS_MAX_LEN + 1], longer[TOKENS_MAX_LEN + 2];
	size_t n = (size_t)mint(k, "acc", T0, T0 + HOUR_MS, tok);

	for (size_t len = 0; len < n; len++)
		cr_assert_eq(verify_copy(k, tok, len, T0, NULL), TOKENS_MALFORMED,
		             "token cut to %zu of %zu bytes", len, n);

	/* Trailing garbage, a NUL included, is refused. */
	memcpy(longer, tok, n);
	for (int ch = 0; ch < 256; ch++) {
		longer[n] = (char)ch;
		cr_assert_eq(verify_copy(k, longer, n + 1, T0, NULL), TOKENS_MALFORMED,
		             "trailing byte 0x%02x accepted", ch);
	}
	/* The NUL terminator is not part of the token. */
	cr_assert_eq(tokens_verify(k, tok, n + 1, T0, NULL), TOKENS_MALFORMED);
	tokens_key_free(k);
}

Test(tokens, garbage_is_malformed)
{
	static const char *const inputs[] = {
		"",
		"t",
		"t1",
		"t1.",
		"t1..",
		"t1...",
		"T1.AAAA.AAAA",
		"t2.AAAA.AAAA",
		"t1.AAAA",
		"t1.AAAA.",
		"Bearer t1.AAAA.AAAA",
	};
	struct tokens_key *k = new_key();
	char sig[SIG_TEXT_LEN + 1], buf[512];
	char *huge;
	size_t n;

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
		cr_assert_eq(verify_copy(k, inputs[i], strlen(inputs[i]), T0, NULL),
		             TOKENS_MALFORMED, "input \"%s\"", inputs[i]);

	/* An empty payload, and a payload of impossible base64url length. */
	memset(sig, 'A', SIG_TEXT_LEN);
	sig[SIG_TEXT_LEN] = '\0';
	n = (size_t)snprintf(buf, sizeof(buf), "t1..%s", sig);
	cr_assert_eq(verify_copy(k, buf, n, T0, NULL), TOKENS_MALFORMED);
	n = (size_t)snprintf(buf, sizeof(buf), "t1.AAAAA.%s", sig);
	cr_assert_eq(verify_copy(k, buf, n, T0, NULL), TOKENS_MALFORMED);

	/* 10 KB: plain, and shaped like a token with a huge payload. */
	huge = malloc(10240);
	cr_assert_not_null(huge);
	memset(huge, 'A', 10240);
	cr_assert_eq(verify_copy(k, huge, 10240, T0, NULL), TOKENS_MALFORMED);
	memcpy(huge, "t1.", 3);
	huge[10240 - SIG_TEXT_LEN - 1] = '.';
	cr_assert_eq(verify_copy(k, huge, 10240, T0, NULL), TOKENS_MALFORMED);
	free(huge);

	/* Embedded NULs, with an explicit length. */
	cr_assert_eq(verify_copy(k, "t1.\0AAA.\0AAA", 12, T0, NULL), TOKENS_MALFORMED);
	cr_assert_eq(verify_copy(k, "\0\0\0\0\0\0\0\0", 8, T0, NULL), TOKENS_MALFORMED);
	n = (size_t)mint(k, "acc", T0, T0 + HOUR_MS, buf);
	buf[10] = '\0';
	cr_assert_eq(verify_copy(k, buf, n, T0, NULL), TOKENS_MALFORMED);
	tokens_key_free(k);
}

Test(tokens, payload_layout_is_checked)
{
	struct tokens_key *k = new_key();
	char zero_sig[SIG_TEXT_LEN + 1], odd_sig[SIG_TEXT_LEN + 1], acc[200], tok[1024];
	size_t n;

	memset(zero_sig, 'A', SIG_TEXT_LEN);
	zero_sig[SIG_TEXT_LEN] = '\0';
	memset(acc, 'a', sizeof(acc));

	/* Well formed but signed by nobody: the shape passes, the signature not. */
	n = build_token(tok, 1, 8, 5, acc, 5, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_BAD_SIGNATURE);
	n = build_token(tok, 1, 8, TOKENS_ACCOUNT_MAX, acc, TOKENS_ACCOUNT_MAX, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_BAD_SIGNATURE);

	/* The same with one thing wrong each. */
	n = build_token(tok, 2, 8, 5, acc, 5, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "version 2");
	n = build_token(tok, 0, 8, 5, acc, 5, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "version 0");
	n = build_token(tok, 1, 7, 5, acc, 5, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "key id of 7");
	n = build_token(tok, 1, 9, 5, acc, 5, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "key id of 9");
	n = build_token_kid(tok, 1, 7, 8, 5, acc, 5, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "key id length byte 7");
	n = build_token_kid(tok, 1, 0, 8, 5, acc, 5, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "key id length byte 0");
	n = build_token(tok, 1, 8, 0, acc, 0, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "empty account");
	n = build_token(tok, 1, 8, TOKENS_ACCOUNT_MAX + 1, acc, TOKENS_ACCOUNT_MAX + 1, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "account too long");
	n = build_token(tok, 1, 8, 5, acc, 6, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "trailing payload");
	n = build_token(tok, 1, 8, 6, acc, 5, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "short payload");
	n = build_token(tok, 1, 8, 5, "ab\0cd", 5, zero_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "NUL in account");

	/* Signature text: 85 or 87 chars, padding, non-canonical last char. */
	n = build_token(tok, 1, 8, 5, acc, 5, zero_sig + 1);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "85-char signature");
	n = build_token(tok, 1, 8, 5, acc, 5, zero_sig);
	tok[n++] = 'A';
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "87-char signature");
	n = build_token(tok, 1, 8, 5, acc, 5, zero_sig);
	memcpy(tok + n, "==", 2);
	cr_assert_eq(verify_copy(k, tok, n + 2, T0, NULL), TOKENS_MALFORMED, "padding");
	memcpy(odd_sig, zero_sig, sizeof(odd_sig));
	odd_sig[SIG_TEXT_LEN - 1] = 'B'; /* sets one of the 4 unused bits */
	n = build_token(tok, 1, 8, 5, acc, 5, odd_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "non-canonical");
	odd_sig[SIG_TEXT_LEN - 1] = '='; /* in place of 'A', i.e. zero bits */
	n = build_token(tok, 1, 8, 5, acc, 5, odd_sig);
	cr_assert_eq(verify_copy(k, tok, n, T0, NULL), TOKENS_MALFORMED, "'=' read as 'A'");
	tokens_key_free(k);
}

Test(tokens, payload_text_of_impossible_length_is_malformed)
{
	struct tokens_key *k = new_key();
	char tok[TOKENS_MAX_LEN + 1], bad[TOKENS_MAX_LEN + 2];
	/* A 2-byte account makes a 45-byte payload: 60 chars, a multiple of 4. */
	size_t n = (size_t)mint(k, "ab", T0, T0 + HOUR_MS, tok);
	size_t dot = n - SIG_TEXT_LEN - 1;

	cr_assert_eq(dot - 3, 60);
	/* One more char makes 61 (61 % 4 == 1): no encoder writes that, and a
	 * decoder that drops the odd char would reach the signature check. */
	memcpy(bad, tok, dot);
	bad[dot] = 'A';
	memcpy(bad + dot + 1, tok + dot, n - dot);
	cr_assert_eq(verify_copy(k, bad, n + 1, T0, NULL), TOKENS_MALFORMED);
	tokens_key_free(k);
}

Test(tokens, other_key_is_bad_signature)
{
	struct tokens_key *k1 = new_key(), *k2 = new_key();
	char tok[TOKENS_MAX_LEN + 1];
	size_t n = (size_t)mint(k1, "acc", T0, T0 + HOUR_MS, tok);
	struct tokens_claims c;

	memset(&c, 0xa5, sizeof(c));
	cr_assert_eq(tokens_verify(k2, tok, n, T0, &c), TOKENS_BAD_SIGNATURE);
	cr_assert_eq(c.expires_ms, (int64_t)0xa5a5a5a5a5a5a5a5u, "claims written");
	/* Even long after expiry, a foreign token is foreign, not expired. */
	cr_assert_eq(tokens_verify(k2, tok, n, T0 + 2 * HOUR_MS, NULL), TOKENS_BAD_SIGNATURE);
	cr_assert_eq(tokens_verify(k1, tok, n, T0, NULL), TOKENS_VALID);
	tokens_key_free(k1);
	tokens_key_free(k2);
}

Test(tokens, expiry_boundary_and_claims)
{
	struct tokens_key *k = new_key();
	char tok[TOKENS_MAX_LEN + 1];
	size_t n = (size_t)mint(k, "acc", T0, T0 + 1000, tok);
	struct tokens_claims c;

	cr_assert_eq(tokens_verify(k, tok, n, T0 + 999, NULL), TOKENS_VALID);
	memset(&c, 0, sizeof(c));
	cr_assert_eq(tokens_verify(k, tok, n, T0 + 1000, &c), TOKENS_EXPIRED);
	cr_assert_eq(c.issued_ms, T0);
	cr_assert_eq(c.expires_ms, T0 + 1000);
	cr_assert(same(c.account, "acc"));
	cr_assert_eq(tokens_verify(k, tok, n, INT64_MAX, NULL), TOKENS_EXPIRED);
	tokens_key_free(k);
}

Test(tokens, verdict_names)
{
	cr_assert(same(tokens_verdict_str(TOKENS_VALID), "valid"));
	cr_assert(same(tokens_verdict_str(TOKENS_MALFORMED), "malformed"));
	cr_assert(same(tokens_verdict_str(TOKENS_BAD_SIGNATURE), "bad_signature"));
	cr_assert(same(tokens_verdict_str(TOKENS_EXPIRED), "expired"));
	cr_assert_not_null(tokens_verdict_str((enum tokens_verdict)42));
}

Test(tokens, fingerprint_is_sha256_prefix)
{
	struct tokens_key *k = new_key();
	char fp[TOKENS_FINGERPRINT_LEN + 1], fp2[TOKENS_FINGERPRINT_LEN + 1];
	char a[TOKENS_MAX_LEN + 1], b[TOKENS_MAX_LEN + 1];
	size_t na = (size_t)mint(k, "acc", T0, T0 + HOUR_MS, a);
	size_t nb = (size_t)mint(k, "acc", T0, T0 + HOUR_MS, b);

	/* SHA-256("abc") = ba7816bf8f01cfea... */
	tokens_fingerprint("abc", 3, fp);
	cr_assert(same(fp, "ba7816bf8f01"));
	tokens_fingerprint(a, na, fp);
	cr_assert_eq(strlen(fp), TOKENS_FINGERPRINT_LEN);
	cr_assert_eq(strspn(fp, "0123456789abcdef"), TOKENS_FINGERPRINT_LEN);
	cr_assert_null(strstr(a, fp), "the fingerprint is a piece of the token");
	tokens_fingerprint(a, na, fp2);
	cr_assert(same(fp, fp2));
	tokens_fingerprint(b, nb, fp2);
	cr_assert(!same(fp, fp2));
	tokens_key_free(k);
}

/* Key files: a private temporary directory per test. */

struct keydir {
	char dir[64];
	char path[128];
};

static void keydir_init(struct keydir *d)
{
	strcpy(d->dir, "/tmp/mtk-tokens-XXXXXX");
	cr_assert_not_null(mkdtemp(d->dir));
}

static const char *keydir_file(struct keydir *d, const char *name)
{
	snprintf(d->path, sizeof(d->path), "%s/%s", d->dir, name);
	return d->path;
}

static void keydir_remove(struct keydir *d)
{
	static const char *const names[] = { "key.pem", "rsa.pem", "garbage.pem",
		                             "enc.pem", "pub.pem", "empty.pem" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(keydir_file(d, names[i]));
	rmdir(d->dir);
}

/* Runs a shell command that must succeed. */
__attribute__((format(printf, 1, 2))) static void run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "command failed: %s", cmd);
}

Test(tokens, replicas_loading_one_file_share_the_key)
{
	struct tokens_key *r1, *r2, *other;
	char err[256] = "", tok[TOKENS_MAX_LEN + 1];
	struct keydir d;
	const char *path;
	size_t n;

	keydir_init(&d);
	path = keydir_file(&d, "key.pem");
	run("openssl genpkey -algorithm ed25519 -out '%s' 2>/dev/null", path);
	r1 = tokens_key_load(path, err, sizeof(err));
	cr_assert_not_null(r1, "%s", err);
	r2 = tokens_key_load(path, err, sizeof(err));
	cr_assert_not_null(r2, "%s", err);
	other = new_key();

	n = (size_t)mint(r1, "acc", T0, T0 + HOUR_MS, tok);
	cr_assert_eq(tokens_verify(r2, tok, n, T0, NULL), TOKENS_VALID);
	cr_assert_eq(tokens_verify(other, tok, n, T0, NULL), TOKENS_BAD_SIGNATURE);
	n = (size_t)mint(r2, "acc", T0, T0 + HOUR_MS, tok);
	cr_assert_eq(tokens_verify(r1, tok, n, T0, NULL), TOKENS_VALID);

	tokens_key_free(r1);
	tokens_key_free(r2);
	tokens_key_free(other);
	tokens_key_free(NULL);
	keydir_remove(&d);
}

/* Loading `path` fails, and the reason is one line that starts with the path
 * and contains `why`. */
static void assert_load_fails(const char *path, const char *why)
{
	char err[512];
	struct tokens_key *k;

	memset(err, 0, sizeof(err));
	k = tokens_key_load(path, err, sizeof(err));
	cr_assert_null(k, "%s loaded", path);
	cr_assert_eq(strncmp(err, path, strlen(path)), 0, "error does not name the file: %s", err);
	cr_assert_not_null(strstr(err, why), "error: %s", err);
	cr_assert_null(strchr(err, '\n'), "error is not one line: %s", err);
}

Test(tokens, load_rejects_what_is_not_an_ed25519_private_key)
{
	struct keydir d;
	FILE *f;

	keydir_init(&d);
	run("openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out '%s/rsa.pem' "
	    "2>/dev/null",
	    d.dir);
	assert_load_fails(keydir_file(&d, "rsa.pem"), "not an Ed25519 private key");

	/* An encrypted key fails without prompting for a passphrase (should it
	 * prompt, this test hangs on a terminal, or fails without one). */
	run("openssl genpkey -algorithm ed25519 -aes-256-cbc -pass pass:secret "
	    "-out '%s/enc.pem' 2>/dev/null",
	    d.dir);
	assert_load_fails(keydir_file(&d, "enc.pem"), ": ");

	/* A public key is not a private key. */
	run("openssl genpkey -algorithm ed25519 -out '%s/key.pem' 2>/dev/null", d.dir);
	run("openssl pkey -in '%s/key.pem' -pubout -out '%s/pub.pem' 2>/dev/null", d.dir, d.dir);
	assert_load_fails(keydir_file(&d, "pub.pem"), ": ");

	f = fopen(keydir_file(&d, "garbage.pem"), "w");
	cr_assert_not_null(f);
	/* A PEM frame around "not a key"; the label is put together at run time so
	 * that no private-key marker stands in the source. */
	fprintf(f, "-----BEGIN %s-----\nbm90IGEga2V5\n-----END %s-----\n",
	        "PRIVATE"
	        " KEY",
	        "PRIVATE"
	        " KEY");
	fclose(f);
	assert_load_fails(d.path, ": ");

	f = fopen(keydir_file(&d, "empty.pem"), "w");
	cr_assert_not_null(f);
	fclose(f);
	assert_load_fails(d.path, ": ");

	assert_load_fails(keydir_file(&d, "missing.pem"), "cannot open: No such file or directory");
	keydir_remove(&d);
}

/* What a slot mints with (slot.h): a key and an account id in range. */
Test(tokens, minter_checks_key_and_account)
{
	struct tokens_key *k = new_key();
	char id[TOKENS_ACCOUNT_MAX + 2], value[TOKENS_MAX_LEN + 1];
	struct tokens_minter m = { .key = k, .account = "" };
	struct tokens_claims c;

	memset(id, 'i', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	cr_assert_eq(tokens_minter_check(&m), -1, "empty id");
	m.account = id;
	cr_assert_eq(tokens_minter_check(&m), -1, "id too long");
	cr_assert_eq(tokens_mint_value(&m, 0, 1000, value), -1);
	id[TOKENS_ACCOUNT_MAX] = '\0';
	cr_assert_eq(tokens_minter_check(&m), 0);
	m.key = NULL;
	cr_assert_eq(tokens_minter_check(&m), -1, "no key");
	cr_assert_eq(tokens_minter_check(NULL), -1);

	m.key = k;
	m.account = "sa@folder";
	cr_assert_eq(tokens_mint_value(&m, T0, T0 + 1000, value), 0);
	cr_assert_eq(tokens_verify(k, value, strlen(value), T0, &c), TOKENS_VALID);
	cr_assert(same(c.account, "sa@folder"));
	cr_assert_eq(c.issued_ms, T0);
	cr_assert_eq(c.expires_ms, T0 + 1000);
	tokens_key_free(k);
}
