#include "jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rsa.h>

#include "b64url.h"

/*
 * Sets ctx (from EVP_DigestSign/VerifyInit) to PSS with the salt as long
 * as the digest: the one variant Yandex accepts (PROTOCOL.md §4).
 */
static int set_pss(EVP_PKEY_CTX *pctx)
{
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
	       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
}

/* Appends base64url(s) to out at *at; out has room (checked by caller). */
static void put_b64(char *out, size_t *at, const void *s, size_t n)
{
	*at += mtk__b64url_encode(s, n, out + *at);
}

char *mtk__jwt_sign_ps256(EVP_PKEY *key, const char *kid, const char *claims_json, char *err,
                          size_t errlen)
{
	char header[320];
	int hn = snprintf(header, sizeof(header),
	                  "{\"typ\":\"JWT\",\"alg\":\"PS256\",\"kid\":\"%s\"}", kid);
	size_t cn = strlen(claims_json), at = 0, siglen = 0, sigcap = 0;
	unsigned char *sig = NULL;
	char *out = NULL;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;

	if (hn < 0 || (size_t)hn >= sizeof(header) || strpbrk(kid, "\"\\")) {
		snprintf(err, errlen, "key id is too long or holds a quote or backslash");
		return NULL;
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "the key is not an RSA key");
		return NULL;
	}
	siglen = sigcap = (size_t)EVP_PKEY_get_size(key);
	if (B64URL_LEN((size_t)hn) + B64URL_LEN(cn) + B64URL_LEN(siglen) + 3 > MTK__JWT_MAX) {
		snprintf(err, errlen, "the JWT would be longer than %d bytes", MTK__JWT_MAX);
		return NULL;
	}
	out = malloc(MTK__JWT_MAX);
	sig = malloc(siglen);
	md = EVP_MD_CTX_new();
	if (!out || !sig || !md) {
		snprintf(err, errlen, "out of memory");
		goto out_fail;
	}
	put_b64(out, &at, header, (size_t)hn);
	out[at++] = '.';
	put_b64(out, &at, claims_json, cn);
	if (EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) != 1 || !set_pss(pctx) ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out, at) != 1) {
		snprintf(err, errlen, "OpenSSL could not sign the JWT (PS256)");
		goto out_fail;
	}
	out[at++] = '.';
	put_b64(out, &at, sig, siglen);
	out[at] = '\0';
	EVP_MD_CTX_free(md);
	/* With the signed part, the signature is the JWT: a bearer
	 * credential until it expires. */
	OPENSSL_cleanse(sig, sigcap);
	free(sig);
	return out;

out_fail:
	EVP_MD_CTX_free(md);
	if (sig)
		OPENSSL_cleanse(sig, sigcap);
	free(sig);
	if (out)
		OPENSSL_cleanse(out, MTK__JWT_MAX);
	free(out);
	return NULL;
}

/* Decodes one segment into a malloc'd buffer (NUL-terminated); NULL on bad
 * base64url. */
static unsigned char *decode_segment(const char *s, size_t n, size_t *outlen)
{
	unsigned char *buf = malloc(n / 4 * 3 + 3 + 1);
	long got;

	if (!buf)
		return NULL;
	got = mtk__b64url_decode(s, n, buf, n / 4 * 3 + 3);
	if (got < 0) {
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	*outlen = (size_t)got;
	return buf;
}

/* The length of the well-formed UTF-8 sequence (RFC 3629: no overlong
 * form, no surrogate, nothing past U+10FFFF) that starts s[0..n) with a
 * byte >= 0x80; 0 when there is none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	/* The second byte's range rules out overlongs, surrogates and
	 * code points past U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* True when s[0..n) is a JSON text's worth of bytes: well-formed UTF-8
 * with no NUL and no control bytes but tab, CR and LF. The JSON checks are
 * cJSON's. */
static int plain_text(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t len = 1;

		if (s[i] >= 0x80 && !(len = utf8_len(s + i, n - i)))
			return 0;
		if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return 0;
		i += len;
	}
	return 1;
}

int mtk__jwt_split(const char *jwt, size_t len, struct mtk__jwt *out, char *err, size_t errlen)
{
	const char *d1, *d2;
	struct mtk__jwt j = { 0 };
	size_t n;

	if (len == 0 || len > MTK__JWT_MAX) {
		snprintf(err, errlen, "the JWT is empty or longer than %d bytes", MTK__JWT_MAX);
		return -1;
	}
	d1 = memchr(jwt, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt))) {
		snprintf(err, errlen, "the JWT is not three dot-separated parts");
		return -1;
	}
	j.header = (char *)decode_segment(jwt, (size_t)(d1 - jwt), &n);
	if (!j.header || !n || !plain_text((unsigned char *)j.header, n)) {
		snprintf(err, errlen, "the JWT header is not base64url-encoded JSON text");
		goto out_fail;
	}
	j.claims = (char *)decode_segment(d1 + 1, (size_t)(d2 - d1 - 1), &n);
	if (!j.claims || !n || !plain_text((unsigned char *)j.claims, n)) {
		snprintf(err, errlen, "the JWT claims are not base64url-encoded JSON text");
		goto out_fail;
	}
	j.sig = decode_segment(d2 + 1, len - (size_t)(d2 + 1 - jwt), &j.sig_len);
	if (!j.sig || !j.sig_len) {
		snprintf(err, errlen, "the JWT signature is missing or not base64url");
		goto out_fail;
	}
	j.signed_part = jwt;
	j.signed_len = (size_t)(d2 - jwt);
	*out = j;
	return 0;

out_fail:
	mtk__jwt_release(&j);
	return -1;
}

void mtk__jwt_release(struct mtk__jwt *j)
{
	if (!j)
		return;
	free(j->header);
	free(j->claims);
	free(j->sig);
	memset(j, 0, sizeof(*j));
}

int mtk__jwt_verify_ps256(EVP_PKEY *pub, const struct mtk__jwt *j)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int rc = -1;

	if (!md)
		return -1;
	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA &&
	    EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pub) == 1 && set_pss(pctx)) {
		int v = EVP_DigestVerify(md, j->sig, j->sig_len,
		                         (const unsigned char *)j->signed_part, j->signed_len);
		rc = v == 1 ? 1 : 0;
	}
	EVP_MD_CTX_free(md);
	return rc;
}
