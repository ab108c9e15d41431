/*
 * Unit tests for the configuration's server-wide sections (server/
 * config_sections.c, config_server.c): control, aws and roles,
 * allowed_hosts and limits. Split from test_config.c, which keeps the
 * parser, the files and the accounts.
 */
#include "config.h"
#include "test_config_expect.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

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
