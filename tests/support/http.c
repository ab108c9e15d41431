#include "http.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct buf {
	char *data;
	size_t len;
};

static size_t append(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	char *grown = realloc(b->data, b->len + n + 1);

	if (!grown)
		return 0;
	memcpy(grown + b->len, ptr, n);
	b->data = grown;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

int test_http(const char *method, const char *url, const char *const *headers, const char *body,
              struct test_response *out)
{
	struct buf hdr = { 0 }, bod = { 0 };
	struct curl_slist *list = NULL;
	CURLcode rc;
	CURL *h;

	memset(out, 0, sizeof(*out));
	h = curl_easy_init();
	if (!h)
		return -1;
	for (; headers && *headers; headers++)
		list = curl_slist_append(list, *headers);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, append);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &bod);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(list);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "test_http: %s %s: %s\n", method, url, curl_easy_strerror(rc));
		free(hdr.data);
		free(bod.data);
		return -1;
	}
	out->headers = hdr.data ? hdr.data : strdup("");
	out->body = bod.data ? bod.data : strdup("");
	out->body_len = bod.len;
	return 0;
}

int test_http_gce(const char *url, struct test_response *out)
{
	static const char *const h[] = { "Metadata-Flavor: Google", NULL };

	return test_http("GET", url, h, NULL, out);
}

const char *test_response_header(const struct test_response *r, const char *name, char *buf,
                                 size_t buflen)
{
	size_t nlen = strlen(name);
	const char *line = r->headers;

	while (line && *line) {
		const char *end = strstr(line, "\r\n");
		size_t llen = end ? (size_t)(end - line) : strlen(line);

		if (llen > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
			const char *v = line + nlen + 1;
			size_t vlen;

			while (*v == ' ' || *v == '\t')
				v++;
			vlen = (size_t)(line + llen - v);
			while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			if (vlen >= buflen)
				vlen = buflen - 1;
			memcpy(buf, v, vlen);
			buf[vlen] = '\0';
			return buf;
		}
		line = end ? end + 2 : NULL;
	}
	return NULL;
}

long test_raw(int port, const char *request, size_t len, char *out, size_t outlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	size_t got = 0;
	int fd;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	if (len && send(fd, request, len, MSG_NOSIGNAL) < 0) {
		close(fd);
		return -1;
	}
	while (got + 1 < outlen) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 2000) <= 0)
			break;
		r = recv(fd, out + got, outlen - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	out[got] = '\0';
	close(fd);
	return (long)got;
}

void test_response_free(struct test_response *r)
{
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

int test_control(const char *base_url, const char *secret, const char *method, const char *path,
                 const char *body, struct test_response *out)
{
	char url[512], auth[400];
	const char *h[] = { auth, "Content-Type: application/json", NULL };

	snprintf(url, sizeof(url), "%s/metatoken/v1/%s", base_url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secret);
	return test_http(method, url, h, body, out);
}

int test_gce_token(const char *base, char *out, size_t cap, long long *expires_in)
{
	struct test_response r;
	const cJSON *tok, *exp;
	char url[512];
	cJSON *j = NULL;
	int rc = -1;

	snprintf(url, sizeof(url), "%s/computeMetadata/v1/instance/service-accounts/default/token",
	         base);
	if (test_http_gce(url, &r) != 0)
		return -1;
	if (r.status == 200)
		j = cJSON_Parse(r.body);
	tok = cJSON_GetObjectItemCaseSensitive(j, "access_token");
	exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
	if (cJSON_IsString(tok) && cJSON_IsNumber(exp)) {
		snprintf(out, cap, "%s", tok->valuestring);
		if (expires_in)
			*expires_in = (long long)exp->valuedouble;
		rc = 0;
	} else {
		fprintf(stderr, "test_gce_token: %s: HTTP %ld: %s\n", url, r.status, r.body);
	}
	cJSON_Delete(j);
	test_response_free(&r);
	return rc;
}
