/*
 * route_match and route_host_allowed: the route table's pattern matcher and
 * the Host check, on any bytes. The input is "pattern\npath\nhost" (missing
 * parts are empty).
 *
 * Invariants: a match's arguments lie inside the path and hold no '/'; a
 * pattern without '*' matches only its own text (or, ending in the subtree
 * mark, what starts with it and a '/'); a Host that is accepted names a
 * loopback or metadata name, the bound address or the listed extra name.
 */
#include "fuzz.h"

#include <string.h>
#include <strings.h>

#include "reply.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[4096], *pattern, *path, *host, *nl;
	const char *arg[ROUTE_ARGS_MAX] = { 0 };
	size_t arg_len[ROUTE_ARGS_MAX] = { 0 };
	const char *const extra[] = { "dev.test" };

	if (size >= sizeof(buf) || memchr(data, '\0', size))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	pattern = buf;
	path = (nl = strchr(pattern, '\n')) ? (*nl = '\0', nl + 1) : pattern + strlen(pattern);
	host = (nl = strchr(path, '\n')) ? (*nl = '\0', nl + 1) : path + strlen(path);

	if (route_match(pattern, path, strlen(path), arg, arg_len)) {
		for (size_t i = 0; i < ROUTE_ARGS_MAX && arg[i]; i++) {
			FUZZ_CHECK(arg[i] >= path && arg[i] + arg_len[i] <= path + strlen(path),
			           "argument %zu outside the path", i);
			FUZZ_CHECK(arg_len[i] > 0 && !memchr(arg[i], '/', arg_len[i]),
			           "argument %zu empty or with a slash", i);
		}
		if (!strchr(pattern, '*'))
			FUZZ_CHECK(strcmp(pattern, path) == 0, "\"%s\" matched \"%s\"", pattern,
			           path);
	}
	if (route_host_allowed(host, "10.1.2.3", extra, 1)) {
		static const char *const names[] = { "localhost", "metadata.google.internal",
			                             "metadata",  "169.254.169.254",
			                             "10.1.2.3",  "dev.test" };
		int known = 0;
		size_t n = strcspn(host[0] == '[' ? host + 1 : host, host[0] == '[' ? "]" : ":");
		const char *name = host[0] == '[' ? host + 1 : host;

		if (n && name[n - 1] == '.')
			n--;
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			known |= strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0;
		FUZZ_CHECK(known || strncmp(name, "127.", 4) == 0 || host[0] == '[',
		           "accepted Host \"%s\"", host);
	}
	return 0;
}
