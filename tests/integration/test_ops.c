/*
 * The operations flavour against the real daemon, in-process: /metrics is
 * well-formed Prometheus text (checked line by line by the small parser
 * below), its counters move by exactly the requests made, no path or token
 * a client sent shows in it, /healthz and /readyz answer without the
 * metadata header, the Host rule applies, and the configuration turns
 * /metrics off.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "inproc.h"

static struct test_inproc ip;

#define TOKEN_PATH "/computeMetadata/v1/instance/service-accounts/default/token"

static void stop(void)
{
	if (ip.daemon)
		test_inproc_stop(&ip, 1000);
}

TestSuite(ops, .fini = stop, .timeout = 60);

static void start(const char *config)
{
	cr_assert_eq(test_inproc_start(&ip, config, NULL), 0, "metatokend did not start");
}

/* GET path with the given headers (NULL-terminated, or NULL); asserts a
 * response came. */
static void get(const char *path, const char *const *headers, struct test_response *r)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", ip.base, path);
	cr_assert_eq(test_http("GET", url, headers, NULL, r), 0, "no response to GET %s", path);
}

/* ---- a small parser of the text exposition format 0.0.4 ---- */

#define MAX_FAMILIES 32
#define MAX_SAMPLES  512

struct family {
	char name[96];
	char type[16];
	int help;
};

struct sample {
	char name[96];
	char labels[512]; /* as written, between the braces */
	double value;
};

struct scrape {
	struct family fam[MAX_FAMILIES];
	size_t n_fam;
	struct sample s[MAX_SAMPLES];
	size_t n;
};

static int name_char(int c, int first)
{
	return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

/* Reads a metric or label name at *p into out; returns its length. */
static size_t read_name(const char **p, char *out, size_t outlen)
{
	size_t n = 0;

	while (name_char((unsigned char)(*p)[n], n == 0) && n + 1 < outlen) {
		out[n] = (*p)[n];
		n++;
	}
	out[n] = '\0';
	*p += n;
	return n;
}

static struct family *find_family(struct scrape *sc, const char *name)
{
	for (size_t i = 0; i < sc->n_fam; i++)
		if (strcmp(sc->fam[i].name, name) == 0)
			return &sc->fam[i];
	return NULL;
}

/* The family a sample belongs to: its name, or a histogram's with
 * _bucket, _sum or _count taken off. */
static struct family *family_of(struct scrape *sc, const char *sample)
{
	static const char *const suffix[] = { "_bucket", "_sum", "_count" };
	struct family *f = find_family(sc, sample);

	if (f)
		return f;
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(sample), k = strlen(suffix[i]);
		char base[96];

		if (n <= k || strcmp(sample + n - k, suffix[i]) != 0 || n - k >= sizeof(base))
			continue;
		memcpy(base, sample, n - k);
		base[n - k] = '\0';
		f = find_family(sc, base);
		if (f && strcmp(f->type, "histogram") == 0)
			return f;
	}
	return NULL;
}

/* Checks the labels at *p ("{k="v",...}") and copies them out. */
static void parse_labels(const char **p, char *out, size_t outlen, const char *line)
{
	const char *start = *p + 1;

	cr_assert_eq(**p, '{');
	(*p)++;
	while (**p != '}') {
		char lname[64];

		cr_assert(read_name(p, lname, sizeof(lname)) > 0, "bad label name: %s", line);
		cr_assert_eq(**p, '=', "no '=' after label %s: %s", lname, line);
		cr_assert_eq((*p)[1], '"', "label %s not quoted: %s", lname, line);
		*p += 2;
		for (; **p != '"'; (*p)++) {
			cr_assert(**p && **p != '\n', "unterminated label value: %s", line);
			if (**p == '\\') {
				(*p)++;
				cr_assert(**p == '\\' || **p == '"' || **p == 'n', "bad escape: %s",
				          line);
			}
		}
		(*p)++;
		if (**p == ',')
			(*p)++;
		else
			cr_assert_eq(**p, '}', "expected ',' or '}': %s", line);
	}
	cr_assert((size_t)(*p - start) < outlen, "labels too long: %s", line);
	memcpy(out, start, (size_t)(*p - start));
	out[*p - start] = '\0';
	(*p)++;
}

