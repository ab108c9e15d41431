/*
 * Yandex's HTTP integration (server/http_proxy.c): a function's answer,
 * which comes from whatever code the function runs, and the event a
 * hostile caller's request becomes.
 *
 * The whole input is read as an answer. Checked: an accepted answer has a
 * status of 200..599, a body with a NUL after it, and headers whose names
 * are HTTP tokens outside the refused and dropped ones and whose values
 * hold no control character but tab, all within the byte cap; a refusal is
 * one printable line.
 *
 * The input is also read as a request, one field a line: the method, the
 * path, then "H name: value" headers and "Q name=value" arguments, and
 * after an empty line the body. Checked: the event is one JSON object
 * that parses again, with valid UTF-8 in every string, the request id in
 * its context, and no Authorization or Cookie header.
 */
#include "fuzz.h"

#include <string.h>
#include <strings.h>

#include "http_proxy.h"

static void check_answer(const uint8_t *data, size_t size)
{
	struct http_answer a;
	char why[256];
	size_t bytes = 0;

	if (http_proxy_answer((const char *)data, size, &a, why, sizeof(why)) != 0) {
		FUZZ_CHECK(why[0] != '\0', "a refusal with no reason");
		for (const char *p = why; *p; p++)
			FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f,
			           "a control character in \"%s\"", why);
		FUZZ_CHECK(!a.tree && !a.headers && !a.body, "a refusal left something behind");
		return;
	}
	FUZZ_CHECK(a.status >= 200 && a.status <= 599, "status %u", a.status);
	FUZZ_CHECK(a.body && a.body[a.body_len] == '\0', "the body is not terminated");
	for (size_t i = 0; i < a.n_headers; i++) {
		const char *n = a.headers[i].name, *v = a.headers[i].value;

		FUZZ_CHECK(*n, "an empty header name");
		for (const char *p = n; *p; p++)
			FUZZ_CHECK(strchr("!#$%&'*+-.^_`|~", *p) || (*p >= '0' && *p <= '9') ||
			               (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'),
			           "header name \"%s\"", n);
		for (const unsigned char *p = (const unsigned char *)v; *p; p++)
			FUZZ_CHECK((*p >= 0x20 || *p == '\t') && *p != 0x7f,
			           "a control character in header %s", n);
		FUZZ_CHECK(strcasecmp(n, "Via") && strcasecmp(n, "Transfer-Encoding") &&
		               strcasecmp(n, "Proxy-Authenticate") && strcasecmp(n, "Host") &&
		               strcasecmp(n, "Content-Length") && strcasecmp(n, "Date") &&
		               strcasecmp(n, "Connection"),
		           "header %s went through", n);
		bytes += strlen(n) + strlen(v) + 4;
	}
	FUZZ_CHECK(bytes <= HTTP_ANSWER_HEADER_BYTES_MAX, "%zu header bytes", bytes);
	http_answer_release(&a);
}

/* Every string in the tree is valid UTF-8 (http_proxy_utf8 changes none). */
static void check_utf8(const cJSON *item)
{
	const cJSON *c;

	if (cJSON_IsString(item)) {
		char *same = http_proxy_utf8(item->valuestring, strlen(item->valuestring));

		FUZZ_CHECK(same && strcmp(same, item->valuestring) == 0, "bad UTF-8 in the event");
		free(same);
	}
	cJSON_ArrayForEach(c, item) check_utf8(c);
}

static void check_event(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *line, *save = NULL, *body = NULL, *event;
	struct http_kv headers[32], query[32];
	struct http_call c = {
		.method = "GET",
		.path = "",
		.headers = headers,
		.query = query,
		.body = "",
		.source_ip = "127.0.0.1",
		.source_port = 40000,
		.request_id = "c0ffee00-0000-4000-8000-000000000000",
		.time_ms = 1795000000000LL,
	};
	const cJSON *ctx, *h;
	cJSON *ev;
	size_t len = 0;

	if (!text)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	/* The body: after the first empty line, NULs and all. */
	if ((body = strstr(text, "\n\n")) != NULL) {
		*body = '\0';
		c.body = body + 2;
		c.body_len = size - (size_t)(body + 2 - text);
	}
	for (int i = 0; (line = strtok_r(i ? NULL : text, "\n", &save)) != NULL; i++) {
		char *sep;

		if (i == 0)
			c.method = line;
		else if (i == 1)
			c.path = line;
		else if (line[0] == 'H' && line[1] == ' ' && (sep = strchr(line, ':')) &&
		         c.n_headers < 32) {
			*sep = '\0';
			headers[c.n_headers++] =
			    (struct http_kv){ line + 2, sep + 1 + (sep[1] == ' ') };
		} else if (line[0] == 'Q' && line[1] == ' ' && c.n_query < 32) {
			sep = strchr(line, '=');
			if (sep)
				*sep = '\0';
			query[c.n_query++] = (struct http_kv){ line + 2, sep ? sep + 1 : NULL };
		}
	}
	event = http_proxy_event(&c, &len);
	FUZZ_CHECK(event && strlen(event) == len, "no event");
	ev = cJSON_Parse(event);
	FUZZ_CHECK(cJSON_IsObject(ev), "the event is not a JSON object: %.200s", event);
	check_utf8(ev);
	ctx = cJSON_GetObjectItemCaseSensitive(ev, "requestContext");
	FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ctx, "requestId")) &&
	               strcmp(cJSON_GetObjectItemCaseSensitive(ctx, "requestId")->valuestring,
	                      c.request_id) == 0,
	           "the request id is not in the context");
	h = cJSON_GetObjectItemCaseSensitive(ev, "multiValueHeaders");
	FUZZ_CHECK(cJSON_IsObject(h) && !cJSON_GetObjectItem(h, "Authorization") &&
	               !cJSON_GetObjectItem(h, "Cookie"),
	           "a stripped header reached the event");
	cJSON_Delete(ev);
	free(event);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_answer(data, size);
	check_event(data, size);
	return 0;
}
