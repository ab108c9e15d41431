/*
 * The command source of upstream mode (upstream_command.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "upstream_command.h"

#include "process.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct command {
	char **argv;
	int64_t timeout_ms;
	int64_t lifetime_s;
	char where[160]; /* "command yc", for messages */
};

/* ---- what the program printed ---- */

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int upstream_parse_rfc3339(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, frac_ms = 0, scale = 100;
	struct tm tm = { 0 };
	const char *p;
	time_t t;

	if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -1;
	p = s + 19;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return -1;
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac_ms += (*p - '0') * scale;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && !digits(p + 1, 2, &oh) &&
	           p[3] == ':' && !digits(p + 4, 2, &om)) {
		if (*p == '-') {
			oh = -oh;
			om = -om;
		}
		p += 6;
	} else {
		return -1;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
	    oh > 23 || oh < -23 || om > 59 || om < -59)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*ms = ((int64_t)t - (int64_t)oh * 3600 - (int64_t)om * 60) * 1000 + frac_ms;
	return 0;
}

static enum mtk_status take_token(const char *tok, size_t len, int64_t expires_in_s,
                                  struct mtk__token_doc *doc, char *why, size_t whylen)
{
	char *copy;

	if (mtk__access_token_check(tok, len) != MTK_OK) {
		snprintf(why, whylen,
		         "the token is empty, over %d bytes, or not printable ASCII without spaces",
		         MTK_MAX_ACCESS_TOKEN);
		return MTK_ERR_BAD_ACCESS_TOKEN;
	}
	if (expires_in_s <= 0 || expires_in_s > MTK__MAX_EXPIRES_IN_S) {
		snprintf(why, whylen, "its expiry is %s",
		         expires_in_s <= 0 ? "not in the future" : "more than 10 years away");
		return MTK_ERR_BAD_EXPIRES_IN;
	}
	if (!(copy = malloc(len + 1)))
		return MTK_ERR_NO_MEMORY;
	memcpy(copy, tok, len);
	copy[len] = '\0';
	memset(doc, 0, sizeof(*doc));
	doc->access_token = copy;
	doc->access_token_len = len;
	doc->expires_in_s = expires_in_s;
	return MTK_OK;
}

static enum mtk_status parse_json(const char *text, size_t len, int64_t now_wall_ms,
                                  struct mtk__token_doc *doc, char *why, size_t whylen)
{
	static const char *const names[] = { "access_token", "expires_in", "token_type",
		                             "iamToken",     "expiresAt",  NULL };
	cJSON *root = cJSON_ParseWithLength(text, len);
	const cJSON *tok, *exp, *type;
	const char *dup;
	enum mtk_status st = MTK_ERR_BAD_JSON;
	int64_t expires_in_s = 0, at_ms;

	if (!cJSON_IsObject(root)) {
		snprintf(why, whylen, "the output starts with '{' but is not a JSON object");
		goto out;
	}
	if ((dup = mtk__json_duplicate_key(root, names))) {
		snprintf(why, whylen, "the JSON output has the key %s twice", dup);
		goto out;
	}
	st = MTK_ERR_MISSING_FIELD;
	if ((tok = cJSON_GetObjectItemCaseSensitive(root, "access_token"))) {
		exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
		type = cJSON_GetObjectItemCaseSensitive(root, "token_type");
		if (!cJSON_IsString(tok) || !cJSON_IsNumber(exp)) {
			snprintf(why, whylen,
			         "the JSON output needs access_token (a string) and expires_in (a "
			         "number)");
			goto out;
		}
		if (type && (!cJSON_IsString(type) || strcasecmp(type->valuestring, "Bearer"))) {
			snprintf(why, whylen, "the JSON output's token_type is not Bearer");
			st = MTK_ERR_BAD_TOKEN_TYPE;
			goto out;
		}
		if (exp->valuedouble != exp->valuedouble || exp->valuedouble < 1 ||
		    exp->valuedouble > (double)MTK__MAX_EXPIRES_IN_S) {
			snprintf(why, whylen,
			         "the JSON output's expires_in is not 1 s .. 10 years");
			st = MTK_ERR_BAD_EXPIRES_IN;
			goto out;
		}
		expires_in_s = (int64_t)exp->valuedouble;
	} else if ((tok = cJSON_GetObjectItemCaseSensitive(root, "iamToken"))) {
		exp = cJSON_GetObjectItemCaseSensitive(root, "expiresAt");
		if (!cJSON_IsString(tok) || !cJSON_IsString(exp)) {
			snprintf(why, whylen,
			         "the JSON output needs iamToken and expiresAt (both strings)");
			goto out;
		}
		if (upstream_parse_rfc3339(exp->valuestring, &at_ms) != 0) {
			snprintf(why, whylen,
			         "the JSON output's expiresAt is not an RFC 3339 time");
			st = MTK_ERR_BAD_EXPIRATION;
			goto out;
		}
		expires_in_s = (at_ms - now_wall_ms) / 1000;
	} else {
		snprintf(why, whylen,
		         "the JSON output has neither access_token/expires_in nor "
		         "iamToken/expiresAt");
		goto out;
	}
	st = take_token(tok->valuestring, strlen(tok->valuestring), expires_in_s, doc, why, whylen);
out:
	mtk__json_delete_wiped(root);
	return st;
}