static void parse_line(struct scrape *sc, const char *line)
{
	const char *p = line;
	char name[96];

	if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
		int help = line[2] == 'H';
		struct family *f;

		p += 7;
		cr_assert(read_name(&p, name, sizeof(name)) > 0, "no name: %s", line);
		cr_assert_eq(*p, ' ', "no text after the name: %s", line);
		f = find_family(sc, name);
		if (!f) {
			cr_assert(sc->n_fam < MAX_FAMILIES);
			f = &sc->fam[sc->n_fam++];
			snprintf(f->name, sizeof(f->name), "%s", name);
		}
		if (help) {
			cr_assert(!f->help, "two HELP lines for %s", name);
			cr_assert(p[1], "empty HELP for %s", name);
			f->help = 1;
		} else {
			cr_assert(!f->type[0], "two TYPE lines for %s", name);
			cr_assert(strcmp(p + 1, "counter") == 0 || strcmp(p + 1, "gauge") == 0 ||
			              strcmp(p + 1, "histogram") == 0,
			          "unknown type: %s", line);
			snprintf(f->type, sizeof(f->type), "%s", p + 1);
			if (strcmp(f->type, "counter") == 0)
				cr_assert(strlen(name) > 6 &&
				              strcmp(name + strlen(name) - 6, "_total") == 0,
				          "a counter not ending in _total: %s", name);
		}
		return;
	}
	cr_assert_neq(line[0], '#', "a comment that is neither HELP nor TYPE: %s", line);
	cr_assert(sc->n < MAX_SAMPLES);
	struct sample *s = &sc->s[sc->n++];
	char *end;
	struct family *f;

	cr_assert(read_name(&p, s->name, sizeof(s->name)) > 0, "no metric name: %s", line);
	f = family_of(sc, s->name);
	cr_assert_not_null(f, "a sample before its family's TYPE: %s", line);
	cr_assert(f->type[0] && f->help, "family %s lacks HELP or TYPE", f->name);
	s->labels[0] = '\0';
	if (*p == '{')
		parse_labels(&p, s->labels, sizeof(s->labels), line);
	cr_assert_eq(*p, ' ', "no space before the value: %s", line);
	s->value = strtod(p + 1, &end);
	cr_assert(end != p + 1 && *end == '\0', "bad value: %s", line);
	cr_assert(s->value >= 0, "negative value: %s", line);
}

/* Scrapes /metrics and parses it, checking the format line by line. */
static void scrape(struct scrape *sc)
{
	struct test_response r;
	char ct[128];
	char *text, *line, *save = NULL;

	memset(sc, 0, sizeof(*sc));
	get("/metrics", NULL, &r);
	cr_assert_eq(r.status, 200, "/metrics: %ld %s", r.status, r.body);
	cr_assert_str_eq(test_response_header(&r, "Content-Type", ct, sizeof(ct)),
	                 "text/plain; version=0.0.4; charset=utf-8");
	cr_assert(r.body_len > 0 && r.body[r.body_len - 1] == '\n', "not ended by a newline");
	text = strdup(r.body);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		parse_line(sc, line);
	free(text);
	test_response_free(&r);
}

/* The value of the sample with exactly these labels; -1 if absent. */
static double value(const struct scrape *sc, const char *name, const char *labels)
{
	for (size_t i = 0; i < sc->n; i++)
		if (strcmp(sc->s[i].name, name) == 0 && strcmp(sc->s[i].labels, labels) == 0)
			return sc->s[i].value;
	return -1;
}

/* Like value, 0 when absent: a label set not seen yet. */
static double count_of(const struct scrape *sc, const char *name, const char *labels)
{
	double v = value(sc, name, labels);

	return v < 0 ? 0 : v;
}

/* ---- the tests ---- */

