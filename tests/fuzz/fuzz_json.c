/*
 * json_parse and the field readers (server/json.h): the strict reader every
 * JSON body and the configuration go through.
 *
 * json.h's contract, checked on every input: the verdict does not depend on
 * the source name or the message buffer; a refusal is one non-empty line
 * that fits the buffer, and a shorter buffer holds a prefix of it. A tree
 * that was accepted has no repeated key in any object, no control character
 * or invalid UTF-8 in any key or string, and no more than JSON_DEPTH_MAX
 * levels; printed and parsed again it is accepted and prints the same. The
 * readers answer -1, 0 or 1, write their output only on 1, and explain
 * every -1 in one line.
 */
#include "fuzz.h"

#include "json.h"

#include <string.h>

#define ERRLEN 512

/* An oracle for the walk: no byte below 0x20, and well-formed UTF-8. */
static int text_ok(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		unsigned cp, n;

		if (*u < 0x20)
			return 0;
		if (*u < 0x80) {
			u++;
			continue;
		}
		if (*u >= 0xC2 && *u <= 0xDF)
			n = 1, cp = *u & 0x1F;
		else if (*u >= 0xE0 && *u <= 0xEF)
			n = 2, cp = *u & 0x0F;
		else if (*u >= 0xF0 && *u <= 0xF4)
			n = 3, cp = *u & 0x07;
		else
			return 0;
		for (unsigned i = 1; i <= n; i++) {
			if ((u[i] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (u[i] & 0x3Fu);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		u += n + 1;
	}
	return 1;
}

static void check_tree(const cJSON *item, unsigned depth)
{
	const cJSON *child;

	if (cJSON_IsString(item))
		FUZZ_CHECK(text_ok(item->valuestring), "a string with control characters or bad "
		                                       "UTF-8 was accepted");
	if (!cJSON_IsArray(item) && !cJSON_IsObject(item))
		return;
	FUZZ_CHECK(depth <= JSON_DEPTH_MAX, "%u levels were accepted", depth);
	cJSON_ArrayForEach(child, item)
	{
		if (cJSON_IsObject(item)) {
			FUZZ_CHECK(text_ok(child->string), "a bad key was accepted");
			for (const cJSON *later = child->next; later; later = later->next)
				FUZZ_CHECK(strcmp(child->string, later->string) != 0,
				           "key \"%.60s\" repeats", child->string);
		}
		check_tree(child, depth + 1);
	}
}

static void check_message(const char *err, size_t errlen)
{
	size_t len = strnlen(err, errlen);

	FUZZ_CHECK(len > 0 && len < errlen, "message empty or not terminated");
	FUZZ_CHECK(strchr(err, '\n') == NULL && strchr(err, '\r') == NULL,
	           "message spans lines: \"%s\"", err);
}

/* Each reader on the fields of a fixed schema: answer, output, message. */
static void check_readers(const cJSON *root)
{
	static const char *const known[] = { "a", "b", "c", "d", "e", NULL };
	char err[ERRLEN];
	struct json_reader r = { .err = err, .errlen = sizeof(err) };
	const char *s = NULL;
	char *copy = NULL;
	double d = -7.0;
	int64_t v = -7;
	int b = -7;
	int rc;

	rc = json_check_keys(&r, root, known);
	FUZZ_CHECK(rc == 0 || rc == -1, "json_check_keys: %d", rc);
	if (rc < 0)
		check_message(err, sizeof(err));
	if (!cJSON_IsObject(root))
		return;

	rc = json_get_int(&r, root, "a", 0, -1000, 1000, &v);
	FUZZ_CHECK(rc == 1 ? v >= -1000 && v <= 1000 : v == -7, "json_get_int: %d, %lld", rc,
	           (long long)v);
	if (rc < 0)
		check_message(err, sizeof(err));
	rc = json_get_string(&r, root, "b", JSON_NONEMPTY, 8, NULL, &s);
	FUZZ_CHECK(rc == 1 ? s && s[0] && strlen(s) <= 8 : s == NULL, "json_get_string: %d", rc);
	if (rc < 0)
		check_message(err, sizeof(err));
	rc = json_get_bool(&r, root, "c", JSON_REQUIRED, &b);
	FUZZ_CHECK(rc == 1 ? b == 0 || b == 1 : rc == -1 && b == -7, "json_get_bool: %d, %d", rc,
	           b);
	if (rc < 0)
		check_message(err, sizeof(err));
	rc = json_get_number(&r, root, "d", JSON_EXCLUSIVE_LO, 0.0, 1.0, &d);
	FUZZ_CHECK(rc == 1 ? d > 0.0 && d <= 1.0 : d == -7.0, "json_get_number: %d, %g", rc, d);
	if (rc < 0)
		check_message(err, sizeof(err));
	rc = json_dup_string(&r, root, "e", 0, 0, NULL, &copy);
	FUZZ_CHECK(rc == 1 ? copy != NULL : copy == NULL, "json_dup_string: %d", rc);
	if (rc < 0)
		check_message(err, sizeof(err));
	free(copy);
	FUZZ_CHECK(r.path_len == 0 && r.path[0] == '\0', "a reader left \"%s\" on the path",
	           r.path);
}

/* Prints the tree, parses the text again and prints that: the same text. */
static void check_round_trip(const cJSON *root)
{
	char err[ERRLEN];
	struct json_reader r = { .err = err, .errlen = sizeof(err) };
	char *text = cJSON_PrintUnformatted(root);
	char *again;
	cJSON *copy;

	FUZZ_CHECK(text != NULL, "cJSON_PrintUnformatted failed");
	copy = json_parse(&r, text, strlen(text));
	FUZZ_CHECK(copy != NULL, "its own print \"%.200s\" was refused: %s", text, err);
	again = cJSON_PrintUnformatted(copy);
	FUZZ_CHECK(again && strcmp(text, again) == 0, "printed \"%.200s\" then \"%.200s\"", text,
	           again ? again : "(null)");
	cJSON_free(again);
	cJSON_Delete(copy);
	cJSON_free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char err[ERRLEN], body_err[ERRLEN], small[16];
	struct json_reader r = { .source = "fuzz.json", .err = err, .errlen = sizeof(err) };
	struct json_reader body = { .err = body_err, .errlen = sizeof(body_err) };
	struct json_reader short_buf = { .source = "fuzz.json",
		                         .err = small,
		                         .errlen = sizeof(small) };
	struct json_reader none = { .source = "fuzz.json" };
	cJSON *root, *other;

	memset(err, 0xA5, sizeof(err));
	root = json_parse(&r, text, size);

	/* The same verdict as a body, with a short buffer, and with none. */
	memset(body_err, 0xA5, sizeof(body_err));
	other = json_parse(&body, text, size);
	FUZZ_CHECK(!root == !other, "the verdict depends on the source name");
	cJSON_Delete(other);
	memset(small, 0xA5, sizeof(small));
	other = json_parse(&short_buf, text, size);
	FUZZ_CHECK(!root == !other, "the verdict depends on the buffer");
	cJSON_Delete(other);
	other = json_parse(&none, text, size);
	FUZZ_CHECK(!root == !other, "the verdict depends on having a buffer");
	cJSON_Delete(other);

	if (!root) {
		check_message(err, sizeof(err));
		check_message(body_err, sizeof(body_err));
		check_message(small, sizeof(small));
		FUZZ_CHECK(strncmp(small, err, sizeof(small) - 1) == 0,
		           "the short message is not a prefix of the full one");
		return 0;
	}
	check_tree(root, 1);
	check_round_trip(root);
	check_readers(root);
	cJSON_Delete(root);
	return 0;
}