enum mtk_status upstream_command_parse(const char *text, size_t len, int64_t lifetime_s,
                                       int64_t now_wall_ms, struct mtk__token_doc *doc, char *why,
                                       size_t whylen)
{
	size_t start = 0, end;

	while (start < len && strchr(" \t\r\n", text[start]) && text[start])
		start++;
	if (start == len) {
		snprintf(why, whylen, "it printed nothing on stdout");
		return MTK_ERR_NO_TOKEN;
	}
	if (text[start] == '{')
		return parse_json(text + start, len - start, now_wall_ms, doc, why, whylen);
	end = start;
	while (end < len && text[end] != '\n')
		end++;
	while (end > start && strchr(" \t\r", text[end - 1]) && text[end - 1])
		end--;
	return take_token(text + start, end - start, lifetime_s, doc, why, whylen);
}

/* ---- running the program ---- */

struct run {
	char *out; /* stdout, wiped when done */
	size_t out_len;
	int out_over; /* more than MTK_MAX_BODY bytes */
	char err[UPSTREAM_STDERR_SHOWN + 1];
	size_t err_len;
	int err_more;
};

/* Reads what is there on fd. Returns 1 at end of file, else 0. */
static int drain(int fd, struct run *r, int is_out)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : 1;
		if (n == 0)
			return 1;
		if (is_out) {
			size_t room = MTK_MAX_BODY - r->out_len;

			if ((size_t)n > room) {
				r->out_over = 1;
				n = (ssize_t)room;
			}
			memcpy(r->out + r->out_len, buf, (size_t)n);
			r->out_len += (size_t)n;
		} else {
			size_t room = UPSTREAM_STDERR_SHOWN - r->err_len;

			if ((size_t)n > room)
				r->err_more = 1;
			memcpy(r->err + r->err_len, buf, (size_t)n < room ? (size_t)n : room);
			r->err_len += (size_t)n < room ? (size_t)n : room;
		}
		mtk__wipe(buf, sizeof(buf));
	}
}

/* stderr as one printable line, for an error message. */
static void stderr_summary(struct run *r, char *out, size_t outlen)
{
	size_t j = 0;

	for (size_t i = 0; i < r->err_len && j + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)r->err[i];

		if (ch == '\n' || ch == '\r' || ch == '\t')
			ch = ' ';
		else if (ch < 0x20 || ch > 0x7e)
			ch = '?';
		if (ch == ' ' && (j == 0 || out[j - 1] == ' '))
			continue;
		out[j++] = (char)ch;
	}
	while (j > 0 && out[j - 1] == ' ')
		j--;
	out[j] = '\0';
	if (r->err_more && j + 4 < outlen)
		strcat(out, "...");
}

