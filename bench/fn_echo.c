/*
 * The functions benchmark's handler (bench/functions): answers the event it
 * was given, unchanged, and prints nothing, so that a warm invocation
 * measures metatokend, the Runtime API and the C runtime, not the handler or
 * the log relay.
 */
#include <stddef.h>

#include <metatoken/runtime.h>

int fn_echo(const char *event, size_t len, const struct mtk_context *ctx, struct mtk_result *out,
            void *arg);
int fn_echo(const char *event, size_t len, const struct mtk_context *ctx, struct mtk_result *out,
            void *arg)
{
	(void)ctx;
	(void)arg;
	return mtk_result_set(out, event, len) == MTK_OK ? 0 : -1;
}
