/*
 * Unit tests for server/config.c: the embedded default, layering a file on
 * top of it, every kind of error message (verbatim), and listen parsing.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ERRLEN 512

/* Writes len bytes into a fresh file under /tmp; returns its malloc'd path. */
static char *write_temp(const char *content, size_t len)
{
	char tmpl[] = "/tmp/test_config_XXXXXX";
	int fd = mkstemp(tmpl);

	cr_assert(fd >= 0, "mkstemp failed");
	cr_assert_eq(write(fd, content, len), (ssize_t)len);
	close(fd);
	return strdup(tmpl);
}

static int is_zeroed(const struct config *c)
{
	static const struct config zero;

	return memcmp(c, &zero, sizeof(zero)) == 0;
}

/* Parses json as "cfg.json" and expects exactly `expected` as the message. */
static void expect_error(const char *json, const char *expected)
{
	struct config c;
	char err[ERRLEN] = "";

	memset(&c, 0xA5, sizeof(c)); /* garbage in: must come out zeroed */
	cr_assert_eq(config_parse(json, strlen(json), "cfg.json", &c, err, sizeof(err)), -1,
	             "accepted: %s", json);
	cr_assert_str_eq(err, expected);
	cr_assert(is_zeroed(&c), "*out not zeroed after failure");
	config_release(&c);
}

/* Parses json as "cfg.json" and expects success. */
static void expect_ok(const char *json, struct config *c)
{
	char err[ERRLEN] = "";

	cr_assert_eq(config_parse(json, strlen(json), "cfg.json", c, err, sizeof(err)), 0,
	             "rejected: %s", err);
}

static const char *kv_get(const struct config_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	}
	return NULL;
}

static void assert_default_sections(const struct config *c)
{
	cr_assert_str_eq(c->listen_host, "127.0.0.1");
	cr_assert_eq(c->listen_port, 8169);
	cr_assert_null(c->signing_key_path);
	cr_assert_str_eq(c->project_id, "metatoken-local");
	cr_assert_eq(c->numeric_project_id, 123456789012LL);
	cr_assert_geq(c->n_project_attributes, 1);
	cr_assert_str_eq(c->instance_id, "fhm0metatoken0local01");
	cr_assert_str_eq(c->instance_name, "metatoken-local");
	cr_assert_str_eq(c->hostname, "metatoken-local.ru-central1.internal");
	cr_assert_str_eq(c->zone, "ru-central1-a");
	cr_assert_geq(c->n_instance_attributes, 1);
	cr_assert_geq(c->n_labels, 1);
	cr_assert_str_eq(kv_get(c->labels, c->n_labels, "env"), "local");
	cr_assert_str_eq(c->folder_id, "b1gmetatokenfolder01");
	cr_assert_str_eq(c->cloud_id, "b1gmetatokencloud001");
}

/* ---- success ---- */

