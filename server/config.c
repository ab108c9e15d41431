/*
 * metatokend's configuration: the embedded default, a JSON file on top of it,
 * and strict validation with one-line messages that name the field.
 *
 * The file's size is checked here; json_parse() (json.c) checks the text
 * and the tree (NUL bytes, syntax, trailing text, nesting, duplicate keys,
 * control characters and UTF-8 in every key and string); what follows
 * checks the schema: known keys only, types, ranges, uniqueness.
 */
#include "config.h"
#include "json.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBEDDED_SOURCE "<embedded default>"
#define FILE_MAX_BYTES  (1024 * 1024)
#define NAME_MAX_LEN    128 /* account ids, attribute and label keys */
#define EMAIL_MAX_LEN   254
#define HOST_MAX_LEN    253
#define SECONDS_MAX     (10LL * 365 * 24 * 3600) /* keeps ms arithmetic far from overflow */
#define NUMERIC_ID_MAX  9007199254740991LL       /* 2^53 - 1: exact as a JSON number */
#define DEFAULT_SCOPE   "https://www.googleapis.com/auth/cloud-platform"
#define LISTEN_EXPECTED "expected host:port, [v6]:port or :port"

const char config_embedded_default[] =
    "{\n"
    "  \"listen\": \"127.0.0.1:8169\",\n"
    "  \"project\": {\n"
    "    \"id\": \"metatoken-local\",\n"
    "    \"numeric_id\": 123456789012,\n"
    "    \"attributes\": {\n"
    "      \"enable-oslogin\": \"FALSE\"\n"
    "    }\n"
    "  },\n"
    "  \"instance\": {\n"
    "    \"id\": \"fhm0metatoken0local01\",\n"
    "    \"name\": \"metatoken-local\",\n"
    "    \"hostname\": \"metatoken-local.ru-central1.internal\",\n"
    "    \"zone\": \"ru-central1-a\",\n"
    "    \"attributes\": {\n"
    "      \"serial-port-enable\": \"0\"\n"
    "    },\n"
    "    \"labels\": {\n"
    "      \"env\": \"local\",\n"
    "      \"managed-by\": \"metatoken\"\n"
    "    }\n"
    "  },\n"
    "  \"yandex\": {\n"
    "    \"folder_id\": \"b1gmetatokenfolder01\",\n"
    "    \"cloud_id\": \"b1gmetatokencloud001\"\n"
    "  },\n"
    "  \"aws\": {\n"
    "    \"imdsv2_only\": false,\n"
    "    \"instance_id\": \"i-0123456789abcdef0\",\n"
    "    \"hostname\": \"ip-10-0-0-1.ec2.internal\",\n"
    "    \"local_ipv4\": \"10.0.0.1\",\n"
    "    \"availability_zone\": \"us-east-1a\",\n"
    "    \"region\": \"us-east-1\",\n"
    "    \"account_id\": \"123456789012\"\n"
    "  },\n"
    "  \"service_accounts\": [\n"
    "    {\n"
    "      \"id\": \"ajemetatokendefault1\",\n"
    "      \"email\": \"default@metatoken-local.iam.gserviceaccount.com\",\n"
    "      \"scopes\": [\"" DEFAULT_SCOPE "\"],\n"
    "      \"lifetime_s\": 43200,\n"
    "      \"reissue_margin_s\": 300,\n"
    "      \"aws_role\": \"metatoken-role\",\n"
    "      \"aws_lifetime_s\": 21600\n"
    "    }\n"
    "  ]\n"
    "}\n";

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

static const char *check_instance_id(const char *s)
{
	size_t len = strlen(s);

	if (strncmp(s, "i-", 2) != 0 || (len != 10 && len != 19) ||
	    strspn(s + 2, "0123456789abcdef") != len - 2)
		return "must be \"i-\" and 8 or 17 lowercase hex digits";
	return NULL;
}

static const char *check_ipv4(const char *s)
{
	struct in_addr addr;

	return inet_pton(AF_INET, s, &addr) == 1 ? NULL : "must be a dotted IPv4 address";
}

