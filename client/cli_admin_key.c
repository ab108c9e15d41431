/*
 * metatoken admin key create NAME [--output FILE]: asks metatokend's
 * control API for a new authorized key of account NAME (POST
 * /metatoken/v1/accounts/NAME/keys) and writes the answer, an
 * authorized-key file in Yandex's format (PROTOCOL.md §4), to FILE,
 * created with mode 0600 and never over an existing file or through a
 * symbolic link. FILE defaults to "<key id>.json" in the current folder.
 * Prints the path and key id; the private key goes to the file only.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2
#define ANSWER_MAX (64 * 1024)

/* Creates path for writing, 0600, refusing an existing file or a link. */
static int create_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0) {
		if (errno == EEXIST)
			fprintf(
			    stderr,
			    "metatoken admin: key create: %s exists; not overwriting it (remove "
			    "it or give another --output)\n",
			    path);
		else
			fprintf(stderr, "metatoken admin: key create: cannot create %s: %s\n", path,
			        strerror(errno));
		return -1;
	}
	/* The umask can only take bits away; make it exactly 0600. */
	if (fchmod(fd, 0600) != 0) {
		fprintf(stderr, "metatoken admin: key create: cannot chmod 600 %s: %s\n", path,
		        strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

/* Writes all of data to fd and closes it. Returns 0, or -1 after saying why. */
static int write_all(int fd, const char *path, const char *data, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "metatoken admin: key create: cannot write %s: %s\n", path,
			        strerror(n < 0 ? errno : EIO));
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fprintf(stderr, "metatoken admin: key create: cannot write %s: %s\n", path,
		        strerror(errno));
		return -1;
	}
	return 0;
}

/* A key id fit to name a file: printable, no '/', not "." or "..". */
static int id_is_file_name(const char *id)
{
	size_t len = strlen(id);

	return len > 0 && len <= 128 && strcmp(id, ".") != 0 && strcmp(id, "..") != 0 &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	           len;
}

int cli_admin_key_create(const char *server, const char *secret, int argc, char **argv)
{
	struct cli_body a = { .max = ANSWER_MAX };
	const char *name = NULL, *output = NULL;
	char path[512], file[160];
	cJSON *j = NULL;
	const cJSON *id, *sa, *priv;
	long status = 0;
	int fd = -1, ret = EXIT_FAIL;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--output") == 0 || strcmp(argv[i], "-o") == 0) {
			if (i + 1 == argc || !*argv[i + 1]) {
				fprintf(stderr,
				        "metatoken admin: key create: --output needs a FILE\n");
				return EXIT_USAGE;
			}
			output = argv[++i];
		} else if (!name && argv[i][0] != '-') {
			name = argv[i];
		} else {
			fprintf(
			    stderr,
			    "metatoken admin: key create: unexpected \"%.40s\" (usage: key create "
			    "NAME [--output FILE])\n",
			    argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!name || !*name || strcspn(name, "/?#% ") != strlen(name) || strlen(name) > 256) {
		fprintf(stderr, "metatoken admin: key create: give the account NAME (default, an "
		                "email or an id)\n");
		return EXIT_USAGE;
	}
	/* A FILE given is taken first, so that a refusal costs no key. */
	if (output && (fd = create_private(output)) < 0)
		return EXIT_FAIL;
	snprintf(path, sizeof(path), "accounts/%s/keys", name);
	if (cli_admin_request(server, secret, "POST", path, NULL, &a, &status) != 0)
		goto out;
	if (status != 201) {
		cli_admin_say_error("POST", path, status, &a);
		goto out;
	}
	j = a.data ? cJSON_Parse(a.data) : NULL;
	id = cJSON_GetObjectItemCaseSensitive(j, "id");
	sa = cJSON_GetObjectItemCaseSensitive(j, "service_account_id");
	priv = cJSON_GetObjectItemCaseSensitive(j, "private_key");
	if (!cJSON_IsString(id) || !cJSON_IsString(sa) || !cJSON_IsString(priv) ||
	    !id_is_file_name(id->valuestring)) {
		fprintf(stderr, "metatoken admin: key create: the server's answer is not an "
		                "authorized-key file\n");
		goto out;
	}
	if (!output) {
		snprintf(file, sizeof(file), "%s.json", id->valuestring);
		output = file;
		if ((fd = create_private(output)) < 0)
			goto out;
	}
	if (write_all(fd, output, a.data, a.len) != 0) {
		fd = -1;
		unlink(output);
		goto out;
	}
	fd = -1;
	printf("created key %s for service account %s in %s\n", id->valuestring, sa->valuestring,
	       output);
	ret = 0;
out:
	if (fd >= 0) {
		/* Created for an answer that never came. */
		close(fd);
		unlink(output);
	}
	if (cJSON_IsString(priv = cJSON_GetObjectItemCaseSensitive(j, "private_key")))
		OPENSSL_cleanse(priv->valuestring, strlen(priv->valuestring));
	cJSON_Delete(j);
	if (a.data)
		OPENSSL_cleanse(a.data, a.len);
	free(a.data);
	return ret;
}
