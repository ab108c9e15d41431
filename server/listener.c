#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

static int is_loopback_addr(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a))
			return 1;
		/* ::ffff:127.x.y.z */
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return 0;
}

/* Binds and listens on host:port. Returns the socket, or -1 with a reason. */
int listener_open(struct listener *l, const char *host, uint16_t port_wanted, char *err,
                  size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		                  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct addrinfo *ai = NULL;
	char portstr[8];
	int fd = -1, one = 1, rc;
	unsigned port;

	snprintf(portstr, sizeof(portstr), "%u", port_wanted);
	rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", host, port_wanted,
		         gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", host, port_wanted,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	l->loopback = is_loopback_addr(&ss);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, l->bound_host, sizeof(l->bound_host));
		port = ntohs(s6->sin6_port);
		snprintf(l->bound, sizeof(l->bound), "[%s]:%u", l->bound_host, port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, l->bound_host, sizeof(l->bound_host));
		port = ntohs(s4->sin_port);
		snprintf(l->bound, sizeof(l->bound), "%s:%u", l->bound_host, port);
	}
	l->fd = fd;
	return 0;
}

/*
 * Sizes the connection cap to the descriptors this process may open,
 * raising the soft limit to the hard one first where allowed.
 */
unsigned listener_size_connections(unsigned wanted, unsigned most, unsigned reserve)
{
	struct rlimit rl;
	rlim_t usable;

	if (wanted == 0 || wanted > most)
		wanted = most;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return wanted;
	if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < (rlim_t)wanted + reserve) {
		struct rlimit up = rl;

		up.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (rlim_t)wanted + reserve : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return wanted;
	usable = rl.rlim_cur > (rlim_t)reserve + 16 ? rl.rlim_cur - reserve : 16;
	if (usable < wanted) {
		/* Under the usual 1024 that is about 930, not the 4096 asked for. */
		log_msg(LOG_WARN,
		        "the file descriptor limit (%llu) allows %llu connections, not %u; raise "
		        "`ulimit -n` for more",
		        (unsigned long long)rl.rlim_cur, (unsigned long long)usable, wanted);
		return (unsigned)usable;
	}
	return wanted;
}
