/*
 * Unit tests for server/config_functions.c: the configuration's "functions"
 * (issues 11 and 12), their defaults, and every error message (verbatim).
 */
#include "config.h"
#include "test_config_expect.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(config_functions, functions_take_their_defaults_and_every_key)
{
	struct config c;

	expect_ok(
	    "{\"functions\": [{\"name\": \"a\", \"handler\": \"./l.so\"},"
	    " {\"name\": \"b-2\", \"runtime\": \"command\", \"command\": [\"./boot\", \"-x\"],"
	    "  \"code_dir\": \"/srv\", \"timeout_s\": 0.25, \"memory_mb\": 512,"
	    "  \"version\": \"7\", \"service_account\": null, \"concurrency\": 4,"
	    "  \"environment\": {\"K\": \"v\"}, \"max_event_bytes\": 10,"
	    "  \"max_response_bytes\": 20, \"reload\": true}]}",
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
	cr_assert_eq(c.functions[0].reload, 0);
	cr_assert_eq(c.functions[1].reload, 1);
	config_release(&c);
}

Test(config_functions, bad_functions_are_refused_saying_where_and_why)
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
	             "cfg.json: functions[0].runtime: must be \"c\", \"python\", \"command\" "
	             "(with \"command\") or \"external\" (got \"go\")");
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
	expect_error("{\"functions\": [{\"name\": \"a\", \"handler\": \"x\", \"reload\": 1}]}",
	             "cfg.json: functions[0].reload: must be true or false (got 1)");
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

Test(config_functions, python_functions_name_module_function_and_an_interpreter)
{
	static const char *const good[] = { "index.handler", "pkg.sub.mod.fn", "dir/index.handler",
		                            "_m.f_2", "mod\xc3\xa9.fn" };
	struct config c;
	char json[256];

	expect_ok("{\"functions\": [{\"name\": \"a\", \"runtime\": \"python\","
	          " \"handler\": \"index.handler\"},"
	          " {\"name\": \"b\", \"runtime\": \"python\", \"handler\": \"m.f\","
	          "  \"python\": \"/usr/bin/python3\"}]}",
	          &c);
	cr_assert_eq(c.functions[0].runtime, CONFIG_RUNTIME_PYTHON);
	cr_assert_null(c.functions[0].python);
	cr_assert_str_eq(c.functions[1].python, "/usr/bin/python3");
	config_release(&c);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(json, sizeof(json),
		         "{\"functions\": [{\"name\": \"a\", \"runtime\": \"python\","
		         " \"handler\": \"%s\"}]}",
		         good[i]);
		expect_ok(json, &c);
		config_release(&c);
	}
}

Test(config_functions, bad_python_functions_are_refused_naming_the_field)
{
	static const char *const bad[] = { "index", "index.", ".handler", "a..b",
		                           "1m.f",  "m.1f",   "m.f-g",    "m/f",
		                           "m.f/g", "a b.c",  "m.f()",    "m:handler" };
	char json[256], want[512];

	expect_error("{\"functions\": [{\"name\": \"a\", \"runtime\": \"python\"}]}",
	             "cfg.json: functions[0].handler: is required for \"runtime\": \"python\": "
	             "module.function, e.g. index.handler for the function handler in "
	             "code_dir's index.py");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json),
		         "{\"functions\": [{\"name\": \"a\", \"runtime\": \"python\","
		         " \"handler\": \"%s\"}]}",
		         bad[i]);
		snprintf(want, sizeof(want),
		         "cfg.json: functions[0].handler: must be module.function for \"runtime\": "
		         "\"python\", e.g. index.handler for the function handler in code_dir's "
		         "index.py (got \"%s\")",
		         bad[i]);
		expect_error(json, want);
	}
	expect_error("{\"functions\": [{\"name\": \"a\", \"handler\": \"x.so\","
	             " \"python\": \"python3\"}]}",
	             "cfg.json: functions[0].python: is only for \"runtime\": \"python\"");
	expect_error("{\"functions\": [{\"name\": \"a\", \"runtime\": \"python\","
	             " \"handler\": \"m.f\", \"python\": \"\"}]}",
	             "cfg.json: functions[0].python: must not be empty (got \"\")");
}
