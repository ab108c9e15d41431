/*
 * Service-account access tokens. See tokens.h for the token layout.
 *
 * Verification parses untrusted bytes: every read is bounded by the length
 * the caller gave, the parser allocates nothing, and the text must decode to
 * exactly the bytes that were signed (canonical base64url, no trailing data),
 * so no two different strings are accepted as the same token.
 */
#include "b64url.h"
#include "tokens.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#define TOKEN_PREFIX     "t1."
#define TOKEN_PREFIX_LEN 3
#define TOKEN_VERSION    1
#define KEY_ID_LEN       8
#define NONCE_LEN        16
#define SIG_LEN          64
#define SIG_B64_LEN      86 /* base64url of 64 bytes, unpadded */

/* version, key id length, key id, issued, expires, nonce, account length */
#define PAYLOAD_FIXED_LEN   (1 + 1 + KEY_ID_LEN + 8 + 8 + NONCE_LEN + 1)
#define PAYLOAD_MAX_LEN     (PAYLOAD_FIXED_LEN + TOKENS_ACCOUNT_MAX)
#define PAYLOAD_B64_MAX_LEN B64URL_LEN(PAYLOAD_MAX_LEN)

_Static_assert(B64URL_LEN(SIG_LEN) == SIG_B64_LEN, "signature text length");
_Static_assert(TOKEN_PREFIX_LEN + PAYLOAD_B64_MAX_LEN + 1 + SIG_B64_LEN <= TOKENS_MAX_LEN,
               "the longest token must fit TOKENS_MAX_LEN");

struct tokens_key {
	EVP_PKEY *pkey;
	uint8_t id[KEY_ID_LEN]; /* first bytes of SHA-256 of the raw public key */
};

static void put_be64(uint8_t *p, int64_t v)
{
	uint64_t u = (uint64_t)v;

	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)u;
		u >>= 8;
	}
}

static int64_t get_be64(const uint8_t *p)
{
	uint64_t u = 0;

	for (int i = 0; i < 8; i++)
		u = u << 8 | p[i];
	/* Two's complement conversion, well defined on every target we build on. */
	return (int64_t)u;
}

/* The key id: the first KEY_ID_LEN bytes of SHA-256 of the raw public key. */
static int compute_key_id(struct tokens_key *k)
{
	uint8_t pub[32], md[EVP_MAX_MD_SIZE];
	size_t publen = sizeof(pub);
	unsigned int mdlen = 0;

	if (EVP_PKEY_get_raw_public_key(k->pkey, pub, &publen) != 1)
		return -1;
	if (EVP_Digest(pub, publen, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < KEY_ID_LEN)
		return -1;
	memcpy(k->id, md, KEY_ID_LEN);
	return 0;
}

/* Wraps pkey (ownership passes to the key on success only). */
static struct tokens_key *key_wrap(EVP_PKEY *pkey)
{
	struct tokens_key *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->pkey = pkey;
	if (compute_key_id(k) < 0) {
		free(k);
		return NULL;
	}
	return k;
}

struct tokens_key *tokens_key_generate(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *pkey = NULL;
	struct tokens_key *k = NULL;

	if (!ctx)
		goto out;
	if (EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey) != 1)
		goto out;
	k = key_wrap(pkey);
	if (!k)
		EVP_PKEY_free(pkey);
out:
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return k;
}

/* Refuses to prompt on the terminal for the passphrase of an encrypted key. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

struct tokens_key *tokens_key_load(const char *path, char *err, size_t errlen)
{
	struct tokens_key *k = NULL;
	EVP_PKEY *pkey = NULL;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (!pkey) {
		snprintf(err, errlen,
		         "%s: no PEM private key found (expected an unencrypted PKCS#8 key from "
		         "`openssl genpkey -algorithm ed25519`)",
		         path);
		goto out;
	}
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "%s: not an Ed25519 private key", path);
		goto out_free_pkey;
	}
	k = key_wrap(pkey);
	if (!k) {
		snprintf(err, errlen, "%s: cannot use the key (OpenSSL failure)", path);
		goto out_free_pkey;
	}
	goto out;

out_free_pkey:
	EVP_PKEY_free(pkey);
out:
	ERR_clear_error();
	return k;
}

void tokens_key_free(struct tokens_key *k)
{
	if (!k)
		return;
	/* OpenSSL wipes the private key bytes when the EVP_PKEY is freed. */
	EVP_PKEY_free(k->pkey);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