static const char *check_aws_account(const char *s)
{
	return strlen(s) == 12 && strspn(s, "0123456789") == 12 ? NULL : "must be 12 digits";
}

/* Regions, zones and host names: what a URL path or a JSON string holds
 * without escaping. */
static const char *check_dns_label(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > HOST_MAX_LEN ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") != len)
		return "must be 1..253 characters of a-z 0-9 . -";
	return NULL;
}

/* Attribute and label keys become URL path segments too. */
static int map_key_valid(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= NAME_MAX_LEN && !strchr(s, '/');
}

/* Sets an absent optional string to "", so that loaded strings are never NULL. */
static int default_empty(struct json_reader *r, char **s)
{
	if (!*s && !(*s = strdup("")))
		return json_fail(r, NULL, "out of memory");
	return 0;
}

static void free_kvs(struct config_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/*
 * Reads obj.key, an object of string values, into *out / *n (which must be
 * empty). *n counts what is filled in so far, so a failure leaves nothing
 * that config_release() would miss.
 */
static int get_map(struct json_reader *r, const cJSON *obj, const char *key, struct config_kv **out,
                   size_t *n)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	const cJSON *child;
	size_t mark;
	size_t count;
	int rc = -1;

	if (!item)
		return 0;
	mark = json_path_key(r, key);
	if (!cJSON_IsObject(item)) {
		json_fail(r, item, "must be an object of strings");
		goto out;
	}
	count = (size_t)cJSON_GetArraySize(item);
	if (count > 0 && !(*out = calloc(count, sizeof(**out)))) {
		json_fail(r, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(child, item)
	{
		struct config_kv *kv = &(*out)[*n];
		size_t kmark;

		if (!map_key_valid(child->string)) {
			cJSON shown = json_string_item(child->string);

			json_fail(r, &shown, "key must be 1..128 characters without '/'");
			goto out;
		}
		kmark = json_path_key(r, child->string);
		if (!cJSON_IsString(child)) {
			json_fail(r, child, "must be a string");
			json_path_pop(r, kmark);
			goto out;
		}
		(*n)++;
		kv->key = strdup(child->string);
		kv->value = strdup(child->valuestring);
		if (!kv->key || !kv->value) {
			json_fail(r, NULL, "out of memory");
			json_path_pop(r, kmark);
			goto out;
		}
		json_path_pop(r, kmark);
	}
	rc = 1;
out:
	json_path_pop(r, mark);
	return rc;
}

/* ---- sections ---- */

static void release_project(struct config *c)
{
	free(c->project_id);
	free_kvs(c->project_attributes, c->n_project_attributes);
	c->project_id = NULL;
	c->numeric_project_id = 0;
	c->project_attributes = NULL;
	c->n_project_attributes = 0;
}

static void release_instance(struct config *c)
{
	free(c->instance_id);
	free(c->instance_name);
	free(c->hostname);
	free(c->zone);
	free_kvs(c->instance_attributes, c->n_instance_attributes);
	free_kvs(c->labels, c->n_labels);
	c->instance_id = c->instance_name = c->hostname = c->zone = NULL;
	c->instance_attributes = c->labels = NULL;
	c->n_instance_attributes = c->n_labels = 0;
}

static void release_yandex(struct config *c)
{
	free(c->folder_id);
	free(c->cloud_id);
	c->folder_id = c->cloud_id = NULL;
}

static void release_account(struct config_account *a)
{
	free(a->id);
	free(a->email);
	free(a->aws_role);
	for (size_t i = 0; i < a->n_scopes; i++)
		free(a->scopes[i]);
	free(a->scopes);
}

static void release_accounts(struct config *c)
{
	for (size_t i = 0; i < c->n_accounts; i++)
		release_account(&c->accounts[i]);
	free(c->accounts);
	c->accounts = NULL;
	c->n_accounts = 0;
}

static int parse_listen_field(struct json_reader *r, const cJSON *item, struct config *c)
{
	size_t mark = json_path_key(r, "listen");
	char why[128];
	char *host = NULL;
	uint16_t port = 0;
	int rc = -1;

	if (!cJSON_IsString(item)) {
		json_fail(r, item, "must be a string");
		goto out;
	}
	if (config_parse_listen(item->valuestring, &host, &port, why, sizeof(why))) {
		json_fail(r, item, "%s", why);
		goto out;
	}
	free(c->listen_host);
	c->listen_host = host;
	c->listen_port = port;
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

/* A section present in the document replaces the one already in *c wholly. */
static int parse_project(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = { "id", "numeric_id", "attributes", NULL };
	size_t mark = json_path_key(r, "project");
	int rc = -1;

	release_project(c);
	if (!cJSON_IsObject(obj)) {
		json_fail(r, obj, "must be an object");
		goto out;
	}
	if (json_check_keys(r, obj, keys) < 0 ||
	    json_dup_string(r, obj, "id", JSON_REQUIRED, 0, NULL, &c->project_id) < 0 ||
	    json_get_int(r, obj, "numeric_id", 0, 1, NUMERIC_ID_MAX, &c->numeric_project_id) < 0 ||
	    get_map(r, obj, "attributes", &c->project_attributes, &c->n_project_attributes) < 0)
		goto out;
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

static int parse_instance(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = {
		"id", "name", "hostname", "zone", "attributes", "labels", NULL,
	};
	size_t mark = json_path_key(r, "instance");
	int rc = -1;

	release_instance(c);
	if (!cJSON_IsObject(obj)) {
		json_fail(r, obj, "must be an object");
		goto out;
	}
	if (json_check_keys(r, obj, keys) < 0 ||
	    json_dup_string(r, obj, "id", 0, 0, NULL, &c->instance_id) < 0 ||
	    json_dup_string(r, obj, "name", 0, 0, NULL, &c->instance_name) < 0 ||
	    json_dup_string(r, obj, "hostname", 0, 0, NULL, &c->hostname) < 0 ||
	    json_dup_string(r, obj, "zone", 0, 0, NULL, &c->zone) < 0 ||
	    get_map(r, obj, "attributes", &c->instance_attributes, &c->n_instance_attributes) < 0 ||
	    get_map(r, obj, "labels", &c->labels, &c->n_labels) < 0)
		goto out;
	if (default_empty(r, &c->instance_id) || default_empty(r, &c->instance_name) ||
	    default_empty(r, &c->hostname) || default_empty(r, &c->zone))
		goto out;
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

static int parse_yandex(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = { "folder_id", "cloud_id", NULL };
	size_t mark = json_path_key(r, "yandex");
	int rc = -1;

	release_yandex(c);
	if (!cJSON_IsObject(obj)) {
		json_fail(r, obj, "must be an object");
		goto out;
	}
	if (json_check_keys(r, obj, keys) < 0 ||
	    json_dup_string(r, obj, "folder_id", 0, 0, NULL, &c->folder_id) < 0 ||
	    json_dup_string(r, obj, "cloud_id", 0, 0, NULL, &c->cloud_id) < 0 ||
	    default_empty(r, &c->folder_id) || default_empty(r, &c->cloud_id))
		goto out;
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
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

static int parse_account(struct json_reader *r, const cJSON *obj, struct config_account *a)
{
	static const char *const keys[] = {
		"id",       "email",          "scopes", "lifetime_s", "reissue_margin_s",
		"aws_role", "aws_lifetime_s", NULL,
	};

	if (!cJSON_IsObject(obj))
		return json_fail(r, obj, "must be an object");
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
	    json_get_int(r, obj, "aws_lifetime_s", 0, 1, SECONDS_MAX, &a->aws_lifetime_s) < 0)
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

static int parse_accounts(struct json_reader *r, const cJSON *arr, struct config *c)
{
	const cJSON *child;
	size_t mark = json_path_key(r, "service_accounts");
	size_t count;
	int rc = -1;

	release_accounts(c);
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
	if (check_unique(r, c, "id") || check_unique(r, c, "email") || check_one_role(r, c))
		goto out;
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

static void release_control(struct config *c)
{
	if (c->admin_secret)
		OPENSSL_cleanse(c->admin_secret, strlen(c->admin_secret));
	free(c->admin_secret);
	free(c->admin_secret_file);
	c->admin_secret = c->admin_secret_file = NULL;
	c->control_enabled = 1;
}

static const char *check_secret(const char *s)
{
	size_t len = strlen(s);

	if (len < 16 || len > 256)
		return "must be 16..256 characters";
	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f)
			return "must be printable ASCII with no spaces";
	return NULL;
}

static int parse_control(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = { "enabled", "secret", "secret_file", NULL };
	size_t mark = json_path_key(r, "control");
	const cJSON *enabled;
	int rc = -1;

	release_control(c);
	if (!cJSON_IsObject(obj)) {
		json_fail(r, obj, "must be an object");
		goto out;
	}
	if (json_check_keys(r, obj, keys) < 0)
		goto out;
	enabled = cJSON_GetObjectItemCaseSensitive(obj, "enabled");
	if (enabled) {
		size_t emark = json_path_key(r, "enabled");

		if (!cJSON_IsBool(enabled)) {
			json_fail(r, enabled, "must be true or false");
			json_path_pop(r, emark);
			goto out;
		}
		c->control_enabled = cJSON_IsTrue(enabled);
		json_path_pop(r, emark);
	}
	if (json_dup_string(r, obj, "secret", JSON_NONEMPTY, 0, check_secret, &c->admin_secret) <
	        0 ||
	    json_dup_string(r, obj, "secret_file", JSON_NONEMPTY, 0, NULL, &c->admin_secret_file) <
	        0)
		goto out;
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

static void release_aws(struct config *c)
{
	free(c->aws_instance_id);
	free(c->aws_hostname);
	free(c->aws_local_ipv4);
	free(c->aws_availability_zone);
	free(c->aws_region);
	free(c->aws_account_id);
	if (c->aws_container_token)
		OPENSSL_cleanse(c->aws_container_token, strlen(c->aws_container_token));
	free(c->aws_container_token);
	c->aws_instance_id = c->aws_hostname = c->aws_local_ipv4 = NULL;
	c->aws_availability_zone = c->aws_region = c->aws_account_id = NULL;
	c->aws_container_token = NULL;
	c->aws_imdsv2_only = 0;
}

/* Sets an absent string to a default value. */
static int default_to(struct json_reader *r, char **s, const char *value)
{
	if (!*s && !(*s = strdup(value)))
		return json_fail(r, NULL, "out of memory");
	return 0;
}

static int parse_aws(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = {
		"imdsv2_only", "instance_id", "hostname",        "local_ipv4", "availability_zone",
		"region",      "account_id",  "container_token", NULL,
	};
	size_t mark = json_path_key(r, "aws");
	const cJSON *v2;
	int rc = -1;

	release_aws(c);
	if (!cJSON_IsObject(obj)) {
		json_fail(r, obj, "must be an object");
		goto out;
	}
	if (json_check_keys(r, obj, keys) < 0)
		goto out;
	v2 = cJSON_GetObjectItemCaseSensitive(obj, "imdsv2_only");
	if (v2) {
		size_t vmark = json_path_key(r, "imdsv2_only");

		if (!cJSON_IsBool(v2)) {
			json_fail(r, v2, "must be true or false");
			json_path_pop(r, vmark);
			goto out;
		}
		c->aws_imdsv2_only = cJSON_IsTrue(v2);
		json_path_pop(r, vmark);
	}
	if (json_dup_string(r, obj, "instance_id", JSON_NONEMPTY, 0, check_instance_id,
	                    &c->aws_instance_id) < 0 ||
	    json_dup_string(r, obj, "hostname", JSON_NONEMPTY, 0, check_dns_label,
	                    &c->aws_hostname) < 0 ||
	    json_dup_string(r, obj, "local_ipv4", JSON_NONEMPTY, 0, check_ipv4,
	                    &c->aws_local_ipv4) < 0 ||
	    json_dup_string(r, obj, "availability_zone", JSON_NONEMPTY, 0, check_dns_label,
	                    &c->aws_availability_zone) < 0 ||
	    json_dup_string(r, obj, "region", JSON_NONEMPTY, 0, check_dns_label, &c->aws_region) <
	        0 ||
	    json_dup_string(r, obj, "account_id", JSON_NONEMPTY, 0, check_aws_account,
	                    &c->aws_account_id) < 0 ||
	    json_dup_string(r, obj, "container_token", JSON_NONEMPTY, 0, check_secret,
	                    &c->aws_container_token) < 0)
		goto out;
	if (default_to(r, &c->aws_instance_id, "i-0123456789abcdef0") ||
	    default_to(r, &c->aws_hostname, "ip-10-0-0-1.ec2.internal") ||
	    default_to(r, &c->aws_local_ipv4, "10.0.0.1") ||
	    default_to(r, &c->aws_availability_zone, "us-east-1a") ||
	    default_to(r, &c->aws_region, "us-east-1") ||
	    default_to(r, &c->aws_account_id, "123456789012"))
		goto out;
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

static int parse_root(struct json_reader *r, const cJSON *root, struct config *c)
{
	static const char *const keys[] = {
		"listen",           "signing_key", "project", "instance", "yandex",
		"service_accounts", "control",     "aws",     NULL,
	};
	const cJSON *item;

	if (!cJSON_IsObject(root))
		return json_fail(r, root, "the top-level value must be a JSON object");
	if (json_check_keys(r, root, keys))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "listen")) &&
	    parse_listen_field(r, item, c))
		return -1;
	if (json_dup_string(r, root, "signing_key", JSON_NONEMPTY, 0, NULL, &c->signing_key_path) <
	    0)
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "project")) && parse_project(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "instance")) &&
	    parse_instance(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "yandex")) && parse_yandex(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "service_accounts")) &&
	    parse_accounts(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "control")) && parse_control(r, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "aws")) && parse_aws(r, item, c))
		return -1;
	return 0;
}

