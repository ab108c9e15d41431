/*
 * Internals of the runtime client (runtime.c) shared with its libcurl
 * transport (runtime_curl.c). Never installed.
 */
#ifndef METATOKEN_CLIENT_RUNTIME_INTERNAL_H
#define METATOKEN_CLIENT_RUNTIME_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>

#include "metatoken/runtime.h"

/*
 * The real transport of the runtime loop: one libcurl easy handle, reused
 * for every request so that the connection to the Runtime API stays open
 * (keep-alive). Not thread-safe: one loop, one handle.
 */
struct mtk__rtcurl;
enum mtk_status mtk__rtcurl_new(struct mtk__rtcurl **out);
void mtk__rtcurl_free(struct mtk__rtcurl *t);
enum mtk_status mtk__rtcurl_perform(void *arg, const struct mtk_runtime_request *req,
                                    const struct mtk_runtime_sink *sink, long *status);

/* The handler's answer (runtime_result.c). */
struct mtk_result {
	bool set;      /* bytes or an error was given */
	bool is_error; /* the last call was mtk_result_error() */
	char *body;
	size_t len;
	char type[128];
	char *message;
};

/* Frees what r holds and empties it. */
void mtk__result_release(struct mtk_result *r);
/* Makes r an error (see mtk_result_error); never fails. */
void mtk__result_verror(struct mtk_result *r, const char *type, const char *fmt, va_list ap);
void mtk__result_error(struct mtk_result *r, const char *type, const char *fmt, ...)
    MTK_PRINTF_(3, 4);
/* {"errorMessage","errorType","stackTrace":[]} (message NULL: a fixed
 * text), to be freed with cJSON_free(); NULL when out of memory. */
char *mtk__error_document(const char *type, const char *message);

#endif
