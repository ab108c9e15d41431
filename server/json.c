/*
 * The strict JSON reader (json.h). json_parse() runs two passes over one
 * cJSON tree:
 *   1. the raw text: NUL bytes, syntax (line:column), trailing text, and
 *      what cJSON lets through: "\u0000" escapes, control characters
 *      between tokens, and the nesting depth;
 *   2. a walk of the whole tree: duplicate keys, control characters and
 *      invalid UTF-8 in every key and string.
 * The field readers are the third pass, the caller's schema.
 */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_IN_PATH_MAX 40 /* longer keys are shortened in paths */
#define GOT_MAX_LEN     40 /* longer "(got ...)" values end in "..." */
#define BODY_NAME       "body"

/* ---- messages and paths ---- */

cJSON json_string_item(const char *s)
{
	cJSON item;

	memset(&item, 0, sizeof(item));
	item.type = cJSON_String;
	item.valuestring = (char *)s;
	return item;
}

/*
 * Prints a JSON value compactly into out[GOT_MAX_LEN + 1], ending in "..."
 * if it is longer, never cutting a UTF-8 sequence in half.
 */
static void show_value(const cJSON *item, char *out)
{
	char *text;
	size_t len;

	if (cJSON_IsNumber(item) && !isfinite(item->valuedouble)) {
		/* cJSON would print "null". */
		snprintf(out, GOT_MAX_LEN + 1, "a number out of range");
		return;
	}
	if (cJSON_IsNumber(item) && item->valuedouble >= -9223372036854775808.0 &&
	    item->valuedouble < 9223372036854775808.0 &&
	    (double)(int64_t)item->valuedouble == item->valuedouble) {
		/* cJSON would print 9007199254740992 as 9.00719925474099e+15. */
		snprintf(out, GOT_MAX_LEN + 1, "%" PRId64, (int64_t)item->valuedouble);
		return;
	}
	text = cJSON_PrintUnformatted(item);
	if (!text) {
		snprintf(out, GOT_MAX_LEN + 1, "?");
		return;
	}
	len = strlen(text);
	if (len > GOT_MAX_LEN) {
		len = GOT_MAX_LEN - 3;
		while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
			len--;
		snprintf(out, GOT_MAX_LEN + 1, "%.*s...", (int)len, text);
	} else {
		memcpy(out, text, len + 1);
	}
	cJSON_free(text);
}

int json_fail(struct json_reader *r, const cJSON *got, const char *fmt, ...)
{
	char what[256];
	char shown[GOT_MAX_LEN + 1];
	va_list ap;
	int n;

	if (!r->err || r->errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (r->source && r->path_len > 0)
		n = snprintf(r->err, r->errlen, "%s: %s: %s", r->source, r->path, what);
	else if (r->path_len > 0)
		n = snprintf(r->err, r->errlen, "%s: %s", r->path, what);
	else
		n = snprintf(r->err, r->errlen, "%s: %s", r->source ? r->source : BODY_NAME, what);
	if (got && n >= 0 && (size_t)n < r->errlen) {
		show_value(got, shown);
		snprintf(r->err + n, r->errlen - (size_t)n, " (got %s)", shown);
	}
	return -1;
}

/* Writes "<source>:<line>:<column>: <what>" for a byte offset into text. */
static int fail_at(struct json_reader *r, const char *text, size_t offset, const char *what)
{
	size_t line = 1;
	size_t column = 1;

	for (size_t i = 0; i < offset; i++) {
		if (text[i] == '\n') {
			line++;
			column = 1;
		} else {
			column++;
		}
	}
	if (r->err && r->errlen > 0)
		snprintf(r->err, r->errlen, "%s:%zu:%zu: %s", r->source ? r->source : BODY_NAME,
		         line, column, what);
	return -1;
}

size_t json_path_key(struct json_reader *r, const char *key)
{
	size_t mark = r->path_len;
	size_t room = sizeof(r->path) - mark;
	size_t keylen = strlen(key);
	const char *dot = mark > 0 ? "." : "";
	int n;

	if (keylen > KEY_IN_PATH_MAX)
		n = snprintf(r->path + mark, room, "%s%.*s...", dot, KEY_IN_PATH_MAX - 3, key);
	else
		n = snprintf(r->path + mark, room, "%s%s", dot, key);
	r->path_len = n < 0 ? mark : (size_t)n >= room ? sizeof(r->path) - 1 : mark + (size_t)n;
	return mark;
}

size_t json_path_index(struct json_reader *r, size_t index)
{
	size_t mark = r->path_len;
	size_t room = sizeof(r->path) - mark;
	int n = snprintf(r->path + mark, room, "[%zu]", index);

	r->path_len = n < 0 ? mark : (size_t)n >= room ? sizeof(r->path) - 1 : mark + (size_t)n;
	return mark;
}

void json_path_pop(struct json_reader *r, size_t mark)
{
	r->path_len = mark;
	r->path[mark] = '\0';
}

/* ---- text checks ---- */

static int utf8_valid(const unsigned char *s)
{
	while (*s) {
		unsigned char c = *s;
		uint32_t cp;
		uint32_t min;
		size_t n;

		if (c < 0x80) {
			s++;
			continue;
		}
		if ((c & 0xE0) == 0xC0) {
			n = 1;
			cp = c & 0x1F;
			min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2;
			cp = c & 0x0F;
			min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return 0;
		}
		/* A NUL fails the continuation test, so this never reads past the end. */
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		s += n + 1;
	}
	return 1;
}

/* What is wrong with a key or string, or NULL. `multiline` lets tab,
 * newline and carriage return through. */
static const char *text_problem(const char *s, int multiline)
{
	for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
		if (*u < 0x20 && !(multiline && (*u == '\t' || *u == '\n' || *u == '\r')))
			return "must not contain control characters";
	}
	if (!utf8_valid((const unsigned char *)s))
		return "must be valid UTF-8";
	return NULL;
}

