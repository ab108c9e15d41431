/*
 * Reload on change (issue 12): a function with "reload" (or every function
 * under `metatokend --reload`) notices that its code changed when an
 * invocation arrives, and that invocation and the ones after it run on
 * runtimes started after the change.
 *
 * What "changed" means: a signature of the code directory's tree (each
 * entry's relative path, inode, size and modification time) and of the C
 * handler's shared object, compared with the one taken at the previous
 * invocation. It is computed on the invoker's thread before the lock is
 * taken, so no lock is held over the walk. A signature rather than
 * "modified since the process started" so that a change made in the same
 * clock tick as the spawn is still seen, and so that a file replaced by an
 * older one (a `git checkout`) counts too.
 *
 * Skipped: entries whose name starts with '.' (.git, editors' swap files)
 * and `__pycache__` (Python writes there when it imports, which would
 * otherwise restart the runtime at every invocation). The walk stops after
 * RELOAD_ENTRIES_MAX entries or RELOAD_DEPTH_MAX levels and says so once.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "function_internal.h"
#include "log.h"

#define RELOAD_ENTRIES_MAX 20000
#define RELOAD_DEPTH_MAX   16

struct walk {
	uint64_t h;
	size_t entries;
	int truncated;
};

static void mix(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= 0x100000001b3ull; /* FNV-1a */
	}
}

static void mix_stat(uint64_t *h, const struct stat *st)
{
	int64_t v[5] = { (int64_t)st->st_ino, (int64_t)st->st_size, (int64_t)st->st_mtim.tv_sec,
		         (int64_t)st->st_mtim.tv_nsec, (int64_t)st->st_mode };

	mix(h, v, sizeof(v));
}

static void walk_dir(struct walk *w, int fd, int depth)
{
	DIR *d;
	struct dirent *e;

	if (depth > RELOAD_DEPTH_MAX) {
		w->truncated = 1;
		close(fd);
		return;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	/* readdir's order is the directory's own and stable while it is
	 * unchanged; a change reorders it at worst, which is a change. */
	while ((e = readdir(d))) {
		struct stat st;

		if (e->d_name[0] == '.' || strcmp(e->d_name, "__pycache__") == 0)
			continue;
		if (++w->entries > RELOAD_ENTRIES_MAX) {
			w->truncated = 1;
			break;
		}
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* gone meanwhile: the next look sees it */
		mix(&w->h, e->d_name, strlen(e->d_name) + 1);
		mix(&w->h, &depth, sizeof(depth));
		mix_stat(&w->h, &st);
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), e->d_name,
			                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				walk_dir(w, sub, depth + 1);
		}
	}
	closedir(d);
}

int fn_reloads(const struct function *fn)
{
	return fn->cfg && fn->cfg->reload && !fn->external;
}

uint64_t fn_code_signature(const struct function *fn)
{
	const struct config_function *c = fn->cfg;
	struct walk w = { .h = 0xcbf29ce484222325ull };
	int fd;

	if (!c)
		return 0;
	fd = open(c->code_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		walk_dir(&w, fd, 0);
	if (c->runtime == CONFIG_RUNTIME_C && c->handler) {
		/* The shared object may live outside the code directory:
		 * `path/to/lib.so[:symbol]`, relative to the code directory. */
		char path[PATH_MAX];
		const char *colon = strrchr(c->handler, ':');
		size_t n = colon ? (size_t)(colon - c->handler) : strlen(c->handler);
		struct stat st;
		int len =
		    c->handler[0] == '/'
		        ? snprintf(path, sizeof(path), "%.*s", (int)n, c->handler)
		        : snprintf(path, sizeof(path), "%s/%.*s", c->code_dir, (int)n, c->handler);

		if (len > 0 && (size_t)len < sizeof(path) && stat(path, &st) == 0)
			mix_stat(&w.h, &st);
	}
	if (w.truncated && !atomic_exchange(&((struct function *)fn)->reload_truncated_said, 1)) {
		log_msg(LOG_WARN,
		        "function %s: reload watches only the first %d entries, %d levels deep, "
		        "of %s",
		        fn->name, RELOAD_ENTRIES_MAX, RELOAD_DEPTH_MAX, c->code_dir);
	}
	return w.h ? w.h : 1;
}

void fn_reload_check(struct function *fn, uint64_t sig)
{
	int had = fn->code_sig != 0;

	if (sig == fn->code_sig)
		return;
	fn->code_sig = sig;
	if (!had)
		return; /* the first look: whatever runs was started from this code */
	for (size_t i = 0; i < fn->n_slots; i++) {
		struct fn_slot *s = &fn->slots[i];

		if (s->proc.pid > 0 && !s->killed)
			s->retire = 1;
	}
	log_function(fn->name, "code changed in %s: runtimes restart before their next invocation",
	             fn->cfg->code_dir);
	fn_retire_idle(fn);
}

void fn_retire_idle(struct function *fn)
{
	for (size_t i = 0; i < fn->n_slots; i++) {
		struct fn_slot *s = &fn->slots[i];

		if (s->retire && !s->running && s->proc.pid > 0 && !s->killed)
			fn_kill_slot(s, SIGKILL); /* idle: nothing of it to lose */
	}
}
