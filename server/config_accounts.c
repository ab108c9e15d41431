/*
 * The configuration's "service_accounts" (config_internal.h): each account's
 * fields, and what must hold across them: unique ids and emails, at most one
 * AWS role.
 */
#include "authkeys.h"
#include "config.h"
#include "config_internal.h"
#include "json.h"
#include "upstream_config.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define EMAIL_MAX_LEN 254
#define SECONDS_MAX   (10LL * 365 * 24 * 3600) /* keeps ms arithmetic far from overflow */

static const char *check_account_id(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > NAME_MAX_LEN ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "abcdefghijklmnopqrstuvwxyz"
	              "0123456789._-") != len)
		return "must be 1..128 characters of A-Z a-z 0-9 . _ -";
	return NULL;
}

/*
 * Emails become URL path segments (service-accounts/<email>/token), so they
 * are held to a conservative character set.
 */
static const char *check_email(const char *s)
{
	size_t len = strlen(s);
	const char *at = strchr(s, '@');

	if (strcmp(s, "default") == 0)
		return "must not be \"default\", which is reserved as an alias";
	if (len > EMAIL_MAX_LEN || !at || at == s || at[1] == '\0' || strchr(at + 1, '@') ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "abcdefghijklmnopqrstuvwxyz"
	              "0123456789._+-@") != len)
		return "must be name@domain using only A-Z a-z 0-9 . _ + -";
	return NULL;
}

/* IAM role names: what AWS allows ([\w+=,.@-]{1,64}); they become a URL
 * path segment of iam/security-credentials/. */
static const char *check_role(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > 64 ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "abcdefghijklmnopqrstuvwxyz"
	              "0123456789+=,.@_-") != len)
		return "must be 1..64 characters of A-Z a-z 0-9 + = , . @ _ -";
	return NULL;
}

static void release_account(struct config_account *a)
{
	for (size_t i = 0; i < a->n_authorized_keys; i++) {
		free(a->authorized_keys[i].id);
		free(a->authorized_keys[i].public_key);
		free(a->authorized_keys[i].public_key_file);
	}
	free(a->authorized_keys);
	free(a->id);
	free(a->email);
	free(a->aws_role);
	config_upstream_release(&a->upstream);
	for (size_t i = 0; i < a->n_scopes; i++)
		free(a->scopes[i]);
	free(a->scopes);
}

void config__release_accounts(struct config *c)
{
	for (size_t i = 0; i < c->n_accounts; i++)
		release_account(&c->accounts[i]);
	free(c->accounts);
	c->accounts = NULL;
	c->n_accounts = 0;
}