static int is_json_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/*
 * Checks what cJSON lets through in a document that has already parsed, so
 * quotes and backslashes can be tracked without a full lexer: "\u0000"
 * escapes (cJSON would cut the string there), control characters between
 * tokens (cJSON skips any byte up to ' ' as whitespace) and nesting deeper
 * than max_depth. Returns NULL, or what is wrong with *offset set to where.
 */
static const char *scan_text(const char *text, size_t len, unsigned max_depth, size_t *offset,
                             char *why, size_t whylen)
{
	unsigned depth = 0;
	int in_string = 0;

	for (size_t i = 0; i < len; i++) {
		if (in_string && text[i] == '"') {
			in_string = 0;
		} else if (in_string && text[i] == '\\') {
			if (len - i >= 6 && memcmp(text + i + 1, "u0000", 5) == 0) {
				*offset = i;
				return "\\u0000 is not allowed in strings";
			}
			i++;
		} else if (in_string) {
			continue;
		} else if (text[i] == '"') {
			in_string = 1;
		} else if (text[i] == '[' || text[i] == '{') {
			if (++depth > max_depth) {
				*offset = i;
				snprintf(why, whylen, "nested deeper than %u levels", max_depth);
				return why;
			}
		} else if (text[i] == ']' || text[i] == '}') {
			depth--;
		} else if ((unsigned char)text[i] < 0x20 && !is_json_space(text[i])) {
			*offset = i;
			return "invalid JSON: control character outside a string";
		}
	}
	return NULL;
}

/* ---- the tree ---- */

static int cmp_name(const void *a, const void *b)
{
	const struct json_name *x = a;
	const struct json_name *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return (x->index > y->index) - (x->index < y->index);
}

int json_first_repeat(struct json_name *names, size_t n, size_t *first, size_t *dup)
{
	int found = 0;
	size_t i = 0;

	if (n < 2)
		return 0;
	qsort(names, n, sizeof(*names), cmp_name);
	while (i < n) {
		size_t j = i + 1;

		while (j < n && strcmp(names[i].name, names[j].name) == 0)
			j++;
		if (j - i > 1 && (!found || names[i + 1].index < *dup)) {
			*first = names[i].index;
			*dup = names[i + 1].index;
			found = 1;
		}
		i = j;
	}
	return found;
}

static const cJSON *nth_child(const cJSON *item, size_t index)
{
	const cJSON *child = item->child;

	while (child && index-- > 0)
		child = child->next;
	return child;
}

static int check_duplicate_keys(struct json_reader *r, const cJSON *obj)
{
	size_t n = (size_t)cJSON_GetArraySize(obj);
	struct json_name *names;
	const cJSON *child;
	size_t first = 0;
	size_t dup = 0;
	size_t i = 0;
	size_t mark;
	int rc = 0;

	if (n < 2)
		return 0;
	names = malloc(n * sizeof(*names));
	if (!names)
		return json_fail(r, NULL, "out of memory");
	cJSON_ArrayForEach(child, obj)
	{
		names[i].name = child->string;
		names[i].index = i;
		i++;
	}
	if (json_first_repeat(names, n, &first, &dup)) {
		mark = json_path_key(r, nth_child(obj, dup)->string);
		rc = json_fail(r, NULL, "duplicate key");
		json_path_pop(r, mark);
	}
	free(names);
	return rc;
}

/* Whether obj's strings may span lines: obj is an object, or itself a
 * string, held under one of r->multiline_keys. */