Test(config, embedded_default_has_documented_values)
{
	struct config c;
	char err[ERRLEN] = "";

	cr_assert_eq(config_load(NULL, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.source, "<embedded default>");
	assert_default_sections(&c);
	cr_assert_eq(c.n_accounts, 1);
	cr_assert_str_eq(c.accounts[0].id, "ajemetatokendefault1");
	cr_assert_str_eq(c.accounts[0].email, "default@metatoken-local.iam.gserviceaccount.com");
	cr_assert_eq(c.accounts[0].n_scopes, 1);
	cr_assert_str_eq(c.accounts[0].scopes[0], "https://www.googleapis.com/auth/cloud-platform");
	cr_assert_eq(c.accounts[0].lifetime_s, 43200);
	cr_assert_eq(c.accounts[0].reissue_margin_s, 300);
	config_release(&c);
	cr_assert(is_zeroed(&c));
}

Test(config, embedded_default_text_passes_the_parser)
{
	struct config c;

	expect_ok(config_embedded_default, &c);
	cr_assert_str_eq(c.source, "cfg.json");
	assert_default_sections(&c);
	config_release(&c);
}

Test(config, full_file_sets_every_field)
{
	static const char json[] =
	    "{\n"
	    "  \"listen\": \"[::1]:0\",\n"
	    "  \"signing_key\": \"certs/key.pem\",\n"
	    "  \"project\": {\"id\": \"my-proj\", \"numeric_id\": 42,\n"
	    "              \"attributes\": {\"a\": \"1\", \"b\": \"\"}},\n"
	    "  \"instance\": {\"id\": \"4567\", \"name\": \"vm\", \"hostname\": \"vm.internal\",\n"
	    "               \"zone\": \"us-central1-b\", \"attributes\": {\"x\": \"y\"},\n"
	    "               \"labels\": {\"team\": \"infra\", \"tier\": \"dev\"}},\n"
	    "  \"yandex\": {\"folder_id\": \"b1gfolder\", \"cloud_id\": \"b1gcloud\"},\n"
	    "  \"service_accounts\": [\n"
	    "    {\"id\": \"sa-1\", \"email\": \"one@my-proj.iam.gserviceaccount.com\",\n"
	    "     \"scopes\": [\"s1\", \"s2\"], \"lifetime_s\": 3600, \"reissue_margin_s\": 0},\n"
	    "    {\"id\": \"sa.2_B\", \"email\": \"two+x@my-proj.iam.gserviceaccount.com\",\n"
	    "     \"scopes\": []}\n"
	    "  ]\n"
	    "}\n";
	char *path = write_temp(json, strlen(json));
	struct config c;
	char err[ERRLEN] = "";

	cr_assert_eq(config_load(path, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.source, path);
	cr_assert_str_eq(c.listen_host, "::1");
	cr_assert_eq(c.listen_port, 0);
	cr_assert_str_eq(c.signing_key_path, "certs/key.pem");
	cr_assert_str_eq(c.project_id, "my-proj");
	cr_assert_eq(c.numeric_project_id, 42);
	cr_assert_eq(c.n_project_attributes, 2);
	cr_assert_str_eq(kv_get(c.project_attributes, 2, "a"), "1");
	cr_assert_str_eq(kv_get(c.project_attributes, 2, "b"), "");
	cr_assert_str_eq(c.instance_id, "4567");
	cr_assert_str_eq(c.instance_name, "vm");
	cr_assert_str_eq(c.hostname, "vm.internal");
	cr_assert_str_eq(c.zone, "us-central1-b");
	cr_assert_eq(c.n_instance_attributes, 1);
	cr_assert_str_eq(kv_get(c.instance_attributes, 1, "x"), "y");
	cr_assert_eq(c.n_labels, 2);
	cr_assert_str_eq(kv_get(c.labels, 2, "tier"), "dev");
	cr_assert_str_eq(c.folder_id, "b1gfolder");
	cr_assert_str_eq(c.cloud_id, "b1gcloud");
	cr_assert_eq(c.n_accounts, 2);
	cr_assert_str_eq(c.accounts[0].id, "sa-1");
	cr_assert_str_eq(c.accounts[0].email, "one@my-proj.iam.gserviceaccount.com");
	cr_assert_eq(c.accounts[0].n_scopes, 2);
	cr_assert_str_eq(c.accounts[0].scopes[1], "s2");
	cr_assert_eq(c.accounts[0].lifetime_s, 3600);
	cr_assert_eq(c.accounts[0].reissue_margin_s, 0);
	cr_assert_str_eq(c.accounts[1].id, "sa.2_B");
	cr_assert_eq(c.accounts[1].n_scopes, 0);
	cr_assert_eq(c.accounts[1].lifetime_s, 43200);
	cr_assert_eq(c.accounts[1].reissue_margin_s, 300);
	config_release(&c);
	unlink(path);
	free(path);
}

Test(config, partial_file_keeps_default_sections)
{
	struct config c;

	expect_ok("{\"service_accounts\": [{\"id\": \"x\", \"email\": \"x@y\"}]}", &c);
	assert_default_sections(&c);
	cr_assert_eq(c.n_accounts, 1);
	cr_assert_str_eq(c.accounts[0].id, "x");
	cr_assert_eq(c.accounts[0].n_scopes, 1);
	cr_assert_str_eq(c.accounts[0].scopes[0], "https://www.googleapis.com/auth/cloud-platform");
	cr_assert_eq(c.accounts[0].lifetime_s, 43200);
	cr_assert_eq(c.accounts[0].reissue_margin_s, 300);
	config_release(&c);
}

Test(config, present_section_replaces_default_wholly)
{
	struct config c;

	expect_ok("{\"project\": {\"id\": \"p2\"}, \"instance\": {}, \"yandex\": {},"
	          " \"listen\": \":9000\"}",
	          &c);
	cr_assert_str_eq(c.project_id, "p2");
	cr_assert_eq(c.numeric_project_id, 0);
	cr_assert_eq(c.n_project_attributes, 0);
	cr_assert_str_eq(c.instance_id, "");
	cr_assert_str_eq(c.instance_name, "");
	cr_assert_str_eq(c.hostname, "");
	cr_assert_str_eq(c.zone, "");
	cr_assert_eq(c.n_instance_attributes, 0);
	cr_assert_eq(c.n_labels, 0);
	cr_assert_str_eq(c.folder_id, "");
	cr_assert_str_eq(c.cloud_id, "");
	cr_assert_str_eq(c.listen_host, "127.0.0.1");
	cr_assert_eq(c.listen_port, 9000);
	cr_assert_eq(c.n_accounts, 1);
	cr_assert_str_eq(c.accounts[0].id, "ajemetatokendefault1");
	config_release(&c);
}

Test(config, empty_object_is_the_default)
{
	struct config c;

	expect_ok(" {}\n", &c);
	assert_default_sections(&c);
	cr_assert_eq(c.n_accounts, 1);
	config_release(&c);
}

Test(config, release_is_safe_on_null_zeroed_and_twice)
{
	struct config c;

	memset(&c, 0, sizeof(c));
	config_release(NULL);
	config_release(&c);
	cr_assert_eq(config_load(NULL, &c, NULL, 0), 0);
	config_release(&c);
	config_release(&c);
	cr_assert(is_zeroed(&c));
}

/* ---- errors: syntax ---- */

Test(config, syntax_error_names_line_and_column)
{
	expect_error("{\n  \"listen\": \":1\"\n  \"yandex\": {}\n}", "cfg.json:3:3: invalid JSON");
	expect_error("{\n\t\"a\": [1, 2,]\n}", "cfg.json:2:13: invalid JSON");
	expect_error("{\"project\": {\"id\": \"x\"}",
	             "cfg.json:1:24: invalid JSON: unexpected end of file");
	expect_error("{\"a\": \"abc", "cfg.json:1:8: invalid JSON");
}

Test(config, text_after_the_value_is_an_error)
{
	expect_error("{}\n\n  x",
	             "cfg.json:3:3: invalid JSON: unexpected text after the top-level value");
}

Test(config, nul_escape_is_an_error)
{
	expect_error("{\"instance\": {\"name\": \"a\\u0000b\"}}",
	             "cfg.json:1:25: \\u0000 is not allowed in strings");
}

Test(config, control_character_between_tokens_is_an_error)
{
	expect_error("{\n  \"listen\":\v\":1\"}",
	             "cfg.json:2:12: invalid JSON: control character outside a string");
}

Test(config, top_level_must_be_an_object)
{
	expect_error("[1, 2]", "cfg.json: the top-level value must be a JSON object (got [1,2])");
	expect_error("\"x\"", "cfg.json: the top-level value must be a JSON object (got \"x\")");
}

Test(config, duplicate_key_is_an_error)
{
	expect_error("{\"instance\": {\"name\": \"a\", \"zone\": \"z\", \"name\": \"b\"}}",
	             "cfg.json: instance.name: duplicate key");
	expect_error("{\"listen\": \":1\", \"listen\": \":2\"}", "cfg.json: listen: duplicate key");
}

Test(config, control_character_in_a_string_is_an_error)
{
	expect_error(
	    "{\"instance\": {\"name\": \"a\\u0001b\"}}",
	    "cfg.json: instance.name: must not contain control characters (got \"a\\u0001b\")");
	/* A raw tab, which cJSON itself lets through, outside attributes. */
	expect_error(
	    "{\"instance\": {\"hostname\": \"a\tb\"}}",
	    "cfg.json: instance.hostname: must not contain control characters (got \"a\\tb\")");
	/* Attributes may span lines, but other control characters stay out. */
	expect_error(
	    "{\"project\": {\"id\": \"p\", \"attributes\": {\"k\": \"a\\u0001b\"}}}",
	    "cfg.json: project.attributes.k: must not contain control characters (got \"a\\u0001b\")");
	expect_error(
	    "{\"instance\": {\"na\\nme\": \"x\"}}",
	    "cfg.json: instance: key must not contain control characters (got \"na\\nme\")");
}

Test(config, attribute_values_may_span_lines)
{
	static const char json[] =
	    "{\"instance\": {\"id\": \"1\", \"attributes\": "
	    "{\"user-data\": \"#cloud-config\\nruncmd:\\n\\t- true\\r\\n\"}}}";
	struct config c;
	char err[256];

	cr_assert_eq(config_parse(json, strlen(json), "cfg.json", &c, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(c.n_instance_attributes, 1);
	cr_assert_str_eq(c.instance_attributes[0].value, "#cloud-config\nruncmd:\n\t- true\r\n");
	config_release(&c);
}

Test(config, invalid_utf8_is_an_error)
{
	expect_error("{\"instance\": {\"zone\": \"\xC3\x28\"}}",
	             "cfg.json: instance.zone: must be valid UTF-8 (got \"\xC3(\")");
}

/* ---- errors: schema ---- */

Test(config, unknown_key_is_an_error)
{
	expect_error("{\"instance\": {\"nmae\": \"x\"}}", "cfg.json: instance.nmae: unknown key");
	expect_error(
	    "{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b\", \"lifetime\": 1}]}",
	    "cfg.json: service_accounts[0].lifetime: unknown key");
	expect_error("{\"Listen\": \":1\"}", "cfg.json: Listen: unknown key");
}

Test(config, long_key_is_shortened_in_the_path)
{
	expect_error("{\"instance\": {\"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ\": 1}}",
	             "cfg.json: instance.abcdefghijklmnopqrstuvwxyz0123456789A...: unknown key");
}

Test(config, wrong_type_is_an_error)
{
	expect_error("{\"instance\": {\"name\": 5}}",
	             "cfg.json: instance.name: must be a string (got 5)");
	expect_error("{\"project\": []}", "cfg.json: project: must be an object (got [])");
	expect_error("{\"service_accounts\": {}}",
	             "cfg.json: service_accounts: must be an array of accounts (got {})");
	expect_error("{\"service_accounts\": [\"a@b\"]}",
	             "cfg.json: service_accounts[0]: must be an object (got \"a@b\")");
	expect_error("{\"instance\": {\"labels\": {\"k\": true}}}",
	             "cfg.json: instance.labels.k: must be a string (got true)");
	expect_error("{\"instance\": {\"labels\": [\"k\"]}}",
	             "cfg.json: instance.labels: must be an object of strings (got [\"k\"])");
	expect_error("{\"listen\": 8169}", "cfg.json: listen: must be a string (got 8169)");
}

Test(config, long_value_is_truncated_in_the_message)
{
	expect_error(
	    "{\"instance\": {\"name\": [\"aaaaaaaaaa\", \"bbbbbbbbbb\", \"cccccccccc\", \"d\"]}}",
	    "cfg.json: instance.name: must be a string (got [\"aaaaaaaaaa\",\"bbbbbbbbbb\",\"ccccccccc...)");
}

Test(config, non_integer_is_an_error)
{
	expect_error(
	    "{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b\"},"
	    " {\"id\": \"b\", \"email\": \"b@b\", \"lifetime_s\": \"ten\"}]}",
	    "cfg.json: service_accounts[1].lifetime_s: must be a positive integer (got \"ten\")");
	expect_error(
	    "{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b\", \"lifetime_s\": 1.5}]}",
	    "cfg.json: service_accounts[0].lifetime_s: must be a positive integer (got 1.5)");
	expect_error("{\"project\": {\"id\": \"p\", \"numeric_id\": 1e300}}",
	             "cfg.json: project.numeric_id: must be a positive integer (got 1e+300)");
	expect_error(
	    "{\"project\": {\"id\": \"p\", \"numeric_id\": 1e999}}",
	    "cfg.json: project.numeric_id: must be a positive integer (got a number out of range)");
}

Test(config, negative_is_an_error)
{
	expect_error(
	    "{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b\", \"reissue_margin_s\": -1}]}",
	    "cfg.json: service_accounts[0].reissue_margin_s: must be a non-negative integer (got -1)");
	expect_error("{\"project\": {\"id\": \"p\", \"numeric_id\": -7}}",
	             "cfg.json: project.numeric_id: must be a positive integer (got -7)");
}

Test(config, zero_lifetime_is_an_error)
{
	expect_error(
	    "{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b\", \"lifetime_s\": 0}]}",
	    "cfg.json: service_accounts[0].lifetime_s: must be a positive integer (got 0)");
}

Test(config, too_large_integer_is_an_error)
{
	expect_error(
	    "{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b\", \"lifetime_s\": 315360001}]}",
	    "cfg.json: service_accounts[0].lifetime_s: must be at most 315360000 (got 315360001)");
	expect_error(
	    "{\"project\": {\"id\": \"p\", \"numeric_id\": 9007199254740993}}",
	    "cfg.json: project.numeric_id: must be at most 9007199254740991 (got 9007199254740992)");
}

Test(config, out_of_range_port_is_an_error)
{
	expect_error("{\"listen\": \"127.0.0.1:65536\"}",
	             "cfg.json: listen: port must be a number 0..65535 (got \"127.0.0.1:65536\")");
}

Test(config, bad_listen_text_is_an_error)
{
	expect_error(
	    "{\"listen\": \"localhost\"}",
	    "cfg.json: listen: missing port; expected host:port, [v6]:port or :port (got \"localhost\")");
	expect_error("{\"listen\": \"[::1\"}",
	             "cfg.json: listen: missing ']' after the IPv6 address (got \"[::1\")");
	expect_error(
	    "{\"listen\": \"\"}",
	    "cfg.json: listen: is empty; expected host:port, [v6]:port or :port (got \"\")");
}

Test(config, missing_required_field_is_an_error)
{
	expect_error("{\"service_accounts\": [{\"id\": \"a\"}]}",
	             "cfg.json: service_accounts[0].email: is required");
	expect_error("{\"project\": {\"numeric_id\": 1}}", "cfg.json: project.id: is required");
	expect_error("{\"project\": {\"id\": \"\"}}",
	             "cfg.json: project.id: must not be empty (got \"\")");
}

Test(config, duplicate_email_is_an_error)
{
	expect_error(
	    "{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b\"},"
	    " {\"id\": \"b\", \"email\": \"b@b\"}, {\"id\": \"c\", \"email\": \"a@b\"}]}",
	    "cfg.json: service_accounts[2].email: duplicates service_accounts[0].email (got \"a@b\")");
}

Test(config, duplicate_id_is_an_error)
{
	expect_error(
	    "{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b\"},"
	    " {\"id\": \"b\", \"email\": \"b@b\"}, {\"id\": \"b\", \"email\": \"c@b\"}]}",
	    "cfg.json: service_accounts[2].id: duplicates service_accounts[1].id (got \"b\")");
}

Test(config, email_default_is_an_error)
{
	expect_error(
	    "{\"service_accounts\": [{\"id\": \"a\", \"email\": \"default\"}]}",
	    "cfg.json: service_accounts[0].email: must not be \"default\", which is reserved as an alias (got \"default\")");
}

Test(config, email_unfit_for_a_url_path_is_an_error)
{
	static const char *const bad[] = { "a/b@c", "a b@c", "ab", "@c", "a@", "a@b@c", "a?@b" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[256];
		char expected[256];

		snprintf(json, sizeof(json),
		         "{\"service_accounts\": [{\"id\": \"a\", \"email\": \"%s\"}]}", bad[i]);
		snprintf(
		    expected, sizeof(expected),
		    "cfg.json: service_accounts[0].email: must be name@domain using only A-Z a-z 0-9 . _ + - (got \"%s\")",
		    bad[i]);
		expect_error(json, expected);
	}
}

Test(config, bad_account_id_is_an_error)
{
	expect_error(
	    "{\"service_accounts\": [{\"id\": \"a/b\", \"email\": \"a@b\"}]}",
	    "cfg.json: service_accounts[0].id: must be 1..128 characters of A-Z a-z 0-9 . _ - (got \"a/b\")");
	expect_error("{\"service_accounts\": [{\"id\": \"\", \"email\": \"a@b\"}]}",
	             "cfg.json: service_accounts[0].id: must not be empty (got \"\")");
}

Test(config, empty_accounts_array_is_an_error)
{
	expect_error("{\"service_accounts\": []}",
	             "cfg.json: service_accounts: must list at least one account (got [])");
}

Test(config, bad_scope_is_an_error)
{
	expect_error(
	    "{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b\", \"scopes\": [\"x\", \"a b\"]}]}",
	    "cfg.json: service_accounts[0].scopes[1]: must be a non-empty string without spaces (got \"a b\")");
	expect_error(
	    "{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b\", \"scopes\": \"x\"}]}",
	    "cfg.json: service_accounts[0].scopes: must be an array of strings (got \"x\")");
}

Test(config, bad_map_key_is_an_error)
{
	expect_error(
	    "{\"instance\": {\"attributes\": {\"a/b\": \"x\"}}}",
	    "cfg.json: instance.attributes: key must be 1..128 characters without '/' (got \"a/b\")");
	expect_error(
	    "{\"instance\": {\"labels\": {\"\": \"x\"}}}",
	    "cfg.json: instance.labels: key must be 1..128 characters without '/' (got \"\")");
}

/* ---- errors: files ---- */

static void expect_file_error(const char *content, size_t len, const char *what)
{
	char *path = write_temp(content, len);
	char expected[ERRLEN];
	char err[ERRLEN] = "";
	struct config c;

	snprintf(expected, sizeof(expected), "%s%s", path, what);
	cr_assert_eq(config_load(path, &c, err, sizeof(err)), -1);
	cr_assert_str_eq(err, expected);
	cr_assert(is_zeroed(&c));
	unlink(path);
	free(path);
}

Test(config, missing_file_is_an_error)
{
	struct config c;
	char err[ERRLEN] = "";

	cr_assert_eq(config_load("/tmp/test_config_no/such.json", &c, err, sizeof(err)), -1);
	cr_assert_str_eq(err,
	                 "/tmp/test_config_no/such.json: cannot read: No such file or directory");
	cr_assert(is_zeroed(&c));
}

Test(config, empty_file_is_an_error)
{
	expect_file_error("", 0, ": file is empty; expected a JSON object");
	expect_file_error(" \n\t\n", 4, ": file is empty; expected a JSON object");
}

Test(config, nul_byte_in_file_is_an_error)
{
	expect_file_error("{\n \"a\0\": 1}", 11, ":2:4: NUL byte in file");
}

Test(config, file_over_one_mib_is_an_error)
{
	size_t len = 1024 * 1024 + 1;
	char *big = malloc(len);
	char err[ERRLEN] = "";
	struct config c;
	char *path;

	cr_assert_not_null(big);
	memset(big, ' ', len);
	big[0] = '{';
	big[len - 1] = '}';
	expect_file_error(big, len, ": file is larger than the 1 MiB limit");

	/* Exactly 1 MiB is still fine. */
	big[len - 2] = '}';
	path = write_temp(big, len - 1);
	cr_assert_eq(config_load(path, &c, err, sizeof(err)), 0, "%s", err);
	config_release(&c);
	unlink(path);
	free(path);
	free(big);
}

/* ---- config_parse_listen ---- */

static void expect_listen(const char *text, const char *host, uint16_t port)
{
	char *got = NULL;
	uint16_t got_port = 1;
	char err[ERRLEN] = "";

	cr_assert_eq(config_parse_listen(text, &got, &got_port, err, sizeof(err)), 0, "%s: %s",
	             text, err);
	cr_assert_str_eq(got, host);
	cr_assert_eq(got_port, port);
	free(got);
}

static void expect_listen_error(const char *text, const char *expected)
{
	char *got = NULL;
	uint16_t got_port = 7;
	char err[ERRLEN] = "";

	cr_assert_eq(config_parse_listen(text, &got, &got_port, err, sizeof(err)), -1,
	             "accepted %s", text);
	cr_assert_str_eq(err, expected);
	cr_assert_null(got);
	cr_assert_eq(got_port, 7);
}

Test(config, parse_listen_accepts_host_port_forms)
{
	expect_listen("127.0.0.1:8169", "127.0.0.1", 8169);
	expect_listen("0.0.0.0:0", "0.0.0.0", 0);
	expect_listen("localhost:65535", "localhost", 65535);
	expect_listen(":8080", "127.0.0.1", 8080);
	expect_listen("[::1]:8169", "::1", 8169);
	expect_listen("[::]:80", "::", 80);
	expect_listen("[fe80::1:2]:1", "fe80::1:2", 1);
}

Test(config, parse_listen_rejects_junk)
{
	static const char expected[] = "expected host:port, [v6]:port or :port";
	char missing[128];

	snprintf(missing, sizeof(missing), "missing port; %s", expected);
	expect_listen_error("127.0.0.1", missing);
	expect_listen_error("127.0.0.1:", missing);
	expect_listen_error("[::1]:", missing);
	expect_listen_error("[::1", "missing ']' after the IPv6 address");
	expect_listen_error("[::1]8169", "expected ':' and a port after ']'");
	expect_listen_error("[]:80", "not an IPv6 address inside [ ]");
	expect_listen_error("[zz]:80", "not an IPv6 address inside [ ]");
	expect_listen_error("::1:80", "IPv6 addresses need brackets, e.g. [::1]:8169");
	expect_listen_error("a b:80", "host must be a name or an IPv4 address");
	expect_listen_error("host:65536", "port must be a number 0..65535");
	expect_listen_error("host:-1", "port must be a number 0..65535");
	expect_listen_error("host:8x", "port must be a number 0..65535");
	expect_listen_error("host:+80", "port must be a number 0..65535");
	expect_listen_error("host:000080", "port must be a number 0..65535");
	expect_listen_error("", "is empty; expected host:port, [v6]:port or :port");
}

/* ---- control section ---- */

Test(config, control_api_is_on_by_default_with_a_generated_secret)
{
	struct config c;
	char err[ERRLEN] = "";

	cr_assert_eq(config_load(NULL, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.control_enabled, 1);
	cr_assert_null(c.admin_secret);
	cr_assert_null(c.admin_secret_file);
	config_release(&c);
}

Test(config, control_section_sets_secret_file_and_switch)
{
	struct config c;

	expect_ok("{\"control\": {\"enabled\": false, \"secret\": \"0123456789abcdef!\","
	          " \"secret_file\": \"/tmp/s\"}}",
	          &c);
	cr_assert_eq(c.control_enabled, 0);
	cr_assert_str_eq(c.admin_secret, "0123456789abcdef!");
	cr_assert_str_eq(c.admin_secret_file, "/tmp/s");
	config_release(&c);
}

Test(config, control_section_errors)
{
	expect_error("{\"control\": {\"secret\": \"short\"}}",
	             "cfg.json: control.secret: must be 16..256 characters (got \"short\")");
	expect_error(
	    "{\"control\": {\"secret\": \"0123456789 abcdef\"}}",
	    "cfg.json: control.secret: must be printable ASCII with no spaces (got \"0123456789 abcdef\")");
	expect_error("{\"control\": {\"enabled\": 1}}",
	             "cfg.json: control.enabled: must be true or false (got 1)");
	expect_error("{\"control\": {\"secrett\": \"x\"}}",
	             "cfg.json: control.secrett: unknown key");
}

/* ---- aws section and roles ---- */

Test(config, aws_defaults_and_the_default_accounts_role)
{
	struct config c;
	char err[ERRLEN] = "";

	cr_assert_eq(config_load(NULL, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.aws_imdsv2_only, 0);
	cr_assert_str_eq(c.aws_instance_id, "i-0123456789abcdef0");
	cr_assert_str_eq(c.aws_hostname, "ip-10-0-0-1.ec2.internal");
	cr_assert_str_eq(c.aws_local_ipv4, "10.0.0.1");
	cr_assert_str_eq(c.aws_availability_zone, "us-east-1a");
	cr_assert_str_eq(c.aws_region, "us-east-1");
	cr_assert_str_eq(c.aws_account_id, "123456789012");
	cr_assert_null(c.aws_container_token);
	cr_assert_str_eq(c.accounts[0].aws_role, "metatoken-role");
	cr_assert_eq(c.accounts[0].aws_lifetime_s, 21600);
	config_release(&c);
}

Test(config, aws_section_sets_every_field_and_absent_ones_default)
{
	struct config c;

	expect_ok("{\"aws\": {\"imdsv2_only\": true, \"instance_id\": \"i-0abcdef1\","
	          " \"region\": \"eu-west-1\", \"availability_zone\": \"eu-west-1b\","
	          " \"container_token\": \"0123456789abcdef-x\"},"
	          " \"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b.c\"},"
	          " {\"id\": \"b\", \"email\": \"b@b.c\", \"aws_role\": \"r+=,.@_-1\","
	          " \"aws_lifetime_s\": 900}]}",
	          &c);
	cr_assert_eq(c.aws_imdsv2_only, 1);
	cr_assert_str_eq(c.aws_instance_id, "i-0abcdef1");
	cr_assert_str_eq(c.aws_region, "eu-west-1");
	cr_assert_str_eq(c.aws_availability_zone, "eu-west-1b");
	cr_assert_str_eq(c.aws_local_ipv4, "10.0.0.1");
	cr_assert_str_eq(c.aws_container_token, "0123456789abcdef-x");
	cr_assert_null(c.accounts[0].aws_role);
	cr_assert_eq(c.accounts[0].aws_lifetime_s, 21600);
	cr_assert_str_eq(c.accounts[1].aws_role, "r+=,.@_-1");
	cr_assert_eq(c.accounts[1].aws_lifetime_s, 900);
	config_release(&c);
}

Test(config, aws_section_errors)
{
	expect_error("{\"aws\": {\"imdsv2_only\": \"yes\"}}",
	             "cfg.json: aws.imdsv2_only: must be true or false (got \"yes\")");
	expect_error("{\"aws\": {\"instance_id\": \"i-123\"}}",
	             "cfg.json: aws.instance_id: must be \"i-\" and 8 or 17 lowercase hex digits "
	             "(got \"i-123\")");
	expect_error("{\"aws\": {\"local_ipv4\": \"10.0.0\"}}",
	             "cfg.json: aws.local_ipv4: must be a dotted IPv4 address (got \"10.0.0\")");
	expect_error("{\"aws\": {\"account_id\": \"12345\"}}",
	             "cfg.json: aws.account_id: must be 12 digits (got \"12345\")");
	expect_error("{\"aws\": {\"region\": \"US East\"}}",
	             "cfg.json: aws.region: must be 1..253 characters of a-z 0-9 . - "
	             "(got \"US East\")");
	expect_error("{\"aws\": {\"container_token\": \"short\"}}",
	             "cfg.json: aws.container_token: must be 16..256 characters (got \"short\")");
	expect_error("{\"aws\": {\"imdsv3\": true}}", "cfg.json: aws.imdsv3: unknown key");
	expect_error("{\"aws\": []}", "cfg.json: aws: must be an object (got [])");
}

Test(config, aws_role_errors)
{
	expect_error("{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b.c\","
	             " \"aws_role\": \"a/b\"}]}",
	             "cfg.json: service_accounts[0].aws_role: must be 1..64 characters of "
	             "A-Z a-z 0-9 + = , . @ _ - (got \"a/b\")");
	expect_error("{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b.c\","
	             " \"aws_role\": \"\"}]}",
	             "cfg.json: service_accounts[0].aws_role: must not be empty (got \"\")");
	expect_error("{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b.c\","
	             " \"aws_lifetime_s\": 0}]}",
	             "cfg.json: service_accounts[0].aws_lifetime_s: must be a positive integer "
	             "(got 0)");
	expect_error("{\"service_accounts\": [{\"id\": \"a\", \"email\": \"a@b.c\","
	             " \"aws_role\": \"r1\"}, {\"id\": \"b\", \"email\": \"b@b.c\","
	             " \"aws_role\": \"r2\"}]}",
	             "cfg.json: service_accounts[1].aws_role: service_accounts[0] already has the "
	             "instance's role; only one account may have aws_role (got \"r2\")");
}

Test(config, allowed_hosts_and_limits_are_read)
{
	struct config c;

	expect_ok("{\"allowed_hosts\": [\"dev.test\", \"10.0.0.5\", \"[fd00::1]\"],"
	          " \"limits\": {\"connections\": 512, \"per_client\": 64, \"held_requests\": 10,"
	          " \"header_timeout_s\": 5, \"idle_timeout_s\": 60, \"threads\": 3}}",
	          &c);
	cr_assert_eq(c.n_allowed_hosts, 3);
	cr_assert_str_eq(c.allowed_hosts[0], "dev.test");
	cr_assert_str_eq(c.allowed_hosts[2], "[fd00::1]");
	cr_assert_eq(c.max_connections, 512);
	cr_assert_eq(c.per_client_connections, 64);
	cr_assert_eq(c.max_held_requests, 10);
	cr_assert_eq(c.header_timeout_ms, 5000);
	cr_assert_eq(c.idle_timeout_ms, 60000);
	cr_assert_eq(c.threads, 3);
	config_release(&c);
	/* Absent, they keep the daemon's defaults (0 here). */
	expect_ok("{}", &c);
	cr_assert_eq(c.n_allowed_hosts, 0);
	cr_assert_eq(c.max_connections, 0);
	cr_assert_eq(c.threads, 0);
	config_release(&c);
}

Test(config, bad_allowed_hosts_and_limits_say_where)
{
	expect_error("{\"allowed_hosts\": \"dev.test\"}",
	             "cfg.json: allowed_hosts: must be an array of host names (got \"dev.test\")");
	expect_error("{\"allowed_hosts\": [\"ok.test\", \"evil.test:80\"]}",
	             "cfg.json: allowed_hosts[1]: must be a host name (letters, digits, '.' and "
	             "'-'), without a port (got \"evil.test:80\")");
	expect_error("{\"allowed_hosts\": [\"\"]}",
	             "cfg.json: allowed_hosts[0]: must be a non-empty string (got \"\")");
	expect_error("{\"limits\": {\"connections\": 0}}",
	             "cfg.json: limits.connections: must be a positive integer (got 0)");
	expect_error("{\"limits\": {\"header_timeout_s\": 3601}}",
	             "cfg.json: limits.header_timeout_s: must be at most 3600 (got 3601)");
	expect_error("{\"limits\": {\"threads\": 257}}",
	             "cfg.json: limits.threads: must be at most 256 (got 257)");
	expect_error("{\"limits\": {\"idle_timeout\": 5}}",
	             "cfg.json: limits.idle_timeout: unknown key");
}

/* ---- functions (issue 11) ---- */

Test(config, functions_take_their_defaults_and_every_key)
{
	struct config c;

	expect_ok(
	    "{\"functions\": [{\"name\": \"a\", \"handler\": \"./l.so\"},"
	    " {\"name\": \"b-2\", \"runtime\": \"command\", \"command\": [\"./boot\", \"-x\"],"
	    "  \"code_dir\": \"/srv\", \"timeout_s\": 0.25, \"memory_mb\": 512,"
	    "  \"version\": \"7\", \"service_account\": null, \"concurrency\": 4,"
	    "  \"environment\": {\"K\": \"v\"}, \"max_event_bytes\": 10,"
	    "  \"max_response_bytes\": 20}]}",
	    &c);
	cr_assert_eq(c.n_functions, 2);
	cr_assert_str_eq(c.functions[0].name, "a");
	cr_assert_eq(c.functions[0].runtime, CONFIG_RUNTIME_C);
	cr_assert_eq(c.functions[0].timeout_ms, 3000);
	cr_assert_eq(c.functions[0].memory_mb, 128);
	cr_assert_eq(c.functions[0].concurrency, 1);
	cr_assert_str_eq(c.functions[0].version, "$LATEST");
	cr_assert_str_eq(c.functions[0].code_dir, ".");
	cr_assert_null(c.functions[0].account);
	cr_assert_eq(c.functions[0].no_account, 0);
	cr_assert_eq(c.functions[0].max_event_bytes, 6 * 1024 * 1024);
	cr_assert_eq(c.functions[1].runtime, CONFIG_RUNTIME_COMMAND);
	cr_assert_eq(c.functions[1].n_command, 2);
	cr_assert_str_eq(c.functions[1].command[1], "-x");
	cr_assert_null(c.functions[1].command[2]);
	cr_assert_eq(c.functions[1].timeout_ms, 250);
	cr_assert_eq(c.functions[1].no_account, 1);
	cr_assert_eq(c.functions[1].concurrency, 4);
	cr_assert_str_eq(c.functions[1].env[0].key, "K");
	cr_assert_eq(c.functions[1].max_response_bytes, 20);
	config_release(&c);
}

Test(config, bad_functions_are_refused_saying_where_and_why)
{
	expect_error("{\"functions\": {}}",
	             "cfg.json: functions: must be an array of functions (got {})");
	expect_error("{\"functions\": [{\"name\": \"a b\", \"handler\": \"x\"}]}",
	             "cfg.json: functions[0].name: must be 1..64 characters of A-Z a-z 0-9 _ - "
	             "(got \"a b\")");
	expect_error("{\"functions\": [{\"name\": \"a\"}]}",
	             "cfg.json: functions[0].handler: is required for \"runtime\": \"c\" "
	             "(path/to/lib.so:symbol)");
	expect_error("{\"functions\": [{\"name\": \"a\", \"runtime\": \"go\"}]}",
	             "cfg.json: functions[0].runtime: must be \"c\", \"command\" (with "
	             "\"command\") or \"external\" (got \"go\")");
	expect_error("{\"functions\": [{\"name\": \"a\", \"runtime\": \"command\"}]}",
	             "cfg.json: functions[0].runtime: \"command\" needs a \"command\" array");
	expect_error("{\"functions\": [{\"name\": \"a\", \"runtime\": \"external\","
	             " \"command\": [\"x\"]}]}",
	             "cfg.json: functions[0].command: is only for \"runtime\": \"command\"");
	expect_error("{\"functions\": [{\"name\": \"a\", \"runtime\": \"command\","
	             " \"command\": []}]}",
	             "cfg.json: functions[0].command: must be a non-empty array of strings: the "
	             "program and its arguments (got [])");
	expect_error("{\"functions\": [{\"name\": \"a\", \"handler\": \"x\", \"timeout_s\": 0}]}",
	             "cfg.json: functions[0].timeout_s: must be a number above 0 and at most 900 "
	             "(got 0)");
	expect_error(
	    "{\"functions\": [{\"name\": \"a\", \"handler\": \"x\", \"concurrency\": 65}]}",
	    "cfg.json: functions[0].concurrency: must be at most 64 (got 65)");
	expect_error("{\"functions\": [{\"name\": \"a\", \"handler\": \"x\","
	             " \"environment\": {\"_HANDLER\": \"y\"}}]}",
	             "cfg.json: functions[0].environment._HANDLER: is set by metatokend for every "
	             "runtime and cannot be configured (got \"_HANDLER\")");
	expect_error("{\"functions\": [{\"name\": \"a\", \"handler\": \"x\"},"
	             " {\"name\": \"a\", \"handler\": \"y\"}]}",
	             "cfg.json: functions[1].name: duplicates functions[0].name (got \"a\")");
	expect_error("{\"functions\": [{\"name\": \"a\", \"handler\": \"x\","
	             " \"service_account\": \"nobody\"}]}",
	             "cfg.json: functions[0].service_account: names no service account (give "
	             "\"default\", an id or an email from service_accounts, or null) (got "
	             "\"nobody\")");
	expect_error("{\"functions\": [{\"name\": \"a\", \"handler\": \"x\", \"concurrency\": 64},"
	             " {\"name\": \"b\", \"handler\": \"x\", \"concurrency\": 64},"
	             " {\"name\": \"c\", \"handler\": \"x\", \"concurrency\": 64},"
	             " {\"name\": \"d\", \"handler\": \"x\", \"concurrency\": 64},"
	             " {\"name\": \"e\", \"handler\": \"x\"}]}",
	             "cfg.json: functions: the functions' concurrency adds up to 257; at most 256 "
	             "runtimes in all");
	expect_error("{\"functions\": [{\"name\": \"a\", \"handler\": \"x\", \"timeout\": 3}]}",
	             "cfg.json: functions[0].timeout: unknown key");
}
