/*
 * The configuration's "upstream" (upstream_config.c): each source's form,
 * and one clear message naming the JSON path for each malformed one.
 */
#include "config.h"
#include "test_config_expect.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* A configuration whose one account has `upstream` (JSON text) and extra
 * account keys before it. */
static const char *with(const char *extra, const char *upstream)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf),
	         "{\"service_accounts\": [{\"id\": \"aje1\", \"email\": \"a@x.iam\", %s"
	         "\"upstream\": %s}]}",
	         extra, upstream);
	return buf;
}

Test(upstream_config, metadata_source_with_defaults)
{
	struct config c;
	const struct config_upstream *u;

	expect_ok(with("", "{\"metadata\": \"http://127.0.0.1:8169\"}"), &c);
	u = &c.accounts[0].upstream;
	cr_assert_eq(u->kind, CONFIG_UPSTREAM_METADATA);
	cr_assert_str_eq(u->metadata, "http://127.0.0.1:8169");
	cr_assert_str_eq(u->account, "default");
	cr_assert_eq(u->timeout_ms, 10000);
	cr_assert_eq(u->refresh_window_s, 240);
	cr_assert_eq(u->retry_interval_ms, 30000);
	config_release(&c);
}

Test(upstream_config, command_and_key_file_sources)
{
	struct config c;
	const struct config_upstream *u;

	expect_ok(with("", "{\"command\": [\"yc\", \"iam\", \"create-token\"], \"lifetime_s\": 600,"
	                   " \"timeout_ms\": 250, \"retry_interval_ms\": 5}"),
	          &c);
	u = &c.accounts[0].upstream;
	cr_assert_eq(u->kind, CONFIG_UPSTREAM_COMMAND);
	cr_assert_eq(u->n_command, 3);
	cr_assert_str_eq(u->command[2], "create-token");
	cr_assert_null(u->command[3]);
	cr_assert_eq(u->lifetime_s, 600);
	cr_assert_eq(u->timeout_ms, 250);
	cr_assert_eq(u->retry_interval_ms, 5);
	config_release(&c);

	expect_ok(with("", "{\"key_file\": \"key.json\", \"iam_endpoint\": "
	                   "\"https://127.0.0.1:8443/iam/v1/tokens\", \"ca_file\": \"ca.pem\"}"),
	          &c);
	u = &c.accounts[0].upstream;
	cr_assert_eq(u->kind, CONFIG_UPSTREAM_KEY_FILE);
	cr_assert_str_eq(u->key_file, "key.json");
	cr_assert_str_eq(u->ca_file, "ca.pem");
	config_release(&c);

	/* No upstream: minted, as before. */
	expect_ok("{\"service_accounts\": [{\"id\": \"aje1\", \"email\": \"a@x.iam\"}]}", &c);
	cr_assert_eq(c.accounts[0].upstream.kind, CONFIG_UPSTREAM_NONE);
	config_release(&c);
}

