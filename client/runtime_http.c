/*
 * The runtime loop's transport: HTTP/1.1 over one plain TCP connection to
 * the Runtime API, kept alive across requests. The Runtime API is always
 * http://host:port (never TLS, never a proxy), so this is all the loop
 * needs, and a runtime process loads no HTTP library at start.
 *
 * Requests carry a Content-Length (POST) and never Expect; responses are
 * framed by Content-Length, chunked transfer coding, or the end of the
 * connection. A connection that was reused and turns out closed before any
 * byte of the answer (the server may close an idle keep-alive connection
 * whenever it likes) is replaced once, transparently.
 */
#include "private/runtime.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BUF_BYTES     65536 /* the read buffer, hence the cap on a header block */
#define MAX_AUTHORITY 300   /* "[v6%zone]:port" or "name:port" of a URL */
#define USER_AGENT    "metatoken-runtime/" MTK_VERSION_STRING

struct mtk__rthttp {
	int fd;                        /* -1: no connection */
	char authority[MAX_AUTHORITY]; /* what fd is connected to */
	char *ahead;                   /* a GET's URL sent on fd, its answer not yet read */
	size_t pos, have;              /* the unread bytes are buf[pos, have) */
	char buf[BUF_BYTES];
};

/* Where a request goes, from its URL. */
struct target {
	const char *authority, *path; /* authority: not NUL-terminated */
	size_t authority_len;
	char host[MAX_AUTHORITY]; /* without brackets */
	char port[6];
};

/* One request's progress. */
struct xfer {
	struct mtk__rthttp *t;
	const struct mtk_runtime_sink *sink;
	int64_t deadline_ms; /* monotonic; 0: none */
	bool got_byte;       /* some of the answer arrived */
	bool stale;          /* the connection was closed before any byte of the answer */
	bool eof;            /* the server closed the connection */
	bool ahead;          /* another request follows this one on the connection */
};

enum mtk_status mtk__rthttp_new(struct mtk__rthttp **out)
{
	struct mtk__rthttp *t = malloc(sizeof(*t));

	if (!t)
		return MTK_ERR_NO_MEMORY;
	t->fd = -1;
	t->authority[0] = '\0';
	t->ahead = NULL;
	t->pos = t->have = 0;
	*out = t;
	return MTK_OK;
}

/* Closes the connection, if any, and forgets what was buffered from it. */
static void drop(struct mtk__rthttp *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->pos = t->have = 0;
	free(t->ahead);
	t->ahead = NULL;
}

