/*
 * libcurl, loaded on first use: the library does not link libcurl (loading
 * it and the libraries it pulls in costs a program ~60 ms at start, which
 * metatoken-bootstrap pays on every cold start), but dlopen()s
 * libcurl.so.4 when the first client that does real HTTP is created.
 * Never installed.
 *
 * A file that calls libcurl includes this header instead of <curl/curl.h>.
 * It keeps libcurl's names: each function used is redirected to a pointer
 * that mtk__libcurl_load() fills, so the calls read as libcurl documents
 * them. Call mtk__libcurl_load() (or curl_global_init(), see below) before
 * any other libcurl function; calling one before is a NULL call.
 */
#ifndef METATOKEN_CLIENT_LIBCURL_H
#define METATOKEN_CLIENT_LIBCURL_H

#ifdef CURLINC_CURL_H
#error "include private/libcurl.h instead of <curl/curl.h>, and before it"
#endif
/* curl's GCC type checks wrap curl_easy_setopt() in macros of their own. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "metatoken/metatoken.h"

/* The file name handed to dlopen(): libcurl's SONAME since 7.16. */
#define MTK__LIBCURL_SONAME "libcurl.so.4"

/* The functions used, as libcurl.so.4 exports them. */
struct mtk__libcurl {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *curl);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

/* Filled once by mtk__libcurl_load(); read only after it returned MTK_OK. */
extern struct mtk__libcurl mtk__libcurl;

/*
 * Loads libcurl.so.4, resolves the functions above and runs
 * curl_global_init(CURL_GLOBAL_DEFAULT): once per process, thread-safe;
 * later calls return the first call's answer. MTK_OK, or
 * MTK_ERR_NO_LIBCURL when the library or one of its functions is missing,
 * or MTK_ERR_INIT when curl_global_init() fails. The library is never
 * unloaded and curl_global_cleanup() is never called: the program (or
 * another library) may use libcurl too.
 */
enum mtk_status mtk__libcurl_load(void);

/*
 * Test seam: the name mtk__libcurl_load() hands to dlopen(),
 * MTK__LIBCURL_SONAME unless a test (linking the static library) sets it
 * before the first load.
 */
extern const char *mtk__libcurl_soname;

/*
 * curl_global_init() for code written against libcurl's own API (the
 * runtime loop's transport): mtk__libcurl_load(), answered as CURLE_OK or
 * CURLE_FAILED_INIT. flags must be CURL_GLOBAL_DEFAULT, which the load uses.
 */
CURLcode mtk__libcurl_global_init(long flags);

/* The redirections. <curl/curl.h> defines the setopt and getinfo macros
 * that check the argument count even without the type checks. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init    mtk__libcurl_global_init
#define curl_easy_init      (*mtk__libcurl.easy_init)
#define curl_easy_cleanup   (*mtk__libcurl.easy_cleanup)
#define curl_easy_setopt    (*mtk__libcurl.easy_setopt)
#define curl_easy_perform   (*mtk__libcurl.easy_perform)
#define curl_easy_getinfo   (*mtk__libcurl.easy_getinfo)
#define curl_slist_append   (*mtk__libcurl.slist_append)
#define curl_slist_free_all (*mtk__libcurl.slist_free_all)

#endif
