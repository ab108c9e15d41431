/*
 * metatokend's configuration: the embedded default, a JSON file on top of it,
 * and strict validation with one-line messages that name the field.
 *
 * Parsing runs in three passes over one cJSON tree:
 *   1. the raw text: size cap, NUL bytes, syntax (line:column), trailing text,
 *      and what cJSON lets through: "\u0000" escapes and control characters
 *      between tokens;
 *   2. a walk of the whole tree: duplicate keys, control characters and
 *      invalid UTF-8 in every key and string;
 *   3. the schema: known keys only, types, ranges, uniqueness.
 */
#include "config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBEDDED_SOURCE "<embedded default>"
#define FILE_MAX_BYTES  (1024 * 1024)
#define PATH_MAX_LEN    256 /* field path in messages, NUL included */
#define KEY_IN_PATH_MAX 40  /* longer keys are shortened in paths */
#define GOT_MAX_LEN     40  /* longer "(got ...)" values end in "..." */
#define NAME_MAX_LEN    128 /* account ids, attribute and label keys */
#define EMAIL_MAX_LEN   254
#define HOST_MAX_LEN    253
#define SECONDS_MAX     (10LL * 365 * 24 * 3600) /* keeps ms arithmetic far from overflow */
#define NUMERIC_ID_MAX  9007199254740991LL       /* 2^53 - 1: exact as a JSON number */
#define DEFAULT_SCOPE   "https://www.googleapis.com/auth/cloud-platform"
#define LISTEN_EXPECTED "expected host:port, [v6]:port or :port"

const char config_embedded_default[] =
    "{\n"
    "  \"listen\": \"127.0.0.1:8169\",\n"
    "  \"project\": {\n"
    "    \"id\": \"metatoken-local\",\n"
    "    \"numeric_id\": 123456789012,\n"
    "    \"attributes\": {\n"
    "      \"enable-oslogin\": \"FALSE\"\n"
    "    }\n"
    "  },\n"
    "  \"instance\": {\n"
    "    \"id\": \"fhm0metatoken0local01\",\n"
    "    \"name\": \"metatoken-local\",\n"
    "    \"hostname\": \"metatoken-local.ru-central1.internal\",\n"
    "    \"zone\": \"ru-central1-a\",\n"
    "    \"attributes\": {\n"
    "      \"serial-port-enable\": \"0\"\n"
    "    },\n"
    "    \"labels\": {\n"
    "      \"env\": \"local\",\n"
    "      \"managed-by\": \"metatoken\"\n"
    "    }\n"
    "  },\n"
    "  \"yandex\": {\n"
    "    \"folder_id\": \"b1gmetatokenfolder01\",\n"
    "    \"cloud_id\": \"b1gmetatokencloud001\"\n"
    "  },\n"
    "  \"aws\": {\n"
    "    \"imdsv2_only\": false,\n"
    "    \"instance_id\": \"i-0123456789abcdef0\",\n"
    "    \"hostname\": \"ip-10-0-0-1.ec2.internal\",\n"
    "    \"local_ipv4\": \"10.0.0.1\",\n"
    "    \"availability_zone\": \"us-east-1a\",\n"
    "    \"region\": \"us-east-1\",\n"
    "    \"account_id\": \"123456789012\"\n"
    "  },\n"
    "  \"service_accounts\": [\n"
    "    {\n"
    "      \"id\": \"ajemetatokendefault1\",\n"
    "      \"email\": \"default@metatoken-local.iam.gserviceaccount.com\",\n"
    "      \"scopes\": [\"" DEFAULT_SCOPE "\"],\n"
    "      \"lifetime_s\": 43200,\n"
    "      \"reissue_margin_s\": 300,\n"
    "      \"aws_role\": \"metatoken-role\",\n"
    "      \"aws_lifetime_s\": 21600\n"
    "    }\n"
    "  ]\n"
    "}\n";

/* Where parsing is, for messages: the source name and the current field path. */
struct parser {
	const char *source;
	char *err;
	size_t errlen;
	char path[PATH_MAX_LEN];
	size_t path_len;
};

/* get_string() flags. */
enum {
	REQUIRED = 1, /* absent: "is required"; implies NONEMPTY */
	NONEMPTY = 2, /* "": "must not be empty" */
};

/* ---- messages and paths ---- */

/* A cJSON string item on the stack, so a bare C string can be shown as "(got ...)". */
static cJSON string_item(const char *s)
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

/*
 * Writes "<source>: <path>: <what> (got <value>)" into the caller's buffer;
 * the path part is left out at the top level, the got part when got is NULL.
 * Always returns -1, so callers can `return fail(...)`.
 */
__attribute__((format(printf, 3, 4))) static int fail(struct parser *p, const cJSON *got,
                                                      const char *fmt, ...)
{
	char what[256];
	char shown[GOT_MAX_LEN + 1];
	va_list ap;
	int n;

	if (!p->err || p->errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (p->path_len > 0)
		n = snprintf(p->err, p->errlen, "%s: %s: %s", p->source, p->path, what);
	else
		n = snprintf(p->err, p->errlen, "%s: %s", p->source, what);
	if (got && n >= 0 && (size_t)n < p->errlen) {
		show_value(got, shown);
		snprintf(p->err + n, p->errlen - (size_t)n, " (got %s)", shown);
	}
	return -1;
}

/* Writes "<source>:<line>:<column>: <what>" for a byte offset into text. */
static int fail_at(struct parser *p, const char *text, size_t offset, const char *what)
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
	if (p->err && p->errlen > 0)
		snprintf(p->err, p->errlen, "%s:%zu:%zu: %s", p->source, line, column, what);
	return -1;
}

