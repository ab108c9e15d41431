/*
 * A C handler for tests/integration/test_http_invoke.py, loaded by
 * metatoken-bootstrap as http_fn.so:http_fn_handle. Its event is Yandex's
 * HTTP event (or, with ?integration=raw, the body as it came), and the
 * query argument `do` says what to answer:
 *   echo (default)  200 with the event as a JSON body, Content-Type
 *                   application/json, X-Context-Request-Id (the context's
 *                   request id) and X-Seen twice (multiValueHeaders, which
 *                   wins over the headers' X-Seen)
 *   binary          201 with the bytes 00 01 fe ff, in base64
 *   fail            a function error: TestError "asked to fail"
 *   malformed       an answer that is not JSON
 *   sleep           sleeps past any timeout (the timeout ends it)
 * A raw call's event is answered with "raw:" and the event.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metatoken/context.h"
#include "metatoken/runtime.h"

int http_fn_handle(const char *event, size_t len, const struct mtk_context *ctx,
                   struct mtk_result *out, void *arg);

static char *echo(const char *event, const char *request_id)
{
	cJSON *o = cJSON_CreateObject(), *h, *seen;
	char *answer = NULL;

	if (o && cJSON_AddNumberToObject(o, "statusCode", 200) &&
	    (h = cJSON_AddObjectToObject(o, "headers")) &&
	    cJSON_AddStringToObject(h, "Content-Type", "application/json") &&
	    cJSON_AddStringToObject(h, "X-Context-Request-Id", request_id ? request_id : "") &&
	    cJSON_AddStringToObject(h, "X-Seen", "from headers") &&
	    (h = cJSON_AddObjectToObject(o, "multiValueHeaders")) &&
	    (seen = cJSON_AddArrayToObject(h, "x-seen"))) {
		cJSON_AddItemToArray(seen, cJSON_CreateString("a"));
		cJSON_AddItemToArray(seen, cJSON_CreateString("b"));
		if (cJSON_AddStringToObject(o, "body", event))
			answer = cJSON_PrintUnformatted(o);
	}
	cJSON_Delete(o);
	return answer;
}

int http_fn_handle(const char *event, size_t len, const struct mtk_context *ctx,
                   struct mtk_result *out, void *arg)
{
	cJSON *ev = cJSON_ParseWithLength(event, len);
	const cJSON *q = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(ev, "queryStringParameters"), "do");
	const char *what = cJSON_IsString(q) ? q->valuestring : "echo";
	char *answer = NULL;
	int rc = 0;

	(void)arg;
	if (!cJSON_IsObject(ev)) {
		if (asprintf(&answer, "raw:%.*s", (int)len, event) < 0)
			answer = NULL;
	} else if (strcmp(what, "binary") == 0) {
		answer = strdup("{\"statusCode\": 201, \"headers\": {\"Content-Type\": "
		                "\"application/octet-stream\"}, \"body\": \"AAH+/w==\", "
		                "\"isBase64Encoded\": true}");
	} else if (strcmp(what, "fail") == 0) {
		cJSON_Delete(ev);
		mtk_result_error(out, "TestError", "asked to fail");
		return 0;
	} else if (strcmp(what, "sleep") == 0) {
		sleep(60);
		answer = strdup("{\"body\": \"woke up\"}");
	} else if (strcmp(what, "malformed") == 0) {
		answer = strdup("this is not json");
	} else {
		char *text = strndup(event, len);

		answer = text ? echo(text, mtk_context_get(ctx, MTK_CTX_REQUEST_ID)) : NULL;
		free(text);
	}
	cJSON_Delete(ev);
	if (!answer || mtk_result_take(out, answer, strlen(answer)) != MTK_OK)
		rc = 1;
	return rc;
}
