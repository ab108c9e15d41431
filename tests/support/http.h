/* A small synchronous HTTP client for tests, over libcurl. */
#ifndef METATOKEN_TEST_HTTP_H
#define METATOKEN_TEST_HTTP_H

#include <stddef.h>

struct test_response {
	long status;
	char *headers; /* the raw response header block */
	char *body;    /* NUL-terminated */
	size_t body_len;
};

/*
 * Makes one request. headers is a NULL-terminated list of "Name: value"
 * lines, or NULL; body may be NULL. Returns 0 when a response arrived, or -1
 * (transport error, printed to stderr). Free the response with
 * test_response_free.
 */
int test_http(const char *method, const char *url, const char *const *headers, const char *body,
              struct test_response *out);

/* GET with `Metadata-Flavor: Google`. */
int test_http_gce(const char *url, struct test_response *out);

/*
 * The default account's token from the GCE token path of the server at
 * base ("http://127.0.0.1:PORT"): its access_token into out, and its
 * expires_in into *expires_in when not NULL. Returns 0, or -1 (what went
 * wrong printed to stderr) for no answer, a status other than 200 or an
 * answer without the fields.
 */
int test_gce_token(const char *base, char *out, size_t cap, long long *expires_in);

/*
 * Copies the value of the first response header named `name` (any case)
 * into buf, without surrounding blanks. Returns buf, or NULL if absent.
 */
const char *test_response_header(const struct test_response *r, const char *name, char *buf,
                                 size_t buflen);

/*
 * Sends `request` verbatim over a new TCP connection to 127.0.0.1:port and
 * reads until the server closes or 2 s pass. Returns the bytes read (into
 * out, NUL-terminated), or -1 if the connection failed.
 */
long test_raw(int port, const char *request, size_t len, char *out, size_t outlen);

void test_response_free(struct test_response *r);

/*
 * Calls the control API of the server at base_url with the admin secret:
 * method, path under /metatoken/v1/ (e.g. "clock"), and a JSON body or
 * NULL. Returns what test_http returns.
 */
int test_control(const char *base_url, const char *secret, const char *method, const char *path,
                 const char *body, struct test_response *out);

#endif
