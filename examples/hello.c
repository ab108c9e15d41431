/*
 * An example function: a C handler built as a shared object and run by
 * metatoken-bootstrap. It answers a JSON document about its invocation:
 * request id, function, remaining time, and whether a service-account token
 * came with the context (never the token itself).
 *
 * Build and run (see Makefile):
 *
 *   cc -shared -fPIC -o libhello.so hello.c $(pkg-config --cflags --libs metatoken)
 *   _HANDLER=./libhello.so:handler AWS_LAMBDA_RUNTIME_API=127.0.0.1:8169 metatoken-bootstrap
 *
 * or let metatokend run it: {"functions": [{"name": "hello",
 * "handler": "./libhello.so:handler"}]}.
 *
 * A second symbol, `context`, answers the whole context as JSON (the document
 * a non-C runtime would receive), token included: for tests and debugging.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <metatoken/context.h>
#include <metatoken/runtime.h>

/* Appends s to buf as a JSON string (or null). Returns the new length. */
static size_t put_string(char *buf, size_t cap, size_t n, const char *s)
{
	if (!s)
		return n + (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "null");
	n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "\\u%04x", *s);
		else
			n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%c", *s);
	}
	return n + (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "\"");
}

/* The handler: metatoken-bootstrap finds it as `handler` (the default). */
int handler(const char *event, size_t len, const struct mtk_context *ctx, struct mtk_result *out,
            void *arg);
int handler(const char *event, size_t len, const struct mtk_context *ctx, struct mtk_result *out,
            void *arg)
{
	char buf[2048];
	size_t n = 0;

	(void)event;
	(void)arg;
	n += (size_t)snprintf(buf, sizeof(buf), "{\"message\":\"hello\",\"request_id\":");
	n = put_string(buf, sizeof(buf), n, mtk_context_get(ctx, MTK_CTX_REQUEST_ID));
	n +=
	    (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, ",\"function_name\":");
	n = put_string(buf, sizeof(buf), n, mtk_context_get(ctx, MTK_CTX_FUNCTION_NAME));
	n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0,
	                      ",\"event_bytes\":%zu,\"remaining_ms\":%lld,\"has_token\":%s,"
	                      "\"token_expires_in\":%lld}",
	                      len, (long long)mtk_context_remaining_ms(ctx),
	                      mtk_context_has_token(ctx) ? "true" : "false",
	                      (long long)mtk_context_token_expires_in_s(ctx));
	if (n >= sizeof(buf))
		return mtk_result_error(out, "ResponseTooLarge", "the answer does not fit"), 0;
	/* What a function prints goes to metatokend's log, by request id. */
	printf("hello: request %s, %lld ms left\n", mtk_context_get(ctx, MTK_CTX_REQUEST_ID),
	       (long long)mtk_context_remaining_ms(ctx));
	return mtk_result_set(out, buf, n) == MTK_OK ? 0 : -1;
}

/* The whole context as JSON, token included. The JSON text is handed over:
 * the loop frees it. */
int context(const char *event, size_t len, const struct mtk_context *ctx, struct mtk_result *out,
            void *arg);
int context(const char *event, size_t len, const struct mtk_context *ctx, struct mtk_result *out,
            void *arg)
{
	char *json = NULL, *copy;
	size_t n;

	(void)event;
	(void)len;
	(void)arg;
	if (mtk_context_to_json(ctx, &json) != MTK_OK)
		return -1;
	n = strlen(json);
	copy = malloc(n + 1);
	if (copy)
		memcpy(copy, json, n + 1);
	mtk_json_free(json); /* wipes the token */
	if (!copy)
		return -1;
	return mtk_result_take(out, copy, n) == MTK_OK ? 0 : -1;
}