static int is_multiline(const struct json_reader *r, const cJSON *obj)
{
	if (!r->multiline_keys || !(cJSON_IsObject(obj) || cJSON_IsString(obj)) || !obj->string)
		return 0;
	for (size_t k = 0; r->multiline_keys[k]; k++)
		if (strcmp(r->multiline_keys[k], obj->string) == 0)
			return 1;
	return 0;
}

/*
 * Pass 2: every key and string in the document, wherever it is. Keys are
 * checked before they go into a path, so a message never carries a raw
 * control character. Depth is bounded by scan_text().
 */
static int walk(struct json_reader *r, const cJSON *item, int multiline)
{
	const cJSON *child;
	const char *why;
	size_t i = 0;

	if (cJSON_IsString(item)) {
		why = text_problem(item->valuestring, multiline);
		return why ? json_fail(r, item, "%s", why) : 0;
	}
	if (cJSON_IsObject(item)) {
		cJSON_ArrayForEach(child, item)
		{
			why = text_problem(child->string, 0);
			if (why) {
				cJSON key = json_string_item(child->string);

				return json_fail(r, &key, "key %s", why);
			}
		}
		if (check_duplicate_keys(r, item))
			return -1;
	}
	cJSON_ArrayForEach(child, item)
	{
		size_t mark =
		    cJSON_IsObject(item) ? json_path_key(r, child->string) : json_path_index(r, i);
		int rc = walk(r, child,
		              is_multiline(r, item) ||
		                  (cJSON_IsString(child) && is_multiline(r, child)));

		json_path_pop(r, mark);
		if (rc)
			return -1;
		i++;
	}
	return 0;
}

cJSON *json_parse(struct json_reader *r, const char *text, size_t len)
{
	const char *noun = r->source ? "file" : BODY_NAME;
	unsigned max_depth = r->max_depth ? r->max_depth : JSON_DEPTH_MAX;
	const char *end = NULL;
	const char *nul;
	const char *why;
	char buf_why[64];
	char what[64];
	cJSON *root = NULL;
	char *copy;
	size_t i;

	json_path_pop(r, 0);
	if (len > 0 && (nul = memchr(text, '\0', len))) {
		snprintf(what, sizeof(what), "NUL byte in %s", noun);
		fail_at(r, text, (size_t)(nul - text), what);
		return NULL;
	}
	/*
	 * cJSON 1.7.15 may read up to a NUL, so it gets a copy with one; and
	 * the NUL is handed to cJSON too: at the end of the buffer it would
	 * report an error at the last character, not after it.
	 */
	copy = malloc(len + 1);
	if (!copy) {
		json_fail(r, NULL, "out of memory");
		return NULL;
	}
	if (len > 0)
		memcpy(copy, text, len);
	copy[len] = '\0';
	root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 0);
	if (!root) {
		size_t at = end && end >= copy ? (size_t)(end - copy) : 0;

		if (at >= len) {
			snprintf(what, sizeof(what), "invalid JSON: unexpected end of %s", noun);
			fail_at(r, text, len, what);
		} else {
			fail_at(r, text, at, "invalid JSON");
		}
		goto out_free_copy;
	}
	/* cJSON's own trailing-data check is broken for explicit lengths; do it here. */
	i = (size_t)(end - copy);
	while (i < len && is_json_space(text[i]))
		i++;
	if (i < len) {
		fail_at(r, text, i, "invalid JSON: unexpected text after the top-level value");
		goto out_delete;
	}
	if ((why = scan_text(text, len, max_depth, &i, buf_why, sizeof(buf_why)))) {
		fail_at(r, text, i, why);
		goto out_delete;
	}
	if (walk(r, root, 0))
		goto out_delete;
	free(copy);
	return root;
out_delete:
	cJSON_Delete(root);
	root = NULL;
out_free_copy:
	free(copy);
	return root;
}

/* ---- field readers ---- */

int json_check_keys(struct json_reader *r, const cJSON *obj, const char *const *known)
{
	const cJSON *child;

	if (!cJSON_IsObject(obj))
		return json_fail(r, obj, "must be an object");
	cJSON_ArrayForEach(child, obj)
	{
		size_t k = 0;
		size_t mark;

		while (known[k] && strcmp(known[k], child->string) != 0)
			k++;
		if (known[k])
			continue;
		mark = json_path_key(r, child->string);
		json_fail(r, NULL, "unknown key");
		json_path_pop(r, mark);
		return -1;
	}
	return 0;
}

/*
 * Looks obj.key up for a reader: returns the item with the key pushed on
 * the path (*mark to pop), or NULL when absent, with *rc the reader's
 * answer (0, or -1 with "is required").
 */