static int parse_scopes(struct json_reader *r, const cJSON *obj, struct config_account *a)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, "scopes");
	const cJSON *child;
	size_t mark = json_path_key(r, "scopes");
	size_t count;
	int rc = -1;

	if (!item) {
		a->scopes = calloc(1, sizeof(*a->scopes));
		if (!a->scopes || !(a->scopes[0] = strdup(DEFAULT_SCOPE))) {
			json_fail(r, NULL, "out of memory");
			goto out;
		}
		a->n_scopes = 1;
		rc = 0;
		goto out;
	}
	if (!cJSON_IsArray(item)) {
		json_fail(r, item, "must be an array of strings");
		goto out;
	}
	count = (size_t)cJSON_GetArraySize(item);
	if (count > 0 && !(a->scopes = calloc(count, sizeof(*a->scopes)))) {
		json_fail(r, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(child, item)
	{
		size_t imark = json_path_index(r, a->n_scopes);

		if (!cJSON_IsString(child) || child->valuestring[0] == '\0' ||
		    strchr(child->valuestring, ' ')) {
			json_fail(r, child, "must be a non-empty string without spaces");
			json_path_pop(r, imark);
			goto out;
		}
		json_path_pop(r, imark);
		if (!(a->scopes[a->n_scopes] = strdup(child->valuestring))) {
			json_fail(r, NULL, "out of memory");
			goto out;
		}
		a->n_scopes++;
	}
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

/*
 * "upstream" (upstream_config.c). An account whose tokens come from
 * upstream has no minting policy and no AWS role: a lifetime_s,
 * reissue_margin_s or aws_role beside it is refused, not ignored, so that
 * nobody believes it applies.
 */
static int parse_upstream(struct json_reader *r, const cJSON *obj, struct config_account *a)
{
	static const char *const minted_only[] = { "lifetime_s", "reissue_margin_s", "aws_role",
		                                   "aws_lifetime_s" };
	const cJSON *up = cJSON_GetObjectItemCaseSensitive(obj, "upstream");
	size_t mark;
	int rc;

	if (!up)
		return 0;
	for (size_t i = 0; i < sizeof(minted_only) / sizeof(minted_only[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, minted_only[i]);

		if (!v)
			continue;
		mark = json_path_key(r, minted_only[i]);
		json_fail(
		    r, v,
		    "does not apply to an account with an upstream (its tokens and their life "
		    "come from the upstream)");
		json_path_pop(r, mark);
		return -1;
	}
	mark = json_path_key(r, "upstream");
	rc = config_upstream_parse(r, up, &a->upstream);
	json_path_pop(r, mark);
	return rc;
}

/* One of "authorized_keys": an id and exactly one of public_key (an RSA
 * public key PEM, checked here) and public_key_file (read at start). */
static int parse_authkey(struct json_reader *r, const cJSON *obj, struct config_authkey *k)
{
	static const char *const keys[] = { "id", "public_key", "public_key_file", NULL };
	const cJSON *pem;
	EVP_PKEY *pub;
	char why[256];

	if (json_check_keys(r, obj, keys) < 0 ||
	    json_dup_string(r, obj, "id", JSON_REQUIRED, 0, check_account_id, &k->id) < 0 ||
	    json_dup_string(r, obj, "public_key", JSON_NONEMPTY, 0, NULL, &k->public_key) < 0 ||
	    json_dup_string(r, obj, "public_key_file", JSON_NONEMPTY, 0, NULL,
	                    &k->public_key_file) < 0)
		return -1;
	if (!k->public_key == !k->public_key_file)
		return json_fail(r, NULL, "give exactly one of public_key and public_key_file");
	if (!k->public_key)
		return 0;
	pem = cJSON_GetObjectItemCaseSensitive(obj, "public_key");
	pub = authkeys_parse_public_pem(k->public_key, strlen(k->public_key), why, sizeof(why));
	if (!pub) {
		size_t mark = json_path_key(r, "public_key");

		json_fail(r, pem, "%s", why);
		json_path_pop(r, mark);
		return -1;
	}
	EVP_PKEY_free(pub);
	return 0;
}

static int parse_authkeys(struct json_reader *r, const cJSON *obj, struct config_account *a)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, "authorized_keys");
	const cJSON *child;
	size_t mark = json_path_key(r, "authorized_keys");
	size_t count;
	int rc = -1;

	if (!item) {
		rc = 0;
		goto out;
	}
	if (!cJSON_IsArray(item)) {
		json_fail(r, item, "must be an array of {\"id\", \"public_key\"} objects");
		goto out;
	}
	count = (size_t)cJSON_GetArraySize(item);
	if (count > AUTHKEYS_MAX) {
		json_fail(r, NULL, "at most %d keys", AUTHKEYS_MAX);
		goto out;
	}
	if (count > 0 && !(a->authorized_keys = calloc(count, sizeof(*a->authorized_keys)))) {
		json_fail(r, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(child, item)
	{
		size_t imark = json_path_index(r, a->n_authorized_keys);
		int bad = parse_authkey(r, child, &a->authorized_keys[a->n_authorized_keys++]);

		json_path_pop(r, imark);
		if (bad)
			goto out;
	}
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

static int parse_account(struct json_reader *r, const cJSON *obj, struct config_account *a)
{
	static const char *const keys[] = {
		"id",       "email",          "scopes",          "lifetime_s", "reissue_margin_s",
		"aws_role", "aws_lifetime_s", "authorized_keys", "upstream",   NULL,
	};

	a->lifetime_s = CONFIG_DEFAULT_LIFETIME_S;
	a->reissue_margin_s = CONFIG_DEFAULT_MARGIN_S;
	a->aws_lifetime_s = CONFIG_DEFAULT_AWS_LIFETIME_S;
	if (json_check_keys(r, obj, keys) < 0 ||
	    json_dup_string(r, obj, "id", JSON_REQUIRED, 0, check_account_id, &a->id) < 0 ||
	    json_dup_string(r, obj, "email", JSON_REQUIRED, 0, check_email, &a->email) < 0 ||
	    parse_scopes(r, obj, a) < 0 ||
	    json_get_int(r, obj, "lifetime_s", 0, 1, SECONDS_MAX, &a->lifetime_s) < 0 ||
	    json_get_int(r, obj, "reissue_margin_s", 0, 0, SECONDS_MAX, &a->reissue_margin_s) < 0 ||
	    json_dup_string(r, obj, "aws_role", JSON_NONEMPTY, 0, check_role, &a->aws_role) < 0 ||
	    json_get_int(r, obj, "aws_lifetime_s", 0, 1, SECONDS_MAX, &a->aws_lifetime_s) < 0 ||
	    parse_authkeys(r, obj, a) < 0 || parse_upstream(r, obj, a) < 0)
		return -1;
	return 0;
}

/* An instance has one instance profile: at most one account carries a role. */
static int check_one_role(struct json_reader *r, const struct config *c)
{
	size_t first = c->n_accounts;

	for (size_t i = 0; i < c->n_accounts; i++) {
		size_t mark;
		cJSON shown;

		if (!c->accounts[i].aws_role)
			continue;
		if (first == c->n_accounts) {
			first = i;
			continue;
		}
		shown = json_string_item(c->accounts[i].aws_role);
		mark = json_path_index(r, i);
		json_path_key(r, "aws_role");
		json_fail(
		    r, &shown,
		    "service_accounts[%zu] already has the instance's role; only one account may "
		    "have aws_role",
		    first);
		json_path_pop(r, mark);
		return -1;
	}
	return 0;
}

/* Reports the first account whose id (or email) repeats an earlier one's. */
static int check_unique(struct json_reader *r, const struct config *c, const char *field)
{
	int is_id = strcmp(field, "id") == 0;
	struct json_name *refs = malloc(c->n_accounts * sizeof(*refs));
	size_t first = 0;
	size_t dup = 0;
	int rc = 0;

	if (!refs)
		return json_fail(r, NULL, "out of memory");
	for (size_t i = 0; i < c->n_accounts; i++) {
		refs[i].name = is_id ? c->accounts[i].id : c->accounts[i].email;
		refs[i].index = i;
	}
	if (json_first_repeat(refs, c->n_accounts, &first, &dup)) {
		cJSON shown =
		    json_string_item(is_id ? c->accounts[dup].id : c->accounts[dup].email);
		size_t mark = json_path_index(r, dup);

		json_path_key(r, field);
		rc = json_fail(r, &shown, "duplicates service_accounts[%zu].%s", first, field);
		json_path_pop(r, mark);
	}
	free(refs);
	return rc;
}

/* Reports the first authorized key whose id repeats an earlier one's, in
 * any account: a JWT's kid must name one key. */
static int check_unique_kids(struct json_reader *r, const struct config *c)
{
	for (size_t i = 0; i < c->n_accounts; i++) {
		for (size_t j = 0; j < c->accounts[i].n_authorized_keys; j++) {
			const char *id = c->accounts[i].authorized_keys[j].id;

			for (size_t p = 0; p <= i; p++) {
				size_t n = p == i ? j : c->accounts[p].n_authorized_keys;

				for (size_t q = 0; q < n; q++) {
					cJSON shown;
					size_t mark;

					if (strcmp(c->accounts[p].authorized_keys[q].id, id) != 0)
						continue;
					shown = json_string_item(id);
					mark = json_path_index(r, i);
					json_path_key(r, "authorized_keys");
					json_path_index(r, j);
					json_path_key(r, "id");
					json_fail(
					    r, &shown,
					    "duplicates service_accounts[%zu].authorized_keys[%zu]"
					    ".id (key ids are unique across accounts)",
					    p, q);
					json_path_pop(r, mark);
					return -1;
				}
			}
		}
	}
	return 0;
}

int config__parse_accounts(struct json_reader *r, const cJSON *arr, struct config *c)
{
	const cJSON *child;
	size_t mark = json_path_key(r, "service_accounts");
	size_t count;
	int rc = -1;

	config__release_accounts(c);
	if (!cJSON_IsArray(arr)) {
		json_fail(r, arr, "must be an array of accounts");
		goto out;
	}
	count = (size_t)cJSON_GetArraySize(arr);
	if (count == 0) {
		json_fail(r, arr, "must list at least one account");
		goto out;
	}
	c->accounts = calloc(count, sizeof(*c->accounts));
	if (!c->accounts) {
		json_fail(r, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(child, arr)
	{
		size_t imark = json_path_index(r, c->n_accounts);
		int bad;

		/* Counted before parsing, so a half-filled account is released too. */
		bad = parse_account(r, child, &c->accounts[c->n_accounts++]);
		json_path_pop(r, imark);
		if (bad)
			goto out;
	}
	if (check_unique(r, c, "id") || check_unique(r, c, "email") || check_one_role(r, c) ||
	    check_unique_kids(r, c))
		goto out;
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}
