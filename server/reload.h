/*
 * SIGHUP: the configuration file read again (main.c calls reload_config).
 *
 * What changes while serving: instance and project attributes and
 * instance labels (served at once, waking wait_for_change watches) and the
 * service accounts' lifetime_s, reissue_margin_s and aws_lifetime_s (for
 * tokens minted or judged from then on). Both also become what a control
 * API reset goes back to.
 *
 * What needs a restart: everything else (the listener, limits, the control
 * API, the signing key, the AWS instance, accounts added, removed or
 * renamed, functions). Such a change is named in the log and not applied;
 * the running value stays.
 *
 * Nothing already issued is lost: tokens, AWS credentials, IMDSv2 sessions
 * and held requests all outlive a reload. A file that does not load (bad
 * JSON, a bad value, gone) changes nothing, and the log says precisely
 * what was wrong, as at start.
 */
#ifndef METATOKEN_SERVER_RELOAD_H
#define METATOKEN_SERVER_RELOAD_H

struct server;

/*
 * Reloads path (the --config file; NULL when metatokend started from its
 * embedded default: then there is nothing to read again, and the log says
 * so). Logs what it applied and what needs a restart. Returns the number
 * of changes applied (0: none), or -1 when the file did not load or
 * memory ran out (nothing changed).
 */
int reload_config(struct server *srv, const char *path);

#endif
