/*
 * libmetatoken.so loads libcurl on first use, not at program start: a
 * program linking it (and not libcurl) has no libcurl mapped until the
 * first client without a transport seam is created, and that client then
 * fetches a token over the loaded libcurl from a loopback server.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metatoken/metatoken.h"
#include "metatoken/testing.h"

static const char response[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 67\r\n"
    "Connection: close\r\n"
    "\r\n"
    "{\"access_token\":\"tok-lazy\",\"expires_in\":3600,\"token_type\":\"Bearer\"}";

/* Whether a file whose name contains "libcurl" is mapped in this process. */
static bool libcurl_mapped(void)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/libcurl"))
			found = true;
	fclose(f);
	return found;
}

/* Answers one request on the listening socket with the token document. */
static void *serve_one(void *arg)
{
	int listen_fd = *(int *)arg, fd;
	char buf[4096];
	size_t have = 0;
	ssize_t n;

	fd = accept(listen_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	while (have < sizeof(buf) - 1 &&
	       (n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0)) > 0) {
		have += (size_t)n;
		buf[have] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	(void)!send(fd, response, sizeof(response) - 1, MSG_NOSIGNAL);
	close(fd);
	return NULL;
}

static enum mtk_status never_called(void *arg, const struct mtk_http_request *req,
                                    struct mtk_http_response *resp)
{
	(void)arg, (void)req, (void)resp;
	return MTK_ERR_TRANSPORT;
}

Test(client_libcurl_lazy, not_loaded_until_the_first_client_that_does_http)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	const struct mtk_transport fake = { .perform = never_called };
	struct mtk_client *c;
	struct mtk_token *t;
	char endpoint[64];
	pthread_t server;
	int fd;

	cr_assert_not(libcurl_mapped(), "libcurl is loaded at program start");
	cr_assert_str_eq(mtk_version(), MTK_VERSION_STRING);

	/* A client on a transport seam never needs it. */
	cr_assert_eq(mtk_client_new(
	                 &(struct mtk_client_options){
	                     .struct_size = sizeof(struct mtk_client_options),
	                     .endpoint = "127.0.0.1:1",
	                     .testing = &(struct mtk_testing_seams){ .transport = &fake } },
	                 &c),
	             MTK_OK);
	mtk_client_free(c);
	cr_assert_not(libcurl_mapped(), "a client on a transport seam loaded libcurl");

	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", ntohs(a.sin_port));
	cr_assert_eq(pthread_create(&server, NULL, serve_one, &fd), 0);

	cr_assert_eq(mtk_client_new(&(struct mtk_client_options){ .struct_size = sizeof(
	                                                              struct mtk_client_options),
	                                                          .endpoint = endpoint },
	                            &c),
	             MTK_OK);
	cr_assert(libcurl_mapped(), "the first real client did not load libcurl");
	cr_assert_eq(mtk_client_get_token(c, &t), MTK_OK);
	cr_assert_str_eq(mtk_token_access_token(t), "tok-lazy");
	mtk_token_free(t);
	mtk_client_free(c);

	pthread_join(server, NULL);
	close(fd);
}