Test(ops, every_family_is_present_and_well_formed)
{
	static const char *const families[][2] = {
		{ "metatoken_requests_total", "counter" },
		{ "metatoken_requests_unlabelled_total", "counter" },
		{ "metatoken_request_duration_seconds", "histogram" },
		{ "metatoken_tokens_minted_total", "counter" },
		{ "metatoken_tokens_served_total", "counter" },
		{ "metatoken_tokens_revoked_total", "counter" },
		{ "metatoken_token_mint_failures_total", "counter" },
		{ "metatoken_invocations_total", "counter" },
		{ "metatoken_connections_open", "gauge" },
		{ "metatoken_requests_held", "gauge" },
		{ "metatoken_cap_hits_total", "counter" },
		{ "metatoken_connections_timed_out_total", "counter" },
	};
	struct scrape sc;
	struct test_response r;

	start(NULL);
	get("/healthz", NULL, &r);
	test_response_free(&r);
	scrape(&sc);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		struct family *f = find_family(&sc, families[i][0]);

		cr_assert_not_null(f, "no family %s", families[i][0]);
		cr_assert_str_eq(f->type, families[i][1], "%s", f->name);
	}
	/* The histogram: buckets cumulative, ending at +Inf == _count. */
	double last = 0, inf = -1;
	int buckets = 0;

	for (size_t i = 0; i < sc.n; i++) {
		if (strcmp(sc.s[i].name, "metatoken_request_duration_seconds_bucket") != 0 ||
		    !strstr(sc.s[i].labels, "flavour=\"ops\""))
			continue;
		cr_assert(strstr(sc.s[i].labels, ",le=\""), "a bucket without le: %s",
		          sc.s[i].labels);
		cr_assert(sc.s[i].value >= last, "buckets not cumulative");
		last = sc.s[i].value;
		buckets++;
		if (strstr(sc.s[i].labels, "le=\"+Inf\""))
			inf = sc.s[i].value;
	}
	cr_assert(buckets > 1, "no buckets for the ops flavour");
	cr_assert_eq(inf, 1, "the +Inf bucket counts the one /healthz");
	cr_assert_eq(value(&sc, "metatoken_request_duration_seconds_count", "flavour=\"ops\""), 1);
	cr_assert(value(&sc, "metatoken_request_duration_seconds_sum", "flavour=\"ops\"") >= 0);
	/* Per account (the configured id) and per function (the root's). */
	cr_assert_eq(
	    value(&sc, "metatoken_tokens_minted_total", "account=\"ajemetatokendefault1\""), 0);
	cr_assert_eq(
	    value(&sc, "metatoken_invocations_total", "function=\"function\",outcome=\"timeout\""),
	    0);
	cr_assert_eq(value(&sc, "metatoken_connections_open", ""), 1, "this scrape's connection");
}

#define TOKEN_PATH     "/computeMetadata/v1/instance/service-accounts/default/token"
#define REQ            "metatoken_requests_total"
#define INVOKE_PATTERN "/2015-03-31/functions/*/invocations"

