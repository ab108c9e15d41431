#include "secretfile.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int secretfile_default_path(unsigned port, char *out, size_t cap)
{
	const char *run = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");
	struct passwd *pw;
	int n;

	/* A service or CI job may run with neither variable set. */
	if ((!home || !*home) && (pw = getpwuid(getuid())))
		home = pw->pw_dir;
	if (run && *run)
		n = snprintf(out, cap, "%s/metatoken/admin-%u.secret", run, port);
	else if (home && *home)
		n = snprintf(out, cap, "%s/.metatoken/admin-%u.secret", home, port);
	else
		return -1;
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int secretfile_private_dir(const char *dir, int *repaired, char *err, size_t errlen)
{
	struct stat st;

	*repaired = -1;
	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s for the admin secret: %s", dir,
		         strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) != 0) {
		snprintf(err, errlen, "cannot use %s for the admin secret: %s", dir,
		         strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(
		    err, errlen,
		    "%s is not a folder (a symlink or a file): refusing to put the admin secret "
		    "there; remove it",
		    dir);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen,
		         "%s belongs to another user (uid %u): refusing to put the admin secret "
		         "there; remove it or set control.secret_file",
		         dir, (unsigned)st.st_uid);
		return -1;
	}
	if (st.st_mode & 077) {
		if (chmod(dir, 0700) != 0) {
			snprintf(
			    err, errlen,
			    "%s is open to other users (mode %03o) and cannot be made 0700: %s",
			    dir, (unsigned)(st.st_mode & 0777), strerror(errno));
			return -1;
		}
		*repaired = (int)(st.st_mode & 0777);
	}
	return 0;
}
