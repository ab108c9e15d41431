/*
 * config_parse: metatokend's JSON configuration file.
 *
 * config.h's contract, checked on every input: the result is 0 or -1; on
 * failure *out is left zeroed (whatever it held before) and the message is
 * one non-empty line that fits the buffer, and a smaller buffer or none at
 * all changes nothing but the message's length; on success the required
 * parts are there, and config_release frees everything (LeakSanitizer) and
 * zeroes *out.
 */
#include "fuzz.h"

#include "config.h"

#include <string.h>

#define SOURCE "fuzz.json"

static int is_zeroed(const struct config *c)
{
	static const struct config zero;

	return memcmp(c, &zero, sizeof(zero)) == 0;
}

static void check_success(const struct config *c)
{
	FUZZ_CHECK(c->source && strcmp(c->source, SOURCE) == 0, "source is not \"" SOURCE "\"");
	FUZZ_CHECK(c->listen_host != NULL, "no listen host");
	FUZZ_CHECK(c->n_accounts >= 1 && c->accounts != NULL, "%zu accounts", c->n_accounts);
	for (size_t i = 0; i < c->n_accounts; i++) {
		const struct config_account *a = &c->accounts[i];

		FUZZ_CHECK(a->id && a->id[0] && a->email && a->email[0],
		           "accounts[%zu]: empty id or email", i);
		FUZZ_CHECK(a->lifetime_s > 0 && a->reissue_margin_s >= 0,
		           "accounts[%zu]: lifetime %lld, margin %lld", i, (long long)a->lifetime_s,
		           (long long)a->reissue_margin_s);
		FUZZ_CHECK(a->n_scopes == 0 || a->scopes != NULL, "accounts[%zu]: no scopes", i);
		for (size_t j = 0; j < a->n_scopes; j++)
			FUZZ_CHECK(a->scopes[j] != NULL, "accounts[%zu].scopes[%zu] is NULL", i, j);
	}
	for (size_t i = 0; i < c->n_project_attributes; i++)
		FUZZ_CHECK(c->project_attributes[i].key && c->project_attributes[i].value,
		           "project attribute %zu is NULL", i);
	for (size_t i = 0; i < c->n_instance_attributes; i++)
		FUZZ_CHECK(c->instance_attributes[i].key && c->instance_attributes[i].value,
		           "instance attribute %zu is NULL", i);
	for (size_t i = 0; i < c->n_labels; i++)
		FUZZ_CHECK(c->labels[i].key && c->labels[i].value, "label %zu is NULL", i);
}

static void check_failure(const struct config *c, const char *err, size_t errlen)
{
	size_t len = strnlen(err, errlen);

	FUZZ_CHECK(is_zeroed(c), "*out not zeroed after failure");
	FUZZ_CHECK(len < errlen, "message not terminated within its buffer");
	FUZZ_CHECK(len > 0, "empty message");
	FUZZ_CHECK(strchr(err, '\n') == NULL, "message spans lines: \"%s\"", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	char err[512], small[12];
	struct config c;
	int rc;

	/* Garbage in *out: the parser must not read or keep any of it. */
	memset(&c, 0xA5, sizeof(c));
	memset(err, 0xA5, sizeof(err));
	rc = config_parse(json, size, SOURCE, &c, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1, "returned %d", rc);
	if (rc == 0)
		check_success(&c);
	else
		check_failure(&c, err, sizeof(err));
	config_release(&c);
	FUZZ_CHECK(is_zeroed(&c), "config_release left *out non-zero");
	config_release(&c); /* twice is harmless: it zeroed *out */

	if (rc == 0)
		return 0;
	/* A short buffer only shortens the message; no buffer at all is fine. */
	memset(small, 0xA5, sizeof(small));
	FUZZ_CHECK(config_parse(json, size, SOURCE, &c, small, sizeof(small)) == -1,
	           "a short message buffer changed the verdict");
	check_failure(&c, small, sizeof(small));
	FUZZ_CHECK(strncmp(small, err, sizeof(small) - 1) == 0,
	           "the short message is not a prefix of the full one");
	FUZZ_CHECK(config_parse(json, size, SOURCE, &c, NULL, 0) == -1,
	           "no message buffer changed the verdict");
	FUZZ_CHECK(is_zeroed(&c), "*out not zeroed after failure");
	return 0;
}
