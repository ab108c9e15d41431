/*
 * Shared by the files that parse the configuration, and by nothing else:
 * config.c reads the document and hands each section to config_sections.c
 * or config_accounts.c, which never call back into config.c.
 *
 * Each config__parse_* reads one section of a document into *c, replacing
 * what *c held for it (a section present in a file replaces the default's
 * wholly). obj is the section's value from json_parse() (json.h); the
 * parser pushes the section's name on r's path itself. Returns 0, or -1 with
 * the message in r->err; on failure *c may be half-filled, and
 * config_release() frees it.
 */
#ifndef METATOKEN_SERVER_CONFIG_INTERNAL_H
#define METATOKEN_SERVER_CONFIG_INTERNAL_H

#include "config.h"
#include "json.h"

#define NAME_MAX_LEN  128 /* account ids, attribute and label keys */
#define HOST_MAX_LEN  253
#define DEFAULT_SCOPE "https://www.googleapis.com/auth/cloud-platform"

/* config_sections.c */
int config__parse_project(struct json_reader *r, const cJSON *obj, struct config *c);
int config__parse_instance(struct json_reader *r, const cJSON *obj, struct config *c);
int config__parse_yandex(struct json_reader *r, const cJSON *obj, struct config *c);
int config__parse_control(struct json_reader *r, const cJSON *obj, struct config *c);
int config__parse_aws(struct json_reader *r, const cJSON *obj, struct config *c);
/* Frees what those sections hold in *c and resets them to empty. */
void config__release_sections(struct config *c);

/* config_server.c: "allowed_hosts" (obj is its array) and "limits". */
int config__parse_allowed_hosts(struct json_reader *r, const cJSON *arr, struct config *c);
int config__parse_limits(struct json_reader *r, const cJSON *obj, struct config *c);
int config__parse_metrics(struct json_reader *r, const cJSON *obj, struct config *c);
int config__parse_tls(struct json_reader *r, const cJSON *obj, struct config *c);
void config__release_server(struct config *c);

/* config_accounts.c: "service_accounts" (obj is its array). */
int config__parse_accounts(struct json_reader *r, const cJSON *obj, struct config *c);
/* Frees the accounts in *c; c->accounts is NULL afterwards. */
void config__release_accounts(struct config *c);

/* config_functions.c: "functions" (obj is its array), and the check,
 * made once every section is read, that each names an account there is. */
int config__parse_functions(struct json_reader *r, const cJSON *obj, struct config *c);
int config__check_function_accounts(struct json_reader *r, const struct config *c);
void config__release_functions(struct config *c);

#endif
