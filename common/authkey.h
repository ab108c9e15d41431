/*
 * Yandex authorized-key files (PROTOCOL.md §4): the JSON document
 * `yc iam key create` writes, {"id", "service_account_id", "created_at",
 * "key_algorithm", "public_key", "private_key"}, the private key PKCS#8
 * PEM, in newer files after a line "PLEASE DO NOT REMOVE THIS LINE!
 * Yandex.Cloud SA Key ID <id>". Read by the client's IAM fetcher and by
 * metatokend's upstream mode; `metatoken admin key create` writes them.
 */
#ifndef METATOKEN_COMMON_AUTHKEY_H
#define METATOKEN_COMMON_AUTHKEY_H

#include <stddef.h>

#include <openssl/evp.h>

#define MTK__AUTHKEY_MAX_FILE 65536 /* longest key file read, bytes */
#define MTK__AUTHKEY_MAX_ID   128   /* longest key or account id, bytes */

struct mtk__authkey {
	char id[MTK__AUTHKEY_MAX_ID + 1];
	char service_account_id[MTK__AUTHKEY_MAX_ID + 1];
	EVP_PKEY *private_key; /* RSA, owned */
};

/*
 * Parses a key file's text (len bytes; where names it in messages). The ids
 * must be non-empty printable ASCII without quotes or backslashes, the
 * private key an RSA key of 2048 to 8192 bits; key_algorithm, when present,
 * RSA_2048 or RSA_4096. Returns 0, or -1 with a one-line reason naming
 * where and the field (never key material) in err.
 */
int mtk__authkey_parse(const char *text, size_t len, const char *where, struct mtk__authkey *out,
                       char *err, size_t errlen);

/*
 * Reads and parses the key file at path. Refuses, before reading, a file
 * that is not a regular file or that its group or others may read, with a
 * message that says to run `chmod 600 <path>`. Returns 0, or -1 with a
 * one-line reason in err. The text read is wiped.
 */
int mtk__authkey_load(const char *path, struct mtk__authkey *out, char *err, size_t errlen);

/*
 * Points *pem at the PEM in s (the first "-----BEGIN"), skipping the
 * "PLEASE DO NOT REMOVE THIS LINE!" line of newer files or anything else
 * before it. Returns NULL when there is no PEM.
 */
const char *mtk__authkey_pem_start(const char *s);

/* Frees the key and wipes *k. No operation is performed if k is NULL. */
void mtk__authkey_release(struct mtk__authkey *k);

#endif
