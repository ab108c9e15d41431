/*
 * mtk__retry_after_parse: the value of a Retry-After header a metadata
 * service (or anything on the path to it) sends with a 429 or 503.
 *
 * The input, up to its first NUL, is the value. Checked on every input: the
 * pause is -1 (ignored) or 0..MTK__RETRY_AFTER_MAX_MS; one that is not -1
 * came from digits only or from a 29-byte IMF-fixdate (with spaces around
 * either); delay-seconds do not depend on the clock, and a date's pause
 * only shrinks as the clock moves on.
 */
#include "fuzz.h"

#include "private/retry.h"

#include <string.h>

#define NOW_MS 1700000000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char value[512];
	size_t n = size < sizeof(value) - 1 ? size : sizeof(value) - 1, b, e;
	int64_t ms, later;
	bool all_digits = true;

	memcpy(value, data, n);
	value[n] = '\0';
	ms = mtk__retry_after_parse(value, NOW_MS);
	FUZZ_CHECK(ms == -1 || (ms >= 0 && ms <= MTK__RETRY_AFTER_MAX_MS), "\"%s\": %lld", value,
	           (long long)ms);
	if (ms < 0)
		return 0;
	n = strlen(value);
	for (b = 0; b < n && (value[b] == ' ' || value[b] == '\t'); b++)
		;
	for (e = n; e > b && (value[e - 1] == ' ' || value[e - 1] == '\t'); e--)
		;
	for (size_t i = b; i < e; i++)
		all_digits &= value[i] >= '0' && value[i] <= '9';
	FUZZ_CHECK(e > b && (all_digits || (e - b == 29 && memcmp(value + e - 4, " GMT", 4) == 0)),
	           "\"%s\" accepted", value);
	later = mtk__retry_after_parse(value, NOW_MS + 1000);
	if (all_digits)
		FUZZ_CHECK(later == ms && ms % 1000 == 0, "\"%s\": %lld then %lld", value,
		           (long long)ms, (long long)later);
	else
		FUZZ_CHECK(later <= ms && later >= ms - 1000 && later >= 0,
		           "\"%s\": %lld then %lld", value, (long long)ms, (long long)later);
	return 0;
}
