/*
 * An example function runtime: one shared libmetatoken client, and per
 * invocation a fresh context from the environment with this invocation's
 * request id, deadline and service-account token, handed to the handler.
 *
 * Build against an installed libmetatoken:
 *
 *   cc -o function function.c $(pkg-config --cflags --libs metatoken)
 *
 * Run (metatokend or a real VM's metadata service):
 *
 *   YC_METADATA_ADDR=127.0.0.1:8080 ./function [--invocations N] [--print-context]
 *
 * --print-context prints each invocation's context as JSON, the document a
 * non-C runtime receives. It contains the token: for tests and debugging.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <metatoken/context.h>
#include <metatoken/metatoken.h>

static int print_context;

static long long wall_ms(void)
{
	struct timespec ts;

	timespec_get(&ts, TIME_UTC); /* C11: no POSIX feature macro needed */
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The function itself: what a user writes. */
static int handler(const char *event, struct mtk_context *ctx)
{
	char *json = NULL;

	if (print_context) {
		if (mtk_context_to_json(ctx, &json) != MTK_OK)
			return -1;
		printf("%s\n", json);
		mtk_json_free(json);
		return 0;
	}
	printf("event=%s request_id=%s token=%s expires_in=%lld remaining_ms=%lld\n", event,
	       mtk_context_get(ctx, MTK_CTX_REQUEST_ID),
	       mtk_context_has_token(ctx) ? "yes" : "none",
	       (long long)mtk_context_token_expires_in_s(ctx),
	       (long long)mtk_context_remaining_ms(ctx));
	return 0;
}

int main(int argc, char **argv)
{
	struct mtk_client *client = NULL;
	struct mtk_context *ctx;
	enum mtk_status st;
	char request_id[64];
	int i, n = 3, rc = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--print-context") == 0) {
			print_context = 1;
		} else if (strcmp(argv[i], "--invocations") == 0 && i + 1 < argc) {
			n = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: function [--invocations N] [--print-context]\n");
			return 2;
		}
	}

	/* One client for the life of the runtime: the token is cached across
	 * invocations and refreshed ahead of expiry in the background. */
	st = mtk_client_new(&(struct mtk_client_options){ .background_refresh = true }, &client);
	if (st != MTK_OK) {
		fprintf(stderr, "function: %s\n", mtk_strerror(st));
		return 1;
	}

	for (i = 0; i < n; i++) {
		snprintf(request_id, sizeof(request_id), "req-%d", i + 1);
		st = mtk_context_from_env(
		    &(struct mtk_context_overrides){ .request_id = request_id,
		                                     .aws_request_id = request_id,
		                                     .deadline_ms = wall_ms() + 3000 },
		    &ctx);
		if (st != MTK_OK) {
			fprintf(stderr, "function: context: %s\n", mtk_strerror(st));
			goto out;
		}
		st = mtk_context_inject_token(ctx, client);
		/* No service account: the function runs without a token. */
		if (st != MTK_OK && st != MTK_ERR_NO_SUCH_ACCOUNT) {
			char why[512];

			mtk_client_last_error(client, why, sizeof(why));
			fprintf(stderr, "function: token: %s\n", why[0] ? why : mtk_strerror(st));
			mtk_context_free(ctx);
			goto out;
		}
		if (handler("{}", ctx) != 0) {
			mtk_context_free(ctx);
			goto out;
		}
		mtk_context_free(ctx);
	}
	rc = 0;
out:
	mtk_client_free(client);
	return rc;
}
