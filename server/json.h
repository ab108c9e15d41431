/*
 * The one strict JSON reader for everything metatokend parses: the
 * configuration file and every request body of the control API.
 *
 * json_parse() turns len bytes into a cJSON tree, or refuses the text with
 * one line that says where and what was wrong. On top of what cJSON checks
 * (syntax) it refuses:
 *   - NUL bytes anywhere, and "\u0000" escapes (cJSON would cut the string);
 *   - text after the top-level value;
 *   - control characters between tokens (cJSON skips them as space);
 *   - nesting deeper than JSON_DEPTH_MAX levels (or r->max_depth);
 *   - a key that repeats in any object (cJSON would keep both, and a lookup
 *     would see only the first: one reader's value is another's shadow);
 *   - invalid UTF-8 and control characters in any key or string.
 *
 * The field readers then check a tree's contents, one field at a time, and
 * word their refusals the same way. Every message is one line:
 *
 *   cfg.json: service_accounts[1].lifetime_s: must be a positive integer (got "ten")
 *   cfg.json:3:5: invalid JSON
 *
 * or, for a request body (source NULL), the same without the file name,
 * with "body" naming the document itself:
 *
 *   lifetime_s: must be a positive integer (got "ten")
 *   faults.latency_ms: duplicate key
 *   body:1:12: invalid JSON: unexpected text after the top-level value
 *   body: must be a JSON object (got [1])
 *
 * A control handler reads its body like this (the caller owns the tree):
 *
 *   static const char *const known[] = { "lifetime_s", "reissue_margin_s", NULL };
 *   char err[256];
 *   struct json_reader r = { .err = err, .errlen = sizeof(err) };
 *   int64_t lifetime_s = -1;
 *   cJSON *o = json_parse(&r, body, body_len);
 *
 *   if (!o || json_check_keys(&r, o, known) < 0 ||
 *       json_get_int(&r, o, "lifetime_s", 0, 1, TEN_YEARS_S, &lifetime_s) < 0)
 *           reply 400 {"error": err}
 *   cJSON_Delete(o);
 *
 * A reader is not shared between threads; it lives on the caller's stack.
 */
#ifndef METATOKEN_SERVER_JSON_H
#define METATOKEN_SERVER_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_PATH_MAX  256 /* the field path in messages, NUL included */
#define JSON_DEPTH_MAX 32  /* default nesting limit: [[1]] is 2 levels */

/*
 * Where reading is, for messages. Set the public fields with a designated
 * initializer and leave the rest zero; the path starts empty.
 */
struct json_reader {
	/* Starts every message: a file name. NULL: the text is a request body;
	 * messages start at the field path, and "body" names the whole. */
	const char *source;
	/* Where the one-line message goes; NULL or 0: nowhere. */
	char *err;
	size_t errlen;
	/* Nesting limit; 0: JSON_DEPTH_MAX. */
	unsigned max_depth;
	/* NULL-terminated key names: string values held directly in an object
	 * under one of these keys, or a string value under one of them, may
	 * contain tab, newline and carriage return (metadata attributes:
	 * user-data, startup-script; a PEM public key). NULL: none may. */
	const char *const *multiline_keys;

	/* Private: the current field path, e.g. "service_accounts[1].id". */
	char path[JSON_PATH_MAX];
	size_t path_len;
};

/* Reader flags. */
enum {
	JSON_REQUIRED = 1,     /* absent: "is required"; a string must also be non-empty */
	JSON_NONEMPTY = 2,     /* a string "": "must not be empty" */
	JSON_EXCLUSIVE_LO = 4, /* json_get_number: lo itself is refused ("above lo") */
};

/*
 * Parses text[0..len) (no NUL needed at text[len]: the text is copied) into
 * a new tree, checked as the head of this file says. Returns the tree, which
 * the caller frees with cJSON_Delete(), or NULL with the message in r->err:
 * "<source>:<line>:<column>: <what>" for a fault in the text,
 * "<source>: <path>: <what>" for a key or string. Any top-level value is
 * accepted; the caller checks that it got an object. The caller bounds len
 * (the configuration's 1 MiB, the HTTP layer's body cap).
 */
