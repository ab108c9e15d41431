/*
 * Unit tests for the configuration's "tls" section (server/config_server.c):
 * the HTTPS listener's address and files, their defaults, and the messages
 * for a section that is wrong.
 */
#include "config.h"
#include "test_config_expect.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Test(config_tls, off_unless_configured)
{
	struct config c;
	char err[ERRLEN] = "";

	cr_assert_eq(config_load(NULL, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_null(c.tls_listen_host);
	cr_assert_null(c.tls_cert_file);
	cr_assert_null(c.tls_key_file);
	config_release(&c);
}

Test(config_tls, listen_defaults_to_loopback_8443)
{
	struct config c;

	expect_ok("{\"tls\": {\"cert_file\": \"/c.pem\", \"key_file\": \"/k.pem\"}}", &c);
	cr_assert_str_eq(c.tls_listen_host, "127.0.0.1");
	cr_assert_eq(c.tls_listen_port, 8443);
	cr_assert_str_eq(c.tls_cert_file, "/c.pem");
	cr_assert_str_eq(c.tls_key_file, "/k.pem");
	/* The plain listener is untouched. */
	cr_assert_str_eq(c.listen_host, "127.0.0.1");
	cr_assert_eq(c.listen_port, 8169);
	config_release(&c);
}

Test(config_tls, listen_takes_the_forms_of_listen)
{
	struct config c;

	expect_ok("{\"tls\": {\"listen\": \"[::1]:0\", \"cert_file\": \"c\", \"key_file\": \"k\"}}",
	          &c);
	cr_assert_str_eq(c.tls_listen_host, "::1");
	cr_assert_eq(c.tls_listen_port, 0);
	config_release(&c);
	expect_ok("{\"tls\": {\"listen\": \":9443\", \"cert_file\": \"c\", \"key_file\": \"k\"}}",
	          &c);
	cr_assert_str_eq(c.tls_listen_host, "127.0.0.1");
	cr_assert_eq(c.tls_listen_port, 9443);
	config_release(&c);
}

Test(config_tls, errors_name_the_field)
{
	expect_error("{\"tls\": true}", "cfg.json: tls: must be a JSON object with \"cert_file\" "
	                                "and \"key_file\" (got true)");
	expect_error("{\"tls\": {\"cert_file\": \"c\", \"key_file\": \"k\", \"ca_file\": \"x\"}}",
	             "cfg.json: tls.ca_file: unknown key");
	expect_error("{\"tls\": {\"key_file\": \"k\"}}", "cfg.json: tls.cert_file: is required");
	expect_error("{\"tls\": {\"cert_file\": \"c\"}}", "cfg.json: tls.key_file: is required");
	expect_error("{\"tls\": {\"cert_file\": 1, \"key_file\": \"k\"}}",
	             "cfg.json: tls.cert_file: must be a string (got 1)");
	expect_error("{\"tls\": {\"cert_file\": \"c\", \"key_file\": \"\"}}",
	             "cfg.json: tls.key_file: must not be empty (got \"\")");
	expect_error("{\"tls\": {\"listen\": 8443, \"cert_file\": \"c\", \"key_file\": \"k\"}}",
	             "cfg.json: tls.listen: must be a string (got 8443)");
	expect_error("{\"tls\": {\"listen\": \"localhost\", \"cert_file\": \"c\", \"key_file\": "
	             "\"k\"}}",
	             "cfg.json: tls.listen: missing port; expected host:port, [v6]:port or :port "
	             "(got \"localhost\")");
	expect_error(
	    "{\"tls\": {\"listen\": \"127.0.0.1:99999\", \"cert_file\": \"c\", "
	    "\"key_file\": \"k\"}}",
	    "cfg.json: tls.listen: port must be a number 0..65535 (got \"127.0.0.1:99999\")");
}

/* The files are relative to the configuration file's folder, like
 * "signing_key"; absolute ones stay as they are. */
Test(config_tls, relative_paths_follow_the_config_file)
{
	static const char json[] = "{\"tls\": {\"listen\": \"127.0.0.1:0\", \"cert_file\": "
	                           "\"certs/server.pem\", \"key_file\": \"/abs/server.key\"}}";
	char dir[] = "/tmp/metatoken-config-tls-XXXXXX", path[64], err[ERRLEN] = "", want[96];
	struct config c;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cfg.json", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(json, f);
	fclose(f);
	cr_assert_eq(config_load(path, &c, err, sizeof(err)), 0, "%s", err);
	snprintf(want, sizeof(want), "%s/certs/server.pem", dir);
	cr_assert_str_eq(c.tls_cert_file, want);
	cr_assert_str_eq(c.tls_key_file, "/abs/server.key");
	config_release(&c);
	unlink(path);
	rmdir(dir);
}

/* Every string of the section is freed (a leak fails this under ASan). */
Test(config_tls, release_frees_the_section)
{
	struct config c;

	expect_ok("{\"tls\": {\"listen\": \"127.0.0.1:1\", \"cert_file\": \"c\", \"key_file\": "
	          "\"k\"}}",
	          &c);
	config_release(&c);
	cr_assert(is_zeroed(&c));
}
