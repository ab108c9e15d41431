/*
 * mtk__http_parse_head and mtk__http_chunk_size: how metatoken-bootstrap's
 * runtime loop reads the Runtime API's answers (client/runtime_http.c).
 * The answers come over a socket from whatever listens at
 * AWS_LAMBDA_RUNTIME_API, so they are untrusted.
 *
 * The input is a response head; "\r\n\r\n" is appended when it does not end
 * with one. Checked on every input: an accepted head has a status of
 * 100..599; every field handed to the sink has a non-empty name without
 * blanks, a colon or control characters, and a value without CR, LF or
 * surrounding blanks; both lie inside the input. Chunk sizes: the input's
 * first line is parsed as one; an accepted size is the value of its leading
 * hex digits.
 */
#include "fuzz.h"

#include "private/runtime.h"

#include <string.h>

struct span {
	const char *lo, *hi;
};

static int on_header(void *arg, const char *name, size_t name_len, const char *value,
                     size_t value_len)
{
	const struct span *in = arg;

	FUZZ_CHECK(name >= in->lo && name + name_len <= in->hi, "name outside the input");
	FUZZ_CHECK(value >= in->lo && value + value_len <= in->hi, "value outside the input");
	FUZZ_CHECK(name_len > 0, "empty field name");
	for (size_t i = 0; i < name_len; i++)
		FUZZ_CHECK(name[i] != ':' && name[i] != ' ' && name[i] != '\t' &&
		               (unsigned char)name[i] >= 0x20,
		           "bad byte %02x in a field name", (unsigned char)name[i]);
	for (size_t i = 0; i < value_len; i++)
		FUZZ_CHECK(value[i] != '\r' && value[i] != '\n', "CR or LF in a value");
	if (value_len)
		FUZZ_CHECK(value[0] != ' ' && value[0] != '\t' && value[value_len - 1] != ' ' &&
		               value[value_len - 1] != '\t',
		           "a value with surrounding blanks");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 4);
	struct mtk__http_framing f;
	struct span in;
	struct mtk_runtime_sink sink = { .header = on_header, .arg = &in };
	size_t len = size, line;
	uint64_t n;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (len < 4 || memcmp(buf + len - 4, "\r\n\r\n", 4) != 0) {
		memcpy(buf + len, "\r\n\r\n", 4);
		len += 4;
	}
	in.lo = buf;
	in.hi = buf + len;
	if (mtk__http_parse_head(buf, len, &f, &sink) == MTK_OK)
		FUZZ_CHECK(f.status >= 100 && f.status <= 599, "status %ld", f.status);

	for (line = 0; line < size && data[line] != '\r' && data[line] != '\n'; line++)
		;
	if (mtk__http_chunk_size((const char *)data, line, &n) == MTK_OK) {
		uint64_t want = 0;

		for (size_t i = 0; i < line; i++) {
			char c = (char)data[i];
			int d = c >= '0' && c <= '9'   ? c - '0'
			        : c >= 'a' && c <= 'f' ? c - 'a' + 10
			        : c >= 'A' && c <= 'F' ? c - 'A' + 10
			                               : -1;

			if (d < 0)
				break;
			want = want << 4 | (uint64_t)d;
		}
		FUZZ_CHECK(n == want, "chunk size %llu, not %llu", (unsigned long long)n,
		           (unsigned long long)want);
	}
	free(buf);
	return 0;
}