int tokens_mint(const struct tokens_key *k, const char *account, int64_t issued_ms,
                int64_t expires_ms, char *out, size_t outlen)
{
	uint8_t payload[PAYLOAD_MAX_LEN], sig[SIG_LEN];
	size_t acclen, plen, signed_len, tlen, siglen = sizeof(sig);
	EVP_MD_CTX *md = NULL;
	uint8_t *p = payload;
	int ret = -1;

	if (!k || !account || !out)
		return -1;
	acclen = strnlen(account, TOKENS_ACCOUNT_MAX + 1);
	if (acclen == 0 || acclen > TOKENS_ACCOUNT_MAX)
		return -1;
	plen = PAYLOAD_FIXED_LEN + acclen;
	signed_len = TOKEN_PREFIX_LEN + B64URL_LEN(plen); /* "t1.<payload>" */
	tlen = signed_len + 1 + SIG_B64_LEN;
	if (outlen < tlen + 1)
		return -1;

	*p++ = TOKEN_VERSION;
	*p++ = KEY_ID_LEN;
	memcpy(p, k->id, KEY_ID_LEN);
	p += KEY_ID_LEN;
	put_be64(p, issued_ms);
	p += 8;
	put_be64(p, expires_ms);
	p += 8;
	if (RAND_bytes(p, NONCE_LEN) != 1)
		goto out;
	p += NONCE_LEN;
	*p++ = (uint8_t)acclen;
	memcpy(p, account, acclen);

	memcpy(out, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
	mtk__b64url_encode(payload, plen, out + TOKEN_PREFIX_LEN);
	md = EVP_MD_CTX_new();
	if (!md)
		goto out;
	/* Ed25519 signs the message itself: no digest, one-shot call. */
	if (EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const uint8_t *)out, signed_len) != 1 ||
	    siglen != SIG_LEN)
		goto out;
	out[signed_len] = '.';
	mtk__b64url_encode(sig, SIG_LEN, out + signed_len + 1);
	out[tlen] = '\0';
	ret = (int)tlen;
out:
	EVP_MD_CTX_free(md);
	OPENSSL_cleanse(payload, sizeof(payload));
	if (ret < 0) {
		OPENSSL_cleanse(out, tlen + 1);
		ERR_clear_error();
	}
	return ret;
}

const char *tokens_verdict_str(enum tokens_verdict v)
{
	switch (v) {
	case TOKENS_VALID:
		return "valid";
	case TOKENS_MALFORMED:
		return "malformed";
	case TOKENS_BAD_SIGNATURE:
		return "bad_signature";
	case TOKENS_EXPIRED:
		return "expired";
	}
	return "unknown";
}

