/*
 * Yandex's HTTP integration as data (http_proxy.h): the event a request
 * becomes, and the response a function's answer becomes.
 */
#include "http_proxy.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- text ---- */

/* The length of the valid UTF-8 sequence at s (left bytes there), or 0
 * when it is not one. NUL counts as invalid: a JSON string cannot carry
 * it through cJSON. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
	unsigned cp;
	size_t n;

	if (s[0] >= 0x01 && s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2, cp = s[0] & 0x1Fu;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3, cp = s[0] & 0x0Fu;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3Fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

static int utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0, n; i < len; i += n)
		if ((n = utf8_seq(u + i, len - i)) == 0)
			return 0;
	return 1;
}

char *http_proxy_utf8(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out = malloc(len * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(u + i, len - i);

		if (n == 0) {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		} else {
			memcpy(o, s + i, n);
			o += n;
			i += n;
		}
	}
	*o = '\0';
	return out;
}

/* A header name as Go's net/textproto (and so Yandex) spells it:
 * "content-type" is "Content-Type". A name with a byte outside the token
 * characters is left as it is. */
static void canonical(char *name)
{
	int upper = 1;

	for (const char *p = name; *p; p++)
		if (!strchr("!#$%&'*+-.^_`|~", *p) && !(*p >= '0' && *p <= '9') &&
		    !(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z'))
			return;
	for (char *p = name; *p; p++) {
		if (upper && *p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
		else if (!upper && *p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		upper = *p == '-';
	}
}

/* Whether name is one of list's names, "A|B|C", in any case. */
static int in_list(const char *name, const char *list)
{
	size_t len = strlen(name);

	for (const char *p = list; *p;) {
		size_t n = strcspn(p, "|");

		if (n == len && strncasecmp(p, name, n) == 0)
			return 1;
		p += n + (p[n] == '|');
	}
	return 0;
}

/* ---- the event ---- */

/* Request headers Yandex does not pass on, and the ones it sets itself
 * (any value the client gave is replaced). */
static const char stripped[] =
    "Expect|Te|Trailer|Upgrade|Proxy-Authenticate|Authorization|Connection|Content-Md5|"
    "Max-Forwards|Server|Transfer-Encoding|Www-Authenticate|Cookie|X-Real-Remote-Address|"
    "X-Request-Id|X-Forwarded-For";

/* One header or query argument on its way into the event: both malloc'd,
 * valid UTF-8; `order` keeps equal names in the order they came. */
struct entry {
	char *name;
	char *value;
	size_t order;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void entries_free(struct entry *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++) {
		free(e[i].name);
		free(e[i].value);
	}
	free(e);
}

static int entry_add(struct entry *e, size_t *n, const char *name, const char *value, int header)
{
	e[*n].name = http_proxy_utf8(name, strlen(name));
	e[*n].value = http_proxy_utf8(value ? value : "", value ? strlen(value) : 0);
	e[*n].order = *n;
	if (!e[*n].name || !e[*n].value) {
		free(e[*n].name);
		free(e[*n].value);
		return -1;
	}
	if (header)
		canonical(e[*n].name);
	(*n)++;
	return 0;
}

/* Adds {name: last value} to single and {name: [values]} to multi for the
 * sorted entries. Returns 0, or -1 when out of memory. */
static int add_groups(cJSON *single, cJSON *multi, const struct entry *e, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		cJSON *list = cJSON_AddArrayToObject(multi, e[i].name);

		if (!list)
			return -1;
		for (; j < n && strcmp(e[j].name, e[i].name) == 0; j++) {
			cJSON *v = cJSON_CreateString(e[j].value);

			if (!v || !cJSON_AddItemToArray(list, v)) {
				cJSON_Delete(v);
				return -1;
			}
		}
		if (!cJSON_AddStringToObject(single, e[i].name, e[j - 1].value))
			return -1;
		i = j;
	}
	return 0;
}

/* The headers the event carries, sorted: the request's but the stripped
 * ones, then Yandex's own. */
static struct entry *event_headers(const struct http_call *c, size_t *n_out)
{
	struct entry *e = calloc(c->n_headers + 3, sizeof(*e));
	size_t n = 0, xff_len = 0;
	char *xff = NULL, addr[96];

	if (!e)
		return NULL;
	for (size_t i = 0; i < c->n_headers; i++) {
		const char *name = c->headers[i].name, *value = c->headers[i].value;

		if (strcasecmp(name, "X-Forwarded-For") == 0 && value && *value) {
			size_t vlen = strlen(value);
			char *grown = realloc(xff, xff_len + vlen + 3);

			if (!grown)
				goto out_fail;
			xff = grown;
			xff_len +=
			    (size_t)sprintf(xff + xff_len, "%s%s", xff_len ? ", " : "", value);
		}
		if (!in_list(name, stripped) && entry_add(e, &n, name, value, 1) != 0)
			goto out_fail;
	}
	/* The client's address after the ones it was given. */
	{
		char *grown = realloc(xff, xff_len + strlen(c->source_ip) + 3);

		if (!grown)
			goto out_fail;
		xff = grown;
		sprintf(xff + xff_len, "%s%s", xff_len ? ", " : "", c->source_ip);
	}
	snprintf(addr, sizeof(addr), "[%s]:%u", c->source_ip, c->source_port);
	if (entry_add(e, &n, "X-Forwarded-For", xff, 1) != 0 ||
	    entry_add(e, &n, "X-Real-Remote-Address", addr, 1) != 0 ||
	    entry_add(e, &n, "X-Request-Id", c->request_id, 1) != 0)
		goto out_fail;
	free(xff);
	qsort(e, n, sizeof(*e), entry_cmp);
	*n_out = n;
	return e;
out_fail:
	free(xff);
	entries_free(e, n);
	return NULL;
}

/* Appends s percent-encoded: all but RFC 3986's unreserved characters and
 * those in keep. */
static char *url_encode_into(char *o, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
		if ((*u >= 'a' && *u <= 'z') || (*u >= 'A' && *u <= 'Z') ||
		    (*u >= '0' && *u <= '9') || strchr("-._~", *u) || strchr(keep, *u)) {
			*o++ = (char)*u;
		} else {
			*o++ = '%';
			*o++ = hex[*u >> 4];
			*o++ = hex[*u & 15];
		}
	}
	return o;
}

/* The path and the query as the request had them: "/a/b%20c?x=1&y". Both
 * are spelled again from their decoded forms, the arguments in order. */
static char *event_url(const struct http_call *c)
{
	size_t need = 3 * strlen(c->path) + 2;
	char *url, *o;

	for (size_t i = 0; i < c->n_query; i++)
		need += 3 * strlen(c->query[i].name) +
		        (c->query[i].value ? 3 * strlen(c->query[i].value) + 1 : 0) + 1;
	if (!(url = malloc(need)))
		return NULL;
	o = url_encode_into(url, c->path, "/!$&'()*+,;=:@");
	for (size_t i = 0; i < c->n_query; i++) {
		*o++ = i ? '&' : '?';
		o = url_encode_into(o, c->query[i].name, "");
		if (c->query[i].value) {
			*o++ = '=';
			o = url_encode_into(o, c->query[i].value, "");
		}
	}
	*o = '\0';
	return url;
}

/* Whether the request said its body is JSON: Content-Type application/json,
 * parameters allowed. The last Content-Type counts, as in headers. */
static int json_body(const struct http_call *c)
{
	const char *ct = NULL;
	size_t len;

	for (size_t i = 0; i < c->n_headers; i++)
		if (strcasecmp(c->headers[i].name, "Content-Type") == 0)
			ct = c->headers[i].value;
	if (!ct)
		return 0;
	ct += strspn(ct, " \t");
	len = strcspn(ct, ";");
	while (len && (ct[len - 1] == ' ' || ct[len - 1] == '\t'))
		len--;
	return len == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

/* "26/Dec/2019:14:22:07 +0000": the Common Log Format's time, in UTC. */
static void clf_time(int64_t ms, char out[80])
{
	static const char months[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&s, &tm) || tm.tm_mon < 0 || tm.tm_mon > 11) {
		snprintf(out, 80, "01/Jan/1970:00:00:00 +0000");
		return;
	}
	snprintf(out, 80, "%02d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday, months[tm.tm_mon],
	         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The body as the event's string: as is, or base64. Sets *b64. */
static char *event_body(const struct http_call *c, int *b64)
{
	char *out;

	*b64 = !(json_body(c) && utf8_valid(c->body, c->body_len));
	if (!*b64)
		return strndup(c->body, c->body_len);
	if (c->body_len > (size_t)(INT32_MAX / 4) * 3 || !(out = malloc(c->body_len / 3 * 4 + 5)))
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)c->body, (int)c->body_len);
	return out;
}

char *http_proxy_event(const struct http_call *c, size_t *len)
{
	cJSON *ev = cJSON_CreateObject(), *ctx, *id, *single, *multi;
	struct entry *hdrs = NULL, *query = NULL;
	size_t n_hdrs = 0, n_query = 0;
	char *url = NULL, *body = NULL, *text = NULL, *ua = NULL, *method = NULL, *path = NULL;
	char when[80];
	const char *agent = "";
	int b64 = 0;

	for (size_t i = 0; i < c->n_headers; i++)
		if (strcasecmp(c->headers[i].name, "User-Agent") == 0 && c->headers[i].value)
			agent = c->headers[i].value;
	clf_time(c->time_ms, when);
	if (!ev || !(hdrs = event_headers(c, &n_hdrs)) ||
	    !(query = calloc(c->n_query + 1, sizeof(*query))) || !(url = event_url(c)) ||
	    !(body = event_body(c, &b64)) || !(ua = http_proxy_utf8(agent, strlen(agent))) ||
	    !(method = http_proxy_utf8(c->method, strlen(c->method))) ||
	    !(path = http_proxy_utf8(c->path, strlen(c->path))))
		goto out;
	for (size_t i = 0; i < c->n_query; i++)
		if (entry_add(query, &n_query, c->query[i].name, c->query[i].value, 0) != 0)
			goto out;
	qsort(query, n_query, sizeof(*query), entry_cmp);
	/* The members in the order of Yandex's live events. */
	if (!cJSON_AddStringToObject(ev, "httpMethod", method) ||
	    !(single = cJSON_AddObjectToObject(ev, "headers")) ||
	    !cJSON_AddStringToObject(ev, "url", url) ||
	    !cJSON_AddStringToObject(ev, "path", path) || !cJSON_AddObjectToObject(ev, "params") ||
	    !cJSON_AddObjectToObject(ev, "multiValueParams") ||
	    !cJSON_AddObjectToObject(ev, "pathParams") ||
	    !(multi = cJSON_AddObjectToObject(ev, "multiValueHeaders")) ||
	    add_groups(single, multi, hdrs, n_hdrs) != 0 ||
	    !(single = cJSON_AddObjectToObject(ev, "queryStringParameters")) ||
	    !(multi = cJSON_AddObjectToObject(ev, "multiValueQueryStringParameters")) ||
	    add_groups(single, multi, query, n_query) != 0 ||
	    !(ctx = cJSON_AddObjectToObject(ev, "requestContext")) ||
	    !(id = cJSON_AddObjectToObject(ctx, "identity")) ||
	    !cJSON_AddStringToObject(id, "sourceIp", c->source_ip) ||
	    !cJSON_AddStringToObject(id, "userAgent", ua) ||
	    !cJSON_AddStringToObject(ctx, "httpMethod", method) ||
	    !cJSON_AddStringToObject(ctx, "requestId", c->request_id) ||
	    !cJSON_AddStringToObject(ctx, "requestTime", when) ||
	    !cJSON_AddNumberToObject(ctx, "requestTimeEpoch", (double)(c->time_ms / 1000)) ||
	    !cJSON_AddStringToObject(ev, "body", body) ||
	    !cJSON_AddBoolToObject(ev, "isBase64Encoded", b64))
		goto out;
	if ((text = cJSON_PrintUnformatted(ev)) != NULL)
		*len = strlen(text);
out:
	cJSON_Delete(ev);
	entries_free(hdrs, n_hdrs);
	entries_free(query, n_query);
	free(url);
	free(body);
	free(ua);
	free(method);
	free(path);
	return text;
}

/* ---- the answer ---- */

/* Response headers Yandex drops, refuses, and renames. */
static const char dropped[] =
    "Host|Authorization|User-Agent|Connection|Max-Forwards|Cookie|Content-Length";
static const char refused[] = "Proxy-Authenticate|Transfer-Encoding|Via";
static const char *const remapped[][2] = {
	{ "Content-Md5", "X-Yf-Remapped-Content-Md5" },
	{ "Date", "X-Yf-Remapped-Date" },
	{ "Server", "X-Yf-Remapped-Server" },
	{ "Www-Authenticate", "X-Yf-Remapped-Www-Authenticate" },
};

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t whylen, const char *fmt,
                                                      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	/* A name from the answer may hold anything: one line, printable. */
	for (char *p = why; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -1;
}

static int token(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!strchr("!#$%&'*+-.^_`|~", *s) && !(*s >= '0' && *s <= '9') &&
		    !(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z'))
			return 0;
	return 1;
}

/* A field value: no control character but tab (a CR or LF would end the
 * header and begin another). */
static int field_value(const char *s)
{
	for (const unsigned char *u = (const unsigned char *)s; *u; u++)
		if ((*u < 0x20 && *u != '\t') || *u == 0x7f)
			return 0;
	return 1;
}

/* Adds name: value to the answer's headers after the checks and Yandex's
 * filter. Returns 0, or -1 with why. */
static int answer_header(struct http_answer *a, size_t *cap, size_t *bytes, const char *name,
                         const char *value, char *why, size_t whylen)
{
	if (!token(name))
		return fail(why, whylen, "header name \"%.64s\" is not a valid HTTP header name",
		            name);
	if (!field_value(value))
		return fail(why, whylen,
		            "the value of header %.64s holds a line break or another control "
		            "character",
		            name);
	if (in_list(name, refused))
		return fail(why, whylen, "header %s cannot be set by a function", name);
	if (in_list(name, dropped))
		return 0;
	for (size_t i = 0; i < sizeof(remapped) / sizeof(remapped[0]); i++)
		if (strcasecmp(name, remapped[i][0]) == 0)
			name = remapped[i][1];
	*bytes += strlen(name) + strlen(value) + 4;
	if (*bytes > HTTP_ANSWER_HEADER_BYTES_MAX)
		return fail(why, whylen, "the headers take more than %d bytes",
		            HTTP_ANSWER_HEADER_BYTES_MAX);
	if (a->n_headers == *cap) {
		size_t grown = *cap ? *cap * 2 : 16;
		struct http_kv *h = realloc(a->headers, grown * sizeof(*h));

		if (!h)
			return fail(why, whylen, "%s", "out of memory");
		a->headers = h;
		*cap = grown;
	}
	a->headers[a->n_headers].name = name;
	a->headers[a->n_headers++].value = value;
	return 0;
}

/* Whether an object has a member of that name in any case. */
static int has_member(const cJSON *obj, const char *name)
{
	const cJSON *m;

	cJSON_ArrayForEach(m, obj) if (strcasecmp(m->string, name) == 0) return 1;
	return 0;
}

static int answer_headers(struct http_answer *a, const cJSON *single, const cJSON *multi, char *why,
                          size_t whylen)
{
	const cJSON *hs = cJSON_IsObject(single) ? single : NULL;
	const cJSON *hm = cJSON_IsObject(multi) ? multi : NULL;
	size_t cap = 0, bytes = 0;
	const cJSON *m, *v;

	if (single && !cJSON_IsNull(single) && !cJSON_IsObject(single))
		return fail(why, whylen, "%s", "headers must be an object of strings");
	if (multi && !cJSON_IsNull(multi) && !cJSON_IsObject(multi))
		return fail(why, whylen, "%s",
		            "multiValueHeaders must be an object of string lists");
	cJSON_ArrayForEach(m, hs)
	{
		if (!cJSON_IsString(m))
			return fail(why, whylen, "headers.%.64s must be a string", m->string);
		/* multiValueHeaders wins for a name in both. */
		if (cJSON_IsObject(multi) && has_member(multi, m->string))
			continue;
		if (answer_header(a, &cap, &bytes, m->string, m->valuestring, why, whylen) != 0)
			return -1;
	}
	cJSON_ArrayForEach(m, hm)
	{
		if (!cJSON_IsArray(m))
			return fail(why, whylen,
			            "multiValueHeaders.%.64s must be a list of strings", m->string);
		cJSON_ArrayForEach(v, m)
		{
			if (!cJSON_IsString(v))
				return fail(why, whylen,
				            "multiValueHeaders.%.64s must be a list of strings",
				            m->string);
			if (answer_header(a, &cap, &bytes, m->string, v->valuestring, why,
			                  whylen) != 0)
				return -1;
		}
	}
	return 0;
}

/* Decodes standard base64 (padded; line breaks ignored) into a new
 * buffer. Returns it, or NULL when s is not that (or out of memory). */
static char *base64_decode(const char *s, size_t *out_len)
{
	size_t len = strlen(s), n = 0, pad = 0;
	char *clean = malloc(len + 1), *out = NULL;
	int got;

	if (!clean)
		return NULL;
	for (size_t i = 0; i < len; i++)
		if (s[i] != '\r' && s[i] != '\n')
			clean[n++] = s[i];
	clean[n] = '\0';
	if (n % 4 != 0 || n > INT32_MAX)
		goto out;
	while (pad < 2 && n > pad && clean[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!((clean[i] >= 'A' && clean[i] <= 'Z') ||
		      (clean[i] >= 'a' && clean[i] <= 'z') ||
		      (clean[i] >= '0' && clean[i] <= '9') || clean[i] == '+' || clean[i] == '/'))
			goto out;
	if (!(out = malloc(n / 4 * 3 + 1)))
		goto out;
	got = n ? EVP_DecodeBlock((unsigned char *)out, (unsigned char *)clean, (int)n) : 0;
	if (got < 0 || (size_t)got < pad) {
		free(out);
		out = NULL;
		goto out;
	}
	*out_len = (size_t)got - pad;
	out[*out_len] = '\0';
out:
	free(clean);
	return out;
}

/* Whether the text holds a \u0000 escape, which cJSON would turn into a
 * NUL that cuts its string short. Escapes are read left to right, so a
 * backslash that is itself escaped is skipped. */
static int nul_escape(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] != '\\')
			continue;
		if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0)
			return 1;
		i++;
	}
	return 0;
}