static const cJSON *field(struct json_reader *r, const cJSON *obj, const char *key, unsigned flags,
                          size_t *mark, int *rc)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	*rc = 0;
	if (item) {
		*mark = json_path_key(r, key);
		return item;
	}
	if (flags & JSON_REQUIRED) {
		size_t m = json_path_key(r, key);

		*rc = json_fail(r, NULL, "is required");
		json_path_pop(r, m);
	}
	return NULL;
}

int json_get_string(struct json_reader *r, const cJSON *obj, const char *key, unsigned flags,
                    size_t max_len, const char *(*check)(const char *s), const char **out)
{
	const char *why;
	size_t mark;
	int rc;
	const cJSON *item = field(r, obj, key, flags, &mark, &rc);

	if (!item)
		return rc;
	rc = -1;
	if (!cJSON_IsString(item)) {
		json_fail(r, item, "must be a string");
		goto out;
	}
	if ((flags & (JSON_REQUIRED | JSON_NONEMPTY)) && item->valuestring[0] == '\0') {
		json_fail(r, item, "must not be empty");
		goto out;
	}
	if (max_len > 0 && strlen(item->valuestring) > max_len) {
		json_fail(r, item, "must be at most %zu bytes long", max_len);
		goto out;
	}
	if (check && (why = check(item->valuestring))) {
		json_fail(r, item, "%s", why);
		goto out;
	}
	*out = item->valuestring;
	rc = 1;
out:
	json_path_pop(r, mark);
	return rc;
}

int json_dup_string(struct json_reader *r, const cJSON *obj, const char *key, unsigned flags,
                    size_t max_len, const char *(*check)(const char *s), char **out)
{
	const char *s = NULL;
	char *copy;
	size_t mark;
	int rc = json_get_string(r, obj, key, flags, max_len, check, &s);

	if (rc <= 0)
		return rc;
	copy = strdup(s);
	if (!copy) {
		mark = json_path_key(r, key);
		json_fail(r, NULL, "out of memory");
		json_path_pop(r, mark);
		return -1;
	}
	free(*out);
	*out = copy;
	return 1;
}

int json_get_int(struct json_reader *r, const cJSON *obj, const char *key, unsigned flags,
                 int64_t lo, int64_t hi, int64_t *out)
{
	char kind[80];
	size_t mark;
	double d;
	int64_t v;
	int rc;
	const cJSON *item = field(r, obj, key, flags, &mark, &rc);

	if (!item)
		return rc;
	rc = -1;
	if (lo == 1 || lo == 0)
		snprintf(kind, sizeof(kind), "%s",
		         lo == 1 ? "a positive integer" : "a non-negative integer");
	else
		snprintf(kind, sizeof(kind), "an integer from %" PRId64 " to %" PRId64, lo, hi);
	if (!cJSON_IsNumber(item)) {
		json_fail(r, item, "must be %s", kind);
		goto out;
	}
	/* cJSON keeps numbers as doubles: whole-ness and range are checked on
	 * the double, written so that NaN fails too. */
	d = item->valuedouble;
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
		json_fail(r, item, "must be %s", kind);
		goto out;
	}
	v = (int64_t)d;
	if ((double)v != d || v < lo) {
		json_fail(r, item, "must be %s", kind);
		goto out;
	}
	if (v > hi) {
		if (lo == 1 || lo == 0)
			json_fail(r, item, "must be at most %" PRId64, hi);
		else
			json_fail(r, item, "must be %s", kind);
		goto out;
	}
	*out = v;
	rc = 1;
out:
	json_path_pop(r, mark);
	return rc;
}

int json_get_bool(struct json_reader *r, const cJSON *obj, const char *key, unsigned flags,
                  int *out)
{
	size_t mark;
	int rc;
	const cJSON *item = field(r, obj, key, flags, &mark, &rc);

	if (!item)
		return rc;
	if (cJSON_IsBool(item)) {
		*out = cJSON_IsTrue(item);
		rc = 1;
	} else {
		rc = json_fail(r, item, "must be true or false");
	}
	json_path_pop(r, mark);
	return rc;
}

int json_get_number(struct json_reader *r, const cJSON *obj, const char *key, unsigned flags,
                    double lo, double hi, double *out)
{
	int exclusive = (flags & JSON_EXCLUSIVE_LO) != 0;
	size_t mark;
	double d;
	int rc;
	const cJSON *item = field(r, obj, key, flags, &mark, &rc);

	if (!item)
		return rc;
	d = item->valuedouble;
	/* Written so that NaN fails too. */
	if (cJSON_IsNumber(item) && (exclusive ? d > lo : d >= lo) && d <= hi) {
		*out = d;
		rc = 1;
	} else if (exclusive) {
		rc = json_fail(r, item, "must be a number above %g and at most %g", lo, hi);
	} else {
		rc = json_fail(r, item, "must be a number from %g to %g", lo, hi);
	}
	json_path_pop(r, mark);
	return rc;
}