/* Appends ".key" to the path (no dot at the top); returns the length to restore. */
static size_t path_key(struct parser *p, const char *key)
{
	size_t mark = p->path_len;
	size_t room = sizeof(p->path) - mark;
	size_t keylen = strlen(key);
	const char *dot = mark > 0 ? "." : "";
	int n;

	if (keylen > KEY_IN_PATH_MAX)
		n = snprintf(p->path + mark, room, "%s%.*s...", dot, KEY_IN_PATH_MAX - 3, key);
	else
		n = snprintf(p->path + mark, room, "%s%s", dot, key);
	p->path_len = n < 0 ? mark : (size_t)n >= room ? sizeof(p->path) - 1 : mark + (size_t)n;
	return mark;
}

/* Appends "[index]" to the path; returns the length to restore. */
static size_t path_index(struct parser *p, size_t index)
{
	size_t mark = p->path_len;
	size_t room = sizeof(p->path) - mark;
	int n = snprintf(p->path + mark, room, "[%zu]", index);

	p->path_len = n < 0 ? mark : (size_t)n >= room ? sizeof(p->path) - 1 : mark + (size_t)n;
	return mark;
}

static void path_pop(struct parser *p, size_t mark)
{
	p->path_len = mark;
	p->path[mark] = '\0';
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

/* What is wrong with any key or string in the document, or NULL. Values of
 * metadata attributes may span lines (user-data, startup-script, ssh-keys):
 * `multiline` lets tab, newline and carriage return through. */
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

static const char *check_account_id(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > NAME_MAX_LEN ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "abcdefghijklmnopqrstuvwxyz"
	              "0123456789._-") != len)
		return "must be 1..128 characters of A-Z a-z 0-9 . _ -";
	return NULL;
}

/*
 * Emails become URL path segments (service-accounts/<email>/token), so they
 * are held to a conservative character set.
 */
static const char *check_email(const char *s)
{
	size_t len = strlen(s);
	const char *at = strchr(s, '@');

	if (strcmp(s, "default") == 0)
		return "must not be \"default\", which is reserved as an alias";
	if (len > EMAIL_MAX_LEN || !at || at == s || at[1] == '\0' || strchr(at + 1, '@') ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "abcdefghijklmnopqrstuvwxyz"
	              "0123456789._+-@") != len)
		return "must be name@domain using only A-Z a-z 0-9 . _ + -";
	return NULL;
}

/* IAM role names: what AWS allows ([\w+=,.@-]{1,64}); they become a URL
 * path segment of iam/security-credentials/. */
static const char *check_role(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > 64 ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "abcdefghijklmnopqrstuvwxyz"
	              "0123456789+=,.@_-") != len)
		return "must be 1..64 characters of A-Z a-z 0-9 + = , . @ _ -";
	return NULL;
}

static const char *check_instance_id(const char *s)
{
	size_t len = strlen(s);

	if (strncmp(s, "i-", 2) != 0 || (len != 10 && len != 19) ||
	    strspn(s + 2, "0123456789abcdef") != len - 2)
		return "must be \"i-\" and 8 or 17 lowercase hex digits";
	return NULL;
}

static const char *check_ipv4(const char *s)
{
	struct in_addr addr;

	return inet_pton(AF_INET, s, &addr) == 1 ? NULL : "must be a dotted IPv4 address";
}

static const char *check_aws_account(const char *s)
{
	return strlen(s) == 12 && strspn(s, "0123456789") == 12 ? NULL : "must be 12 digits";
}

/* Regions, zones and host names: what a URL path or a JSON string holds
 * without escaping. */
static const char *check_dns_label(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > HOST_MAX_LEN ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") != len)
		return "must be 1..253 characters of a-z 0-9 . -";
	return NULL;
}

/* Attribute and label keys become URL path segments too. */
static int map_key_valid(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= NAME_MAX_LEN && !strchr(s, '/');
}

/* ---- duplicates ---- */

struct name_ref {
	const char *name;
	size_t index;
};

static int cmp_name_ref(const void *a, const void *b)
{
	const struct name_ref *x = a;
	const struct name_ref *y = b;
	int r = strcmp(x->name, y->name);

	if (r != 0)
		return r;
	return (x->index > y->index) - (x->index < y->index);
}

/*
 * Finds the first repetition in document order: *dup is the smallest index
 * whose name occurred earlier, *first that earlier index. Sorts refs in
 * place, so this is O(n log n) however large the object. Returns 1 if found.
 */
static int find_duplicate(struct name_ref *refs, size_t n, size_t *first, size_t *dup)
{
	int found = 0;
	size_t i = 0;

	if (n < 2)
		return 0;
	qsort(refs, n, sizeof(*refs), cmp_name_ref);
	while (i < n) {
		size_t j = i + 1;

		while (j < n && strcmp(refs[i].name, refs[j].name) == 0)
			j++;
		if (j - i > 1 && (!found || refs[i + 1].index < *dup)) {
			*first = refs[i].index;
			*dup = refs[i + 1].index;
			found = 1;
		}
		i = j;
	}
	return found;
}

