/*
 * The real transport: libcurl, one easy handle per client, reused so that
 * the connection to the metadata service stays open (keep-alive). libcurl
 * is loaded when the first one is created (private/libcurl.h).
 */
#include "private/internal.h"
#include "private/libcurl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct mtk__curl {
	pthread_mutex_t lock; /* the easy handle is not thread-safe */
	CURL *easy;
	char *ca_file; /* NULL: the system's CA store */
};

struct sink {
	struct mtk_http_response *resp;
	int overflow;
};

enum mtk_status mtk__curl_new(struct mtk__curl **out)
{
	struct mtk__curl *t;
	enum mtk_status st;

	/* Also curl_global_init(), once per process. */
	if ((st = mtk__libcurl_load()) != MTK_OK)
		return st;
	t = calloc(1, sizeof(*t));
	if (!t)
		return MTK_ERR_NO_MEMORY;
	t->easy = curl_easy_init();
	if (!t->easy) {
		free(t);
		return MTK_ERR_INIT;
	}
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		curl_easy_cleanup(t->easy);
		free(t);
		return MTK_ERR_INIT;
	}
	*out = t;
	return MTK_OK;
}

void mtk__curl_free(struct mtk__curl *t)
{
	if (!t)
		return;
	curl_easy_cleanup(t->easy);
	pthread_mutex_destroy(&t->lock);
	free(t->ca_file);
	free(t);
}

enum mtk_status mtk__curl_set_ca_file(struct mtk__curl *t, const char *path)
{
	char *copy = path ? strdup(path) : NULL;

	if (path && !copy)
		return MTK_ERR_NO_MEMORY;
	pthread_mutex_lock(&t->lock);
	free(t->ca_file);
	t->ca_file = copy;
	pthread_mutex_unlock(&t->lock);
	return MTK_OK;
}

/*
 * Keeps the value of a Retry-After header line, NUL-terminated and cut to
 * fit, in the caller's buffer (when it gave one). A status line starts a
 * new response (after a 100 Continue, say): what an earlier one said goes.
 */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "Retry-After:";
	struct mtk_http_response *r = arg;
	size_t n = size * nmemb, len;

	if (!r->retry_after || r->retry_after_cap == 0)
		return n;
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		r->retry_after[0] = '\0';
	} else if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		data += sizeof(name) - 1;
		len = n - (sizeof(name) - 1);
		while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n'))
			len--;
		if (len > r->retry_after_cap - 1)
			len = r->retry_after_cap - 1;
		memcpy(r->retry_after, data, len);
		r->retry_after[len] = '\0';
	}
	return n;
}

/* Appends to the caller's buffer; returning short makes curl fail the
 * transfer with CURLE_WRITE_ERROR, which is how the cap is enforced. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	struct mtk_http_response *r = s->resp;
	size_t n = size * nmemb;

	if (n > r->body_cap - r->body_len) {
		s->overflow = 1;
		return 0;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	return n;
}

static enum mtk_status map_error(CURLcode rc, int overflow)
{
	switch (rc) {
	case CURLE_OK:
		return MTK_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		return MTK_ERR_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return MTK_ERR_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return MTK_ERR_BODY_TOO_LARGE;
	case CURLE_WRITE_ERROR:
		return overflow ? MTK_ERR_BODY_TOO_LARGE : MTK_ERR_TRANSPORT;
	case CURLE_OUT_OF_MEMORY:
		return MTK_ERR_NO_MEMORY;
	/* Not retried: asking again gets the same certificate. */
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return MTK_ERR_TLS;
	default:
		return MTK_ERR_TRANSPORT;
	}
}

enum mtk_status mtk__curl_perform(void *arg, const struct mtk_http_request *req,
                                  struct mtk_http_response *resp)
{
	struct mtk__curl *t = arg;
	struct curl_slist *headers = NULL, *h;
	struct sink sink = { .resp = resp };
	const char *const *line;
	enum mtk_status st;
	CURLcode rc;
	long status = 0;
	CURL *e = t->easy;

	for (line = req->headers; line && *line; line++) {
		h = curl_slist_append(headers, *line);
		if (!h) {
			curl_slist_free_all(headers);
			return MTK_ERR_NO_MEMORY;
		}
		headers = h;
	}
	/* Older libcurls wait for a 100 Continue before a body over 1 KiB,
	 * which a JWT with a 4096-bit signature is: one round trip for
	 * nothing. */
	if (req->body) {
		h = curl_slist_append(headers, "Expect:");
		if (!h) {
			curl_slist_free_all(headers);
			return MTK_ERR_NO_MEMORY;
		}
		headers = h;
	}

	pthread_mutex_lock(&t->lock);
	resp->body_len = 0;
	/* Options are re-set per request on the kept handle; curl_easy_reset is
	 * avoided because it would not keep the connection cache anyway, and
	 * every option that matters is set here. */
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L); /* also undoes a previous PUT's options */
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
	if (req->method && strcmp(req->method, "PUT") == 0) {
		/* An empty body with Content-Length: 0, as the AWS SDKs send it. */
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
	} else if (req->method && strcmp(req->method, "POST") == 0 && req->body) {
		/* Not copied (POSTFIELDS, not COPYPOSTFIELDS): the body is a
		 * secret that its owner wipes. */
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
	} else if (req->method && strcmp(req->method, "GET") != 0) {
		pthread_mutex_unlock(&t->lock);
		curl_slist_free_all(headers);
		return MTK_ERR_INVALID_ARGUMENT;
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	/* The metadata service is link-local: never through a proxy, whatever
	 * http_proxy says. */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* Certificates are always verified (libcurl's defaults, set anyway
	 * since the handle outlives any code that might change them). */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (t->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)resp->body_cap);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "metatoken/" MTK_VERSION_STRING);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, resp);

	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	/* The handle must not keep pointers to this call's stack and list. */
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
	if (req->body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	pthread_mutex_unlock(&t->lock);
	curl_slist_free_all(headers);

	st = map_error(rc, sink.overflow);
	if (st == MTK_OK)
		resp->status = status;
	return st;
}
