/*
 * The times servers send, parsed strictly (private/internal.h): one place
 * for the client's date arithmetic.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "private/internal.h"

/* n digits at s as a number, -1 when one is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

int64_t mtk__rfc3339_ms(const char *s, size_t len, bool fraction)
{
	struct tm tm = { 0 };
	int year, mon, day, hh, mm, ss, ms = 0;
	size_t i = 19, nfrac = 0;

	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[len - 1] != 'Z')
		return -1;
	year = digits(s, 4);
	mon = digits(s + 5, 2);
	day = digits(s + 8, 2);
	hh = digits(s + 11, 2);
	mm = digits(s + 14, 2);
	ss = digits(s + 17, 2);
	if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
	    hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59)
		return -1;
	if (s[i] == '.' && fraction) {
		/* 1 to 9 digits (protobuf's Timestamp): ms, the rest cut. */
		for (i++; i < len - 1; i++, nfrac++) {
			if (s[i] < '0' || s[i] > '9' || nfrac >= 9)
				return -1;
			if (nfrac < 3)
				ms = ms * 10 + (s[i] - '0');
		}
		if (nfrac == 0)
			return -1;
		for (; nfrac < 3; nfrac++)
			ms *= 10;
	}
	if (i != len - 1)
		return -1;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

int64_t mtk__imf_fixdate_ms(const char *s, size_t len)
{
	static const char days[] = "MonTueWedThuFriSatSun";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm = { 0 };
	const char *m;
	int day, year, hh, mm, ss;

	if (len != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
	    s[16] != ' ' || s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
		return -1;
	for (m = days; *m && memcmp(m, s, 3) != 0; m += 3)
		;
	if (!*m)
		return -1;
	for (m = months; *m && memcmp(m, s + 8, 3) != 0; m += 3)
		;
	day = digits(s + 5, 2);
	year = digits(s + 12, 4);
	hh = digits(s + 17, 2);
	mm = digits(s + 20, 2);
	ss = digits(s + 23, 2);
	if (!*m || day < 1 || day > 31 || year < 1970 || hh < 0 || hh > 23 || mm < 0 || mm > 59 ||
	    ss < 0 || ss > 60)
		return -1;
	tm.tm_mday = day;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	return (int64_t)timegm(&tm) * 1000;
}
