#include "timefmt.h"

#include <stdio.h>
#include <time.h>

void timefmt_rfc3339(int64_t ms, char out[TIMEFMT_RFC3339_SIZE])
{
	/* C division rounds toward zero; a time before 1970 must round down. */
	time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0));
	struct tm tm;

	/* gmtime_r() fails only for years beyond an int; a 64-bit time_t of
	 * int64 ms stays inside. Should it fail, the epoch is written: a
	 * reader sees an expiry long past rather than garbage. */
	if (!gmtime_r(&t, &tm) ||
	    strftime(out, TIMEFMT_RFC3339_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, TIMEFMT_RFC3339_SIZE, "1970-01-01T00:00:00Z");
}
