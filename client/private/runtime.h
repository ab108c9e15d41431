/*
 * Internals of the runtime client (runtime.c) shared with its HTTP
 * transport (runtime_http.c, runtime_http_parse.c). Never installed.
 */
#ifndef METATOKEN_CLIENT_RUNTIME_INTERNAL_H
#define METATOKEN_CLIENT_RUNTIME_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "metatoken/runtime.h"
#include "metatoken/testing.h"

/*
 * The real transport of the runtime loop: HTTP/1.1 over a plain TCP socket,
 * one connection kept open across requests (keep-alive). perform() follows
 * struct mtk_runtime_transport; a request with a URL that is not
 * http://host[:port]/path, a method other than GET or POST, or a header
 * line holding CR or LF is MTK_ERR_INVALID_ARGUMENT, nothing sent. A
 * response header block over 64 KiB is MTK_ERR_TRANSPORT. _new() fails
 * only for want of memory; _free(NULL) is a no-op. Not thread-safe: one
 * loop, one transport.
 */
struct mtk__rthttp;
enum mtk_status mtk__rthttp_new(struct mtk__rthttp **out);
void mtk__rthttp_free(struct mtk__rthttp *t);
enum mtk_status mtk__rthttp_perform(void *arg, const struct mtk_runtime_request *req,
                                    const struct mtk_runtime_sink *sink, long *status);
/* perform(), a POST with a GET of then_get (no headers, same host) sent
 * right behind it on the connection, whose answer the next perform() of
 * that GET reads without sending it again. Any other request next is sent
 * on a new connection. */
enum mtk_status mtk__rthttp_perform_then(struct mtk__rthttp *t,
                                         const struct mtk_runtime_request *req,
                                         const struct mtk_runtime_sink *sink, long *status,
                                         const char *then_get);

/* How one HTTP/1.1 response is framed (runtime_http_parse.c). */
struct mtk__http_framing {
	long status;
	bool close;      /* the connection ends with this answer */
	bool chunked;    /* Transfer-Encoding: chunked */
	bool has_length; /* length is the Content-Length */
	uint64_t length;
};

/*
 * Parses a response header block, len bytes at p from the status line to
 * the empty line's CRLF, into f, handing each field of a final (non-1xx)
 * answer to sink->header (value without surrounding blanks). MTK_OK;
 * MTK_ERR_TRANSPORT when malformed; MTK_ERR_BODY_TOO_LARGE when the sink
 * refused a field.
 */
enum mtk_status mtk__http_parse_head(const char *p, size_t len, struct mtk__http_framing *f,
                                     const struct mtk_runtime_sink *sink);

/* The size in a chunk-size line (len bytes without the CRLF; extensions
 * ignored): MTK_OK with *size, or MTK_ERR_TRANSPORT. */
enum mtk_status mtk__http_chunk_size(const char *line, size_t len, uint64_t *size);

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