static size_t count_children(const cJSON *item)
{
	const cJSON *child;
	size_t n = 0;

	cJSON_ArrayForEach(child, item)
	{
		n++;
	}
	return n;
}

static const cJSON *nth_child(const cJSON *item, size_t index)
{
	const cJSON *child = item->child;

	while (child && index-- > 0)
		child = child->next;
	return child;
}

static int check_duplicate_keys(struct parser *p, const cJSON *obj)
{
	size_t n = count_children(obj);
	struct name_ref *refs;
	const cJSON *child;
	size_t first = 0;
	size_t dup = 0;
	size_t i = 0;
	size_t mark;
	int rc = 0;

	if (n < 2)
		return 0;
	refs = malloc(n * sizeof(*refs));
	if (!refs)
		return fail(p, NULL, "out of memory");
	cJSON_ArrayForEach(child, obj)
	{
		refs[i].name = child->string;
		refs[i].index = i;
		i++;
	}
	if (find_duplicate(refs, n, &first, &dup)) {
		mark = path_key(p, nth_child(obj, dup)->string);
		rc = fail(p, NULL, "duplicate key");
		path_pop(p, mark);
	}
	free(refs);
	return rc;
}

/*
 * Pass 2: every key and string in the document, wherever it is. Keys are
 * checked before they go into a path, so a message never carries a raw
 * control character. Depth is bounded by cJSON's nesting limit.
 */
static int walk(struct parser *p, const cJSON *item, int multiline)
{
	const cJSON *child;
	const char *why;
	size_t i = 0;

	if (cJSON_IsString(item)) {
		why = text_problem(item->valuestring, multiline);
		return why ? fail(p, item, "%s", why) : 0;
	}
	if (cJSON_IsObject(item)) {
		cJSON_ArrayForEach(child, item)
		{
			why = text_problem(child->string, 0);
			if (why) {
				cJSON key = string_item(child->string);

				return fail(p, &key, "key %s", why);
			}
		}
		if (check_duplicate_keys(p, item))
			return -1;
	}
	cJSON_ArrayForEach(child, item)
	{
		size_t mark = cJSON_IsObject(item) ? path_key(p, child->string) : path_index(p, i);
		int rc = walk(p, child,
		              cJSON_IsObject(item) && item->string &&
		                  strcmp(item->string, "attributes") == 0);

		path_pop(p, mark);
		if (rc)
			return -1;
		i++;
	}
	return 0;
}

/* ---- schema helpers ---- */

static int check_keys(struct parser *p, const cJSON *obj, const char *const *known)
{
	const cJSON *child;

	cJSON_ArrayForEach(child, obj)
	{
		size_t k = 0;
		size_t mark;

		while (known[k] && strcmp(known[k], child->string) != 0)
			k++;
		if (known[k])
			continue;
		mark = path_key(p, child->string);
		fail(p, NULL, "unknown key");
		path_pop(p, mark);
		return -1;
	}
	return 0;
}

/*
 * Reads obj.key as a string into *out (freeing what was there). check, if
 * non-NULL, returns NULL for good content or what is wrong. Returns 1 if
 * present, 0 if absent (*out untouched), -1 on error.
 */
static int get_string(struct parser *p, const cJSON *obj, const char *key, int flags,
                      const char *(*check)(const char *s), char **out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	size_t mark = path_key(p, key);
	const char *why;
	char *copy;
	int rc = -1;

	if (!item) {
		if (flags & REQUIRED)
			fail(p, NULL, "is required");
		else
			rc = 0;
		goto out;
	}
	if (!cJSON_IsString(item)) {
		fail(p, item, "must be a string");
		goto out;
	}
	if ((flags & (REQUIRED | NONEMPTY)) && item->valuestring[0] == '\0') {
		fail(p, item, "must not be empty");
		goto out;
	}
	if (check && (why = check(item->valuestring))) {
		fail(p, item, "%s", why);
		goto out;
	}
	copy = strdup(item->valuestring);
	if (!copy) {
		fail(p, NULL, "out of memory");
		goto out;
	}
	free(*out);
	*out = copy;
	rc = 1;
out:
	path_pop(p, mark);
	return rc;
}

/* Sets an absent optional string to "", so that loaded strings are never NULL. */
static int default_empty(struct parser *p, char **s)
{
	if (!*s && !(*s = strdup("")))
		return fail(p, NULL, "out of memory");
	return 0;
}

/*
 * Reads obj.key as an integer in min..max into *out. cJSON keeps numbers as
 * doubles, so whole-ness and range are checked on the double. Returns 1 if
 * present, 0 if absent (*out untouched), -1 on error.
 */
static int get_integer(struct parser *p, const cJSON *obj, const char *key, int64_t min,
                       int64_t max, int64_t *out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	const char *kind = min == 1   ? "a positive integer"
	                   : min == 0 ? "a non-negative integer"
	                              : "an integer";
	size_t mark;
	double d;
	int64_t v;
	int rc = -1;

	if (!item)
		return 0;
	mark = path_key(p, key);
	if (!cJSON_IsNumber(item)) {
		fail(p, item, "must be %s", kind);
		goto out;
	}
	d = item->valuedouble;
	/* Written so that NaN fails too. */
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
		fail(p, item, "must be %s", kind);
		goto out;
	}
	v = (int64_t)d;
	if ((double)v != d || v < min) {
		fail(p, item, "must be %s", kind);
		goto out;
	}
	if (v > max) {
		fail(p, item, "must be at most %" PRId64, max);
		goto out;
	}
	*out = v;
	rc = 1;
