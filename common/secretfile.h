/*
 * Where metatokend writes its admin secret and where `metatoken admin`
 * looks for it: one rule for both, so they cannot drift apart.
 */
#ifndef METATOKEN_COMMON_SECRETFILE_H
#define METATOKEN_COMMON_SECRETFILE_H

#include <stddef.h>

/*
 * The default secret file for a server on `port`:
 * $XDG_RUNTIME_DIR/metatoken/admin-PORT.secret when XDG_RUNTIME_DIR is set,
 * else $HOME/.metatoken/admin-PORT.secret, HOME defaulting to the user's
 * home directory from the password database. Returns the length written to
 * out, or -1 when there is no home or out is too small.
 */
int secretfile_default_path(unsigned port, char *out, size_t cap);

/*
 * Makes sure `dir` is a folder only its owner can enter, as the default
 * secret file's folder must be: creates it (0700) if missing; refuses one
 * that is a symlink, not a folder, or owned by someone else; repairs the
 * mode of one of ours that others may read or write (and says so in
 * *repaired, the old mode, else -1). Returns 0, or -1 with a one-line
 * reason in err.
 */
int secretfile_private_dir(const char *dir, int *repaired, char *err, size_t errlen);

#endif
