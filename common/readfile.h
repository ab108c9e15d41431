/*
 * Reading a small file whole, such as one that holds a private key: one
 * set of checks and messages for the TLS listener's files (server/tls.c)
 * and authorized-key files (common/authkey.c).
 */
#ifndef METATOKEN_COMMON_READFILE_H
#define METATOKEN_COMMON_READFILE_H

#include <stddef.h>

/*
 * Reads path whole: a regular file only (a FIFO is refused, not waited
 * on), not empty, at most max bytes. When secret, a file that its group or
 * others may read is refused with the chmod that fixes it. what names the
 * file in messages ("TLS certificate", "TLS private key", ...). Returns a
 * malloc'd buffer, NUL-terminated after *len bytes, that the caller wipes
 * (OPENSSL_cleanse, *len + 1 bytes) and frees; or NULL with a one-line
 * reason naming path in err.
 */
char *mtk__read_whole_file(const char *path, const char *what, int secret, size_t max, size_t *len,
                           char *err, size_t errlen);

#endif