Test(upstream_config, malformed_forms_say_what_and_where)
{
	expect_error(with("", "\"http://127.0.0.1:8169\""),
	             "cfg.json: service_accounts[0].upstream: must be an object naming one source: "
	             "metadata, key_file or command (got \"http://127.0.0.1:8169\")");
	expect_error(with("", "{}"), "cfg.json: service_accounts[0].upstream: must name one "
	                             "source: metadata, key_file or command (got {})");
	expect_error(with("", "{\"metadata\": \"127.0.0.1:1\", \"command\": [\"x\"]}"),
	             "cfg.json: service_accounts[0].upstream.command: only one source may be given "
	             "(metadata is given too) (got [\"x\"])");
	expect_error(with("", "{\"metadata\": \"127.0.0.1:1\", \"colour\": 1}"),
	             "cfg.json: service_accounts[0].upstream.colour: unknown key");
	expect_error(with("", "{\"metadata\": \"ftp://h\"}"),
	             "cfg.json: service_accounts[0].upstream.metadata: must be host[:port] or "
	             "http://host[:port] (got \"ftp://h\")");
	expect_error(
	    with("", "{\"metadata\": \"https://127.0.0.1:1\"}"),
	    "cfg.json: service_accounts[0].upstream.metadata: metadata servers are reached "
	    "over http:// (as real ones are); for a token over HTTPS use a key_file "
	    "upstream at the other server's /iam/v1/tokens (got \"https://127.0.0.1:1\")");
	expect_error(with("", "{\"metadata\": \"127.0.0.1:1\", \"account\": \"a b\"}"),
	             "cfg.json: service_accounts[0].upstream.account: must be 1..255 characters of "
	             "A-Z a-z 0-9 @ . _ + - (an account name or email at the upstream) (got \"a "
	             "b\")");
	expect_error(with("", "{\"command\": [\"x\"], \"account\": \"default\"}"),
	             "cfg.json: service_accounts[0].upstream.account: applies to a metadata source "
	             "only (got \"default\")");
	expect_error(with("", "{\"metadata\": \"127.0.0.1:1\", \"lifetime_s\": 60}"),
	             "cfg.json: service_accounts[0].upstream.lifetime_s: applies to a command "
	             "source only (got 60)");
	expect_error(with("", "{\"command\": [\"x\"], \"ca_file\": \"ca.pem\"}"),
	             "cfg.json: service_accounts[0].upstream.ca_file: applies to a key_file source "
	             "only (got \"ca.pem\")");
	expect_error(with("", "{\"metadata\": \"127.0.0.1:1\", \"ca_file\": \"ca.pem\"}"),
	             "cfg.json: service_accounts[0].upstream.ca_file: applies to a key_file source "
	             "only (got \"ca.pem\")");
	expect_error(
	    with("", "{\"key_file\": \"\"}"),
	    "cfg.json: service_accounts[0].upstream.key_file: must not be empty (got \"\")");
	expect_error(with("", "{\"key_file\": \"k.json\", \"iam_endpoint\": \"iam.example\"}"),
	             "cfg.json: service_accounts[0].upstream.iam_endpoint: must be an http:// or "
	             "https:// URL (got \"iam.example\")");
	expect_error(with("", "{\"command\": []}"),
	             "cfg.json: service_accounts[0].upstream.command: must be an array of 1..64 "
	             "strings, the program and its arguments (run without a shell) (got [])");
	expect_error(with("", "{\"command\": \"yc iam create-token\"}"),
	             "cfg.json: service_accounts[0].upstream.command: must be an array of 1..64 "
	             "strings, the program and its arguments (run without a shell) (got \"yc iam "
	             "create-token\")");
	expect_error(with("", "{\"command\": [\"\"]}"),
	             "cfg.json: service_accounts[0].upstream.command[0]: must be a non-empty "
	             "string (the program) (got \"\")");
	expect_error(with("", "{\"command\": [\"yc\", 3]}"),
	             "cfg.json: service_accounts[0].upstream.command[1]: must be a string (got 3)");
	expect_error(
	    with("", "{\"command\": [\"yc\"], \"timeout_ms\": 0}"),
	    "cfg.json: service_accounts[0].upstream.timeout_ms: must be a positive integer "
	    "(got 0)");
	expect_error(with("", "{\"command\": [\"yc\"], \"lifetime_s\": -5}"),
	             "cfg.json: service_accounts[0].upstream.lifetime_s: must be a positive "
	             "integer (got -5)");
}

Test(upstream_config, minting_keys_beside_an_upstream_are_refused)
{
	expect_error(with("\"lifetime_s\": 600, ", "{\"command\": [\"yc\"]}"),
	             "cfg.json: service_accounts[0].lifetime_s: does not apply to an account with "
	             "an upstream (its tokens and their life come from the upstream) (got 600)");
	expect_error(with("\"reissue_margin_s\": 0, ", "{\"command\": [\"yc\"]}"),
	             "cfg.json: service_accounts[0].reissue_margin_s: does not apply to an account "
	             "with an upstream (its tokens and their life come from the upstream) (got 0)");
	expect_error(with("\"aws_role\": \"r\", ", "{\"command\": [\"yc\"]}"),
	             "cfg.json: service_accounts[0].aws_role: does not apply to an account with an "
	             "upstream (its tokens and their life come from the upstream) (got \"r\")");
}
