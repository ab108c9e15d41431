/*
 * An example function that fails on bad input: the caller gets the error
 * document {"errorMessage","errorType","stackTrace"} (with the Invoke API,
 * HTTP 200 and X-Amz-Function-Error: Unhandled).
 *
 *   cc -shared -fPIC -o liberror.so error.c $(pkg-config --cflags --libs metatoken)
 *   _HANDLER=./liberror.so:greet metatoken-bootstrap
 *
 * An event holding "name" gets a greeting; any other gets a ValidationError.
 */
#include <stdio.h>
#include <string.h>

#include <metatoken/runtime.h>

int greet(const char *event, size_t len, const struct mtk_context *ctx, struct mtk_result *out,
          void *arg);
int greet(const char *event, size_t len, const struct mtk_context *ctx, struct mtk_result *out,
          void *arg)
{
	char buf[256];
	int n;

	(void)ctx;
	(void)arg;
	/* event is NUL-terminated, so string functions are safe on it. */
	if (!strstr(event, "\"name\"")) {
		mtk_result_error(out, "ValidationError",
		                 "the event must be a JSON object with \"name\" (got %zu bytes)",
		                 len);
		return 0;
	}
	n = snprintf(buf, sizeof(buf), "{\"greeting\":\"hello, whoever you are\"}");
	return mtk_result_set(out, buf, (size_t)n) == MTK_OK ? 0 : -1;
}