Test(ops, counters_move_by_exactly_the_requests_made)
{
	static const char *const gce_hdr[] = { "Metadata-Flavor: Google", NULL };
	struct scrape a, b;
	struct test_response r;

	start(NULL);
	scrape(&a);
	for (int i = 0; i < 3; i++) {
		get(TOKEN_PATH, gce_hdr, &r);
		cr_assert_eq(r.status, 200);
		test_response_free(&r);
	}
	for (int i = 0; i < 2; i++) {
		get("/no/such/path", NULL, &r);
		cr_assert_eq(r.status, 404);
		test_response_free(&r);
	}
	get(TOKEN_PATH, NULL, &r); /* no Metadata-Flavor: 403 */
	cr_assert_eq(r.status, 403);
	test_response_free(&r);
	scrape(&b);

	cr_assert_eq(
	    count_of(&b, REQ, "flavour=\"gce\",route=\"/computeMetadata/**\",status=\"200\"") -
	        count_of(&a, REQ, "flavour=\"gce\",route=\"/computeMetadata/**\",status=\"200\""),
	    3);
	cr_assert_eq(
	    count_of(&b, REQ, "flavour=\"gce\",route=\"/computeMetadata/**\",status=\"403\"") -
	        count_of(&a, REQ, "flavour=\"gce\",route=\"/computeMetadata/**\",status=\"403\""),
	    1);
	cr_assert_eq(count_of(&b, REQ, "flavour=\"gce\",route=\"unmatched\",status=\"404\"") -
	                 count_of(&a, REQ, "flavour=\"gce\",route=\"unmatched\",status=\"404\""),
	             2);
	/* The first scrape is counted once it was answered. */
	cr_assert_eq(count_of(&b, REQ, "flavour=\"ops\",route=\"/metrics\",status=\"200\"") -
	                 count_of(&a, REQ, "flavour=\"ops\",route=\"/metrics\",status=\"200\""),
	             1);
	cr_assert_eq(
	    count_of(&b, "metatoken_request_duration_seconds_count", "flavour=\"gce\"") -
	        count_of(&a, "metatoken_request_duration_seconds_count", "flavour=\"gce\""),
	    6);
	/* One token minted, served three times. */
	cr_assert_eq(
	    value(&b, "metatoken_tokens_minted_total", "account=\"ajemetatokendefault1\"") -
	        value(&a, "metatoken_tokens_minted_total", "account=\"ajemetatokendefault1\""),
	    1);
	cr_assert_eq(
	    value(&b, "metatoken_tokens_served_total", "account=\"ajemetatokendefault1\"") -
	        value(&a, "metatoken_tokens_served_total", "account=\"ajemetatokendefault1\""),
	    3);
}

Test(ops, no_path_or_token_a_client_sent_appears)
{
	static const char *const gce_hdr[] = { "Metadata-Flavor: Google", NULL };
	struct test_response r, m;
	char path[4096];
	cJSON *j;
	const char *token;

	start(NULL);
	get(TOKEN_PATH, gce_hdr, &r);
	cr_assert_eq(r.status, 200);
	j = cJSON_Parse(r.body);
	token = cJSON_GetStringValue(cJSON_GetObjectItem(j, "access_token"));
	cr_assert(token && strlen(token) > 16, "no token: %s", r.body);
	/* A client puts the token in paths of every flavour. */
	snprintf(path, sizeof(path), "/computeMetadata/v1/%s", token);
	get(path, gce_hdr, &m);
	test_response_free(&m);
	snprintf(path, sizeof(path), "/%s", token);
	get(path, NULL, &m);
	test_response_free(&m);
	snprintf(path, sizeof(path), "/latest/meta-data/%s", token);
	get(path, NULL, &m);
	test_response_free(&m);
	snprintf(path, sizeof(path), "/metatoken/v1/accounts/%s", token);
	get(path, NULL, &m);
	test_response_free(&m);
	get("/metrics", NULL, &m);
	cr_assert_eq(m.status, 200);
	cr_assert_null(strstr(m.body, token), "the token is in /metrics");
	cr_assert_null(strstr(m.body, token + strlen(token) - 16), "part of the token is in it");
	cr_assert_null(strstr(m.body, "/computeMetadata/v1/"), "a raw path is in /metrics");
	cr_assert_null(strstr(m.body, "/metatoken/v1/accounts/\""), "a raw path is in /metrics");
	/* The account's email is not a label; its id is. */
	cr_assert_null(strstr(m.body, "@"), "an email in /metrics:\n%s", m.body);
	cr_assert_not_null(strstr(m.body, "route=\"unmatched\""));
	test_response_free(&m);
	test_response_free(&r);
	cJSON_Delete(j);
}

static int failing_mint(void *arg, int64_t now_ms, int64_t expires_ms, void *value)
{
	(void)arg;
	(void)now_ms;
	(void)expires_ms;
	(void)value;
	return -1;
}

