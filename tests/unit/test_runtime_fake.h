/*
 * A fake Runtime API for the runtime loop's tests: scripted /next answers,
 * every request recorded, a clock that moves only when the loop sleeps, the
 * log captured, and a handler that records the context it got.
 */
#ifndef METATOKEN_TEST_RUNTIME_FAKE_H
#define METATOKEN_TEST_RUNTIME_FAKE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "metatoken/context.h"
#include "metatoken/runtime.h"
#include "metatoken/testing.h"

#define MAX_SCRIPT 16
#define MAX_CALLS  32
#define TOKEN_DOC  "{\"access_token\":\"t1.abc\",\"expires_in\":3600,\"token_type\":\"Bearer\"}"

struct next_answer {
	enum mtk_status st; /* what perform() returns (MTK_OK: a response) */
	long status;        /* 0: 200 */
	const char *headers[16];
	const char *body;
	size_t body_len; /* 0: strlen(body) */
};

struct call {
	char method[8];
	char url[512];
	char headers[1024]; /* "\n"-joined */
	char *body;
	size_t body_len;
	int64_t timeout_ms;
};

struct runtime_fake {
	struct next_answer script[MAX_SCRIPT];
	int nscript, next;
	struct call calls[MAX_CALLS];
	int ncalls;
	enum mtk_status post_st;
	long post_status;
	int64_t mono_ms;
	int64_t sleeps[MAX_CALLS];
	int nsleeps;
	char log[8192];
	/* What the handler saw. */
	int invocations;
	cJSON *ctx_json;
	char trace_id[128], trace_env[128], event[256];
	size_t event_len;
};

extern struct runtime_fake F;

/* Options wired to the fake, with no token fallback, ending after max. */
struct mtk_runtime_options options(uint64_t max);
void setup(void); /* unsets the Lambda variables, empties F */
void teardown(void);
void push(struct next_answer a);
/* A /next answer with a request id header and the given event. */
void push_event(const char *id_header, const char *body);
/* A handler that records what it saw in F and answers {"ok":true}. */
int record(const char *event, size_t len, const struct mtk_context *ctx, struct mtk_result *out,
           void *arg);
/* The recorded context's member at a dotted path, or NULL. */
const cJSON *at(const char *path);
void expect_string(const char *path, const char *want);
void expect_number(const char *path, double want);
const struct call *last_post(void);
int posts(void);

#endif
