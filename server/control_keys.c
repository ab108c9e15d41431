/*
 * The control API's authorized keys (README.md, "Control API"):
 *
 *   GET  /metatoken/v1/accounts/<account>/keys   the account's key ids
 *   POST /metatoken/v1/accounts/<account>/keys   a new RSA-2048 key pair
 *
 * POST answers 201 with an authorized-key file in Yandex's format
 * (PROTOCOL.md §4): {"id", "service_account_id", "created_at",
 * "key_algorithm", "public_key", "private_key"}. The public key is
 * registered (authkeys.h) for POST /iam/v1/tokens; the private key is in
 * that answer only: never kept, never logged, wiped once sent.
 */
#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authkeys.h"
#include "control.h"
#include "iam.h"
#include "json.h"
#include "log.h"
#include "server.h"

#define NEW_KEY_BITS 2048
/* Room for the key file's text: printed into one buffer, never grown, so
 * that no copy of the private key is left behind in freed memory. */
#define KEY_FILE_MAX 16384

static void key_error(struct request *rq, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The control API's error shape: {"error": "..."}. */
static void key_error(struct request *rq, unsigned status, const char *fmt, ...)
{
	char msg[512];
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o && cJSON_AddStringToObject(o, "error", msg))
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s) {
		reply_static(rq, 500, CT_JSON, "{\"error\":\"out of memory\"}");
		return;
	}
	reply_owned(rq, status, CT_JSON, s, strlen(s));
}

/* The account the route's `*` names, or -1 after answering 404. */
static int key_account(struct request *rq)
{
	int account = server_find_account(rq->srv, rq->arg[0], rq->arg_len[0], 1);

	if (account < 0)
		key_error(rq, 404, "no service account %.*s",
		          (int)(rq->arg_len[0] > 128 ? 128 : rq->arg_len[0]), rq->arg[0]);
	return account;
}

struct list {
	struct server *srv;
	cJSON *arr;
};

static void list_one(void *arg, const struct authkeys_entry *e)
{
	struct list *l = arg;
	cJSON *o = cJSON_CreateObject();
	char when[IAM_TIME_SIZE], alg[32];

	if (!o || !cJSON_AddItemToArray(l->arr, o)) {
		cJSON_Delete(o);
		return;
	}
	iam_format_time(e->created_ms, when);
	snprintf(alg, sizeof(alg), "RSA_%d", e->bits);
	cJSON_AddStringToObject(o, "id", e->id);
	cJSON_AddStringToObject(o, "service_account_id", l->srv->cfg.accounts[e->account].id);
	cJSON_AddStringToObject(o, "created_at", when);
	cJSON_AddStringToObject(o, "key_algorithm", alg);
	cJSON_AddStringToObject(o, "source", e->configured ? "config" : "control");
}

void control_account_keys_get(struct request *rq)
{
	int account = key_account(rq);
	struct list l = { .srv = rq->srv };
	cJSON *o;
	char *s = NULL;

	if (account < 0)
		return;
	o = cJSON_CreateObject();
	l.arr = o ? cJSON_AddArrayToObject(o, "keys") : NULL;
	if (l.arr && authkeys_each(rq->srv->authkeys, (size_t)account, list_one, &l) >= 0)
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s) {
		reply_static(rq, 500, CT_JSON, "{\"error\":\"out of memory\"}");
		return;
	}
	reply_owned(rq, 200, CT_JSON, s, strlen(s));
}

/* key as PEM (the private key as PKCS#8 when private), malloc'd; in a
 * secure-heap buffer that is wiped when freed. NULL on failure. */
static char *pem_of(EVP_PKEY *key, int private)
{
	BIO *b = BIO_new(private ? BIO_s_secmem() : BIO_s_mem());
	BUF_MEM *mem = NULL;
	char *out = NULL;
	int ok;

	if (!b)
		return NULL;
	ok = private ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)
	             : PEM_write_bio_PUBKEY(b, key);
	if (ok == 1 && BIO_get_mem_ptr(b, &mem) == 1 && mem && (out = malloc(mem->length + 1))) {
		memcpy(out, mem->data, mem->length);
		out[mem->length] = '\0';
	}
	BIO_free(b);
	return out;
}

