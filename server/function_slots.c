/*
 * Functions: the slots' listeners (function.h). Each slot listens on a
 * loopback port of its own, so that the runtime on it is known by the
 * address it polls; what connects there is accepted by the supervisor
 * thread and served by the main daemon's threads (daemon_add_connection),
 * with the slot as its requests' site. So an invoker and the runtime that
 * answers it are served by one event loop, often on one thread, with no
 * thread and no hand-off of a slot's own: on this kind of machine every
 * wake-up of another thread is most of what an invocation costs.
 */
#include "function_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define ACCEPT_RETRY_US 100000 /* after running out of descriptors */

/* The port of a bound socket, or 0. */
static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

int fn_slots_open(struct functions *fs, const char *host, char *err, size_t errlen)
{
	for (size_t i = 0; i < fs->n; i++) {
		struct function *fn = &fs->fns[i];

		for (size_t k = 0; k < fn->n_slots; k++) {
			struct fn_slot *s = &fn->slots[k];
			char why[256];

			if (listener_open(&s->listener, host, 0, why, sizeof(why)) != 0) {
				s->listener.fd = -1;
				snprintf(err, errlen, "function %s: runtime listener: %s", fn->name,
				         why);
				return -1;
			}
			/* Accepted until none is left, by a thread that must not
			 * block on it. */
			if (fcntl(s->listener.fd, F_SETFL,
			          fcntl(s->listener.fd, F_GETFL) | O_NONBLOCK) != 0 ||
			    (s->port = local_port(s->listener.fd)) == 0) {
				snprintf(err, errlen, "function %s: runtime listener: %s", fn->name,
				         strerror(errno));
				return -1;
			}
			snprintf(s->addr, sizeof(s->addr), "%s", s->listener.bound);
			if (fn->external)
				log_msg(
				    LOG_WARN,
				    "function %s: start its runtime with AWS_LAMBDA_RUNTIME_API=%s",
				    fn->name, s->addr);
		}
	}
	return 0;
}

size_t fn_slots_poll(struct functions *fs, struct pollfd *pfd, struct fn_slot **owner,
                     int *timeout_ms)
{
	int64_t wait_us = fs->accept_retry_us - fn_mono_us();
	size_t n = 0;

	if (!fs->daemon)
		return 0;
	if (wait_us > 0) {
		if (*timeout_ms > wait_us / 1000 + 1)
			*timeout_ms = (int)(wait_us / 1000 + 1);
		return 0;
	}
	for (size_t i = 0; i < fs->n; i++)
		for (size_t k = 0; k < fs->fns[i].n_slots; k++) {
			struct fn_slot *s = &fs->fns[i].slots[k];

			pfd[n] = (struct pollfd){ .fd = s->listener.fd, .events = POLLIN };
			owner[n++] = s;
		}
	return n;
}

void fn_slots_accept(struct fn_slot *s)
{
	struct functions *fs = s->fn->fs;

	while (fs->daemon) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(s->listener.fd, (struct sockaddr *)&peer, &len,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* It stays ready: look again later, not at once. */
				log_msg(LOG_WARN, "function %s: runtime listener: %s", s->fn->name,
				        strerror(errno));
				fs->accept_retry_us = fn_mono_us() + ACCEPT_RETRY_US;
			}
			return;
		}
		if (daemon_add_connection(fs->daemon, fd, (struct sockaddr *)&peer, len) != 0)
			log_msg(LOG_WARN, "function %s: runtime connection refused: %s",
			        s->fn->name, strerror(errno));
	}
}

void functions_detach(struct functions *fs)
{
	if (!fs)
		return;
	pthread_mutex_lock(&fs->lock);
	fs->daemon = NULL;
	/* Runtimes that connect from here are refused, not left waiting in
	 * the backlog. Closed once the supervisor is done with them. */
	for (size_t i = 0; i < fs->n; i++)
		for (size_t k = 0; k < fs->fns[i].n_slots; k++)
			if (fs->fns[i].slots[k].listener.fd >= 0)
				shutdown(fs->fns[i].slots[k].listener.fd, SHUT_RDWR);
	pthread_mutex_unlock(&fs->lock);
}

void *functions_site_of(struct functions *fs, int fd)
{
	uint16_t port;

	if (!fs || !fs->n_slots)
		return NULL;
	port = local_port(fd);
	for (size_t i = 0; i < fs->n; i++)
		for (size_t k = 0; k < fs->fns[i].n_slots; k++)
			if (fs->fns[i].slots[k].port == port)
				return &fs->fns[i].slots[k];
	return NULL;
}

void fn_slots_close(struct functions *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		for (size_t k = 0; k < fs->fns[i].n_slots; k++) {
			struct fn_slot *s = &fs->fns[i].slots[k];

			if (s->listener.fd >= 0)
				close(s->listener.fd);
			s->listener.fd = -1;
		}
}
