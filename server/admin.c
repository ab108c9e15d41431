/*
 * The admin secret (admin.h): made at start, written to its file once the
 * port is known, checked on every control request, wiped at exit.
 */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64url.h"
#include "log.h"
#include "secret.h"
#include "secretfile.h"
#include "server.h"

/* Writes the secret to path with mode 0600, creating its folder (0700) if
 * missing; the default folder must be ours and private (repaired if it is
 * ours and open to others). Refuses to follow a symlink at the file. */
static int write_secret(const char *path, int default_path, const char *secret, char *err,
                        size_t errlen)
{
	char dir[1024];
	char *slash;
	size_t len = strlen(secret);
	int fd, repaired;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (default_path) {
			if (secretfile_private_dir(dir, &repaired, err, errlen) != 0)
				return -1;
			if (repaired >= 0)
				log_msg(
				    LOG_WARN,
				    "%s was open to other users (mode %03o): made it 0700 before "
				    "writing the admin secret there",
				    dir, (unsigned)repaired);
		} else if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s for the admin secret: %s", dir,
			         strerror(errno));
			return -1;
		}
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0 || write(fd, secret, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1) {
		snprintf(err, errlen, "cannot write the admin secret to %s: %s", path,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int admin_make_secret(struct server *srv, char *err, size_t errlen)
{
	unsigned char raw[32];

	if (!srv->control_enabled)
		return 0;
	if (srv->cfg.admin_secret) {
		snprintf(srv->admin_secret, sizeof(srv->admin_secret), "%s", srv->cfg.admin_secret);
		return 0;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		snprintf(err, errlen, "cannot generate the admin secret (OpenSSL failed)");
		return -1;
	}
	mtk__b64url_encode(raw, sizeof(raw), srv->admin_secret);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

int admin_write_file(struct server *srv, char *err, size_t errlen)
{
	char path[1024];
	const char *colon = strrchr(srv->bound, ':');
	unsigned port = colon ? (unsigned)atoi(colon + 1) : 0;

	if (!srv->control_enabled)
		return 0;
	if (srv->cfg.admin_secret_file)
		snprintf(path, sizeof(path), "%s", srv->cfg.admin_secret_file);
	else if (secretfile_default_path(port, path, sizeof(path)) < 0) {
		snprintf(
		    err, errlen,
		    "nowhere to write the admin secret: set HOME or XDG_RUNTIME_DIR, or control.secret_file in the configuration");
		return -1;
	}
	if (write_secret(path, !srv->cfg.admin_secret_file, srv->admin_secret, err, errlen) != 0)
		return -1;
	srv->admin_secret_file = strdup(path);
	return 0;
}

void admin_release(struct server *srv)
{
	if (srv->admin_secret_file) {
		unlink(srv->admin_secret_file);
		free(srv->admin_secret_file);
		srv->admin_secret_file = NULL;
	}
	OPENSSL_cleanse(srv->admin_secret, sizeof(srv->admin_secret));
}

int admin_authorized(const struct server *srv, const char *authorization)
{
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return 0;
	return secret_equal(srv->admin_secret, authorization + 7);
}
