/*
 * The HTTPS listener's files (tls.h): read, checked for safety, parsed.
 */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "readfile.h"

/* An encrypted key would make OpenSSL prompt on the terminal: refuse it. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Parses and matches the two PEM texts. Returns 0, or -1 with a reason. */
static int check_pair(const struct tls_pem *p, const char *cert_file, const char *key_file,
                      char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(p->cert, -1);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, no_password, NULL) : NULL;
	EVP_PKEY *key = NULL;
	int rc = -1;

	BIO_free(bio);
	if (!cert) {
		snprintf(err, errlen,
		         "%s: not a PEM certificate (expected -----BEGIN CERTIFICATE-----; "
		         "scripts/gen-certs makes one)",
		         cert_file);
		goto out;
	}
	bio = BIO_new_mem_buf(p->key, -1);
	key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
	BIO_free(bio);
	if (!key) {
		snprintf(err, errlen,
		         "%s: not an unencrypted PEM private key (expected -----BEGIN PRIVATE "
		         "KEY----- or a like line)",
		         key_file);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		snprintf(err, errlen, "%s: the private key does not match the certificate in %s",
		         key_file, cert_file);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
		log_msg(LOG_WARN, "%s: the TLS certificate has expired: clients will refuse it",
		        cert_file);
	rc = 0;
out:
	/* What OpenSSL queued about the failure is told above. */
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

int tls_pem_load(struct tls_pem *out, const char *cert_file, const char *key_file, char *err,
                 size_t errlen)
{
	size_t cert_len = 0, key_len = 0;

	memset(out, 0, sizeof(*out));
	out->cert = mtk__read_whole_file(cert_file, "TLS certificate", 0, TLS_FILE_MAX, &cert_len,
	                                 err, errlen);
	if (!out->cert)
		return -1;
	out->key = mtk__read_whole_file(key_file, "TLS private key", 1, TLS_FILE_MAX, &key_len, err,
	                                errlen);
	out->key_cap = key_len + 1;
	if (!out->key || check_pair(out, cert_file, key_file, err, errlen) != 0) {
		tls_pem_release(out);
		return -1;
	}
	return 0;
}

void tls_pem_release(struct tls_pem *p)
{
	if (!p)
		return;
	if (p->key) {
		OPENSSL_cleanse(p->key, p->key_cap);
		free(p->key);
	}
	free(p->cert);
	memset(p, 0, sizeof(*p));
}
