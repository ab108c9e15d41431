/*
 * PS256 JSON Web Tokens, as Yandex's IAM exchange takes them (PROTOCOL.md
 * §4): RSASSA-PSS with SHA-256, MGF1-SHA-256 and a salt as long as the
 * digest, over "base64url(header).base64url(claims)". The client signs
 * (client/fetch_iam.c), metatokend verifies (server/iam.c); one codec for
 * both so they cannot drift. No claim is judged here: the caller reads the
 * decoded header and claims and decides.
 */
#ifndef METATOKEN_COMMON_JWT_H
#define METATOKEN_COMMON_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* Longest JWT accepted or made, bytes (a 4096-bit signature is 683 chars). */
#define MTK__JWT_MAX 8192

/*
 * Signs a JWT with header {"typ":"JWT","alg":"PS256","kid":kid} and the
 * given claims (a serialized JSON object, taken as is) with the RSA private
 * key. Returns a malloc'd NUL-terminated JWT, or NULL with a one-line
 * reason in err (never a secret).
 */
char *mtk__jwt_sign_ps256(EVP_PKEY *key, const char *kid, const char *claims_json, char *err,
                          size_t errlen);

/* A JWT taken apart; the caller's until mtk__jwt_release. */
struct mtk__jwt {
	char *header;            /* decoded header JSON, NUL-terminated */
	char *claims;            /* decoded claims JSON, NUL-terminated */
	const char *signed_part; /* borrowed: the first two segments, as sent */
	size_t signed_len;
	unsigned char *sig; /* decoded signature */
	size_t sig_len;
};

/*
 * Splits a compact JWT (len bytes, not NUL-terminated) into *out: exactly
 * three segments, each canonical unpadded base64url, header and claims
 * valid UTF-8 free of NUL bytes, at most MTK__JWT_MAX in all. Returns 0, or
 * -1 with a one-line reason in err (*out then needs no release). Allocates;
 * judges neither JSON nor signature.
 */
int mtk__jwt_split(const char *jwt, size_t len, struct mtk__jwt *out, char *err, size_t errlen);

/* Frees what mtk__jwt_split made. No operation is performed if j is NULL. */
void mtk__jwt_release(struct mtk__jwt *j);

/*
 * Checks j's signature as PS256 with the RSA public key pub. Returns 1 when
 * it verifies, 0 when it does not (wrong key, tampered, another padding or
 * salt length), -1 when OpenSSL failed for another reason.
 */
int mtk__jwt_verify_ps256(EVP_PKEY *pub, const struct mtk__jwt *j);

#endif