Test(ops, health_and_readiness_answer_without_the_metadata_header)
{
	struct test_response r;
	struct tokens_key *key;
	int (*mint)(void *, int64_t, int64_t, void *);

	start(NULL);
	get("/healthz", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "ok\n");
	test_response_free(&r);
	get("/readyz", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "ready\n");
	test_response_free(&r);
	/* With no signing key (as before one is loaded) it is not ready, and
	 * says so without naming a path or a key. The daemon serves one
	 * request at a time here, after this store. */
	key = ip.srv.key;
	ip.srv.key = NULL;
	get("/readyz", NULL, &r);
	ip.srv.key = key;
	cr_assert_eq(r.status, 503);
	cr_assert_str_eq(r.body, "not ready: no signing key\n");
	test_response_free(&r);
	/* An account whose mint fails (its minter swapped for one that
	 * fails, between requests) makes it not ready until a mint succeeds. */
	mint = ip.srv.accounts[0].slot.mint;
	ip.srv.accounts[0].slot.mint = failing_mint;
	get(TOKEN_PATH, (const char *const[]){ "Metadata-Flavor: Google", NULL }, &r);
	cr_assert_geq(r.status, 500, "a failed mint: %ld", r.status);
	test_response_free(&r);
	get("/readyz", NULL, &r);
	cr_assert_eq(r.status, 503);
	cr_assert_str_eq(r.body, "not ready: 1 account(s) cannot mint a token\n");
	test_response_free(&r);
	ip.srv.accounts[0].slot.mint = mint;
	get(TOKEN_PATH, (const char *const[]){ "Metadata-Flavor: Google", NULL }, &r);
	cr_assert_eq(r.status, 200);
	test_response_free(&r);
	get("/readyz", NULL, &r);
	cr_assert_eq(r.status, 200, "ready again: %s", r.body);
	test_response_free(&r);
	get("/healthz", (const char *const[]){ "Metadata-Flavor: Google", NULL }, &r);
	cr_assert_eq(r.status, 200, "the metadata header changes nothing");
	test_response_free(&r);
}

Test(ops, the_host_rule_applies)
{
	static const char *const paths[] = { "/metrics", "/healthz", "/readyz" };
	static const char *const evil[] = { "Host: rebound.example.com", NULL };
	static const char *const known[] = { "Host: metadata.google.internal", NULL };

	start(NULL);
	for (size_t i = 0; i < 3; i++) {
		struct test_response r;

		get(paths[i], evil, &r);
		cr_assert_eq(r.status, 403, "%s with a foreign Host: %ld", paths[i], r.status);
		cr_assert_not_null(strstr(r.body, "not a name of this server"), "%s", r.body);
		test_response_free(&r);
		get(paths[i], known, &r);
		cr_assert_eq(r.status, 200, "%s with a metadata Host: %ld", paths[i], r.status);
		test_response_free(&r);
	}
}

Test(ops, metrics_can_be_turned_off)
{
	struct test_response r;

	start("{\"metrics\": {\"enabled\": false}}");
	get("/metrics", NULL, &r);
	cr_assert_eq(r.status, 404, "/metrics when off: %ld", r.status);
	cr_assert_null(strstr(r.body, "metatoken_"), "%s", r.body);
	test_response_free(&r);
	get("/healthz", NULL, &r);
	cr_assert_eq(r.status, 200, "health answers with metrics off");
	test_response_free(&r);
}

