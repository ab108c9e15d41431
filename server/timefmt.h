/*
 * Times as the wire shows them. Every timestamp metatokend writes (GCE
 * and AWS credential documents, the control API) goes through here, so
 * that they all have the one shape SDKs parse.
 */
#ifndef METATOKEN_SERVER_TIMEFMT_H
#define METATOKEN_SERVER_TIMEFMT_H

#include <stdint.h>

/* Room for any timefmt_rfc3339() answer, NUL included: even year
 * -292275055 (INT64_MIN ms) takes 26. */
#define TIMEFMT_RFC3339_SIZE 32

/*
 * Writes ms since the Unix epoch as RFC 3339 in UTC to the second,
 * "YYYY-MM-DDTHH:MM:SSZ", into out. Milliseconds are dropped by rounding
 * down, before 1970 too: -1 ms is 1969-12-31T23:59:59Z.
 */
void timefmt_rfc3339(int64_t ms, char out[TIMEFMT_RFC3339_SIZE]);

#endif
