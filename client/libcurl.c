/*
 * Loads libcurl on first use (see private/libcurl.h for why).
 */
#include "private/libcurl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

struct mtk__libcurl mtk__libcurl;
const char *mtk__libcurl_soname = MTK__LIBCURL_SONAME;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static enum mtk_status load_status = MTK_ERR_NO_LIBCURL;

/*
 * dlsym() returns void *; ISO C has no conversion from it to a function
 * pointer, POSIX guarantees that copying the bytes works.
 */
static int resolve(void *lib, const char *name, void *fn_ptr, size_t fn_size)
{
	void *sym = dlsym(lib, name);

	if (!sym)
		return -1;
	memcpy(fn_ptr, &sym, fn_size);
	return 0;
}

#define RESOLVE(lib, field, name) resolve(lib, name, &fns.field, sizeof(fns.field))

static void load(void)
{
	struct mtk__libcurl fns = { 0 };
	void *lib;

	/* RTLD_LOCAL: our lookups go through dlsym(), and a program that links
	 * libcurl itself gets this same copy back from dlopen(). */
	lib = dlopen(mtk__libcurl_soname, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return; /* MTK_ERR_NO_LIBCURL */
	if (RESOLVE(lib, global_init, "curl_global_init") != 0 ||
	    RESOLVE(lib, easy_init, "curl_easy_init") != 0 ||
	    RESOLVE(lib, easy_cleanup, "curl_easy_cleanup") != 0 ||
	    RESOLVE(lib, easy_setopt, "curl_easy_setopt") != 0 ||
	    RESOLVE(lib, easy_perform, "curl_easy_perform") != 0 ||
	    RESOLVE(lib, easy_getinfo, "curl_easy_getinfo") != 0 ||
	    RESOLVE(lib, slist_append, "curl_slist_append") != 0 ||
	    RESOLVE(lib, slist_free_all, "curl_slist_free_all") != 0) {
		dlclose(lib);
		return; /* MTK_ERR_NO_LIBCURL: not a libcurl we can use */
	}
	/* curl_global_init() is not thread-safe in every libcurl a user may
	 * have; here it runs once, inside pthread_once(). */
	if (fns.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		load_status = MTK_ERR_INIT;
		return; /* lib stays loaded: global_init may have started threads */
	}
	mtk__libcurl = fns;
	load_status = MTK_OK;
}

enum mtk_status mtk__libcurl_load(void)
{
	pthread_once(&load_once, load);
	return load_status;
}

CURLcode mtk__libcurl_global_init(long flags)
{
	(void)flags; /* always CURL_GLOBAL_DEFAULT, which load() uses */
	return mtk__libcurl_load() == MTK_OK ? CURLE_OK : CURLE_FAILED_INIT;
}