void mtk__rthttp_free(struct mtk__rthttp *t)
{
	if (!t)
		return;
	drop(t);
	free(t);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events (or in error, which the next call on
 * it reports), or deadline_ms (0: none) passes. */
static enum mtk_status wait_fd(int fd, short events, int64_t deadline_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int rc;

	for (;;) {
		left = -1;
		if (deadline_ms) {
			left = deadline_ms - now_ms();
			if (left <= 0)
				return MTK_ERR_TIMEOUT;
			if (left > INT_MAX)
				left = INT_MAX;
		}
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return MTK_OK;
		if (rc < 0 && errno != EINTR)
			return errno == ENOMEM ? MTK_ERR_NO_MEMORY : MTK_ERR_TRANSPORT;
	}
}

/* --- the URL and the request ------------------------------------------ */

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

/* Parses http://host[:port][/path], host a name, IPv4 or [IPv6]. Anything
 * else is MTK_ERR_INVALID_ARGUMENT: the loop builds its URLs itself. */
static enum mtk_status parse_url(const char *url, struct target *g)
{
	const char *a, *end, *h, *h_end, *p;
	long port = 0;

	if (!url || strncasecmp(url, "http://", 7) != 0)
		return MTK_ERR_INVALID_ARGUMENT;
	a = url + 7;
	end = a + strcspn(a, "/");
	g->path = *end ? end : "/";
	for (p = g->path; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return MTK_ERR_INVALID_ARGUMENT; /* no request splitting */
	if (end == a || (size_t)(end - a) >= MAX_AUTHORITY)
		return MTK_ERR_INVALID_ARGUMENT;
	g->authority = a;
	g->authority_len = (size_t)(end - a);
	if (*a == '[') {
		h = a + 1;
		h_end = memchr(h, ']', (size_t)(end - h));
		if (!h_end || h_end == h)
			return MTK_ERR_INVALID_ARGUMENT;
		for (p = h; p < h_end; p++)
			if (!host_char(*p) && *p != ':' && *p != '%')
				return MTK_ERR_INVALID_ARGUMENT;
		p = h_end + 1;
	} else {
		h = a;
		for (p = a; p < end && host_char(*p); p++)
			;
		h_end = p;
		if (h_end == h)
			return MTK_ERR_INVALID_ARGUMENT;
	}
	memcpy(g->host, h, (size_t)(h_end - h));
	g->host[h_end - h] = '\0';
	if (p == end) {
		strcpy(g->port, "80");
		return MTK_OK;
	}
	if (*p != ':' || ++p == end || end - p > 5)
		return MTK_ERR_INVALID_ARGUMENT;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return MTK_ERR_INVALID_ARGUMENT;
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535)
		return MTK_ERR_INVALID_ARGUMENT;
	snprintf(g->port, sizeof(g->port), "%ld", port);
	return MTK_OK;
}

/*
 * The request line and headers, malloc'd, in *out (*len bytes). A header
 * line with CR or LF in it, or without "Name:", is MTK_ERR_INVALID_ARGUMENT:
 * a value must never smuggle in a header or a request of its own.
 */
static enum mtk_status build_head(const struct mtk_runtime_request *req, bool post,
                                  const struct target *g, char **out, size_t *len)
{
	const char *const *line;
	size_t cap, n;
	char *head;
	int w;

	cap = strlen(req->method) + strlen(g->path) + g->authority_len + sizeof(USER_AGENT) + 128;
	for (line = req->headers; line && *line; line++) {
		if (strpbrk(*line, "\r\n") || !strchr(*line, ':') || **line == ':')
			return MTK_ERR_INVALID_ARGUMENT;
		cap += strlen(*line) + 2;
	}
	if (!(head = malloc(cap)))
		return MTK_ERR_NO_MEMORY;
	n = (size_t)snprintf(head, cap,
	                     "%s %s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: " USER_AGENT "\r\n",
	                     req->method, g->path, (int)g->authority_len, g->authority);
	for (line = req->headers; line && *line; line++)
		n += (size_t)snprintf(head + n, cap - n, "%s\r\n", *line);
	if (post)
		w = snprintf(head + n, cap - n, "Content-Length: %zu\r\n\r\n", req->body_len);
	else
		w = snprintf(head + n, cap - n, "\r\n");
	*out = head;
	*len = n + (size_t)w;
	return MTK_OK;
}

/* --- the connection --------------------------------------------------- */

/* One address, within deadline_ms. */
static enum mtk_status try_connect(const struct sockaddr *sa, socklen_t sa_len, int64_t deadline_ms,
                                   int *out)
{
	int fd, err = 0, one = 1;
	socklen_t err_len = sizeof(err);
	enum mtk_status st;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno == ENOMEM || errno == ENOBUFS ? MTK_ERR_NO_MEMORY : MTK_ERR_CONNECT;
	/* Requests are small and answered at once: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, sa, sa_len) != 0) {
		if (errno != EINPROGRESS && errno != EINTR) {
			close(fd);
			return MTK_ERR_CONNECT;
		}
		if ((st = wait_fd(fd, POLLOUT, deadline_ms)) != MTK_OK) {
			close(fd);
			return st;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0 || err != 0) {
			close(fd);
			return MTK_ERR_CONNECT;
		}
	}
	*out = fd;
	return MTK_OK;
}

/*
 * Connects t to g, trying each of its addresses until the connect timeout
 * (or the request's deadline, if sooner). getaddrinfo() takes an address
 * literal as it is: no resolver runs for the usual "127.0.0.1:port".
 */
static enum mtk_status open_conn(struct mtk__rthttp *t, const struct target *g,
                                 int64_t connect_timeout_ms, int64_t deadline_ms)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL, *ai;
	int64_t until = now_ms() + (connect_timeout_ms > 0 ? connect_timeout_ms : 1000);
	enum mtk_status st = MTK_ERR_CONNECT;
	int fd = -1, rc;

	if (deadline_ms && deadline_ms < until)
		until = deadline_ms;
	rc = getaddrinfo(g->host, g->port, &hints, &res);
	if (rc != 0)
		return rc == EAI_MEMORY ? MTK_ERR_NO_MEMORY : MTK_ERR_CONNECT;
	for (ai = res; ai; ai = ai->ai_next) {
		st = try_connect(ai->ai_addr, ai->ai_addrlen, until, &fd);
		if (st == MTK_OK || st == MTK_ERR_TIMEOUT || st == MTK_ERR_NO_MEMORY)
			break;
	}
	freeaddrinfo(res);
	if (st != MTK_OK)
		return st;
	t->fd = fd;
	memcpy(t->authority, g->authority, g->authority_len);
	t->authority[g->authority_len] = '\0';
	return MTK_OK;
}

/* Sends the iovecs in full. */
static enum mtk_status send_all(struct xfer *x, struct iovec *iov, int n)
{
	struct msghdr m = { 0 };
	enum mtk_status st;
	ssize_t w;

	while (n > 0) {
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)n;
		w = sendmsg(x->t->fd, &m, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((st = wait_fd(x->t->fd, POLLOUT, x->deadline_ms)) != MTK_OK)
				return st;
			continue;
		}
		if (w < 0) {
			x->stale = errno == EPIPE || errno == ECONNRESET;
			return MTK_ERR_TRANSPORT;
		}
		for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
			w -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return MTK_OK;
}

/*
 * Reads more of the answer into the buffer, making room first. At the end
 * of the connection x->eof is set (and MTK_OK returned). A buffer full of
 * unread bytes (a header block or chunk line of 64 KiB) is an error.
 */
static enum mtk_status fill(struct xfer *x)
{
	struct mtk__rthttp *t = x->t;
	enum mtk_status st;
	ssize_t n;

	if (t->pos == t->have) {
		t->pos = t->have = 0;
	} else if (t->have == sizeof(t->buf) && t->pos > 0) {
		memmove(t->buf, t->buf + t->pos, t->have - t->pos);
		t->have -= t->pos;
		t->pos = 0;
	}
	if (t->have == sizeof(t->buf))
		return MTK_ERR_TRANSPORT;
	for (;;) {
		if ((st = wait_fd(t->fd, POLLIN, x->deadline_ms)) != MTK_OK)
			return st;
		n = recv(t->fd, t->buf + t->have, sizeof(t->buf) - t->have, 0);
		if (n > 0) {
			t->have += (size_t)n;
			x->got_byte = true;
			return MTK_OK;
		}
		if (n == 0 || errno == ECONNRESET) {
			x->stale = !x->got_byte;
			if (n == 0) {
				x->eof = true;
				return MTK_OK;
			}
			return MTK_ERR_TRANSPORT;
		}
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return MTK_ERR_TRANSPORT;
	}
}

/* --- the response ----------------------------------------------------- */

/* Reads one header block and parses it into f (consumed from the buffer). */
static enum mtk_status read_head(struct xfer *x, struct mtk__http_framing *f)
{
	struct mtk__rthttp *t = x->t;
	size_t scanned = 0, len;
	enum mtk_status st;
	char *end;

	for (;;) {
		end = memmem(t->buf + t->pos + scanned, t->have - t->pos - scanned, "\r\n\r\n", 4);
		if (end)
			break;
		if (t->have - t->pos > 3)
			scanned = t->have - t->pos - 3;
		if ((st = fill(x)) != MTK_OK)
			return st;
		if (x->eof)
			return MTK_ERR_TRANSPORT;
	}
	len = (size_t)(end + 4 - (t->buf + t->pos));
	st = mtk__http_parse_head(t->buf + t->pos, len, f, x->sink);
	t->pos += len;
	return st;
}

static enum mtk_status deliver(struct xfer *x, size_t n)
{
	struct mtk__rthttp *t = x->t;
	const char *p = t->buf + t->pos;

	t->pos += n;
	if (n && x->sink->body && x->sink->body(x->sink->arg, p, n) != 0)
		return MTK_ERR_BODY_TOO_LARGE;
	return MTK_OK;
}

/* Hands the next left bytes of the body to the sink. */
static enum mtk_status read_sized(struct xfer *x, uint64_t left)
{
	struct mtk__rthttp *t = x->t;
	enum mtk_status st;
	size_t n;

	while (left > 0) {
		if (t->pos == t->have) {
			if ((st = fill(x)) != MTK_OK)
				return st;
			if (x->eof)
				return MTK_ERR_TRANSPORT; /* cut short */
		}
		n = t->have - t->pos;
		if (n > left)
			n = (size_t)left;
		if ((st = deliver(x, n)) != MTK_OK)
			return st;
		left -= n;
	}
	return MTK_OK;
}

static enum mtk_status read_to_close(struct xfer *x)
{
	struct mtk__rthttp *t = x->t;
	enum mtk_status st;

	for (;;) {
		if ((st = deliver(x, t->have - t->pos)) != MTK_OK || (st = fill(x)) != MTK_OK)
			return st;
		if (x->eof)
			return MTK_OK;
	}
}

/* The next CRLF-terminated line (consumed; without the CRLF), valid until
 * the next read. */
static enum mtk_status read_line(struct xfer *x, const char **line, size_t *len)
{
	struct mtk__rthttp *t = x->t;
	enum mtk_status st;
	char *eol;

	while (!(eol = memmem(t->buf + t->pos, t->have - t->pos, "\r\n", 2))) {
		if ((st = fill(x)) != MTK_OK)
			return st;
		if (x->eof)
			return MTK_ERR_TRANSPORT;
	}
	*line = t->buf + t->pos;
	*len = (size_t)(eol - *line);
	t->pos += *len + 2;
	return MTK_OK;
}

/* A chunked body: size lines (extensions ignored), data, and trailer
 * fields, which are skipped. */
static enum mtk_status read_chunked(struct xfer *x)
{
	enum mtk_status st;
	const char *line;
	uint64_t size;
	size_t len;

	for (;;) {
		if ((st = read_line(x, &line, &len)) != MTK_OK)
			return st;
		if ((st = mtk__http_chunk_size(line, len, &size)) != MTK_OK)
			return st;
		if (size == 0)
			break;
		if ((st = read_sized(x, size)) != MTK_OK ||
		    (st = read_line(x, &line, &len)) != MTK_OK)
			return st;
		if (len != 0)
			return MTK_ERR_TRANSPORT;
	}
	do {
		if ((st = read_line(x, &line, &len)) != MTK_OK)
			return st;
	} while (len != 0);
	return MTK_OK;
}

/*
 * Sends the request on t's connection (unless it went already: sent) and
 * reads the whole answer. A request head `then` (then_len bytes, or NULL)
 * goes out right behind it, its answer left to read.
 */
static enum mtk_status exchange(struct xfer *x, char *head, size_t head_len,
                                const struct mtk_runtime_request *req, bool sent, char *then,
                                size_t then_len, long *status)
{
	struct iovec iov[3] = {
		{ .iov_base = head, .iov_len = head_len },
		{ .iov_base = (void *)(req->body ? req->body : ""), .iov_len = req->body_len },
		{ .iov_base = then, .iov_len = then_len },
	};
	struct mtk__http_framing f;
	enum mtk_status st;
	int n = 1;

	if (req->body_len)
		iov[n++] = iov[1];
	if (then)
		iov[n++] = iov[2];
	x->ahead = then != NULL;
	if (!sent && (st = send_all(x, iov, n)) != MTK_OK)
		return st;
	do {
		if ((st = read_head(x, &f)) != MTK_OK)
			return st;
	} while (f.status < 200 && f.status != 101); /* 1xx: interim, another block follows */
	if (f.status == 101)
		return MTK_ERR_TRANSPORT; /* nothing here asked to switch protocols */
	if (f.status == 204 || f.status == 304)
		st = MTK_OK;
	else if (f.chunked)
		st = read_chunked(x);
	else if (f.has_length)
		st = read_sized(x, f.length);
	else
		st = read_to_close(x);
	if (st != MTK_OK)
		return st;
	/* An answer that ended with the connection leaves nothing to reuse;
	 * bytes past the answer mean the connection is out of step, unless
	 * they are the answer to the request sent behind it. */
	if (f.close || x->eof || (!x->ahead && x->t->pos != x->t->have))
		drop(x->t);
	*status = f.status;
	return MTK_OK;
}

/*
 * perform(), and when then_get is not NULL, a GET of that URL (no headers)
 * sent right behind a POST on the same connection: its answer is read by
 * the next perform() of that GET, which sends nothing. The runtime loop
 * sends its next /next with its /response so: one write and one wake-up of
 * the server fewer per invocation.
 */
static enum mtk_status perform_then(struct mtk__rthttp *t, const struct mtk_runtime_request *req,
                                    const struct mtk_runtime_sink *sink, long *status,
                                    const char *then_get)
{
	int64_t deadline_ms = req->timeout_ms > 0 ? now_ms() + req->timeout_ms : 0;
	bool post = req->method && strcmp(req->method, "POST") == 0, reused, sent;
	const struct mtk_runtime_request get = { .method = "GET", .url = then_get };
	char *head = NULL, *then = NULL;
	enum mtk_status st;
	struct target g, tg;
	struct xfer x;
	size_t head_len, then_len = 0;
	long code = 0;
	int attempt;

	if (!post && (!req->method || strcmp(req->method, "GET") != 0))
		return MTK_ERR_INVALID_ARGUMENT;
	if ((st = parse_url(req->url, &g)) != MTK_OK ||
	    (st = build_head(req, post, &g, &head, &head_len)) != MTK_OK)
		return st;
	if (then_get && (!post || (st = parse_url(then_get, &tg)) != MTK_OK ||
	                 tg.authority_len != g.authority_len ||
	                 memcmp(tg.authority, g.authority, g.authority_len) != 0 ||
	                 (st = build_head(&get, false, &tg, &then, &then_len)) != MTK_OK)) {
		free(head);
		return st != MTK_OK ? st : MTK_ERR_INVALID_ARGUMENT;
	}
	for (attempt = 0;; attempt++) {
		x = (struct xfer){ .t = t, .sink = sink, .deadline_ms = deadline_ms };
		reused = t->fd >= 0 && strlen(t->authority) == g.authority_len &&
		         memcmp(t->authority, g.authority, g.authority_len) == 0;
		/* Sent already, behind the last request? Else an answer still to
		 * come would be taken for this one's: a new connection. */
		sent = reused && t->ahead && !post && !(req->headers && *req->headers) &&
		       strcmp(t->ahead, req->url) == 0;
		if (t->ahead && !sent)
			reused = false;
		free(t->ahead);
		t->ahead = NULL;
		if (!reused) {
			drop(t);
			if ((st = open_conn(t, &g, req->connect_timeout_ms, deadline_ms)) != MTK_OK)
				break;
		}
		st = exchange(&x, head, head_len, req, sent, then, then_len, &code);
		if (st == MTK_OK) {
			if (then && t->fd >= 0 && !(t->ahead = strdup(then_get)))
				drop(t); /* its answer would go unread */
			break;
		}
		drop(t);
		/* A kept connection the server had closed: once more on a new one. */
		if (!reused || !x.stale || attempt > 0)
			break;
	}
	free(head);
	free(then);
	if (st == MTK_OK)
		*status = code;
	return st;
}

enum mtk_status mtk__rthttp_perform(void *arg, const struct mtk_runtime_request *req,
                                    const struct mtk_runtime_sink *sink, long *status)
{
	return perform_then(arg, req, sink, status, NULL);
}

enum mtk_status mtk__rthttp_perform_then(struct mtk__rthttp *t,
                                         const struct mtk_runtime_request *req,
                                         const struct mtk_runtime_sink *sink, long *status,
                                         const char *then_get)
{
	return perform_then(t, req, sink, status, then_get);
}