out:
	path_pop(p, mark);
	return rc;
}

static void free_kvs(struct config_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/*
 * Reads obj.key, an object of string values, into *out / *n (which must be
 * empty). *n counts what is filled in so far, so a failure leaves nothing
 * that config_release() would miss.
 */
static int get_map(struct parser *p, const cJSON *obj, const char *key, struct config_kv **out,
                   size_t *n)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	const cJSON *child;
	size_t mark;
	size_t count;
	int rc = -1;

	if (!item)
		return 0;
	mark = path_key(p, key);
	if (!cJSON_IsObject(item)) {
		fail(p, item, "must be an object of strings");
		goto out;
	}
	count = count_children(item);
	if (count > 0 && !(*out = calloc(count, sizeof(**out)))) {
		fail(p, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(child, item)
	{
		struct config_kv *kv = &(*out)[*n];
		size_t kmark;

		if (!map_key_valid(child->string)) {
			cJSON shown = string_item(child->string);

			fail(p, &shown, "key must be 1..128 characters without '/'");
			goto out;
		}
		kmark = path_key(p, child->string);
		if (!cJSON_IsString(child)) {
			fail(p, child, "must be a string");
			path_pop(p, kmark);
			goto out;
		}
		(*n)++;
		kv->key = strdup(child->string);
		kv->value = strdup(child->valuestring);
		if (!kv->key || !kv->value) {
			fail(p, NULL, "out of memory");
			path_pop(p, kmark);
			goto out;
		}
		path_pop(p, kmark);
	}
	rc = 1;
out:
	path_pop(p, mark);
	return rc;
}

/* ---- sections ---- */

static void release_project(struct config *c)
{
	free(c->project_id);
	free_kvs(c->project_attributes, c->n_project_attributes);
	c->project_id = NULL;
	c->numeric_project_id = 0;
	c->project_attributes = NULL;
	c->n_project_attributes = 0;
}

static void release_instance(struct config *c)
{
	free(c->instance_id);
	free(c->instance_name);
	free(c->hostname);
	free(c->zone);
	free_kvs(c->instance_attributes, c->n_instance_attributes);
	free_kvs(c->labels, c->n_labels);
	c->instance_id = c->instance_name = c->hostname = c->zone = NULL;
	c->instance_attributes = c->labels = NULL;
	c->n_instance_attributes = c->n_labels = 0;
}

static void release_yandex(struct config *c)
{
	free(c->folder_id);
	free(c->cloud_id);
	c->folder_id = c->cloud_id = NULL;
}

static void release_account(struct config_account *a)
{
	free(a->id);
	free(a->email);
	free(a->aws_role);
	for (size_t i = 0; i < a->n_scopes; i++)
		free(a->scopes[i]);
	free(a->scopes);
}

static void release_accounts(struct config *c)
{
	for (size_t i = 0; i < c->n_accounts; i++)
		release_account(&c->accounts[i]);
	free(c->accounts);
	c->accounts = NULL;
	c->n_accounts = 0;
}

static int parse_listen_field(struct parser *p, const cJSON *item, struct config *c)
{
	size_t mark = path_key(p, "listen");
	char why[128];
	char *host = NULL;
	uint16_t port = 0;
	int rc = -1;

	if (!cJSON_IsString(item)) {
		fail(p, item, "must be a string");
		goto out;
	}
	if (config_parse_listen(item->valuestring, &host, &port, why, sizeof(why))) {
		fail(p, item, "%s", why);
		goto out;
	}
	free(c->listen_host);
	c->listen_host = host;
	c->listen_port = port;
	rc = 0;
out:
	path_pop(p, mark);
	return rc;
}

/* A section present in the document replaces the one already in *c wholly. */
static int parse_project(struct parser *p, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = { "id", "numeric_id", "attributes", NULL };
	size_t mark = path_key(p, "project");
	int rc = -1;

	release_project(c);
	if (!cJSON_IsObject(obj)) {
		fail(p, obj, "must be an object");
		goto out;
	}
	if (check_keys(p, obj, keys) < 0 ||
	    get_string(p, obj, "id", REQUIRED, NULL, &c->project_id) < 0 ||
	    get_integer(p, obj, "numeric_id", 1, NUMERIC_ID_MAX, &c->numeric_project_id) < 0 ||
	    get_map(p, obj, "attributes", &c->project_attributes, &c->n_project_attributes) < 0)
		goto out;
	rc = 0;
out:
	path_pop(p, mark);
	return rc;
}

static int parse_instance(struct parser *p, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = {
		"id", "name", "hostname", "zone", "attributes", "labels", NULL,
	};
	size_t mark = path_key(p, "instance");
	int rc = -1;

	release_instance(c);
	if (!cJSON_IsObject(obj)) {
		fail(p, obj, "must be an object");
		goto out;
	}
	if (check_keys(p, obj, keys) < 0 ||
	    get_string(p, obj, "id", 0, NULL, &c->instance_id) < 0 ||
	    get_string(p, obj, "name", 0, NULL, &c->instance_name) < 0 ||
	    get_string(p, obj, "hostname", 0, NULL, &c->hostname) < 0 ||
	    get_string(p, obj, "zone", 0, NULL, &c->zone) < 0 ||
	    get_map(p, obj, "attributes", &c->instance_attributes, &c->n_instance_attributes) < 0 ||
	    get_map(p, obj, "labels", &c->labels, &c->n_labels) < 0)
		goto out;
	if (default_empty(p, &c->instance_id) || default_empty(p, &c->instance_name) ||
	    default_empty(p, &c->hostname) || default_empty(p, &c->zone))
		goto out;
	rc = 0;
out:
	path_pop(p, mark);
	return rc;
}

static int parse_yandex(struct parser *p, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = { "folder_id", "cloud_id", NULL };
	size_t mark = path_key(p, "yandex");
	int rc = -1;

	release_yandex(c);
	if (!cJSON_IsObject(obj)) {
		fail(p, obj, "must be an object");
		goto out;
	}
	if (check_keys(p, obj, keys) < 0 ||
	    get_string(p, obj, "folder_id", 0, NULL, &c->folder_id) < 0 ||
	    get_string(p, obj, "cloud_id", 0, NULL, &c->cloud_id) < 0 ||
	    default_empty(p, &c->folder_id) || default_empty(p, &c->cloud_id))
		goto out;
	rc = 0;
out:
	path_pop(p, mark);
	return rc;
}

static int parse_scopes(struct parser *p, const cJSON *obj, struct config_account *a)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, "scopes");
	const cJSON *child;
	size_t mark = path_key(p, "scopes");
	size_t count;
	int rc = -1;

	if (!item) {
		a->scopes = calloc(1, sizeof(*a->scopes));
		if (!a->scopes || !(a->scopes[0] = strdup(DEFAULT_SCOPE))) {
			fail(p, NULL, "out of memory");
			goto out;
		}
		a->n_scopes = 1;
		rc = 0;
		goto out;
	}
	if (!cJSON_IsArray(item)) {
		fail(p, item, "must be an array of strings");
		goto out;
	}
	count = count_children(item);
	if (count > 0 && !(a->scopes = calloc(count, sizeof(*a->scopes)))) {
		fail(p, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(child, item)
	{
		size_t imark = path_index(p, a->n_scopes);

		if (!cJSON_IsString(child) || child->valuestring[0] == '\0' ||
		    strchr(child->valuestring, ' ')) {
			fail(p, child, "must be a non-empty string without spaces");
			path_pop(p, imark);
			goto out;
		}
		path_pop(p, imark);
		if (!(a->scopes[a->n_scopes] = strdup(child->valuestring))) {
			fail(p, NULL, "out of memory");
			goto out;
		}
		a->n_scopes++;
	}
	rc = 0;
out:
	path_pop(p, mark);
	return rc;
}

static int parse_account(struct parser *p, const cJSON *obj, struct config_account *a)
{
	static const char *const keys[] = {
		"id",       "email",          "scopes", "lifetime_s", "reissue_margin_s",
		"aws_role", "aws_lifetime_s", NULL,
	};

	if (!cJSON_IsObject(obj))
		return fail(p, obj, "must be an object");
	a->lifetime_s = CONFIG_DEFAULT_LIFETIME_S;
	a->reissue_margin_s = CONFIG_DEFAULT_MARGIN_S;
	a->aws_lifetime_s = CONFIG_DEFAULT_AWS_LIFETIME_S;
	if (check_keys(p, obj, keys) < 0 ||
	    get_string(p, obj, "id", REQUIRED, check_account_id, &a->id) < 0 ||
	    get_string(p, obj, "email", REQUIRED, check_email, &a->email) < 0 ||
	    parse_scopes(p, obj, a) < 0 ||
	    get_integer(p, obj, "lifetime_s", 1, SECONDS_MAX, &a->lifetime_s) < 0 ||
	    get_integer(p, obj, "reissue_margin_s", 0, SECONDS_MAX, &a->reissue_margin_s) < 0 ||
	    get_string(p, obj, "aws_role", NONEMPTY, check_role, &a->aws_role) < 0 ||
	    get_integer(p, obj, "aws_lifetime_s", 1, SECONDS_MAX, &a->aws_lifetime_s) < 0)
		return -1;
	return 0;
}

/* An instance has one instance profile: at most one account carries a role. */
static int check_one_role(struct parser *p, const struct config *c)
{
	size_t first = c->n_accounts;

	for (size_t i = 0; i < c->n_accounts; i++) {
		size_t mark;
		cJSON shown;

		if (!c->accounts[i].aws_role)
			continue;
		if (first == c->n_accounts) {
			first = i;
			continue;
		}
		shown = string_item(c->accounts[i].aws_role);
		mark = path_index(p, i);
		path_key(p, "aws_role");
		fail(p, &shown,
		     "service_accounts[%zu] already has the instance's role; only one account may "
		     "have aws_role",
		     first);
		path_pop(p, mark);
		return -1;
	}
	return 0;
}

/* Reports the first account whose id (or email) repeats an earlier one's. */
static int check_unique(struct parser *p, const struct config *c, const char *field)
{
	int is_id = strcmp(field, "id") == 0;
	struct name_ref *refs = malloc(c->n_accounts * sizeof(*refs));
	size_t first = 0;
	size_t dup = 0;
	int rc = 0;

	if (!refs)
		return fail(p, NULL, "out of memory");
	for (size_t i = 0; i < c->n_accounts; i++) {
		refs[i].name = is_id ? c->accounts[i].id : c->accounts[i].email;
		refs[i].index = i;
	}
	if (find_duplicate(refs, c->n_accounts, &first, &dup)) {
		cJSON shown = string_item(is_id ? c->accounts[dup].id : c->accounts[dup].email);
		size_t mark = path_index(p, dup);

		path_key(p, field);
		rc = fail(p, &shown, "duplicates service_accounts[%zu].%s", first, field);
		path_pop(p, mark);
	}
	free(refs);
	return rc;
}

static int parse_accounts(struct parser *p, const cJSON *arr, struct config *c)
{
	const cJSON *child;
	size_t mark = path_key(p, "service_accounts");
	size_t count;
	int rc = -1;

	release_accounts(c);
	if (!cJSON_IsArray(arr)) {
		fail(p, arr, "must be an array of accounts");
		goto out;
	}
	count = count_children(arr);
	if (count == 0) {
		fail(p, arr, "must list at least one account");
		goto out;
	}
	c->accounts = calloc(count, sizeof(*c->accounts));
	if (!c->accounts) {
		fail(p, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(child, arr)
	{
		size_t imark = path_index(p, c->n_accounts);
		int bad;

		/* Counted before parsing, so a half-filled account is released too. */
		bad = parse_account(p, child, &c->accounts[c->n_accounts++]);
		path_pop(p, imark);
		if (bad)
			goto out;
	}
	if (check_unique(p, c, "id") || check_unique(p, c, "email") || check_one_role(p, c))
		goto out;
	rc = 0;
out:
	path_pop(p, mark);
	return rc;
}

static void release_control(struct config *c)
{
	if (c->admin_secret)
		OPENSSL_cleanse(c->admin_secret, strlen(c->admin_secret));
	free(c->admin_secret);
	free(c->admin_secret_file);
	c->admin_secret = c->admin_secret_file = NULL;
	c->control_enabled = 1;
}

static const char *check_secret(const char *s)
{
	size_t len = strlen(s);

	if (len < 16 || len > 256)
		return "must be 16..256 characters";
	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f)
			return "must be printable ASCII with no spaces";
	return NULL;
}

static int parse_control(struct parser *p, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = { "enabled", "secret", "secret_file", NULL };
	size_t mark = path_key(p, "control");
	const cJSON *enabled;
	int rc = -1;

	release_control(c);
	if (!cJSON_IsObject(obj)) {
		fail(p, obj, "must be an object");
		goto out;
	}
	if (check_keys(p, obj, keys) < 0)
		goto out;
	enabled = cJSON_GetObjectItemCaseSensitive(obj, "enabled");
	if (enabled) {
		size_t emark = path_key(p, "enabled");

		if (!cJSON_IsBool(enabled)) {
			fail(p, enabled, "must be true or false");
			path_pop(p, emark);
			goto out;
		}
		c->control_enabled = cJSON_IsTrue(enabled);
		path_pop(p, emark);
	}
	if (get_string(p, obj, "secret", NONEMPTY, check_secret, &c->admin_secret) < 0 ||
	    get_string(p, obj, "secret_file", NONEMPTY, NULL, &c->admin_secret_file) < 0)
		goto out;
	rc = 0;
out:
	path_pop(p, mark);
	return rc;
}

static void release_aws(struct config *c)
{
	free(c->aws_instance_id);
	free(c->aws_hostname);
	free(c->aws_local_ipv4);
	free(c->aws_availability_zone);
	free(c->aws_region);
	free(c->aws_account_id);
	if (c->aws_container_token)
		OPENSSL_cleanse(c->aws_container_token, strlen(c->aws_container_token));
	free(c->aws_container_token);
	c->aws_instance_id = c->aws_hostname = c->aws_local_ipv4 = NULL;
	c->aws_availability_zone = c->aws_region = c->aws_account_id = NULL;
	c->aws_container_token = NULL;
	c->aws_imdsv2_only = 0;
}

/* Sets an absent string to a default value. */
static int default_to(struct parser *p, char **s, const char *value)
{
	if (!*s && !(*s = strdup(value)))
		return fail(p, NULL, "out of memory");
	return 0;
}

static int parse_aws(struct parser *p, const cJSON *obj, struct config *c)
{
	static const char *const keys[] = {
		"imdsv2_only", "instance_id", "hostname",        "local_ipv4", "availability_zone",
		"region",      "account_id",  "container_token", NULL,
	};
	size_t mark = path_key(p, "aws");
	const cJSON *v2;
	int rc = -1;

	release_aws(c);
	if (!cJSON_IsObject(obj)) {
		fail(p, obj, "must be an object");
		goto out;
	}
	if (check_keys(p, obj, keys) < 0)
		goto out;
	v2 = cJSON_GetObjectItemCaseSensitive(obj, "imdsv2_only");
	if (v2) {
		size_t vmark = path_key(p, "imdsv2_only");

		if (!cJSON_IsBool(v2)) {
			fail(p, v2, "must be true or false");
			path_pop(p, vmark);
			goto out;
		}
		c->aws_imdsv2_only = cJSON_IsTrue(v2);
		path_pop(p, vmark);
	}
	if (get_string(p, obj, "instance_id", NONEMPTY, check_instance_id, &c->aws_instance_id) <
	        0 ||
	    get_string(p, obj, "hostname", NONEMPTY, check_dns_label, &c->aws_hostname) < 0 ||
	    get_string(p, obj, "local_ipv4", NONEMPTY, check_ipv4, &c->aws_local_ipv4) < 0 ||
	    get_string(p, obj, "availability_zone", NONEMPTY, check_dns_label,
	               &c->aws_availability_zone) < 0 ||
	    get_string(p, obj, "region", NONEMPTY, check_dns_label, &c->aws_region) < 0 ||
	    get_string(p, obj, "account_id", NONEMPTY, check_aws_account, &c->aws_account_id) < 0 ||
	    get_string(p, obj, "container_token", NONEMPTY, check_secret, &c->aws_container_token) <
	        0)
		goto out;
	if (default_to(p, &c->aws_instance_id, "i-0123456789abcdef0") ||
	    default_to(p, &c->aws_hostname, "ip-10-0-0-1.ec2.internal") ||
	    default_to(p, &c->aws_local_ipv4, "10.0.0.1") ||
	    default_to(p, &c->aws_availability_zone, "us-east-1a") ||
	    default_to(p, &c->aws_region, "us-east-1") ||
	    default_to(p, &c->aws_account_id, "123456789012"))
		goto out;
	rc = 0;
out:
	path_pop(p, mark);
	return rc;
}

static int parse_root(struct parser *p, const cJSON *root, struct config *c)
{
	static const char *const keys[] = {
		"listen",           "signing_key", "project", "instance", "yandex",
		"service_accounts", "control",     "aws",     NULL,
	};
	const cJSON *item;

	if (!cJSON_IsObject(root))
		return fail(p, root, "the top-level value must be a JSON object");
	if (check_keys(p, root, keys))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "listen")) &&
	    parse_listen_field(p, item, c))
		return -1;
	if (get_string(p, root, "signing_key", NONEMPTY, NULL, &c->signing_key_path) < 0)
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "project")) && parse_project(p, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "instance")) &&
	    parse_instance(p, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "yandex")) && parse_yandex(p, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "service_accounts")) &&
	    parse_accounts(p, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "control")) && parse_control(p, item, c))
		return -1;
	if ((item = cJSON_GetObjectItemCaseSensitive(root, "aws")) && parse_aws(p, item, c))
		return -1;
	return 0;
}