/* Checks the Ed25519 signature of the signed part of a token. */
static bool signature_ok(const struct tokens_key *k, const char *msg, size_t msglen,
                         const uint8_t sig[SIG_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok;

	ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pkey) == 1 &&
	     EVP_DigestVerify(md, sig, SIG_LEN, (const uint8_t *)msg, msglen) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

enum tokens_verdict tokens_verify(const struct tokens_key *k, const char *token, size_t len,
                                  int64_t now_ms, struct tokens_claims *claims)
{
	uint8_t payload[PAYLOAD_MAX_LEN], sig[SIG_LEN];
	struct tokens_claims c;
	const char *dot, *b64;
	size_t b64len;
	const uint8_t *p;
	long plen;
	size_t acclen;

	if (!k || !token || len < TOKEN_PREFIX_LEN ||
	    memcmp(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
		return TOKENS_MALFORMED;
	b64 = token + TOKEN_PREFIX_LEN;
	dot = memchr(b64, '.', len - TOKEN_PREFIX_LEN);
	if (!dot)
		return TOKENS_MALFORMED;
	b64len = (size_t)(dot - b64);
	/* What follows the second dot is the signature and nothing else; a third
	 * dot or any trailing byte fails the length check or the decoder. */
	if (len - (size_t)(dot + 1 - token) != SIG_B64_LEN ||
	    mtk__b64url_decode(dot + 1, SIG_B64_LEN, sig, sizeof(sig)) != SIG_LEN)
		return TOKENS_MALFORMED;
	if (b64len > PAYLOAD_B64_MAX_LEN)
		return TOKENS_MALFORMED;
	plen = mtk__b64url_decode(b64, b64len, payload, sizeof(payload));
	if (plen < (long)PAYLOAD_FIXED_LEN + 1)
		return TOKENS_MALFORMED;

	p = payload;
	if (p[0] != TOKEN_VERSION || p[1] != KEY_ID_LEN)
		return TOKENS_MALFORMED;
	p += 2 + KEY_ID_LEN;
	c.issued_ms = get_be64(p);
	p += 8;
	c.expires_ms = get_be64(p);
	p += 8;
	memcpy(c.nonce, p, NONCE_LEN);
	p += NONCE_LEN;
	acclen = *p++;
	if (acclen == 0 || acclen > TOKENS_ACCOUNT_MAX ||
	    (size_t)plen != PAYLOAD_FIXED_LEN + acclen)
		return TOKENS_MALFORMED;
	/* We never mint an account id with a NUL in it; claims.account is a string. */
	if (memchr(p, '\0', acclen))
		return TOKENS_MALFORMED;
	memcpy(c.account, p, acclen);
	c.account[acclen] = '\0';

	if (CRYPTO_memcmp(payload + 2, k->id, KEY_ID_LEN) != 0)
		return TOKENS_BAD_SIGNATURE;
	if (!signature_ok(k, token, (size_t)(dot - token), sig))
		return TOKENS_BAD_SIGNATURE;

	if (claims)
		*claims = c;
	return c.expires_ms <= now_ms ? TOKENS_EXPIRED : TOKENS_VALID;
}

void tokens_fingerprint(const char *token, size_t len, char out[TOKENS_FINGERPRINT_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t md[EVP_MAX_MD_SIZE] = { 0 };
	unsigned int mdlen = 0;

	/* Should the digest fail, the fingerprint is all zeros: never the token. */
	if (EVP_Digest(token, len, md, &mdlen, EVP_sha256(), NULL) != 1) {
		memset(md, 0, sizeof(md));
		ERR_clear_error();
	}
	for (int i = 0; i < TOKENS_FINGERPRINT_LEN / 2; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[TOKENS_FINGERPRINT_LEN] = '\0';
}

int tokens_key_derive(const struct tokens_key *k, const char *label,
                      unsigned char out[TOKENS_DERIVED_KEY_LEN])
{
	unsigned char raw[64];
	size_t len = sizeof(raw);
	unsigned int mdlen = 0;
	int rc = -1;

	if (k && label && EVP_PKEY_get_raw_private_key(k->pkey, raw, &len) == 1 &&
	    HMAC(EVP_sha256(), raw, (int)len, (const unsigned char *)label, strlen(label), out,
	         &mdlen) &&
	    mdlen == TOKENS_DERIVED_KEY_LEN)
		rc = 0;
	OPENSSL_cleanse(raw, sizeof(raw));
	ERR_clear_error();
	return rc;
}

int tokens_minter_check(const struct tokens_minter *m)
{
	size_t len;

	if (!m || !m->key || !m->account)
		return -1;
	len = strnlen(m->account, TOKENS_ACCOUNT_MAX + 1);
	return len == 0 || len > TOKENS_ACCOUNT_MAX ? -1 : 0;
}

int tokens_mint_value(void *minter, int64_t now_ms, int64_t expires_ms, void *value)
{
	const struct tokens_minter *m = minter;

	return tokens_mint(m->key, m->account, now_ms, expires_ms, value, TOKENS_MAX_LEN + 1) < 0
	           ? -1
	           : 0;
}
