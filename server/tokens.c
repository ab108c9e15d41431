/*
 * Service-account access tokens. See tokens.h for the token layout and the
 * caching contract.
 *
 * Verification parses untrusted bytes: every read is bounded by the length
 * the caller gave, the parser allocates nothing, and the text must decode to
 * exactly the bytes that were signed (canonical base64url, no trailing data),
 * so no two different strings are accepted as the same token.
 */
#include "b64url.h"
#include "tokens.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
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
	b64url_encode(payload, plen, out + TOKEN_PREFIX_LEN);
	md = EVP_MD_CTX_new();
	if (!md)
		goto out;
	/* Ed25519 signs the message itself: no digest, one-shot call. */
	if (EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const uint8_t *)out, signed_len) != 1 ||
	    siglen != SIG_LEN)
		goto out;
	out[signed_len] = '.';
	b64url_encode(sig, SIG_LEN, out + signed_len + 1);
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
	    b64url_decode(dot + 1, SIG_B64_LEN, sig, sizeof(sig)) != SIG_LEN)
		return TOKENS_MALFORMED;
	if (b64len > PAYLOAD_B64_MAX_LEN)
		return TOKENS_MALFORMED;
	plen = b64url_decode(b64, b64len, payload, sizeof(payload));
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

int tokens_policy_valid(int64_t lifetime_s, int64_t margin_s)
{
	/* Times are kept in ms; refuse values that do not fit rather than wrap. */
	return lifetime_s > 0 && lifetime_s <= INT64_MAX / 1000 && margin_s >= 0 &&
	       margin_s <= INT64_MAX / 1000;
}

int64_t tokens_effective_margin_ms(int64_t lifetime_ms, int64_t margin_ms)
{
	/* A lifetime no longer than the margin would be stale at birth: hand such
	 * a token out for the first half of its life instead (see tokens.h). */
	return lifetime_ms <= margin_ms ? lifetime_ms / 2 : margin_ms;
}

int tokens_account_args(const struct tokens_key *key, const char *id, int64_t lifetime_s,
                        int64_t margin_s)
{
	size_t idlen;

	if (!key || !id)
		return -1;
	idlen = strnlen(id, TOKENS_ACCOUNT_MAX + 1);
	if (idlen == 0 || idlen > TOKENS_ACCOUNT_MAX || !tokens_policy_valid(lifetime_s, margin_s))
		return -1;
	return (int)idlen;
}

/* Forgets the cached answer. Caller holds the lock. */
static void forget_answer(struct tokens_account *a)
{
	OPENSSL_cleanse(a->answer, sizeof(a->answer));
	a->answer_len = 0;
}

int tokens_account_init(struct tokens_account *a, const struct tokens_key *key, const char *id,
                        int64_t lifetime_s, int64_t reissue_margin_s)
{
	int idlen = tokens_account_args(key, id, lifetime_s, reissue_margin_s);

	if (!a || idlen < 0)
		return -1;
	memset(a, 0, sizeof(*a));
	if (pthread_mutex_init(&a->lock, NULL) != 0)
		return -1;
	a->key = key;
	memcpy(a->id, id, (size_t)idlen);
	a->id[idlen] = '\0';
	a->lifetime_ms = lifetime_s * 1000;
	a->margin_ms = reissue_margin_s * 1000;
	return 0;
}

void tokens_account_release(struct tokens_account *a)
{
	if (!a)
		return;
	OPENSSL_cleanse(a->current, sizeof(a->current));
	a->current_len = 0;
	forget_answer(a);
	pthread_mutex_destroy(&a->lock);
}

