#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

char *mtk__read_whole_file(const char *path, const char *what, int secret, size_t max, size_t *len,
                           char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd;

	/* O_NONBLOCK: opening a FIFO would otherwise wait for a writer,
	 * before fstat() could say it is not a regular file. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot read the %s: %s", path, what, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: the %s is not a regular file", path, what);
		goto out;
	}
	if (secret && (st.st_mode & 077)) {
		snprintf(err, errlen,
		         "%s: holds the %s but its mode is %03o, so other users may read it: run "
		         "`chmod 600 %s`",
		         path, what, (unsigned)(st.st_mode & 0777), path);
		goto out;
	}
	if (st.st_size <= 0 || (unsigned long long)st.st_size > max) {
		if (st.st_size <= 0)
			snprintf(err, errlen, "%s: the %s is empty", path, what);
		else
			snprintf(err, errlen, "%s: the %s is larger than %zu KiB", path, what,
			         max / 1024);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: cannot read the %s: %s", path, what,
			         n < 0 ? strerror(errno) : "the file shrank");
			OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
			free(buf);
			buf = NULL;
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
out:
	close(fd);
	return buf;
}
