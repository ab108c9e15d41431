/*
 * SIGHUP (reload.h). The new file is parsed apart from the running
 * configuration, which keeps serving throughout: the GCE tree and the
 * functions point into it, so it is never swapped. What can change live
 * is applied through the same calls the control API uses; what cannot is
 * found by comparing the two files' JSON, section by section, and named.
 */
#include "reload.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "aws.h"
#include "config.h"
#include "gce_live.h"
#include "log.h"
#include "server.h"

/* What a reload can apply within each section; every other key of it
 * needs a restart. */
static const char *const project_live[] = { "attributes", NULL };
static const char *const instance_live[] = { "attributes", "labels", NULL };
static const char *const account_live[] = { "lifetime_s", "reissue_margin_s", "aws_lifetime_s",
	                                    NULL };

/* True when a and b (either may be NULL: absent) are equal but for the
 * keys in live. */
static int same_but(const cJSON *a, const cJSON *b, const char *const *live)
{
	cJSON *ca, *cb;
	int same;

	if (!a || !b || !live || !cJSON_IsObject(a) || !cJSON_IsObject(b))
		return cJSON_Compare(a, b, 1) || (!a && !b);
	ca = cJSON_Duplicate(a, 1);
	cb = cJSON_Duplicate(b, 1);
	for (const char *const *k = live; ca && cb && *k; k++) {
		cJSON_DeleteItemFromObjectCaseSensitive(ca, *k);
		cJSON_DeleteItemFromObjectCaseSensitive(cb, *k);
	}
	same = ca && cb && cJSON_Compare(ca, cb, 1);
	cJSON_Delete(ca);
	cJSON_Delete(cb);
	return same;
}

/* Whether the accounts are the same ones, in the same order, differing at
 * most in what a reload applies. */
static int same_accounts(const cJSON *a, const cJSON *b)
{
	int n = cJSON_GetArraySize(a);

	if (!cJSON_IsArray(a) || !cJSON_IsArray(b) || n != cJSON_GetArraySize(b))
		return same_but(a, b, NULL);
	for (int i = 0; i < n; i++)
		if (!same_but(cJSON_GetArrayItem(a, i), cJSON_GetArrayItem(b, i), account_live))
			return 0;
	return 1;
}

/* Appends section to the list of those needing a restart. */
static void note_restart(char *list, size_t cap, const char *section)
{
	size_t n = strlen(list);

	snprintf(list + n, cap - n, "%s%s", n ? ", " : "", section);
}

/* Compares the running file with the new one, top-level key by key (a key
 * in either), writing those that need a restart into list. Returns
 * whether the accounts are comparable one by one (policy changes apply). */
static int find_restart_needed(const cJSON *old, const cJSON *new, char *list, size_t cap)
{
	const cJSON *const docs[2] = { old, new };
	int accounts_same = 1;

	list[0] = '\0';
	for (int d = 0; d < 2; d++) {
		const cJSON *k;

		cJSON_ArrayForEach(k, docs[d])
		{
			const cJSON *a = cJSON_GetObjectItemCaseSensitive(old, k->string);
			const cJSON *b = cJSON_GetObjectItemCaseSensitive(new, k->string);
			int same;

			if (d == 1 && a)
				continue; /* seen from the old side */
			if (strcmp(k->string, "service_accounts") == 0)
				same = accounts_same = same_accounts(a, b);
			else if (strcmp(k->string, "project") == 0)
				same = same_but(a, b, project_live);
			else if (strcmp(k->string, "instance") == 0)
				same = same_but(a, b, instance_live);
			else
				same = same_but(a, b, NULL);
			if (!same)
				note_restart(list, cap, k->string);
		}
	}
	return accounts_same;
}

