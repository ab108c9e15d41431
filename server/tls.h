/*
 * The HTTPS listener's certificate and key (daemon.h's `tls`): read from
 * their files and checked with OpenSSL before libmicrohttpd sees them, so
 * that a bad file is refused at start with a message that says what and
 * where (libmicrohttpd's own failure says neither).
 */
#ifndef METATOKEN_SERVER_TLS_H
#define METATOKEN_SERVER_TLS_H

#include <stddef.h>

#define TLS_FILE_MAX (1024 * 1024) /* the largest certificate or key file read */

struct tls_pem {
	char *cert; /* the certificate file's text, NUL-terminated */
	char *key;  /* the key file's text, NUL-terminated; a secret */
	size_t key_cap;
};

/*
 * Reads cert_file and key_file into *out and checks them: both readable
 * regular files; the key file readable by its owner only (else "run
 * `chmod 600 FILE`"); a PEM certificate; an unencrypted PEM private key;
 * the key the certificate's. Returns 0, or -1 with a one-line reason that
 * names the file in err, and *out empty. tls_pem_release() frees it.
 */
int tls_pem_load(struct tls_pem *out, const char *cert_file, const char *key_file, char *err,
                 size_t errlen);

/* Wipes the key and frees both. No operation is performed if p is NULL. */
void tls_pem_release(struct tls_pem *p);

#endif