cJSON *json_parse(struct json_reader *r, const char *text, size_t len);

/*
 * Writes "<source>: <path>: <what> (got <value>)" into r->err, leaving out
 * the parts that are empty (no got part when got is NULL). The value is
 * printed compactly and cut at 40 bytes with "...". Always returns -1, so
 * that callers can `return json_fail(...)`.
 */
int json_fail(struct json_reader *r, const cJSON *got, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The field path. json_path_key() appends ".key" (a key over 40 bytes is
 * shortened with "..."), json_path_index() appends "[index]"; each returns
 * a mark that json_path_pop() takes to restore the path as it was.
 */
size_t json_path_key(struct json_reader *r, const char *key);
size_t json_path_index(struct json_reader *r, size_t index);
void json_path_pop(struct json_reader *r, size_t mark);

/*
 * A cJSON string item that borrows s, so that a bare C string can be shown
 * as json_fail()'s "(got ...)". Never pass it to cJSON_Delete().
 */
cJSON json_string_item(const char *s);

/*
 * The field readers. Each reads obj.key (obj from json_parse(), so a key is
 * there once at most) and returns 1 if it was there and good, with *out
 * written; 0 if absent and not JSON_REQUIRED (*out untouched); -1 with the
 * message in r->err. Messages name the path of the field.
 */

/*
 * Checks that obj is an object ("must be an object") whose keys all appear
 * in known, a NULL-terminated list ("<key>: unknown key"). Returns 0 or -1.
 */
int json_check_keys(struct json_reader *r, const cJSON *obj, const char *const *known);

/*
 * A string of at most max_len bytes (0: no cap) for which check, if not
 * NULL, returns NULL; otherwise check's answer is the message, e.g.
 * "must be a dotted IPv4 address". *out points into the tree and lives as
 * long as it does.
 */
int json_get_string(struct json_reader *r, const cJSON *obj, const char *key, unsigned flags,
                    size_t max_len, const char *(*check)(const char *s), const char **out);

/* As json_get_string(), but on success frees *out and replaces it with a
 * malloc'd copy, which the caller frees. */
int json_dup_string(struct json_reader *r, const cJSON *obj, const char *key, unsigned flags,
                    size_t max_len, const char *(*check)(const char *s), char **out);

/*
 * An integer in [lo, hi]: a JSON number with no fraction (1.5 and 1e300
 * fail; 1e3 is 1000). The message says which bound: for lo 1 "must be a
 * positive integer", for lo 0 "must be a non-negative integer" and above
 * hi "must be at most <hi>"; for any other lo "must be an integer from
 * <lo> to <hi>". Always with "(got <value>)".
 */
int json_get_int(struct json_reader *r, const cJSON *obj, const char *key, unsigned flags,
                 int64_t lo, int64_t hi, int64_t *out);

/* true or false ("must be true or false"); *out is 1 or 0. */
int json_get_bool(struct json_reader *r, const cJSON *obj, const char *key, unsigned flags,
                  int *out);

/*
 * A finite number in [lo, hi], or (lo, hi] with JSON_EXCLUSIVE_LO: "must be
 * a number from <lo> to <hi>" or "must be a number above <lo> and at most
 * <hi>".
 */
int json_get_number(struct json_reader *r, const cJSON *obj, const char *key, unsigned flags,
                    double lo, double hi, double *out);

/*
 * Finds the first name that repeats an earlier one, in the order of index:
 * *dup is the smallest index whose name came before, *first that earlier
 * index. Sorts names in place (O(n log n)); returns 1 if found, else 0. For
 * uniqueness checks beyond keys, e.g. account ids across an array.
 */
struct json_name {
	const char *name;
	size_t index;
};

int json_first_repeat(struct json_name *names, size_t n, size_t *first, size_t *dup);

#endif
