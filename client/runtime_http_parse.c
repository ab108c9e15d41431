/*
 * The response side of the runtime transport's HTTP/1.1 (runtime_http.c),
 * without I/O: a header block's status, fields and framing, and a chunk's
 * size line. The caller owns every buffer; nothing here allocates. Strict
 * where leniency could split one answer into two: control bytes, folded
 * lines, blanks in a name and conflicting lengths are all malformed.
 */
#include "private/runtime.h"

#include <string.h>
#include <strings.h>

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether the comma-separated value v holds token (any case). */
static bool has_token(const char *v, size_t len, const char *token)
{
	size_t tl = strlen(token), i = 0, s, e;

	while (i < len) {
		for (s = i; s < len && (blank(v[s]) || v[s] == ','); s++)
			;
		for (e = s; e < len && v[e] != ','; e++)
			;
		for (i = e; e > s && blank(v[e - 1]); e--)
			;
		if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
			return true;
	}
	return false;
}

static bool named(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* Reads the framing headers of one field; -1 when they are malformed. */
static int frame(struct mtk__http_framing *f, const char *name, size_t name_len, const char *v,
                 size_t len)
{
	uint64_t n = 0;
	size_t i;

	if (named(name, name_len, "Content-Length")) {
		if (len == 0 || len > 19)
			return -1;
		for (i = 0; i < len; i++) {
			if (v[i] < '0' || v[i] > '9')
				return -1;
			n = n * 10 + (uint64_t)(v[i] - '0');
		}
		if (f->has_length && f->length != n)
			return -1;
		f->has_length = true;
		f->length = n;
	} else if (named(name, name_len, "Transfer-Encoding")) {
		/* Chunked when it is the last coding; any other coding without
		 * it ends with the connection. */
		f->chunked = len >= 7 && strncasecmp(v + len - 7, "chunked", 7) == 0 &&
		             (len == 7 || blank(v[len - 8]) || v[len - 8] == ',');
		if (!f->chunked)
			f->close = true;
	} else if (named(name, name_len, "Connection") && has_token(v, len, "close")) {
		f->close = true;
	}
	return 0;
}

enum mtk_status mtk__http_parse_head(const char *p, size_t len, struct mtk__http_framing *f,
                                     const struct mtk_runtime_sink *sink)
{
	const char *line, *eol, *colon, *v, *ve, *c;
	const char *last; /* the empty line */

	if (len < 4 || memcmp(p + len - 4, "\r\n\r\n", 4) != 0)
		return MTK_ERR_TRANSPORT;
	last = p + len - 2;
	eol = memmem(p, len, "\r\n", 2);
	if (eol - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
	    p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' ||
	    p[11] > '9' || (eol - p > 12 && p[12] != ' '))
		return MTK_ERR_TRANSPORT;
	memset(f, 0, sizeof(*f));
	f->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	f->close = p[7] == '0'; /* HTTP/1.0: no keep-alive asked, none assumed */
	for (line = eol + 2; line < last; line = eol + 2) {
		eol = memmem(line, (size_t)(last + 2 - line), "\r\n", 2);
		for (c = line; c < eol; c++)
			if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
				return MTK_ERR_TRANSPORT;
		colon = memchr(line, ':', (size_t)(eol - line));
		if (!colon || colon == line)
			return MTK_ERR_TRANSPORT;
		for (c = line; c < colon; c++)
			if (blank(*c))
				return MTK_ERR_TRANSPORT; /* also a folded line */
		for (v = colon + 1; v < eol && blank(*v); v++)
			;
		for (ve = eol; ve > v && blank(ve[-1]); ve--)
			;
		if (f->status < 200)
			continue;
		if (frame(f, line, (size_t)(colon - line), v, (size_t)(ve - v)) != 0)
			return MTK_ERR_TRANSPORT;
		if (sink->header &&
		    sink->header(sink->arg, line, (size_t)(colon - line), v, (size_t)(ve - v)) != 0)
			return MTK_ERR_BODY_TOO_LARGE;
	}
	return MTK_OK;
}

enum mtk_status mtk__http_chunk_size(const char *line, size_t len, uint64_t *size)
{
	uint64_t n = 0;
	size_t i;
	int d;

	for (i = 0; i < len; i++) {
		char c = line[i];

		d = c >= '0' && c <= '9'   ? c - '0'
		    : c >= 'a' && c <= 'f' ? c - 'a' + 10
		    : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                           : -1;
		if (d < 0)
			break;
		if (n > (UINT64_MAX >> 4))
			return MTK_ERR_TRANSPORT;
		n = n << 4 | (uint64_t)d;
	}
	if (i == 0 || (i < len && line[i] != ';' && !blank(line[i])))
		return MTK_ERR_TRANSPORT;
	*size = n;
	return MTK_OK;
}
