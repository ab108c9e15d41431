/*
 * Where the metadata service is: the endpoint's resolution and syntax, and
 * which service account names may go into its URL path.
 */
#include "private/internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOST_MAX 253 /* a DNS name's longest */

static int is_host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-' || ch == '_';
}

/*
 * Parses host[:port], [v6]:port or http://... with at most one trailing '/'
 * into "http://host[:port]". Anything else (another scheme, a path, user
 * info, a bad port) is MTK_ERR_BAD_ENDPOINT: a typo must not send the
 * request somewhere unexpected.
 */
static enum mtk_status parse(const char *s, char **base_url)
{
	const char *host, *p;
	size_t host_len, len;
	long port = -1;
	char *url;

	if (strncasecmp(s, "http://", 7) == 0)
		s += 7;
	else if (strstr(s, "://"))
		return MTK_ERR_BAD_ENDPOINT;

	len = strlen(s);
	if (len > 0 && s[len - 1] == '/')
		len--;
	host = s;
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		char addr[INET6_ADDRSTRLEN];
		struct in6_addr in6;

		/* An IPv6 address and nothing else: a typo must fail here,
		 * not at the first request. */
		if (!close || close == s + 1 || (size_t)(close - s - 1) >= sizeof(addr))
			return MTK_ERR_BAD_ENDPOINT;
		memcpy(addr, s + 1, (size_t)(close - s - 1));
		addr[close - s - 1] = '\0';
		if (inet_pton(AF_INET6, addr, &in6) != 1)
			return MTK_ERR_BAD_ENDPOINT;
		p = close + 1;
	} else {
		for (p = s; p < s + len && is_host_char(*p); p++)
			;
	}
	/* A bracketed address is far shorter than HOST_MAX. */
	host_len = (size_t)(p - host);
	if (host_len == 0 || host_len > HOST_MAX)
		return MTK_ERR_BAD_ENDPOINT;

	if (p < s + len) {
		if (*p != ':' || p + 1 == s + len)
			return MTK_ERR_BAD_ENDPOINT;
		port = 0;
		for (p++; p < s + len; p++) {
			if (*p < '0' || *p > '9')
				return MTK_ERR_BAD_ENDPOINT;
			port = port * 10 + (*p - '0');
			if (port > 65535)
				return MTK_ERR_BAD_ENDPOINT;
		}
		if (port == 0)
			return MTK_ERR_BAD_ENDPOINT;
	}

	url = malloc(sizeof("http://") + host_len + sizeof(":65535"));
	if (!url)
		return MTK_ERR_NO_MEMORY;
	if (port > 0)
		sprintf(url, "http://%.*s:%ld", (int)host_len, host, port);
	else
		sprintf(url, "http://%.*s", (int)host_len, host);
	*base_url = url;
	return MTK_OK;
}

enum mtk_status mtk__endpoint_parse(const char *s, char **base_url)
{
	return parse(s, base_url);
}

enum mtk_status mtk__endpoint_resolve(const char *explicit_endpoint, char **base_url)
{
	static const char *const vars[] = { "YC_METADATA_ADDR", "GCE_METADATA_HOST" };
	const char *v;
	size_t i;

	if (explicit_endpoint)
		return parse(explicit_endpoint, base_url);
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		v = getenv(vars[i]);
		if (v && *v)
			return parse(v, base_url);
	}
	return parse(MTK__DEFAULT_ENDPOINT, base_url);
}

enum mtk_status mtk__account_check(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > MTK_MAX_ACCOUNT)
		return MTK_ERR_BAD_ACCOUNT;
	/* "." and ".." would be resolved as path segments by some servers. */
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return MTK_ERR_BAD_ACCOUNT;
	for (i = 0; i < len; i++) {
		char ch = name[i];

		if (!(is_host_char(ch) || ch == '@' || ch == '+'))
			return MTK_ERR_BAD_ACCOUNT;
	}
	return MTK_OK;
}