/*
 * Parses one document (text[len] must be '\0') on top of what *c holds. On
 * failure *c may be half-updated; the caller releases it.
 */
static int parse_document(struct config *c, const char *text, size_t len, const char *source,
                          char *err, size_t errlen)
{
	static const char *const multiline[] = { "attributes", NULL };
	struct json_reader r = {
		.source = source, .err = err, .errlen = errlen, .multiline_keys = multiline
	};
	cJSON *root;
	size_t i;
	int rc;

	if (len > FILE_MAX_BYTES)
		return json_fail(&r, NULL, "file is larger than the 1 MiB limit");
	for (i = 0; i < len && memchr(" \t\n\r", text[i], 4); i++)
		;
	if (i == len)
		return json_fail(&r, NULL, "file is empty; expected a JSON object");
	root = json_parse(&r, text, len);
	if (!root)
		return -1;
	rc = parse_root(&r, root, c);
	cJSON_Delete(root);
	return rc;
}

/*
 * The default, then (if text is non-NULL) the document on top. *out is
 * written only on success; the caller has zeroed it.
 */
static int load(const char *text, size_t len, const char *source, struct config *out, char *err,
                size_t errlen)
{
	struct config c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	c.control_enabled = 1;
	if (parse_document(&c, config_embedded_default, strlen(config_embedded_default),
	                   EMBEDDED_SOURCE, err, errlen))
		goto out;
	if (text && parse_document(&c, text, len, source, err, errlen))
		goto out;
	c.source = strdup(text ? source : EMBEDDED_SOURCE);
	if (!c.source) {
		struct json_reader r = { .source = text ? source : EMBEDDED_SOURCE,
			                 .err = err,
			                 .errlen = errlen };

		json_fail(&r, NULL, "out of memory");
		goto out;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	rc = 0;
out:
	config_release(&c);
	return rc;
}

/*
 * Reads at most FILE_MAX_BYTES + 1 bytes (one more than allowed, so that the
 * parser can tell an oversized file) into a NUL-terminated buffer.
 */
static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	struct json_reader r = { .source = path, .err = err, .errlen = errlen };
	size_t cap = 64 * 1024;
	size_t n = 0;
	char *buf = NULL;
	FILE *f;
	int rc = -1;

	f = fopen(path, "rb");
	if (!f)
		return json_fail(&r, NULL, "cannot read: %s", strerror(errno));
	for (;;) {
		size_t got;

		if (!buf || n == cap) {
			char *bigger;

			if (buf)
				cap = cap * 2 > FILE_MAX_BYTES + 1 ? FILE_MAX_BYTES + 1 : cap * 2;
			bigger = realloc(buf, cap + 1);
			if (!bigger) {
				json_fail(&r, NULL, "out of memory");
				goto out;
			}
			buf = bigger;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0 || n > FILE_MAX_BYTES)
			break;
	}
	if (ferror(f)) {
		json_fail(&r, NULL, "cannot read: %s", strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

int config_load(const char *path, struct config *out, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!path)
		return load(NULL, 0, NULL, out, err, errlen);
	if (read_file(path, &text, &len, err, errlen))
		return -1;
	rc = load(text, len, path, out, err, errlen);
	free(text);
	return rc;
}

int config_parse(const char *json, size_t len, const char *source, struct config *out, char *err,
                 size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!source)
		source = "<config>";
	if (len > FILE_MAX_BYTES + 1)
		len = FILE_MAX_BYTES + 1; /* enough to report the size */
	return load(json ? json : "", len, source, out, err, errlen);
}

/* ---- listen ---- */

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t len = strlen(s);

	if (len < 1 || len > 5 || strspn(s, "0123456789") != len)
		return -1;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int config_parse_listen(const char *text, char **host, uint16_t *port, char *err, size_t errlen)
{
	const char *why = NULL;
	const char *port_text;
	char *name = NULL;
	uint16_t number = 0;
	size_t name_len;

	if (!text || !*text) {
		why = "is empty; " LISTEN_EXPECTED;
		goto out;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		struct in6_addr addr;

		if (!close) {
			why = "missing ']' after the IPv6 address";
			goto out;
		}
		if (close[1] != ':') {
			why = "expected ':' and a port after ']'";
			goto out;
		}
		name_len = (size_t)(close - text - 1);
		if (!(name = strndup(text + 1, name_len))) {
			why = "out of memory";
			goto out;
		}
		if (inet_pton(AF_INET6, name, &addr) != 1) {
			why = "not an IPv6 address inside [ ]";
			goto out;
		}
		port_text = close + 2;
	} else {
		const char *colon = strrchr(text, ':');

		if (!colon) {
			why = "missing port; " LISTEN_EXPECTED;
			goto out;
		}
		name_len = (size_t)(colon - text);
		if (memchr(text, ':', name_len)) {
			why = "IPv6 addresses need brackets, e.g. [::1]:8169";
			goto out;
		}
		if (name_len > HOST_MAX_LEN ||
		    strspn(text,
		           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") <
		        name_len) {
			why = "host must be a name or an IPv4 address";
			goto out;
		}
		name = name_len > 0 ? strndup(text, name_len) : strdup(CONFIG_DEFAULT_LISTEN_HOST);
		if (!name) {
			why = "out of memory";
			goto out;
		}
		port_text = colon + 1;
	}
	if (!*port_text) {
		why = "missing port; " LISTEN_EXPECTED;
		goto out;
	}
	if (parse_port(port_text, &number)) {
		why = "port must be a number 0..65535";
		goto out;
	}
	*host = name;
	*port = number;
	return 0;
out:
	free(name);
	if (err && errlen > 0)
		snprintf(err, errlen, "%s", why);
	return -1;
}

void config_release(struct config *c)
{
	if (!c)
		return;
	free(c->source);
	free(c->listen_host);
	free(c->signing_key_path);
	release_project(c);
	release_instance(c);
	release_yandex(c);
	release_accounts(c);
	release_control(c);
	release_aws(c);
	memset(c, 0, sizeof(*c));
}
