/*
 * The configuration's sections besides the accounts: "project", "instance",
 * "yandex", "control" and "aws" (config_internal.h). A section present in a
 * document replaces the one already in struct config wholly.
 */
#include "config.h"
#include "config_internal.h"
#include "json.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define NUMERIC_ID_MAX 9007199254740991LL /* 2^53 - 1: exact as a JSON number */

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

/* Sets an absent string to a default value, so that loaded strings are never NULL. */
static int default_to(struct json_reader *r, char **s, const char *value)
{
	if (!*s && !(*s = strdup(value)))
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
	free(c->image_id);
	free_kvs(c->instance_attributes, c->n_instance_attributes);
	free_kvs(c->labels, c->n_labels);
	c->instance_id = c->instance_name = c->hostname = c->zone = c->image_id = NULL;
	c->instance_attributes = c->labels = NULL;
	c->n_instance_attributes = c->n_labels = 0;
}

static void release_yandex(struct config *c)
{
	free(c->folder_id);
	free(c->cloud_id);
	c->folder_id = c->cloud_id = NULL;
}

int config__parse_project(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = { "id", "numeric_id", "attributes", NULL };
	size_t mark = json_path_key(r, "project");
	int rc = -1;

	release_project(c);
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

int config__parse_instance(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = {
		"id", "name", "hostname", "zone", "image_id", "attributes", "labels", NULL,
	};
	size_t mark = json_path_key(r, "instance");
	int rc = -1;

	release_instance(c);
	if (json_check_keys(r, obj, keys) < 0 ||
	    json_dup_string(r, obj, "id", 0, 0, NULL, &c->instance_id) < 0 ||
	    json_dup_string(r, obj, "name", 0, 0, NULL, &c->instance_name) < 0 ||
	    json_dup_string(r, obj, "hostname", 0, 0, NULL, &c->hostname) < 0 ||
	    json_dup_string(r, obj, "zone", 0, 0, NULL, &c->zone) < 0 ||
	    json_dup_string(r, obj, "image_id", 0, 0, NULL, &c->image_id) < 0 ||
	    get_map(r, obj, "attributes", &c->instance_attributes, &c->n_instance_attributes) < 0 ||
	    get_map(r, obj, "labels", &c->labels, &c->n_labels) < 0)
		goto out;
	if (default_to(r, &c->instance_id, "") || default_to(r, &c->instance_name, "") ||
	    default_to(r, &c->hostname, "") || default_to(r, &c->zone, "") ||
	    default_to(r, &c->image_id, ""))
		goto out;
	rc = 0;
out:
	json_path_pop(r, mark);
	return rc;
}

int config__parse_yandex(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = { "folder_id", "cloud_id", NULL };
	size_t mark = json_path_key(r, "yandex");
	int rc = -1;

	release_yandex(c);
	if (json_check_keys(r, obj, keys) < 0 ||
	    json_dup_string(r, obj, "folder_id", 0, 0, NULL, &c->folder_id) < 0 ||
	    json_dup_string(r, obj, "cloud_id", 0, 0, NULL, &c->cloud_id) < 0 ||
	    default_to(r, &c->folder_id, "") || default_to(r, &c->cloud_id, ""))
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

int config__parse_control(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = { "enabled", "secret", "secret_file", NULL };
	size_t mark = json_path_key(r, "control");
	int rc = -1;

	release_control(c);
	if (json_check_keys(r, obj, keys) < 0 ||
	    json_get_bool(r, obj, "enabled", 0, &c->control_enabled) < 0 ||
	    json_dup_string(r, obj, "secret", JSON_NONEMPTY, 0, check_secret, &c->admin_secret) <
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

int config__parse_aws(struct json_reader *r, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = {
		"imdsv2_only", "instance_id", "hostname",        "local_ipv4", "availability_zone",
		"region",      "account_id",  "container_token", NULL,
	};
	size_t mark = json_path_key(r, "aws");
	int rc = -1;

	release_aws(c);
	if (json_check_keys(r, obj, keys) < 0 ||
	    json_get_bool(r, obj, "imdsv2_only", 0, &c->aws_imdsv2_only) < 0 ||
	    json_dup_string(r, obj, "instance_id", JSON_NONEMPTY, 0, check_instance_id,
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

void config__release_sections(struct config *c)
{
	release_project(c);
	release_instance(c);
	release_yandex(c);
	release_control(c);
	release_aws(c);
}