/* Applies each account's new policy; returns how many accounts changed. */
static int apply_policies(struct server *srv, const struct config *next)
{
	int changed = 0;

	for (size_t i = 0; i < srv->n_accounts && i < next->n_accounts; i++) {
		struct account_token *t = &srv->accounts[i];
		const struct config_account *a = &next->accounts[i];

		if (a->lifetime_s == atomic_load(&t->conf_lifetime_s) &&
		    a->reissue_margin_s == atomic_load(&t->conf_margin_s) &&
		    a->aws_lifetime_s == atomic_load(&t->conf_aws_lifetime_s))
			continue;
		if (slot_set_policy(&t->slot, a->lifetime_s, a->reissue_margin_s) != 0 ||
		    aws_account_set_policy(srv, i, a->aws_lifetime_s, a->reissue_margin_s) < 0) {
			log_msg(
			    LOG_ERROR,
			    "SIGHUP: service_accounts[%zu] (%s): lifetime_s %lld with "
			    "reissue_margin_s %lld is not a policy a slot takes; kept the old one",
			    i, a->email, (long long)a->lifetime_s, (long long)a->reissue_margin_s);
			continue;
		}
		log_msg(
		    LOG_INFO,
		    "SIGHUP: service_accounts[%zu] (%s): lifetime_s %lld, reissue_margin_s %lld, "
		    "aws_lifetime_s %lld from now on (was %lld, %lld, %lld); tokens already "
		    "issued keep their expiry",
		    i, a->email, (long long)a->lifetime_s, (long long)a->reissue_margin_s,
		    (long long)a->aws_lifetime_s, (long long)atomic_load(&t->conf_lifetime_s),
		    (long long)atomic_load(&t->conf_margin_s),
		    (long long)atomic_load(&t->conf_aws_lifetime_s));
		atomic_store(&t->conf_lifetime_s, a->lifetime_s);
		atomic_store(&t->conf_margin_s, a->reissue_margin_s);
		atomic_store(&t->conf_aws_lifetime_s, a->aws_lifetime_s);
		changed++;
	}
	return changed;
}

int reload_config(struct server *srv, const char *path)
{
	struct config next;
	char err[1024], restart[512];
	cJSON *old = NULL, *new = NULL;
	int applied = 0, meta, accounts_same;

	if (!path) {
		log_msg(LOG_WARN, "SIGHUP: metatokend started without --config, from its embedded "
		                  "default: there is no file to read again");
		return 0;
	}
	log_msg(LOG_INFO, "SIGHUP: reading %s again", path);
	if (config_load(path, &next, err, sizeof(err)) != 0) {
		log_msg(LOG_ERROR, "SIGHUP: %s; still serving the configuration loaded before",
		        err);
		return -1;
	}
	old = cJSON_Parse(srv->cfg.document ? srv->cfg.document : "{}");
	new = cJSON_Parse(next.document ? next.document : "{}");
	if (!old || !new) {
		log_msg(LOG_ERROR, "SIGHUP: out of memory comparing the configurations; nothing "
		                   "changed");
		applied = -1;
		goto out;
	}
	accounts_same = find_restart_needed(old, new, restart, sizeof(restart));
	if (accounts_same)
		applied += apply_policies(srv, &next);
	meta = gce_live_reconfigure(srv->gce, srv, &next);
	if (meta < 0)
		log_msg(LOG_ERROR, "SIGHUP: out of memory applying the new attributes and labels; "
		                   "the old ones stay");
	else if (meta > 0) {
		log_msg(LOG_INFO, "SIGHUP: instance and project attributes and labels are the "
		                  "file's now (changes made through the control API are replaced)");
		applied++;
	}
	if (restart[0])
		log_msg(LOG_WARN,
		        "SIGHUP: changed in the file but applied only at a restart: %s (still "
		        "serving the values loaded at start)",
		        restart);
	log_msg(LOG_INFO, "SIGHUP: %s reloaded: %d change(s) applied%s", path, applied,
	        restart[0] ? ", some need a restart" : "");
out:
	cJSON_Delete(old);
	cJSON_Delete(new);
	config_release(&next);
	return applied;
}