/* a - b, saturated to the int64_t range instead of overflowing. */
static int64_t sat_sub(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/*
 * Makes sure the account has a current token to hand out at now_ms, minting
 * one if there is none or its remaining life is below the effective margin,
 * and sets *remaining_ms. Caller holds the lock. Returns 0, or -1 when
 * minting failed.
 */
static int ensure_current(struct tokens_account *a, int64_t now_ms, int64_t *remaining_ms)
{
	char fresh[TOKENS_MAX_LEN + 1];
	int64_t margin_ms, expires_ms;
	int n;

	margin_ms = tokens_effective_margin_ms(a->lifetime_ms, a->margin_ms);
	*remaining_ms = sat_sub(a->current_expires_ms, now_ms);
	/* An expired token is never handed out, whatever the margin. A clock moved
	 * backwards only lengthens the remaining life: the token stays current. */
	if (a->current_len != 0 && *remaining_ms >= margin_ms && *remaining_ms > 0)
		return 0;
	if (__builtin_add_overflow(now_ms, a->lifetime_ms, &expires_ms))
		return -1;
	n = tokens_mint(a->key, a->id, now_ms, expires_ms, fresh, sizeof(fresh));
	if (n < 0)
		return -1;
	OPENSSL_cleanse(a->current, sizeof(a->current));
	memcpy(a->current, fresh, (size_t)n + 1);
	OPENSSL_cleanse(fresh, sizeof(fresh));
	a->current_len = (size_t)n;
	a->current_expires_ms = expires_ms;
	a->minted++;
	forget_answer(a);
	*remaining_ms = a->lifetime_ms;
	return 0;
}

static int64_t expires_in_of(int64_t remaining_ms)
{
	return remaining_ms / 1000 > 0 ? remaining_ms / 1000 : 1;
}

int tokens_account_get(struct tokens_account *a, int64_t now_ms, char *out, size_t outlen,
                       int64_t *expires_in_s)
{
	int64_t remaining_ms;
	int ret = -1;

	if (!a || !out || !expires_in_s)
		return -1;
	pthread_mutex_lock(&a->lock);
	if (ensure_current(a, now_ms, &remaining_ms) != 0 || outlen < a->current_len + 1)
		goto out_unlock;
	memcpy(out, a->current, a->current_len + 1);
	*expires_in_s = expires_in_of(remaining_ms);
	a->served++;
	ret = (int)a->current_len;
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return ret;
}

/* Generations of token answers, across all accounts and servers. */
static _Atomic uint64_t answer_gens;

int tokens_account_answer(struct tokens_account *a, int64_t now_ms, uint64_t have_gen, char *out,
                          size_t outlen, uint64_t *gen)
{
	int64_t remaining_ms, expires_in;
	int ret = -1;

	if (!a || !out || !gen)
		return -1;
	pthread_mutex_lock(&a->lock);
	if (ensure_current(a, now_ms, &remaining_ms) != 0)
		goto out_unlock;
	expires_in = expires_in_of(remaining_ms);
	if (a->answer_len == 0 || a->answer_expires_in != expires_in) {
		int n = snprintf(a->answer, sizeof(a->answer),
		                 "{\"access_token\":\"%s\",\"expires_in\":%lld,"
		                 "\"token_type\":\"Bearer\"}",
		                 a->current, (long long)expires_in);

		if (n < 0 || (size_t)n >= sizeof(a->answer))
			goto out_unlock;
		a->answer_len = (size_t)n;
		a->answer_expires_in = expires_in;
		a->answer_gen = atomic_fetch_add(&answer_gens, 1) + 1;
	}
	*gen = a->answer_gen;
	if (a->answer_gen == have_gen) {
		a->served++;
		ret = 0;
		goto out_unlock;
	}
	if (outlen < a->answer_len + 1)
		goto out_unlock;
	memcpy(out, a->answer, a->answer_len + 1);
	a->served++;
	ret = (int)a->answer_len;
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return ret;
}

/* Decodes the current token's claims. Caller holds the lock. The token was
 * minted by this key, so verification only fails on a bug; then report no
 * token rather than wrong claims. */
static int current_claims(struct tokens_account *a, struct tokens_claims *claims)
{
	enum tokens_verdict v;

	if (a->current_len == 0)
		return 0;
	/* The expiry is checked by callers; verify at the issue time. */
	v = tokens_verify(a->key, a->current, a->current_len, INT64_MIN, claims);
	return v == TOKENS_VALID;
}

int tokens_account_drop_if(struct tokens_account *a, const uint8_t *nonce,
                           struct tokens_claims *old)
{
	struct tokens_claims c;
	int had;

	pthread_mutex_lock(&a->lock);
	had = current_claims(a, &c);
	if (had && nonce && CRYPTO_memcmp(c.nonce, nonce, sizeof(c.nonce)) != 0)
		had = 0;
	else if (had || !nonce) {
		OPENSSL_cleanse(a->current, sizeof(a->current));
		a->current_len = 0;
		a->current_expires_ms = 0;
		forget_answer(a);
	}
	pthread_mutex_unlock(&a->lock);
	if (had && old)
		*old = c;
	return had;
}

int tokens_account_drop(struct tokens_account *a, struct tokens_claims *old)
{
	return tokens_account_drop_if(a, NULL, old);
}

int tokens_account_rotate(struct tokens_account *a, int64_t now_ms)
{
	char fresh[TOKENS_MAX_LEN + 1];
	int64_t expires_ms;
	int ret = -1, n;

	pthread_mutex_lock(&a->lock);
	if (__builtin_add_overflow(now_ms, a->lifetime_ms, &expires_ms))
		goto out_unlock;
	n = tokens_mint(a->key, a->id, now_ms, expires_ms, fresh, sizeof(fresh));
	if (n < 0)
		goto out_unlock;
	OPENSSL_cleanse(a->current, sizeof(a->current));
	memcpy(a->current, fresh, (size_t)n + 1);
	a->current_len = (size_t)n;
	a->current_expires_ms = expires_ms;
	a->minted++;
	forget_answer(a);
	ret = 0;
out_unlock:
	pthread_mutex_unlock(&a->lock);
	OPENSSL_cleanse(fresh, sizeof(fresh));
	return ret;
}

int tokens_account_set_policy(struct tokens_account *a, int64_t lifetime_s, int64_t margin_s)
{
	int ret = -1;

	if (lifetime_s > INT64_MAX / 1000 || margin_s > INT64_MAX / 1000)
		return -1;
	pthread_mutex_lock(&a->lock);
	if (lifetime_s == 0 || (lifetime_s < 0 && a->lifetime_ms <= 0))
		goto out_unlock;
	if (lifetime_s > 0)
		a->lifetime_ms = lifetime_s * 1000;
	if (margin_s >= 0)
		a->margin_ms = margin_s * 1000;
	ret = 0;
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return ret;
}

void tokens_account_snapshot(struct tokens_account *a, int64_t *lifetime_s, int64_t *margin_s,
                             uint64_t *minted, uint64_t *served)
{
	pthread_mutex_lock(&a->lock);
	*lifetime_s = a->lifetime_ms / 1000;
	*margin_s = a->margin_ms / 1000;
	*minted = a->minted;
	*served = a->served;
	pthread_mutex_unlock(&a->lock);
}

int tokens_account_current(struct tokens_account *a, struct tokens_claims *claims)
{
	int had;

	pthread_mutex_lock(&a->lock);
	had = current_claims(a, claims);
	pthread_mutex_unlock(&a->lock);
	return had;
}

void tokens_account_reset(struct tokens_account *a, int64_t lifetime_s, int64_t margin_s)
{
	pthread_mutex_lock(&a->lock);
	OPENSSL_cleanse(a->current, sizeof(a->current));
	a->current_len = 0;
	a->current_expires_ms = 0;
	a->minted = 0;
	a->served = 0;
	forget_answer(a);
	a->lifetime_ms = lifetime_s * 1000;
	a->margin_ms = margin_s * 1000;
	pthread_mutex_unlock(&a->lock);
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
