/*
 * IMDSv2 session tokens: mint, verify, the per-thread memo of the last
 * token verified, and the key epochs. See aws_session.h.
 */
#include "aws_session.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "b64url.h"

#define SESSION_VERSION     1
#define SESSION_NONCE_LEN   16
#define SESSION_PAYLOAD_LEN (1 + 8 + SESSION_NONCE_LEN)
#define SESSION_RAW_LEN     (SESSION_PAYLOAD_LEN + 32)

_Static_assert(SESSION_RAW_LEN % 3 == 0, "session tokens have no base64 padding");
_Static_assert(SESSION_RAW_LEN / 3 * 4 == AWS_SESSION_TEXT_LEN, "76 chars encode 57 bytes");

/* Session keys, across all servers: a verdict reached under one is
 * remembered with its number, never 0. */
static _Atomic uint64_t key_epochs;

int aws_sessions_init(struct aws_sessions *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		snprintf(err, errlen, "cannot set up the AWS flavour (mutex)");
		return -1;
	}
	if (RAND_bytes(s->key, sizeof(s->key)) != 1) {
		snprintf(err, errlen, "cannot generate the IMDSv2 session key (OpenSSL failed)");
		pthread_mutex_destroy(&s->lock);
		return -1;
	}
	atomic_store(&s->epoch, atomic_fetch_add(&key_epochs, 1) + 1);
	return 0;
}

void aws_sessions_release(struct aws_sessions *s)
{
	OPENSSL_cleanse(s->key, sizeof(s->key));
	pthread_mutex_destroy(&s->lock);
}

int aws_sessions_rekey(struct aws_sessions *s)
{
	unsigned char key[AWS_SESSION_KEY_LEN];

	if (RAND_bytes(key, sizeof(key)) != 1)
		return -1;
	pthread_mutex_lock(&s->lock);
	memcpy(s->key, key, sizeof(key));
	atomic_store(&s->epoch, atomic_fetch_add(&key_epochs, 1) + 1);
	pthread_mutex_unlock(&s->lock);
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

/*
 * The last session token this thread verified, so that a client sending
 * the same token again (SDKs keep one for hours) costs a comparison instead
 * of a base64 decode and an HMAC. What it remembers, that the token's MAC
 * is right under key `epoch` and when the token expires, depends on nothing
 * but the token and the key; the expiry is still checked on every request.
 * A reset draws a new key under a new epoch, which forgets every memo.
 * Wiped when the thread exits.
 */
struct session_memo {
	const struct aws_sessions *owner; /* NULL: nothing remembered */
	uint64_t epoch;
	int64_t expires_ms;
	char token[AWS_SESSION_TEXT_LEN];
};

static __thread struct session_memo memo;
static pthread_key_t memo_key;
static pthread_once_t memo_once = PTHREAD_ONCE_INIT;
static int memo_usable;

static void memo_wipe(void *p)
{
	OPENSSL_cleanse(p, sizeof(struct session_memo));
}

static void memo_init_key(void)
{
	memo_usable = pthread_key_create(&memo_key, memo_wipe) == 0;
}

/* Remembers a verified token for this thread, if its memo can be wiped at
 * thread exit. */
static void memo_store(const struct aws_sessions *s, uint64_t epoch, const char *token,
                       int64_t expires_ms)
{
	pthread_once(&memo_once, memo_init_key);
	if (!memo_usable || pthread_setspecific(memo_key, &memo) != 0)
		return;
	memo.owner = s;
	memo.epoch = epoch;
	memo.expires_ms = expires_ms;
	memcpy(memo.token, token, AWS_SESSION_TEXT_LEN);
}

/* Decodes exactly AWS_SESSION_TEXT_LEN chars; returns -1 on any other input. */
static int decode_session(const char *in, size_t len, unsigned char out[SESSION_RAW_LEN])
{
	if (len != AWS_SESSION_TEXT_LEN ||
	    mtk__b64url_decode(in, len, out, SESSION_RAW_LEN) != SESSION_RAW_LEN)
		return -1;
	return 0;
}

/* Copies the session key, and its epoch into *epoch when non-NULL. */
static void session_key_copy(struct aws_sessions *s, unsigned char key[AWS_SESSION_KEY_LEN],
                             uint64_t *epoch)
{
	pthread_mutex_lock(&s->lock);
	memcpy(key, s->key, AWS_SESSION_KEY_LEN);
	if (epoch)
		*epoch = atomic_load(&s->epoch);
	pthread_mutex_unlock(&s->lock);
}

/* MACs a session payload under the current key, whose epoch goes into
 * *epoch when non-NULL. */
static int session_mac(struct aws_sessions *s, const unsigned char *payload, unsigned char mac[32],
                       uint64_t *epoch)
{
	unsigned char key[AWS_SESSION_KEY_LEN];
	unsigned int maclen = 0;
	int ok;

	session_key_copy(s, key, epoch);
	ok = HMAC(EVP_sha256(), key, AWS_SESSION_KEY_LEN, payload, SESSION_PAYLOAD_LEN, mac,
	          &maclen) != NULL &&
	     maclen == 32;
	OPENSSL_cleanse(key, sizeof(key));
	return ok ? 0 : -1;
}

int aws_session_mint(struct aws_sessions *s, int64_t expires_ms, char out[AWS_SESSION_TEXT_LEN + 1])
{
	unsigned char raw[SESSION_RAW_LEN];
	uint64_t e = (uint64_t)expires_ms;
	int rc = -1;

	raw[0] = SESSION_VERSION;
	for (int i = 8; i >= 1; i--, e >>= 8)
		raw[i] = (unsigned char)e;
	if (RAND_bytes(raw + 9, SESSION_NONCE_LEN) != 1 ||
	    session_mac(s, raw, raw + SESSION_PAYLOAD_LEN, NULL) != 0)
		goto out;
	mtk__b64url_encode(raw, SESSION_RAW_LEN, out);
	rc = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int aws_session_valid(struct aws_sessions *s, const char *token, int64_t now_ms)
{
	unsigned char raw[SESSION_RAW_LEN], mac[32];
	size_t len = strlen(token);
	uint64_t e = 0, epoch = 0;
	int ok = 0;

	/* The memo holds a live token: compare in constant time. */
	if (len == AWS_SESSION_TEXT_LEN && memo.owner == s &&
	    memo.epoch == atomic_load(&s->epoch) &&
	    CRYPTO_memcmp(memo.token, token, AWS_SESSION_TEXT_LEN) == 0)
		return memo.expires_ms > now_ms;
	if (decode_session(token, len, raw) != 0 || raw[0] != SESSION_VERSION)
		goto out;
	if (session_mac(s, raw, mac, &epoch) != 0 ||
	    CRYPTO_memcmp(mac, raw + SESSION_PAYLOAD_LEN, sizeof(mac)) != 0)
		goto out;
	for (int i = 1; i <= 8; i++)
		e = e << 8 | raw[i];
	memo_store(s, epoch, token, (int64_t)e);
	ok = (int64_t)e > now_ms;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}
