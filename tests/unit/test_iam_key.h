/*
 * Authorized-key files for the IAM tests, made at test time (never
 * committed): a fresh RSA key, written in Yandex's format into a private
 * temporary folder.
 */
#ifndef METATOKEN_TEST_IAM_KEY_H
#define METATOKEN_TEST_IAM_KEY_H

#include <stdbool.h>
#include <sys/types.h>

#include <openssl/evp.h>

#define TEST_KEY_ID "ajekeytest0001"
#define TEST_SA_ID  "ajesatest0002"

struct test_key {
	char dir[64];   /* the temporary folder */
	char path[128]; /* dir/key.json */
	EVP_PKEY *pkey; /* the key pair (its public half verifies) */
};

/*
 * Generates a 2048-bit key and writes dir/key.json with the given mode;
 * newer: put the "PLEASE DO NOT REMOVE THIS LINE!" line before the PEM.
 * Asserts on failure.
 */
void test_key_make(struct test_key *k, mode_t mode, bool newer);
/* Writes text as dir/name with mode; returns the path (static buffer). */
const char *test_key_write(struct test_key *k, const char *name, const char *text, mode_t mode);
/* The private key's PKCS#8 PEM, malloc'd. */
char *test_key_pem(EVP_PKEY *pkey);
/* Removes the folder and frees the key. */
void test_key_free(struct test_key *k);

#endif
