/*
 * The command source of upstream mode (upstream.h): a program that prints a
 * token on stdout, such as `yc iam create-token`, as a fetcher behind the
 * client library's one interface (client/private/fetcher.h), so that the
 * library's cache keeps, refreshes and serves what it prints.
 *
 * The program runs with no shell (argv as configured), stdin from
 * /dev/null, in a process group of its own that is killed when it has not
 * ended within the timeout; stdout is capped at MTK_MAX_BODY bytes.
 * Non-zero exit, death by a signal, a timeout or output that is not a
 * token is a failed fetch, whose detail names the program and summarizes
 * its stderr (never its stdout, which holds the token).
 */
#ifndef METATOKEN_SERVER_UPSTREAM_COMMAND_H
#define METATOKEN_SERVER_UPSTREAM_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "private/fetcher.h"
#include "private/internal.h"

#define UPSTREAM_STDERR_SHOWN 200 /* bytes of stderr quoted in an error */

/*
 * Makes the fetcher. argv is copied (NULL-terminated, argv[0] looked up in
 * PATH when it has no '/'); lifetime_s is the life of a token printed bare;
 * timeout_ms bounds each run. Returns 0, or -1 when out of memory.
 */
int upstream_command_fetcher_new(char *const argv[], int64_t timeout_ms, int64_t lifetime_s,
                                 struct mtk__fetcher *out);

/*
 * Reads what the program printed (len bytes, any bytes are safe input):
 * - text whose first non-blank byte is '{' is a JSON object, either
 *   {"access_token", "expires_in"[, "token_type": "Bearer"]} (an OAuth
 *   answer) or {"iamToken", "expiresAt": RFC 3339} (Yandex IAM's), with
 *   expires_in counted from now_wall_ms;
 * - anything else is a bare token: the first line, blanks trimmed, which
 *   lives lifetime_s.
 * On MTK_OK fills *doc (the caller releases it with
 * mtk__token_doc_release()); otherwise writes why (never the output) and
 * leaves *doc untouched.
 */
enum mtk_status upstream_command_parse(const char *text, size_t len, int64_t lifetime_s,
                                       int64_t now_wall_ms, struct mtk__token_doc *doc, char *why,
                                       size_t whylen);

/* Parses an RFC 3339 time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)) into
 * ms since the epoch. Returns 0, or -1 when s is not one. */
int upstream_parse_rfc3339(const char *s, int64_t *ms);

#endif