/* Frees a string that held key material. */
static void free_wiped(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* The authorized-key file's JSON text. The caller wipes and frees it. */
static char *key_file_json(const char *id, const char *account_id, int64_t created_ms,
                           const char *public_pem, const char *private_pem)
{
	cJSON *o = cJSON_CreateObject(), *priv = NULL;
	char when[IAM_TIME_SIZE];
	char *s = NULL;

	iam_format_time(created_ms, when);
	if (o && cJSON_AddStringToObject(o, "id", id) &&
	    cJSON_AddStringToObject(o, "service_account_id", account_id) &&
	    cJSON_AddStringToObject(o, "created_at", when) &&
	    cJSON_AddStringToObject(o, "key_algorithm", "RSA_2048") &&
	    cJSON_AddStringToObject(o, "public_key", public_pem) &&
	    (priv = cJSON_AddStringToObject(o, "private_key", private_pem)) &&
	    (s = malloc(KEY_FILE_MAX)) && !cJSON_PrintPreallocated(o, s, KEY_FILE_MAX, 1)) {
		OPENSSL_cleanse(s, KEY_FILE_MAX);
		free(s);
		s = NULL;
	}
	if (priv)
		OPENSSL_cleanse(priv->valuestring, strlen(priv->valuestring));
	cJSON_Delete(o);
	return s;
}

/* Refuses a body with anything in it but an empty object. Returns 0, or
 * -1 after answering 400. */
static int empty_body(struct request *rq)
{
	static const char *const known[] = { NULL };
	char err[512];
	struct json_reader jr = { .err = err, .errlen = sizeof(err) };
	cJSON *o;
	int bad;

	if (rq->req_body_len == 0)
		return 0;
	o = json_parse(&jr, rq->req_body, rq->req_body_len);
	bad = !o || json_check_keys(&jr, o, known) < 0;
	cJSON_Delete(o);
	if (bad)
		key_error(rq, 400, "%s", err);
	return bad ? -1 : 0;
}

void control_account_keys_post(struct request *rq)
{
	struct server *srv = rq->srv;
	int account = key_account(rq);
	int64_t now_ms = clock_now_ms(&srv->clock);
	char id[AUTHKEYS_NEW_ID_LEN + 1], why[256];
	char *public_pem = NULL, *private_pem = NULL, *body = NULL;
	EVP_PKEY *pair = NULL, *pub = NULL;
	const char *account_id;

	if (account < 0 || empty_body(rq) != 0)
		return;
	account_id = srv->cfg.accounts[account].id;
	if (authkeys_new_id(id) != 0 || !(pair = EVP_RSA_gen(NEW_KEY_BITS)) ||
	    !(public_pem = pem_of(pair, 0)) || !(private_pem = pem_of(pair, 1))) {
		key_error(rq, 500, "cannot generate an RSA key pair (OpenSSL failed)");
		goto out;
	}
	/* The registry gets the public half only, read back from its PEM. */
	pub = authkeys_parse_public_pem(public_pem, strlen(public_pem), why, sizeof(why));
	if (!pub || authkeys_add(srv->authkeys, id, (size_t)account, pub, now_ms, 0, why,
	                         sizeof(why)) != 0) {
		key_error(rq, 500, "cannot register the new key: %s", why);
		goto out;
	}
	body = key_file_json(id, account_id, now_ms, public_pem, private_pem);
	if (!body) {
		key_error(rq, 500, "out of memory");
		goto out;
	}
	reply_owned(rq, 201, CT_JSON, body, strlen(body));
	rq->secret = 1;
	log_msg(LOG_INFO, "control: %s: authorized key %s created", account_id, id);
out:
	free_wiped(private_pem);
	free(public_pem);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pair);
}
