/*
 * What a handler returns through (runtime_result.c), and the error document
 * the loop posts.
 */
#include "private/internal.h"
#include "private/runtime.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mtk__result_release(struct mtk_result *r)
{
	free(r->body);
	free(r->message);
	memset(r, 0, sizeof(*r));
}

enum mtk_status mtk_result_take(struct mtk_result *out, void *bytes, size_t len)
{
	if (!out || (!bytes && len)) {
		free(bytes);
		return MTK_ERR_INVALID_ARGUMENT;
	}
	mtk__result_release(out);
	out->body = bytes;
	out->len = len;
	out->set = true;
	return MTK_OK;
}

enum mtk_status mtk_result_set(struct mtk_result *out, const void *bytes, size_t len)
{
	char *copy;

	if (!out || (!bytes && len))
		return MTK_ERR_INVALID_ARGUMENT;
	if (!(copy = malloc(len ? len : 1)))
		return MTK_ERR_NO_MEMORY;
	if (len)
		memcpy(copy, bytes, len);
	return mtk_result_take(out, copy, len);
}

enum mtk_status mtk_result_set_string(struct mtk_result *out, const char *s)
{
	if (!s)
		return MTK_ERR_INVALID_ARGUMENT;
	return mtk_result_set(out, s, strlen(s));
}

/* Copies type into buf (cap bytes) with every byte outside 0x21..0x7e as '_'. */
static void clean_type(const char *type, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; type[i] && i + 1 < cap; i++)
		buf[i] = type[i] > 0x20 && type[i] < 0x7f ? type[i] : '_';
	buf[i] = '\0';
	if (!buf[0])
		snprintf(buf, cap, "Error");
}

void mtk__result_verror(struct mtk_result *out, const char *type, const char *fmt, va_list ap)
{
	va_list again;
	char *msg = NULL;
	int n;

	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n >= 0 && (msg = malloc((size_t)n + 1)))
		vsnprintf(msg, (size_t)n + 1, fmt, again);
	va_end(again);
	mtk__result_release(out);
	clean_type(type ? type : "Error", out->type, sizeof(out->type));
	out->message = msg; /* NULL: the fixed text of mtk__error_document() */
	out->set = out->is_error = true;
}

enum mtk_status mtk_result_error(struct mtk_result *out, const char *type, const char *fmt, ...)
{
	va_list ap;

	if (!out || !fmt)
		return MTK_ERR_INVALID_ARGUMENT;
	va_start(ap, fmt);
	mtk__result_verror(out, type, fmt, ap);
	va_end(ap);
	return MTK_OK;
}

void mtk__result_error(struct mtk_result *out, const char *type, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mtk__result_verror(out, type, fmt, ap);
	va_end(ap);
}

/* {"errorMessage","errorType","stackTrace":[]}, or NULL when out of memory. */
char *mtk__error_document(const char *type, const char *message)
{
	cJSON *root = cJSON_CreateObject();
	char *text = NULL;

	if (root &&
	    cJSON_AddStringToObject(root, "errorMessage",
	                            message ? message
	                                    : "(the error message could not be stored)") &&
	    cJSON_AddStringToObject(root, "errorType", type) &&
	    cJSON_AddArrayToObject(root, "stackTrace"))
		text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}
