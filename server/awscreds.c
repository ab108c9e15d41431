/*
 * AWS role credentials: minting and the per-account cache. See awscreds.h.
 */
#include "awscreds.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <string.h>

/* Generations of current sets, across all accounts and servers: never 0. */
static _Atomic uint64_t set_gens;

/* Real access key ids use base32 after the prefix. */
static const char key_id_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char secret_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Fills out[0..n) with chars of a 32- or 64-char alphabet (no modulo bias:
 * both sizes divide 256). */
static int random_chars(char *out, size_t n, const char *alphabet, size_t alphabet_len)
{
	unsigned char raw[64];

	if (n > sizeof(raw) || RAND_bytes(raw, (int)n) != 1)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[raw[i] % alphabet_len];
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

static int mint(const struct awscreds_account *a, int64_t now_ms, struct awscreds_set *s)
{
	int64_t expires_ms;

	if (__builtin_add_overflow(now_ms, a->lifetime_ms, &expires_ms))
		return -1;
	memcpy(s->access_key_id, "ASIA", 4);
	if (random_chars(s->access_key_id + 4, AWSCREDS_KEY_ID_LEN - 4, key_id_alphabet, 32) != 0 ||
	    random_chars(s->secret_access_key, AWSCREDS_SECRET_LEN, secret_alphabet, 64) != 0 ||
	    tokens_mint(a->key, a->id, now_ms, expires_ms, s->token, sizeof(s->token)) < 0) {
		OPENSSL_cleanse(s, sizeof(*s));
		return -1;
	}
	s->access_key_id[AWSCREDS_KEY_ID_LEN] = '\0';
	s->secret_access_key[AWSCREDS_SECRET_LEN] = '\0';
	s->issued_ms = now_ms;
	s->expires_ms = expires_ms;
	return 0;
}

int awscreds_account_init(struct awscreds_account *a, const struct tokens_key *key, const char *id,
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
	a->lifetime_ms = lifetime_s * 1000;
	a->margin_ms = reissue_margin_s * 1000;
	return 0;
}

void awscreds_account_release(struct awscreds_account *a)
{
	if (!a)
		return;
	OPENSSL_cleanse(&a->current, sizeof(a->current));
	a->has_current = 0;
	pthread_mutex_destroy(&a->lock);
}

/* Makes `fresh` the current set under a new generation. Caller holds the lock. */
static void install(struct awscreds_account *a, const struct awscreds_set *fresh)
{
	a->current = *fresh;
	a->has_current = 1;
	a->gen = atomic_fetch_add(&set_gens, 1) + 1;
	a->minted++;
}

int awscreds_account_answer(struct awscreds_account *a, int64_t now_ms, uint64_t have_gen,
                            struct awscreds_set *out, uint64_t *gen)
{
	struct awscreds_set fresh;
	int64_t margin_ms, remaining_ms;
	int ret = -1;

	pthread_mutex_lock(&a->lock);
	margin_ms = tokens_effective_margin_ms(a->lifetime_ms, a->margin_ms);
	remaining_ms = a->current.expires_ms - now_ms;
	/* "<=": a set handed out always has more than the margin left, so a
	 * new one is out at least the margin before the old one expires. */
	if (!a->has_current || remaining_ms <= margin_ms || remaining_ms <= 0) {
		/* mint wipes `fresh` when it fails. */
		if (mint(a, now_ms, &fresh) != 0)
			goto out_unlock;
		install(a, &fresh);
		OPENSSL_cleanse(&fresh, sizeof(fresh));
	}
	*gen = a->gen;
	a->served++;
	if (a->gen == have_gen) {
		ret = 1;
		goto out_unlock;
	}
	*out = a->current;
	ret = 0;
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return ret;
}

int awscreds_account_drop(struct awscreds_account *a, char token[TOKENS_MAX_LEN + 1])
{
	int had;

	pthread_mutex_lock(&a->lock);
	had = a->has_current;
	if (had && token)
		memcpy(token, a->current.token, TOKENS_MAX_LEN + 1);
	OPENSSL_cleanse(&a->current, sizeof(a->current));
	a->has_current = 0;
	pthread_mutex_unlock(&a->lock);
	return had;
}

int awscreds_account_rotate(struct awscreds_account *a, int64_t now_ms)
{
	struct awscreds_set fresh;
	int ret = -1;

	pthread_mutex_lock(&a->lock);
	if (mint(a, now_ms, &fresh) == 0) {
		install(a, &fresh);
		ret = 0;
	}
	pthread_mutex_unlock(&a->lock);
	OPENSSL_cleanse(&fresh, sizeof(fresh));
	return ret;
}

int awscreds_account_peek(struct awscreds_account *a, char key_id[AWSCREDS_KEY_ID_LEN + 1],
                          int64_t *issued_ms, int64_t *expires_ms)
{
	int had;

	pthread_mutex_lock(&a->lock);
	had = a->has_current;
	if (had) {
		memcpy(key_id, a->current.access_key_id, AWSCREDS_KEY_ID_LEN + 1);
		*issued_ms = a->current.issued_ms;
		*expires_ms = a->current.expires_ms;
	}
	pthread_mutex_unlock(&a->lock);
	return had;
}

void awscreds_account_reset(struct awscreds_account *a, int64_t lifetime_s, int64_t margin_s)
{
	pthread_mutex_lock(&a->lock);
	OPENSSL_cleanse(&a->current, sizeof(a->current));
	a->has_current = 0;
	a->minted = 0;
	a->served = 0;
	a->lifetime_ms = lifetime_s * 1000;
	a->margin_ms = margin_s * 1000;
	pthread_mutex_unlock(&a->lock);
}

int awscreds_mint(void *minter, int64_t now_ms, int64_t expires_ms, void *value)
{
	const struct tokens_minter *m = minter;
	struct awscreds_set *s = value;

	memcpy(s->access_key_id, "ASIA", 4);
	if (random_chars(s->access_key_id + 4, AWSCREDS_KEY_ID_LEN - 4, key_id_alphabet, 32) != 0 ||
	    random_chars(s->secret_access_key, AWSCREDS_SECRET_LEN, secret_alphabet, 64) != 0 ||
	    tokens_mint(m->key, m->account, now_ms, expires_ms, s->token, sizeof(s->token)) < 0) {
		OPENSSL_cleanse(s, sizeof(*s));
		return -1;
	}
	s->access_key_id[AWSCREDS_KEY_ID_LEN] = '\0';
	s->secret_access_key[AWSCREDS_SECRET_LEN] = '\0';
	s->issued_ms = now_ms;
	s->expires_ms = expires_ms;
	return 0;
}