/* ---- text ---- */

static int is_json_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/*
 * Checks what cJSON lets through in a document that has already parsed, so
 * quotes and backslashes can be tracked without a full lexer: "\u0000"
 * escapes (cJSON would cut the string there) and control characters between
 * tokens (cJSON skips any byte up to ' ' as whitespace). Returns NULL, or
 * what is wrong with *offset set to where.
 */
static const char *scan_text(const char *text, size_t len, size_t *offset)
{
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
		} else if (!in_string && text[i] == '"') {
			in_string = 1;
		} else if (!in_string && (unsigned char)text[i] < 0x20 && !is_json_space(text[i])) {
			*offset = i;
			return "invalid JSON: control character outside a string";
		}
	}
	return NULL;
}

/*
 * Parses one document (text[len] must be '\0') on top of what *c holds. On
 * failure *c may be half-updated; the caller releases it.
 */
static int parse_document(struct config *c, const char *text, size_t len, const char *source,
                          char *err, size_t errlen)
{
	struct parser p = { .source = source, .err = err, .errlen = errlen };
	const char *end = NULL;
	const char *nul;
	const char *why;
	cJSON *root = NULL;
	size_t i;
	int rc = -1;

	if (len > FILE_MAX_BYTES)
		return fail(&p, NULL, "file is larger than the 1 MiB limit");
	for (i = 0; i < len && is_json_space(text[i]); i++)
		;
	if (i == len)
		return fail(&p, NULL, "file is empty; expected a JSON object");
	if ((nul = memchr(text, '\0', len)))
		return fail_at(&p, text, (size_t)(nul - text), "NUL byte in file");

	/*
	 * The terminating NUL is handed to cJSON too: at the end of the buffer
	 * it would report an error at the last character, not after it.
	 */
	root = cJSON_ParseWithLengthOpts(text, len + 1, &end, 0);
	if (!root) {
		size_t at = end && end >= text ? (size_t)(end - text) : 0;

		if (at >= len)
			fail_at(&p, text, len, "invalid JSON: unexpected end of file");
		else
			fail_at(&p, text, at, "invalid JSON");
		goto out;
	}
	/* cJSON's own trailing-data check is broken for explicit lengths; do it here. */
	i = (size_t)(end - text);
	while (i < len && is_json_space(text[i]))
		i++;
	if (i < len) {
		fail_at(&p, text, i, "invalid JSON: unexpected text after the top-level value");
		goto out;
	}
	if ((why = scan_text(text, len, &i))) {
		fail_at(&p, text, i, why);
		goto out;
	}
	if (walk(&p, root, 0) || parse_root(&p, root, c))
		goto out;
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

/*
 * The default, then (if text is non-NULL) the document on top. *out is
 * written only on success; the caller has zeroed it.
 */
static int load(const char *text, size_t len, const char *source, struct config *out, char *err,
                size_t errlen)
{
	struct config c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	c.control_enabled = 1;
	if (parse_document(&c, config_embedded_default, strlen(config_embedded_default),
	                   EMBEDDED_SOURCE, err, errlen))
		goto out;
	if (text && parse_document(&c, text, len, source, err, errlen))
		goto out;
	c.source = strdup(text ? source : EMBEDDED_SOURCE);
	if (!c.source) {
		struct parser p = { .source = source, .err = err, .errlen = errlen };

		fail(&p, NULL, "out of memory");
		goto out;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	rc = 0;
out:
	config_release(&c);
	return rc;
}

/*
 * Reads at most FILE_MAX_BYTES + 1 bytes (one more than allowed, so that the
 * parser can tell an oversized file) into a NUL-terminated buffer.
 */
static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	struct parser p = { .source = path, .err = err, .errlen = errlen };
	size_t cap = 64 * 1024;
	size_t n = 0;
	char *buf = NULL;
	FILE *f;
	int rc = -1;

	f = fopen(path, "rb");
	if (!f)
		return fail(&p, NULL, "cannot read: %s", strerror(errno));
	for (;;) {
		size_t got;

		if (!buf || n == cap) {
			char *bigger;

			if (buf)
				cap = cap * 2 > FILE_MAX_BYTES + 1 ? FILE_MAX_BYTES + 1 : cap * 2;
			bigger = realloc(buf, cap + 1);
			if (!bigger) {
				fail(&p, NULL, "out of memory");
				goto out;
			}
			buf = bigger;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0 || n > FILE_MAX_BYTES)
			break;
	}
	if (ferror(f)) {
		fail(&p, NULL, "cannot read: %s", strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

int config_load(const char *path, struct config *out, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!path)
		return load(NULL, 0, NULL, out, err, errlen);
	if (read_file(path, &text, &len, err, errlen))
		return -1;
	rc = load(text, len, path, out, err, errlen);
	free(text);
	return rc;
}

int config_parse(const char *json, size_t len, const char *source, struct config *out, char *err,
                 size_t errlen)
{
	char *text;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!source)
		source = "<config>";
	if (len > FILE_MAX_BYTES + 1)
		len = FILE_MAX_BYTES + 1; /* enough to report the size */
	/* cJSON 1.7.15 may read up to a NUL; give it one. */
	text = malloc(len + 1);
	if (!text) {
		struct parser p = { .source = source, .err = err, .errlen = errlen };

		return fail(&p, NULL, "out of memory");
	}
	if (len > 0)
		memcpy(text, json, len);
	text[len] = '\0';
	rc = load(text, len, source, out, err, errlen);
	free(text);
	return rc;
}

/* ---- listen ---- */

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t len = strlen(s);

	if (len < 1 || len > 5 || strspn(s, "0123456789") != len)
		return -1;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int config_parse_listen(const char *text, char **host, uint16_t *port, char *err, size_t errlen)
{
	const char *why = NULL;
	const char *port_text;
	char *name = NULL;
	uint16_t number = 0;
	size_t name_len;

	if (!text || !*text) {
		why = "is empty; " LISTEN_EXPECTED;
		goto out;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		struct in6_addr addr;

		if (!close) {
			why = "missing ']' after the IPv6 address";
			goto out;
		}
		if (close[1] != ':') {
			why = "expected ':' and a port after ']'";
			goto out;
		}
		name_len = (size_t)(close - text - 1);
		if (!(name = strndup(text + 1, name_len))) {
			why = "out of memory";
			goto out;
		}
		if (inet_pton(AF_INET6, name, &addr) != 1) {
			why = "not an IPv6 address inside [ ]";
			goto out;
		}
		port_text = close + 2;
	} else {
		const char *colon = strrchr(text, ':');

		if (!colon) {
			why = "missing port; " LISTEN_EXPECTED;
			goto out;
		}
		name_len = (size_t)(colon - text);
		if (memchr(text, ':', name_len)) {
			why = "IPv6 addresses need brackets, e.g. [::1]:8169";
			goto out;
		}
		if (name_len > HOST_MAX_LEN ||
		    strspn(text,
		           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") <
		        name_len) {
			why = "host must be a name or an IPv4 address";
			goto out;
		}
		name = name_len > 0 ? strndup(text, name_len) : strdup(CONFIG_DEFAULT_LISTEN_HOST);
		if (!name) {
			why = "out of memory";
			goto out;
		}
		port_text = colon + 1;
	}
	if (!*port_text) {
		why = "missing port; " LISTEN_EXPECTED;
		goto out;
	}
	if (parse_port(port_text, &number)) {
		why = "port must be a number 0..65535";
		goto out;
	}
	*host = name;
	*port = number;
	return 0;
out:
	free(name);
	if (err && errlen > 0)
		snprintf(err, errlen, "%s", why);
	return -1;
}

void config_release(struct config *c)
{
	if (!c)
		return;
	free(c->source);
	free(c->listen_host);
	free(c->signing_key_path);
	release_project(c);
	release_instance(c);
	release_yandex(c);
	release_accounts(c);
	release_control(c);
	release_aws(c);
	memset(c, 0, sizeof(*c));
}