static int64_t left_ms(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/*
 * Runs the program until it ends and both pipes close, or the deadline.
 * Returns 0 with *status, or -1 on a timeout (the group killed and reaped).
 */
static int run_until(struct process *p, struct run *r, int64_t timeout_ms, int *status)
{
	struct timespec deadline;
	int out_open = 1, err_open = 1, ended = 0;
	int pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	while (out_open || err_open || !ended) {
		struct pollfd fds[3];
		nfds_t n = 0;
		int64_t left = left_ms(&deadline);

		if (left <= 0 || r->out_over)
			break;
		if (out_open)
			fds[n++] = (struct pollfd){ .fd = p->out_fd, .events = POLLIN };
		if (err_open)
			fds[n++] = (struct pollfd){ .fd = p->err_fd, .events = POLLIN };
		if (!ended && pidfd >= 0)
			fds[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		/* Without a pidfd (old kernels), the end is polled for. */
		if (poll(fds, n, (int)(!ended && pidfd < 0 && left > 10 ? 10 : left)) < 0 &&
		    errno != EINTR)
			break;
		if (out_open && drain(p->out_fd, r, 1))
			out_open = 0;
		if (err_open && drain(p->err_fd, r, 0))
			err_open = 0;
		if (!ended)
			ended = process_reap(p, status);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (ended && !r->out_over)
		return 0;
	if (!ended) {
		kill(-p->pid, SIGKILL);
		while (waitpid(p->pid, status, 0) < 0 && errno == EINTR)
			;
		p->pid = 0;
	}
	return -1;
}

static enum mtk_status command_fetch(void *self, struct mtk__token_doc *doc, int64_t *sent_ms,
                                     char *detail, size_t detail_len)
{
	struct command *c = self;
	struct process p;
	struct run r = { 0 };
	char err[256], summary[UPSTREAM_STDERR_SHOWN + 4], why[160];
	enum mtk_status st;
	int64_t started = mtk__monotonic_ms(NULL);
	int status = 0, rc;

	if (!(r.out = malloc(MTK_MAX_BODY))) {
		snprintf(detail, detail_len, "%s: out of memory", c->where);
		return MTK_ERR_NO_MEMORY;
	}
	if (process_spawn(&p, c->argv, environ, NULL, err, sizeof(err)) != 0) {
		snprintf(detail, detail_len, "%s: %s", c->where, err);
		st = MTK_ERR_CONNECT;
		goto out;
	}
	rc = run_until(&p, &r, c->timeout_ms, &status);
	process_close(&p);
	stderr_summary(&r, summary, sizeof(summary));
	if (rc != 0) {
		if (r.out_over)
			snprintf(detail, detail_len, "%s: printed more than %d bytes (killed)",
			         c->where, MTK_MAX_BODY);
		else
			snprintf(detail, detail_len, "%s: no answer within %lld ms (killed)%s%s",
			         c->where, (long long)c->timeout_ms, summary[0] ? "; stderr: " : "",
			         summary);
		st = r.out_over ? MTK_ERR_BODY_TOO_LARGE : MTK_ERR_TIMEOUT;
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		process_describe(status, err, sizeof(err));
		snprintf(detail, detail_len, "%s: %s%s%s", c->where, err,
		         summary[0] ? "; stderr: " : " (no stderr)", summary);
		st = MTK_ERR_HTTP_SERVER;
		goto out;
	}
	st = upstream_command_parse(r.out, r.out_len, c->lifetime_s, mtk__wall_ms(NULL), doc, why,
	                            sizeof(why));
	if (st != MTK_OK) {
		snprintf(detail, detail_len, "%s: exit status 0 but %s%s%s", c->where, why,
		         summary[0] ? "; stderr: " : "", summary);
		goto out;
	}
	*sent_ms = started;
out:
	mtk__wipe(r.out, r.out_len);
	free(r.out);
	return st;
}

static void command_free(void *self)
{
	struct command *c = self;

	for (size_t i = 0; c->argv && c->argv[i]; i++)
		free(c->argv[i]);
	free(c->argv);
	free(c);
}

int upstream_command_fetcher_new(char *const argv[], int64_t timeout_ms, int64_t lifetime_s,
                                 struct mtk__fetcher *out)
{
	struct command *c = calloc(1, sizeof(*c));
	size_t n = 0;

	if (!c)
		return -1;
	while (argv[n])
		n++;
	if (!(c->argv = calloc(n + 1, sizeof(*c->argv))))
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (!(c->argv[i] = strdup(argv[i])))
			goto fail;
	c->timeout_ms = timeout_ms;
	c->lifetime_s = lifetime_s;
	/* The program only: its arguments may carry something private. */
	snprintf(c->where, sizeof(c->where), "command %.140s", argv[0]);
	*out = (struct mtk__fetcher){
		.fetch = command_fetch, .free = command_free, .self = c, .where = c->where
	};
	return 0;
fail:
	command_free(c);
	return -1;
}
