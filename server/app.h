/*
 * The wiring of metatokend (README.md, "Development"): what main() and the
 * in-process tests call to build the application object (server.h) from its
 * configuration and serve it through the route table (route.h) behind a
 * daemon (daemon.h).
 */
#ifndef METATOKEN_SERVER_APP_H
#define METATOKEN_SERVER_APP_H

#include <stddef.h>

struct clock;
struct daemon;
struct server;

/*
 * Builds everything the daemon serves from srv->cfg (which the caller has
 * loaded): signing key, token accounts, metadata tree. On failure returns -1
 * with a one-line reason in err and leaves srv safe to app_release().
 */
int app_init(struct server *srv, char *err, size_t errlen);

/*
 * Binds host:port from srv->cfg and serves srv through the route table,
 * with the configuration's limits, on wait_clock (NULL: the real
 * monotonic time; tests pass a fake one). Returns the daemon, or NULL with
 * a one-line reason (bad address, port in use) in err. daemon_stop()
 * drains and stops it.
 */
struct daemon *app_start(struct server *srv, struct clock *wait_clock, char *err, size_t errlen);

/* Frees everything app_init built, and the configuration. */
void app_release(struct server *srv);

#endif
