/*
 * mtk__endpoint_parse and mtk__endpoint_resolve: where the client sends
 * its requests, from the caller's options or from $YC_METADATA_ADDR and
 * $GCE_METADATA_HOST (host[:port], [v6]:port, http://...[/]).
 *
 * The input, up to its first NUL, is the endpoint. Checked on every input:
 * a rejected endpoint leaves *base_url as it was. An accepted one gives
 * "http://" then a host (a name of 1..253 bytes of [A-Za-z0-9._-], or an
 * IPv6 address in brackets) that is the input's own, then at most a
 * canonical port 1..65535: no whitespace, control character, path, query
 * or user info. The base URL is a fixed point: parsed again, with or
 * without its scheme or with a trailing '/', it gives itself. resolve()
 * gives what parse() gives, for an explicit endpoint and for one from the
 * environment.
 */
#include "fuzz.h"

#include "private/internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOST_MAX 253

static char canary_byte;
#define CANARY (&canary_byte)

static void check_same(const char *in, const char *base, const char *how)
{
	char *again = CANARY;
	enum mtk_status st = mtk__endpoint_parse(in, &again);

	FUZZ_CHECK(st == MTK_OK && strcmp(again, base) == 0,
	           "%s \"%s\" gives %s \"%s\", not \"%s\"", how, in, mtk_status_name(st),
	           st == MTK_OK ? again : "", base);
	free(again);
}

/* The host and port of an accepted base URL, against the input. */
static void check_base(const char *in, const char *base)
{
	const char *rest, *port, *p;
	char host[HOST_MAX + 1], addr[sizeof(struct in6_addr)], *slash;
	size_t host_len;
	long n;

	FUZZ_CHECK(strncmp(base, "http://", 7) == 0, "\"%s\" is not http://", base);
	rest = base + 7;
	for (p = base; *p; p++)
		FUZZ_CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f,
		           "\"%s\": byte 0x%02x", base, (unsigned char)*p);
	FUZZ_CHECK(strpbrk(rest, "/@?#%\\") == NULL, "\"%s\": more than host and port", base);

	if (rest[0] == '[') {
		p = strchr(rest, ']');
		FUZZ_CHECK(p != NULL, "\"%s\": unclosed bracket", base);
		host_len = (size_t)(p - rest) + 1;
		FUZZ_CHECK(host_len - 2 < sizeof(host), "\"%s\": long IPv6 address", base);
		memcpy(host, rest + 1, host_len - 2);
		host[host_len - 2] = '\0';
		FUZZ_CHECK(inet_pton(AF_INET6, host, addr) == 1, "\"%s\": [%s] is not IPv6", base,
		           host);
		port = p + 1;
	} else {
		host_len = strcspn(rest, ":");
		FUZZ_CHECK(host_len >= 1 && host_len <= HOST_MAX, "\"%s\": a %zu-byte host", base,
		           host_len);
		FUZZ_CHECK(strspn(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                        "0123456789._-") == host_len,
		           "\"%s\": not a host name", base);
		port = rest + host_len;
	}
	if (*port) {
		FUZZ_CHECK(port[0] == ':' && port[1] >= '1' && port[1] <= '9' &&
		               strspn(port + 1, "0123456789") == strlen(port + 1) &&
		               strlen(port + 1) <= 5,
		           "\"%s\": not a canonical port", base);
		n = strtol(port + 1, NULL, 10);
		FUZZ_CHECK(n >= 1 && n <= 65535, "\"%s\": port %ld", base, n);
	}

	/* The input's own host, not one made up or cut short. */
	p = strncasecmp(in, "http://", 7) == 0 ? in + 7 : in;
	FUZZ_CHECK(strncmp(p, rest, host_len) == 0 &&
	               (p[host_len] == '\0' || p[host_len] == ':' || p[host_len] == '/'),
	           "\"%s\" is not the host of \"%s\"", base, in);

	check_same(base, base, "the base URL");
	check_same(rest, base, "the base URL without its scheme");
	slash = malloc(strlen(base) + 2);
	FUZZ_CHECK(slash != NULL, "out of memory");
	strcpy(slash, base);
	strcat(slash, "/");
	check_same(slash, base, "the base URL with a slash");
	free(slash);
}

/* resolve() from explicit_endpoint (or the environment) gives st and base. */
static void check_resolve(const char *explicit_endpoint, enum mtk_status want, const char *base)
{
	char *got = CANARY;
	enum mtk_status st = mtk__endpoint_resolve(explicit_endpoint, &got);

	FUZZ_CHECK(st == want, "resolve: %s, parse: %s", mtk_status_name(st),
	           mtk_status_name(want));
	if (st == MTK_OK) {
		FUZZ_CHECK(strcmp(got, base) == 0, "resolve: \"%s\", parse: \"%s\"", got, base);
		free(got);
	} else {
		FUZZ_CHECK(got == CANARY, "resolve wrote *base_url on failure");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *base = CANARY;
	enum mtk_status st;

	FUZZ_CHECK(in != NULL, "out of memory");
	memcpy(in, data, size);
	in[size] = '\0';

	st = mtk__endpoint_parse(in, &base);
	FUZZ_CHECK(st == MTK_OK || st == MTK_ERR_BAD_ENDPOINT || st == MTK_ERR_NO_MEMORY,
	           "undocumented status %s", mtk_status_name(st));
	if (st == MTK_OK)
		check_base(in, base);
	else
		FUZZ_CHECK(base == CANARY, "*base_url written on failure");

	check_resolve(in, st, base);
	unsetenv("GCE_METADATA_HOST");
	if (in[0]) {
		FUZZ_CHECK(setenv("YC_METADATA_ADDR", in, 1) == 0, "setenv failed");
		check_resolve(NULL, st, base);
		unsetenv("YC_METADATA_ADDR");
		FUZZ_CHECK(setenv("GCE_METADATA_HOST", in, 1) == 0, "setenv failed");
		check_resolve(NULL, st, base);
		unsetenv("GCE_METADATA_HOST");
	}

	if (st == MTK_OK)
		free(base);
	free(in);
	return 0;
}
