/*
 * The configuration's per-account "upstream" object (config.h's shape
 * comment, upstream.h): read strictly by config_accounts.c, with errors that
 * name the JSON path. Only the form is checked here; what needs the file
 * system or the network (the key file's mode, the endpoint answering) is
 * checked when metatokend starts (upstream.c).
 */
#ifndef METATOKEN_SERVER_UPSTREAM_CONFIG_H
#define METATOKEN_SERVER_UPSTREAM_CONFIG_H

#include "config.h"
#include "json.h"

#define UPSTREAM_DEFAULT_TIMEOUT_MS        10000
#define UPSTREAM_DEFAULT_REFRESH_WINDOW_S  240
#define UPSTREAM_DEFAULT_RETRY_INTERVAL_MS 30000
#define UPSTREAM_COMMAND_MAX_ARGS          64

/*
 * Reads obj (the value of "upstream"; the caller has pushed its key on r's
 * path) into *u, which must be zeroed. Returns 0, or -1 with the message in
 * r->err; on failure *u may be half-filled, and config_upstream_release()
 * frees it.
 */
int config_upstream_parse(struct json_reader *r, const cJSON *obj, struct config_upstream *u);

/* Frees what *u holds and zeroes it. */
void config_upstream_release(struct config_upstream *u);

#endif
