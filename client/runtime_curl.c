/*
 * The runtime loop's libcurl transport: GET and POST over one reused easy
 * handle (keep-alive to the Runtime API), response headers and body handed
 * to the caller's sink as they arrive. Never through a proxy.
 */
#include "private/runtime.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct mtk__rtcurl {
	CURL *easy;
};

struct pass {
	const struct mtk_runtime_sink *sink;
	int refused; /* the sink said "too much" */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* As in transport_curl.c: once per process, never cleaned up. */
static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum mtk_status mtk__rtcurl_new(struct mtk__rtcurl **out)
{
	struct mtk__rtcurl *t;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return MTK_ERR_INIT;
	t = calloc(1, sizeof(*t));
	if (!t)
		return MTK_ERR_NO_MEMORY;
	t->easy = curl_easy_init();
	if (!t->easy) {
		free(t);
		return MTK_ERR_INIT;
	}
	*out = t;
	return MTK_OK;
}

void mtk__rtcurl_free(struct mtk__rtcurl *t)
{
	if (!t)
		return;
	curl_easy_cleanup(t->easy);
	free(t);
}

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * One raw header line ("Name: value\r\n"). Status lines and the blank line
 * that ends a block are skipped; a 100 Continue block never reaches us
 * because the POST sends no Expect header.
 */
static size_t on_header(char *data, size_t size, size_t nitems, void *arg)
{
	struct pass *p = arg;
	size_t n = size * nitems, name_len, v, end;
	const char *colon;

	if (p->refused)
		return 0;
	colon = memchr(data, ':', n);
	if (!colon || (n >= 5 && memcmp(data, "HTTP/", 5) == 0))
		return n;
	name_len = (size_t)(colon - data);
	for (v = name_len + 1; v < n && blank(data[v]); v++)
		;
	for (end = n; end > v && blank(data[end - 1]); end--)
		;
	if (p->sink->header &&
	    p->sink->header(p->sink->arg, data, name_len, data + v, end - v) != 0) {
		p->refused = 1;
		return 0;
	}
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct pass *p = arg;
	size_t n = size * nmemb;

	if (p->refused)
		return 0;
	if (p->sink->body && p->sink->body(p->sink->arg, data, n) != 0) {
		p->refused = 1;
		return 0;
	}
	return n;
}

static enum mtk_status map_error(CURLcode rc, int refused)
{
	switch (rc) {
	case CURLE_OK:
		return MTK_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		return MTK_ERR_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return MTK_ERR_TIMEOUT;
	case CURLE_WRITE_ERROR:
		return refused ? MTK_ERR_BODY_TOO_LARGE : MTK_ERR_TRANSPORT;
	case CURLE_OUT_OF_MEMORY:
		return MTK_ERR_NO_MEMORY;
	default:
		return refused ? MTK_ERR_BODY_TOO_LARGE : MTK_ERR_TRANSPORT;
	}
}

enum mtk_status mtk__rtcurl_perform(void *arg, const struct mtk_runtime_request *req,
                                    const struct mtk_runtime_sink *sink, long *status)
{
	struct mtk__rtcurl *t = arg;
	struct curl_slist *headers = NULL, *h;
	struct pass pass = { .sink = sink };
	const char *const *line;
	int post = req->method && strcmp(req->method, "POST") == 0;
	CURL *e = t->easy;
	CURLcode rc;
	long code = 0;

	if (!post && req->method && strcmp(req->method, "GET") != 0)
		return MTK_ERR_INVALID_ARGUMENT;
	for (line = req->headers; line && *line; line++) {
		if (!(h = curl_slist_append(headers, *line)))
			goto out_nomem;
		headers = h;
	}
	/* libcurl would send "Expect: 100-continue" before a large body and wait
	 * for an answer some servers never give. */
	if (post && !(h = curl_slist_append(headers, "Expect:")))
		goto out_nomem;
	if (post)
		headers = h;

	/* Options are set afresh on the kept handle for every request, so one
	 * request's method never leaks into the next. */
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	if (post) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	} else {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
	/* 0 is "no timeout": the /next long poll waits as long as it takes. */
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "metatoken-runtime/" MTK_VERSION_STRING);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &pass);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &pass);

	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	/* The handle must not keep pointers to this call's stack and list. */
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(headers);
	if (rc == CURLE_OK)
		*status = code;
	return map_error(rc, pass.refused);

out_nomem:
	curl_slist_free_all(headers);
	return MTK_ERR_NO_MEMORY;
}
