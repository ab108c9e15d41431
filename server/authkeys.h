/*
 * Authorized keys (PROTOCOL.md §4): the RSA public keys whose holders may
 * exchange a signed JWT for an account's token at POST /iam/v1/tokens
 * (iam.c). A registry maps a key id (the JWT header's kid) to the account
 * it belongs to and its public key. It is filled from the configuration at
 * start (service_accounts[].authorized_keys) and grows at run time through
 * the control API (control_keys.c), so every operation takes its lock.
 * Private keys are never held here.
 */
#ifndef METATOKEN_SERVER_AUTHKEYS_H
#define METATOKEN_SERVER_AUTHKEYS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define AUTHKEYS_MAX        4096 /* keys in the registry, configured and created */
#define AUTHKEYS_ID_MAX     128  /* longest key id, bytes */
#define AUTHKEYS_MIN_BITS   2048 /* smallest RSA modulus accepted */
#define AUTHKEYS_MAX_BITS   8192 /* largest RSA modulus accepted */
#define AUTHKEYS_NEW_ID_LEN 20   /* "aje" and 17 random characters */

struct authkeys; /* opaque */
struct config;

/* An empty registry, or NULL when out of memory. */
struct authkeys *authkeys_new(void);
/* Frees the registry and its keys. No operation is performed if k is NULL. */
void authkeys_free(struct authkeys *k);

/*
 * Parses pem (len bytes) as an RSA public key (SPKI, "BEGIN PUBLIC KEY")
 * of AUTHKEYS_MIN_BITS to AUTHKEYS_MAX_BITS bits. Returns the key, owned
 * by the caller, or NULL with a one-line reason in err ("not a PEM public
 * key", "an EC key, not RSA", "RSA 1024 bits; at least 2048 required").
 */
EVP_PKEY *authkeys_parse_public_pem(const char *pem, size_t len, char *err, size_t errlen);

/*
 * Registers pub (the registry takes a reference of its own) under key id
 * kid for account index `account` (of srv->cfg.accounts), created at
 * created_ms, from the configuration (configured != 0) or at run time.
 * Returns 0, or -1 with a reason in err when kid is already registered or
 * the registry is full.
 */
int authkeys_add(struct authkeys *k, const char *kid, size_t account, EVP_PKEY *pub,
                 int64_t created_ms, int configured, char *err, size_t errlen);

/*
 * Looks kid (len bytes) up. Returns its public key with a reference that
 * the caller drops with EVP_PKEY_free(), and sets *account; or NULL when
 * there is no such key.
 */
EVP_PKEY *authkeys_find(struct authkeys *k, const char *kid, size_t len, size_t *account);

/* What the control API lists of a key: no key material. */
struct authkeys_entry {
	char id[AUTHKEYS_ID_MAX + 1];
	size_t account;
	int64_t created_ms;
	int bits;
	int configured;
};

/*
 * Calls each(arg, entry) for every key of account `account`, in the order
 * they were added, outside the lock (on a copy). Returns the number of
 * keys, or -1 when out of memory.
 */
int authkeys_each(struct authkeys *k, size_t account,
                  void (*each)(void *arg, const struct authkeys_entry *e), void *arg);

/* Removes every key added at run time: back to the configured ones. */
void authkeys_reset(struct authkeys *k);

/*
 * Writes a fresh key id in Yandex's shape, "aje" and 17 random lowercase
 * letters and digits, into out. Returns 0, or -1 when the CSPRNG fails.
 */
int authkeys_new_id(char out[AUTHKEYS_NEW_ID_LEN + 1]);

/*
 * Registers the configuration's authorized keys (cfg->accounts[i]
 * .authorized_keys), reading public_key_file where given. Returns 0, or -1
 * with "<config>: service_accounts[i].authorized_keys[j].<field>: <why>"
 * in err.
 */
int authkeys_load_config(struct authkeys *k, const struct config *cfg, int64_t now_ms, char *err,
                         size_t errlen);

#endif