int http_proxy_answer(const char *text, size_t len, struct http_answer *a, char *why, size_t whylen)
{
	const cJSON *status, *body, *b64;
	char *copy;
	int is_b64 = 0;

	memset(a, 0, sizeof(*a));
	if (memchr(text, '\0', len) || !(copy = strndup(text, len)))
		return fail(why, whylen, "%s", "not a valid json");
	a->tree = cJSON_ParseWithOpts(copy, NULL, 1);
	free(copy);
	if (!a->tree)
		return fail(why, whylen, "%s", "not a valid json");
	if (!cJSON_IsObject(a->tree)) {
		http_answer_release(a);
		return fail(why, whylen, "%s", "not a json object");
	}
	if (nul_escape(text, len)) {
		http_answer_release(a);
		return fail(why, whylen, "%s",
		            "a \\u0000 escape cannot be passed on (send binary bodies in base64 "
		            "with isBase64Encoded)");
	}
	status = cJSON_GetObjectItemCaseSensitive(a->tree, "statusCode");
	body = cJSON_GetObjectItemCaseSensitive(a->tree, "body");
	b64 = cJSON_GetObjectItemCaseSensitive(a->tree, "isBase64Encoded");
	a->status = 200;
	if (status && !cJSON_IsNull(status)) {
		double d = cJSON_IsNumber(status) ? status->valuedouble : 0;

		if (!(d >= 200 && d <= 599 && d == (double)(unsigned)d)) {
			http_answer_release(a);
			return fail(why, whylen, "%s",
			            "statusCode must be an integer from 200 to 599");
		}
		a->status = (unsigned)d;
	}
	if (body && !cJSON_IsNull(body) && !cJSON_IsString(body)) {
		http_answer_release(a);
		return fail(why, whylen, "%s", "body must be a string");
	}
	if (b64 && !cJSON_IsNull(b64)) {
		if (!cJSON_IsBool(b64)) {
			http_answer_release(a);
			return fail(why, whylen, "%s", "isBase64Encoded must be true or false");
		}
		is_b64 = cJSON_IsTrue(b64);
	}
	if (answer_headers(a, cJSON_GetObjectItemCaseSensitive(a->tree, "headers"),
	                   cJSON_GetObjectItemCaseSensitive(a->tree, "multiValueHeaders"), why,
	                   whylen) != 0) {
		http_answer_release(a);
		return -1;
	}
	if (!cJSON_IsString(body)) {
		a->body = strdup("");
	} else if (!is_b64) {
		a->body_len = strlen(body->valuestring);
		a->body = strdup(body->valuestring);
	} else if (!(a->body = base64_decode(body->valuestring, &a->body_len))) {
		http_answer_release(a);
		return fail(why, whylen, "%s",
		            "body is not valid base64 (isBase64Encoded is true)");
	}
	if (!a->body) {
		http_answer_release(a);
		return fail(why, whylen, "%s", "out of memory");
	}
	return 0;
}

void http_answer_release(struct http_answer *a)
{
	cJSON_Delete(a->tree);
	free(a->headers);
	free(a->body);
	memset(a, 0, sizeof(*a));
}
