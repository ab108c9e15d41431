/*
 * mtk__aws_role_parse: the client's parser of the body of GET
 * .../iam/security-credentials/, the IAM role name IMDS lists, which the
 * AWS fetch then puts into the credentials URL.
 *
 * Checked on every input: the parser accepts exactly what a plain model of
 * the rule accepts (1..64 bytes of [A-Za-z0-9+=,.@_-], not "." or "..",
 * then any CR/LF). An accepted name is the body without its CR/LF,
 * NUL-terminated, safe as one URL path segment; with one byte less room it
 * is refused, with just enough it is the same. A refused body leaves the
 * output buffer untouched.
 */
#include "fuzz.h"

#include "private/internal.h"

#include <string.h>

#define CANARY 0xA5

static int role_char(unsigned char ch)
{
	static const char punct[] = "+=,.@_-";

	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return 1;
	for (size_t i = 0; i < sizeof(punct) - 1; i++)
		if (ch == (unsigned char)punct[i])
			return 1;
	return 0;
}

/* The model: the length of the name in body if it is one, else 0. */
static size_t model(const uint8_t *body, size_t len)
{
	while (len > 0 && (body[len - 1] == '\r' || body[len - 1] == '\n'))
		len--;
	if (len == 0 || len > MTK__AWS_ROLE_MAX)
		return 0;
	if ((len == 1 || len == 2) && memcmp(body, "..", len) == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!role_char(body[i]))
			return 0;
	return len;
}

static int untouched(const char *buf, size_t cap)
{
	for (size_t i = 0; i < cap; i++)
		if ((unsigned char)buf[i] != CANARY)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	char role[MTK__AWS_ROLE_MAX + 1], tight[MTK__AWS_ROLE_MAX + 1];
	size_t want = model(data, size), n;
	enum mtk_status st;

	memset(role, CANARY, sizeof(role));
	st = mtk__aws_role_parse(body, size, role, sizeof(role));
	FUZZ_CHECK(st == MTK_OK || st == MTK_ERR_BAD_ACCOUNT, "undocumented status %s",
	           mtk_status_name(st));
	FUZZ_CHECK((st == MTK_OK) == (want != 0), "%s, but the rule says %s",
	           st == MTK_OK ? "accepted" : "refused", want ? "a role" : "not a role");
	if (st != MTK_OK) {
		FUZZ_CHECK(untouched(role, sizeof(role)), "a refused body wrote the output");
		return 0;
	}

	n = strnlen(role, sizeof(role));
	FUZZ_CHECK(n < sizeof(role), "the role is not NUL-terminated");
	FUZZ_CHECK(n == want && memcmp(role, body, n) == 0,
	           "the role \"%s\" is not the body without its line end", role);
	FUZZ_CHECK(!strchr(role, '/') && !strchr(role, '%') && !strchr(role, '?') &&
	               !strchr(role, '#') && strcmp(role, ".") != 0 && strcmp(role, "..") != 0,
	           "the role \"%s\" is not one URL path segment", role);

	/* The room given changes whether it fits, nothing else. */
	memset(tight, CANARY, sizeof(tight));
	st = mtk__aws_role_parse(body, size, tight, n);
	FUZZ_CHECK(st == MTK_ERR_BAD_ACCOUNT && untouched(tight, sizeof(tight)),
	           "a %zu-byte role in %zu bytes: %s", n, n, mtk_status_name(st));
	st = mtk__aws_role_parse(body, size, tight, n + 1);
	FUZZ_CHECK(st == MTK_OK && strcmp(tight, role) == 0 &&
	               untouched(tight + n + 1, sizeof(tight) - n - 1),
	           "a %zu-byte role in %zu bytes: %s", n, n + 1, mtk_status_name(st));
	return 0;
}