Test(ops, the_metrics_section_is_parsed_strictly)
{
	static const char *const bad[][2] = {
		{ "{\"metrics\": {\"enabled\": \"yes\"}}",
		  "metrics.enabled: must be true or false" },
		{ "{\"metrics\": {\"enable\": true}}", "metrics" },
		{ "{\"metrics\": true}", "metrics: must be a JSON object" },
	};
	static const char good[] = "{\"metrics\": {\"enabled\": true}}";
	struct config c;
	char err[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0, sizeof(c));
		err[0] = '\0';
		cr_assert_neq(
		    config_parse(bad[i][0], strlen(bad[i][0]), "t.json", &c, err, sizeof(err)), 0,
		    "%s was accepted", bad[i][0]);
		cr_assert_not_null(strstr(err, bad[i][1]), "%s: %s", bad[i][0], err);
		cr_assert_not_null(strstr(err, "t.json"), "%s", err);
	}
	memset(&c, 0, sizeof(c));
	cr_assert_eq(config_parse("{}", 2, "t.json", &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.metrics_enabled, -1, "unset: on when bound to loopback");
	config_release(&c);
	memset(&c, 0, sizeof(c));
	cr_assert_eq(config_parse(good, strlen(good), "t.json", &c, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(c.metrics_enabled, 1);
	config_release(&c);
}

/* ---- invocations: the test is the root function's runtime ---- */

#define NEXT   "/2018-06-01/runtime/invocation/next"
#define INVOKE "/2015-03-31/functions/function/invocations"

/* A sync invoker, held until its invocation ends: on a thread of its own. */
struct invoker {
	pthread_t thread;
	struct test_response r;
	int rc;
};

static void *invoker_run(void *arg)
{
	struct invoker *v = arg;
	char url[256];

	snprintf(url, sizeof(url), "%s%s", ip.base, INVOKE);
	v->rc = test_http("POST", url, NULL, "{}", &v->r);
	return NULL;
}

static int held_one(const struct daemon_counts *c, void *arg)
{
	(void)arg;
	return c->held >= 1;
}

/* Starts an invocation and takes it as the runtime; returns its id. */
static void invoke_and_take(struct invoker *v, char *id, size_t idlen)
{
	struct test_response next;

	cr_assert_eq(pthread_create(&v->thread, NULL, invoker_run, v), 0);
	get(NEXT, NULL, &next);
	cr_assert_eq(next.status, 200, "%s", next.body);
	cr_assert_not_null(test_response_header(&next, "Lambda-Runtime-Aws-Request-Id", id, idlen));
	test_response_free(&next);
}

static void answer(const char *id, const char *what)
{
	struct test_response r;
	char url[256];

	snprintf(url, sizeof(url), "%s/2018-06-01/runtime/invocation/%s/%s", ip.base, id, what);
	cr_assert_eq(test_http("POST", url, NULL, "{\"errorMessage\":\"x\"}", &r), 0);
	cr_assert_eq(r.status, 202, "%s", r.body);
	test_response_free(&r);
}

static void invoker_join(struct invoker *v)
{
	pthread_join(v->thread, NULL);
	cr_assert_eq(v->rc, 0, "no answer to the invoker");
	cr_assert_eq(v->r.status, 200, "%s", v->r.body);
	test_response_free(&v->r);
}

#define INV "metatoken_invocations_total"

Test(ops, invocations_are_counted_by_function_and_outcome)
{
	struct invoker v = { 0 };
	struct scrape sc;
	char id[64];

	start(NULL);
	invoke_and_take(&v, id, sizeof(id));
	cr_assert_eq(test_inproc_until(&ip, held_one, NULL), 0);
	scrape(&sc);
	cr_assert_eq(value(&sc, "metatoken_requests_held", ""), 1, "the invoker is held");
	answer(id, "response");
	invoker_join(&v);

	memset(&v, 0, sizeof(v));
	invoke_and_take(&v, id, sizeof(id));
	answer(id, "error");
	invoker_join(&v);

	/* The default timeout is 3 s of the wait clock. */
	memset(&v, 0, sizeof(v));
	invoke_and_take(&v, id, sizeof(id));
	cr_assert_eq(test_inproc_until(&ip, held_one, NULL), 0);
	fake_clock_advance(&ip.wait_time, 3010);
	test_inproc_wait(&ip, 0);
	invoker_join(&v);

	scrape(&sc);
	cr_assert_eq(value(&sc, INV, "function=\"function\",outcome=\"ok\""), 1);
	cr_assert_eq(value(&sc, INV, "function=\"function\",outcome=\"error\""), 1);
	cr_assert_eq(value(&sc, INV, "function=\"function\",outcome=\"timeout\""), 1);
	cr_assert_eq(value(&sc, "metatoken_requests_held", ""), 0);
	cr_assert_eq(
	    value(&sc, REQ, "flavour=\"invoke\",route=\"" INVOKE_PATTERN "\",status=\"200\""), 3);
}
