/*
 * The listening socket and the descriptors it may serve: opened by the
 * daemon (daemon.c) before libmicrohttpd starts, so that a bad address or a
 * port in use is a clear one-line error, and so that what was bound (not
 * what was asked for) decides whether the address is loopback.
 */
#ifndef METATOKEN_SERVER_LISTENER_H
#define METATOKEN_SERVER_LISTENER_H

#include <stdint.h>
#include <stddef.h>

struct listener {
	int fd;
	char bound[80];      /* what clients dial: "127.0.0.1:8169", "[::1]:8169" */
	char bound_host[64]; /* the address alone: "127.0.0.1", "::1" */
	int loopback;        /* the bound address is a loopback one */
};

/* Binds and listens on host:port (port 0: an ephemeral one). Returns 0, or
 * -1 with a one-line reason in err. */
int listener_open(struct listener *l, const char *host, uint16_t port, char *err, size_t errlen);

/*
 * How many connections can be served: `wanted` (0: `most`), at most
 * `most`, within the file descriptor limit less `reserve`. Raises the soft
 * limit to the hard one first where allowed, and warns when the limit
 * allows fewer than wanted.
 */
unsigned listener_size_connections(unsigned wanted, unsigned most, unsigned reserve);

#endif
