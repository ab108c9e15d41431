/*
 * Unit tests for the HTTPS listener's files (server/tls.c): each refusal
 * says what was wrong and where, and a good pair is read whole. The keys
 * and certificates are made here, at run time, in a private folder.
 */
#include "tls.h"

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/metatoken-test-tls-XXXXXX";

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	cr_assert_not_null(k);
	return k;
}

/* A self-signed certificate for localhost with key k. */
static X509 *new_cert(EVP_PKEY *k)
{
	X509 *x = X509_new();

	cr_assert_not_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	cr_assert(X509_sign(x, k, EVP_sha256()) > 0);
	return x;
}

/* dir/name, made with mode; write(f) fills it. */
static const char *file_in_dir(const char *name, mode_t mode)
{
	static char path[8][128];
	static int next;
	char *p = path[next++ % 8];

	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	unlink(p);
	cr_assert_eq(close(open(p, O_WRONLY | O_CREAT | O_TRUNC, mode)), 0);
	cr_assert_eq(chmod(p, mode), 0);
	return p;
}

static const char *write_key(const char *name, EVP_PKEY *k, mode_t mode, const char *password)
{
	const char *p = file_in_dir(name, mode);
	FILE *f = fopen(p, "w");

	cr_assert_not_null(f);
	cr_assert(PEM_write_PrivateKey(f, k, password ? EVP_aes_256_cbc() : NULL,
	                               (unsigned char *)password,
	                               password ? (int)strlen(password) : 0, NULL, NULL));
	fclose(f);
	return p;
}

static const char *write_cert(const char *name, X509 *x)
{
	const char *p = file_in_dir(name, 0644);
	FILE *f = fopen(p, "w");

	cr_assert_not_null(f);
	cr_assert(PEM_write_X509(f, x));
	fclose(f);
	return p;
}

static const char *write_text(const char *name, const char *text, mode_t mode)
{
	const char *p = file_in_dir(name, mode);
	FILE *f = fopen(p, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static EVP_PKEY *key;
static X509 *cert;
static const char *cert_path, *key_path;

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	key = new_key();
	cert = new_cert(key);
	cert_path = write_cert("server.pem", cert);
	key_path = write_key("server.key", key, 0600, NULL);
}

static void teardown(void)
{
	char cmd[96];

	X509_free(cert);
	EVP_PKEY_free(key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(tls, .init = setup, .fini = teardown);

/* Expects tls_pem_load() to refuse with a message holding `want`. */
static void expect_refused(const char *cert_file, const char *key_file, const char *want)
{
	struct tls_pem p;
	char err[512] = "";

	memset(&p, 0xA5, sizeof(p));
	cr_assert_eq(tls_pem_load(&p, cert_file, key_file, err, sizeof(err)), -1, "accepted");
	cr_assert(strstr(err, want), "wanted \"%s\" in: %s", want, err);
	cr_assert_null(p.cert);
	cr_assert_null(p.key);
	tls_pem_release(&p);
}

Test(tls, a_matching_pair_is_read_whole)
{
	struct tls_pem p;
	char err[512] = "";

	cr_assert_eq(tls_pem_load(&p, cert_path, key_path, err, sizeof(err)), 0, "%s", err);
	cr_assert(strncmp(p.cert, "-----BEGIN CERTIFICATE-----\n", 28) == 0, "%s", p.cert);
	cr_assert(strstr(p.cert, "-----END CERTIFICATE-----\n"));
	cr_assert(strncmp(p.key,
	                  "-----BEGIN "
	                  "PRIVATE KEY-----\n",
	                  28) == 0);
	cr_assert(strstr(p.key, "-----END PRIVATE KEY-----\n"));
	tls_pem_release(&p);
	cr_assert_null(p.key);
	tls_pem_release(NULL);
}

Test(tls, a_key_others_may_read_is_refused_with_the_fix)
{
	char want[256];

	cr_assert_eq(chmod(key_path, 0644), 0);
	snprintf(want, sizeof(want),
	         "%s: holds the TLS private key but its mode is 644, so other users may read it: "
	         "run `chmod 600 %s`",
	         key_path, key_path);
	expect_refused(cert_path, key_path, want);
	cr_assert_eq(chmod(key_path, 0640), 0);
	expect_refused(cert_path, key_path, "run `chmod 600");
	cr_assert_eq(chmod(key_path, 0400), 0);
	{
		struct tls_pem p;
		char err[512] = "";

		cr_assert_eq(tls_pem_load(&p, cert_path, key_path, err, sizeof(err)), 0, "%s", err);
		tls_pem_release(&p);
	}
}

Test(tls, a_key_of_another_certificate_is_refused)
{
	EVP_PKEY *other = new_key();
	const char *other_path = write_key("other.key", other, 0600, NULL);
	char want[256];

	snprintf(want, sizeof(want), "%s: the private key does not match the certificate in %s",
	         other_path, cert_path);
	expect_refused(cert_path, other_path, want);
	EVP_PKEY_free(other);
}

Test(tls, files_that_are_not_pem_are_refused)
{
	const char *junk = write_text("junk.pem", "not a certificate\n", 0600);
	char want[256];

	snprintf(want, sizeof(want), "%s: not a PEM certificate", junk);
	expect_refused(junk, key_path, want);
	snprintf(want, sizeof(want), "%s: not an unencrypted PEM private key", junk);
	expect_refused(cert_path, junk, want);
	/* The key where the certificate should be. */
	expect_refused(key_path, key_path, "not a PEM certificate");
	expect_refused(cert_path, write_text("empty.key", "", 0600),
	               "the TLS private key is empty");
}

/* An encrypted key is refused at once: OpenSSL must not ask for a password
 * on the terminal (metatokend would hang at start). */
Test(tls, an_encrypted_key_is_refused_without_a_prompt, .timeout = 10)
{
	const char *enc = write_key("enc.key", key, 0600, "secret-password");

	expect_refused(cert_path, enc, "not an unencrypted PEM private key");
}

Test(tls, missing_and_odd_files_are_named)
{
	char missing[128], want[256];

	snprintf(missing, sizeof(missing), "%s/none.pem", dir);
	snprintf(want, sizeof(want), "%s: cannot read the TLS certificate: No such file", missing);
	expect_refused(missing, key_path, want);
	snprintf(want, sizeof(want), "%s: cannot read the TLS private key: No such file", missing);
	expect_refused(cert_path, missing, want);
	snprintf(want, sizeof(want), "%s: the TLS certificate is not a regular file", dir);
	expect_refused(dir, key_path, want);
}
