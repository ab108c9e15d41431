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

/*
 * Reads path whole into a NUL-terminated malloc'd buffer of *cap bytes.
 * private: the file holds a secret, so it must be readable by its owner
 * only. Returns the buffer, or NULL with the reason in err.
 */
static char *read_whole(const char *path, const char *what, int private, size_t *cap, char *err,
                        size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot read the TLS %s: %s", path, what,
		         strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: the TLS %s is not a regular file", path, what);
		goto out;
	}
	if (private && (st.st_mode & 077)) {
		snprintf(err, errlen,
		         "%s: holds the TLS private key but its mode is %03o, so other users may "
		         "read it: run `chmod 600 %s`",
		         path, (unsigned)(st.st_mode & 0777), path);
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > TLS_FILE_MAX) {
		snprintf(err, errlen, "%s: the TLS %s is %s", path, what,
		         st.st_size <= 0 ? "empty" : "larger than 1 MiB");
		goto out;
	}
	*cap = (size_t)st.st_size + 1;
	buf = malloc(*cap);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: cannot read the TLS %s: %s", path, what,
			         n < 0 ? strerror(errno) : "the file shrank");
			OPENSSL_cleanse(buf, *cap);
			free(buf);
			buf = NULL;
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
out:
	close(fd);
	return buf;
}

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
	size_t cert_cap = 0;

	memset(out, 0, sizeof(*out));
	out->cert = read_whole(cert_file, "certificate", 0, &cert_cap, err, errlen);
	if (!out->cert)
		return -1;
	out->key = read_whole(key_file, "private key", 1, &out->key_cap, err, errlen);
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
