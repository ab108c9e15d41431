/*
 * A C handler for tests/integration/test_cli_invoke_local.py, loaded by
 * metatoken-bootstrap as invoke_fn.so:invoke_fn_handle. The event says what
 * to do: "fail" reports an error, "sleep" outlives any test timeout, and
 * anything else is echoed as {"event":EVENT,"var":$INVOKE_FN_VAR}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metatoken/runtime.h"

int invoke_fn_handle(const char *event, size_t len, const struct mtk_context *ctx,
                     struct mtk_result *out, void *arg);

int invoke_fn_handle(const char *event, size_t len, const struct mtk_context *ctx,
                     struct mtk_result *out, void *arg)
{
	const char *var = getenv("INVOKE_FN_VAR");
	char *answer;

	(void)ctx;
	(void)arg;
	fprintf(stderr, "invoke_fn: got %zu bytes\n", len);
	if (strstr(event, "\"fail\"")) {
		mtk_result_error(out, "TestError", "asked to fail");
		return 0;
	}
	if (strstr(event, "\"sleep\"")) {
		fprintf(stderr, "invoke_fn: sleeping\n");
		sleep(60); /* the timeout or the test's signal ends it first */
	}
	if (asprintf(&answer, "{\"event\":%.*s,\"var\":\"%s\"}", (int)len, event, var ? var : "") <
	    0)
		return 1;
	return mtk_result_take(out, answer, strlen(answer)) == MTK_OK ? 0 : 1;
}
