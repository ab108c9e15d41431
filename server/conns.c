#include "conns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "log.h"

/* A client address and how many connections it has open. */
struct conn_addr {
	struct conn_addr *next;
	unsigned char addr[16];
	unsigned len;
	unsigned count;
};

void conns_init(struct conns *c, struct clock *wait_clock, unsigned max_total,
                unsigned max_per_client, int64_t header_timeout_ms, int64_t idle_timeout_ms)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->closed, NULL);
	c->clock = wait_clock;
	c->max_total = max_total;
	c->max_per_client = max_per_client;
	c->header_timeout_ms = header_timeout_ms;
	c->idle_timeout_ms = idle_timeout_ms;
}

void conns_release(struct conns *c)
{
	for (size_t i = 0; i < CONNS_ADDR_BUCKETS; i++)
		while (c->addrs[i]) {
			struct conn_addr *next = c->addrs[i]->next;

			free(c->addrs[i]);
			c->addrs[i] = next;
		}
	pthread_cond_destroy(&c->closed);
	pthread_mutex_destroy(&c->lock);
}

static void warn_locked(struct conns *c, enum conns_cap cap, const char *fmt, va_list ap)
{
	int64_t now = clock_now_ms(c->clock);
	char line[256];

	c->cap_hits++;
	if (c->warned_ms[cap] && now - c->warned_ms[cap] < CONNS_WARN_EVERY_MS)
		return;
	c->warned_ms[cap] = now;
	vsnprintf(line, sizeof(line), fmt, ap);
	log_msg(LOG_WARN, "%s", line);
}

void conns_warn(struct conns *c, enum conns_cap cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pthread_mutex_lock(&c->lock);
	warn_locked(c, cap, fmt, ap);
	pthread_mutex_unlock(&c->lock);
	va_end(ap);
}

