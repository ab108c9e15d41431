/*
 * Logging to stderr, one line per call, safe from any thread. Never pass a
 * token or secret here; use tokens_fingerprint() for a short, safe label.
 */
#ifndef METATOKEN_SERVER_LOG_H
#define METATOKEN_SERVER_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Returns 0 and sets the level from "error", "warn", "info" or "debug", or -1. */
int log_set_level_name(const char *name);
void log_set_level(enum log_level level);
/* Where lines go: f, or stderr when NULL (the default). For tests that
 * read the log. */
void log_set_file(void *f);
int log_enabled(enum log_level level);

__attribute__((format(printf, 2, 3))) void log_msg(enum log_level level, const char *fmt, ...);

/* A line of a function's own (its output, START/END/REPORT), shown at
 * every level but error: "<time> fn    <name> <text>". Control characters
 * in it are replaced. */
__attribute__((format(printf, 2, 3))) void log_function(const char *name, const char *fmt, ...);
/* Whether log_function() lines are shown at the current level. */
int log_function_enabled(void);

#endif
