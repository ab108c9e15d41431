/*
 * The rule for a Python handler's name (handlername.h).
 */
#include "handlername.h"

#include <string.h>

int handlername_python_ok(const char *s)
{
	size_t parts = 0;

	if (!s)
		return 0;
	for (;;) {
		size_t len = 0;

		if (s[0] >= '0' && s[0] <= '9')
			return 0;
		while (s[len] == '_' || (s[len] >= 'a' && s[len] <= 'z') ||
		       (s[len] >= 'A' && s[len] <= 'Z') || (s[len] >= '0' && s[len] <= '9') ||
		       (unsigned char)s[len] >= 0x80)
			len++;
		if (len == 0)
			return 0;
		parts++;
		s += len;
		if (*s == '\0')
			return parts >= 2;
		/* The last separator, before the function, must be a dot. */
		if (*s == '/' && !strpbrk(s + 1, "."))
			return 0;
		if (*s != '.' && *s != '/')
			return 0;
		s++;
	}
}