static void warn(struct conns *c, enum conns_cap cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* conns_warn with the lock held. */
static void warn(struct conns *c, enum conns_cap cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	warn_locked(c, cap, fmt, ap);
	va_end(ap);
}

static unsigned addr_key(const struct sockaddr *sa, unsigned char out[16])
{
	if (sa && sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 16;
	}
	if (sa && sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 4;
	}
	return 0;
}

static struct conn_addr **bucket(struct conns *c, const unsigned char *key, unsigned len)
{
	uint32_t h = 2166136261u;

	for (unsigned i = 0; i < len; i++)
		h = (h ^ key[i]) * 16777619u;
	return &c->addrs[h & (CONNS_ADDR_BUCKETS - 1)];
}

/* The count for this address, made at zero if new. Caller holds the lock. */
static struct conn_addr *addr_get(struct conns *c, const unsigned char *key, unsigned len)
{
	struct conn_addr **b = bucket(c, key, len), *a;

	for (a = *b; a; a = a->next)
		if (a->len == len && memcmp(a->addr, key, len) == 0)
			return a;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	memcpy(a->addr, key, len);
	a->len = len;
	a->next = *b;
	*b = a;
	return a;
}

static void addr_put(struct conns *c, struct conn_addr *a)
{
	struct conn_addr **b;

	if (!a || --a->count > 0)
		return;
	for (b = bucket(c, a->addr, a->len); *b != a; b = &(*b)->next)
		;
	*b = a->next;
	free(a);
}

struct conn_rec *conns_opened(struct conns *c, int fd, const struct sockaddr *peer)
{
	struct conn_rec *rec = calloc(1, sizeof(*rec));
	unsigned char key[16];
	unsigned len = addr_key(peer, key);

	if (!rec)
		return NULL;
	rec->fd = fd;
	pthread_mutex_lock(&c->lock);
	atomic_init(&rec->state, CONN_IDLE);
	atomic_init(&rec->moves, 0);
	rec->seen_ms = clock_now_ms(c->clock);
	rec->next = c->head;
	if (c->head)
		c->head->prev = rec;
	c->head = rec;
	c->n_open++;
	rec->addr = peer ? addr_get(c, key, len) : NULL;
	if (rec->addr)
		rec->addr->count++;
	if (c->n_open > c->max_total) {
		rec->refuse = CONN_OVER_TOTAL;
		warn(c, CAP_CONNECTIONS,
		     "connection cap reached: %u connections open (limit %u); new ones get 503",
		     c->n_open, c->max_total);
	} else if (rec->addr && rec->addr->count > c->max_per_client) {
		rec->refuse = CONN_OVER_PER_CLIENT;
		warn(c, CAP_PER_CLIENT,
		     "per-client connection cap reached: one client address has %u connections "
		     "(limit %u); its new ones get 503",
		     rec->addr->count, c->max_per_client);
	}
	pthread_mutex_unlock(&c->lock);
	return rec;
}

void conns_closed(struct conns *c, struct conn_rec *rec)
{
	if (!rec)
		return;
	pthread_mutex_lock(&c->lock);
	if (rec->prev)
		rec->prev->next = rec->next;
	else
		c->head = rec->next;
	if (rec->next)
		rec->next->prev = rec->prev;
	c->n_open--;
	addr_put(c, rec->addr);
	pthread_cond_broadcast(&c->closed);
	pthread_mutex_unlock(&c->lock);
	free(rec);
}

void conns_set_state(struct conns *c, struct conn_rec *rec, enum conn_state state)
{
	(void)c;
	if (!rec)
		return;
	atomic_store_explicit(&rec->state, (int)state, memory_order_relaxed);
	atomic_fetch_add_explicit(&rec->moves, 1, memory_order_release);
}

/* Whether bytes of a next request wait unread on fd. */
static int has_pending_input(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* Whether the client has closed its side of an idle connection: then no
 * request can come, and libmicrohttpd would keep the slot until the idle
 * timeout. */
static int client_done(int fd)
{
	char ch;

	return recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

void conns_sweep(struct conns *c, int draining)
{
	int64_t now = clock_now_ms(c->clock);

	pthread_mutex_lock(&c->lock);
	c->sweeps++;
	c->swept_ms = now;
	for (struct conn_rec *r = c->head; r; r = r->next) {
		unsigned long moves = atomic_load_explicit(&r->moves, memory_order_acquire);
		int state = atomic_load_explicit(&r->state, memory_order_relaxed);
		int64_t age;
		int late = 0, done = 0;

		if (r->shut || r->fd < 0)
			continue;
		if (moves != r->seen_moves) {
			r->seen_moves = moves;
			r->seen_ms = now;
		}
		age = now - r->seen_ms;
		if (state == CONN_READING)
			late = age >= c->header_timeout_ms;
		else if (state == CONN_IDLE)
			late = age >= c->idle_timeout_ms;
		/* A client that closed its side cannot send (the rest of) a
		 * request: its slot is freed now, not at a deadline. */
		if (state != CONN_BUSY && !late)
			done = client_done(r->fd) ||
			       (draining && state == CONN_IDLE && !has_pending_input(r->fd));
		if (!late && !done)
			continue;
		/* libmicrohttpd sees the end of the stream and closes it. */
		r->shut = 1;
		if (late)
			c->timed_out++;
		shutdown(r->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&c->lock);
}

void conns_counts(struct conns *c, struct conns_counts *out)
{
	pthread_mutex_lock(&c->lock);
	out->open = c->n_open;
	out->cap_hits = c->cap_hits;
	out->timed_out = c->timed_out;
	out->sweeps = c->sweeps;
	out->since_sweep_ms = c->sweeps ? clock_now_ms(c->clock) - c->swept_ms : -1;
	out->reading = out->idle = 0;
	for (const struct conn_rec *r = c->head; r; r = r->next) {
		int state = atomic_load(&r->state);

		out->reading += state == CONN_READING;
		out->idle += state == CONN_IDLE;
	}
	pthread_mutex_unlock(&c->lock);
}

unsigned conns_wait_closed(struct conns *c, int64_t wait_ms)
{
	struct timespec ts;
	unsigned n;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += wait_ms / 1000;
	ts.tv_nsec += (wait_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->lock);
	if (c->n_open > 0)
		pthread_cond_timedwait(&c->closed, &c->lock, &ts);
	n = c->n_open;
	pthread_mutex_unlock(&c->lock);
	return n;
}
