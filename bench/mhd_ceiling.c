/*
 * The ceiling of our own stack: a bare libmicrohttpd program that answers
 * every request with one constant body from a response object built once.
 * It runs libmicrohttpd exactly as metatokend does (epoll, one internal
 * thread per core, the same connection limit and timeout) and sends the
 * same headers, so the bytes on the wire match metatokend's token answer;
 * whatever metatokend costs beyond this figure is our own code.
 *
 *	mhd_ceiling BODY_FILE
 *
 * Listens on 127.0.0.1 on a free port and prints "127.0.0.1:PORT" on
 * stdout; SIGINT or SIGTERM stops it.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cpus.h" /* metatokend's pool size */

static struct MHD_Response *response;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	/* Like metatokend, answer once the whole request has been read. */
	if (!*req_cls) {
		*req_cls = response;
		return MHD_YES;
	}
	*upload_data_size = 0;
	return MHD_queue_response(conn, MHD_HTTP_OK, response);
}

/* Reads the whole file at path into a malloc'ed buffer. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto out_close;
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	*len = (size_t)n;
out_close:
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	struct MHD_Daemon *d;
	unsigned threads = cpus_usable();
	struct MHD_OptionItem pool[] = { { MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL } };
	sigset_t set;
	size_t len;
	char *body;
	int fd, one = 1, sig;

	if (argc != 2) {
		fprintf(stderr, "usage: mhd_ceiling BODY_FILE\n");
		return 2;
	}
	body = slurp(argv[1], &len);
	if (!body) {
		perror(argv[1]);
		return 2;
	}
	response = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(response, "Metadata-Flavor", "Google");
	MHD_add_response_header(response, MHD_HTTP_HEADER_SERVER, "Metadata Server for VM");
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(response, MHD_HTTP_HEADER_ETAG, "0123456789abcdef");

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) != 0) {
		perror("mhd_ceiling: listen");
		return 2;
	}

	/* Block the stop signals before the pool starts, so that only sigwait
	 * below sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* As metatokend: the pool option only for more than one thread. */
	pool[0].option = threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END;
	pool[0].value = threads;
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0,
	                     NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
	                     MHD_OPTION_ARRAY, pool, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
	                     MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "mhd_ceiling: cannot start libmicrohttpd\n");
		return 2;
	}
	printf("127.0.0.1:%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	MHD_destroy_response(response);
	close(fd);
	free(body);
	return 0;
}
