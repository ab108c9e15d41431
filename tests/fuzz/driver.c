/*
 * Replays fuzz corpora without libFuzzer: every regular file of each
 * directory given on the command line (or each file given directly) is read
 * into a buffer of exactly its size, so that ASan sees any read past the
 * end, and handed to LLVMFuzzerTestOneInput. Files run in name order, so a
 * failure reproduces.
 *
 * As under libFuzzer, whose -timeout watchdog is a SIGALRM every few
 * seconds, a signal without SA_RESTART keeps arriving while inputs run
 * (every ALARM_US here, so that it lands in any wait a target makes): a
 * target must not take an interrupted system call for a timeout.
 *
 * A crash or a failed FUZZ_CHECK aborts with the file's name printed just
 * before it. Otherwise the last line is "N passed, 0 failed". An empty or
 * missing corpus fails: a replay that ran nothing must not pass.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#define ALARM_US 5000 /* how often SIGALRM comes */

static void on_alarm(int sig, siginfo_t *info, void *uctx)
{
	(void)sig;
	(void)info;
	(void)uctx;
}

/* SIGALRM every ALARM_US, handled as libFuzzer does: SA_SIGINFO, no
 * SA_RESTART. */
static void arm_alarm(void)
{
	struct sigaction sa = { .sa_sigaction = on_alarm, .sa_flags = SA_SIGINFO };
	struct itimerval it = { .it_interval = { 0, ALARM_US }, .it_value = { 0, ALARM_US } };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) != 0 || setitimer(ITIMER_REAL, &it, NULL) != 0) {
		perror("SIGALRM");
		exit(1);
	}
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the whole file into a malloc'd buffer of exactly its size. */
static int read_file(const char *path, uint8_t **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	struct stat st;
	int rc = -1;

	if (!f)
		return -1;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0)
		goto out_close;
	/* malloc(0) may return NULL; keep one byte so an empty file still runs. */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		goto out_close;
	if (st.st_size && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		goto out_close;
	}
	*data = buf;
	*size = (size_t)st.st_size;
	rc = 0;
out_close:
	fclose(f);
	return rc;
}

static int run_file(const char *path, unsigned *passed)
{
	uint8_t *data;
	size_t size;

	if (read_file(path, &data, &size) != 0) {
		fprintf(stderr, "%s: cannot read: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(stderr, "Running: %s (%zu bytes)\n", path, size);
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	(*passed)++;
	return 0;
}

/* Runs every regular file of dir, in name order. */
static int run_dir(const char *dir, unsigned *passed)
{
	struct dirent *e;
	char **names = NULL, **grown, path[4096];
	size_t n = 0, cap = 0, i;
	struct stat st;
	int rc = 0;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "%s: cannot open: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				rc = -1;
				break;
			}
			names = grown;
		}
		if (!(names[n] = strdup(e->d_name))) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		if (rc == 0 &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) < sizeof(path) &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode))
			rc = run_file(path, passed);
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned passed = 0;
	struct stat st;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	arm_alarm();
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode) ? run_dir(argv[i], &passed) : run_file(argv[i], &passed))
			return 1;
	}
	if (passed == 0) {
		fprintf(stderr, "no inputs found in the corpus\n");
		return 1;
	}
	printf("%u passed, 0 failed\n", passed);
	return 0;
}
