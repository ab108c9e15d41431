/*
 * metatoken exec: runs a command with its environment pointing at a
 * metatokend: a running one (--server, $METATOKEN_SERVER), checked before
 * the command runs, or a private one on a free loopback port that lives as
 * long as the command (cli_private.c). The command's exit status passes
 * through, and the signals sent to us are passed on to it.
 *
 * The command stays in our process group, so a terminal's signals reach it
 * directly; the private metatokend has a group of its own, so they do not
 * reach it, and we stop it once the command has ended. A signal the kernel
 * sent on a terminal's behalf (si_code SI_KERNEL) is therefore not passed on
 * again; one a process sent to us (kill(1), a CI runner, systemd) is.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cli_exec.h"
#include "cli_private.h"

#define WHO             EXEC_WHO
#define EXIT_FAILED     125 /* ours: nothing was run (as env(1) and timeout(1) say it) */
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND  127
#define LOG_SHOWN       16384 /* bytes of the private server's log shown when it fails */

static void usage(FILE *f)
{
	fputs("usage: metatoken exec [--server HOST:PORT | --private] [--config FILE]\n"
	      "                      [--log FILE | --verbose] [--] CMD [ARGS...]\n"
	      "\n"
	      "Runs CMD with its environment pointing at a metatokend, so that the cloud\n"
	      "SDKs in it get tokens and credentials from it with no setup.\n"
	      "\n"
	      "The server is --server, else $METATOKEN_SERVER, else a private metatokend\n"
	      "that exec starts on a free loopback port (with --config FILE, or the\n"
	      "built-in configuration) and stops when CMD ends. --private, --config, --log\n"
	      "and --verbose ask for a private one even when $METATOKEN_SERVER is set.\n"
	      "A running server must answer GET / as a metadata server before CMD runs.\n"
	      "\n"
	      "CMD's environment is ours, with:\n"
	      "  YC_METADATA_ADDR, GCE_METADATA_HOST, GCE_METADATA_ROOT, GCE_METADATA_IP\n"
	      "                    HOST:PORT (Yandex Cloud and Google SDKs)\n"
	      "  AWS_EC2_METADATA_SERVICE_ENDPOINT\n"
	      "                    http://HOST:PORT/ (AWS SDKs, through IMDS)\n"
	      "  AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN\n"
	      "                    a private server's container endpoint when it has an\n"
	      "                    AWS role; with a running server, kept from our\n"
	      "                    environment only when they point at it\n"
	      "  METATOKEN_SERVER  HOST:PORT (for metatoken admin and metatoken invoke)\n"
	      "  METATOKEN_ADMIN_SECRET\n"
	      "                    a private server's control API secret; with a running\n"
	      "                    server, kept from our environment\n"
	      "and without GOOGLE_APPLICATION_CREDENTIALS, AWS_ACCESS_KEY_ID,\n"
	      "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,\n"
	      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_EC2_METADATA_DISABLED,\n"
	      "which SDKs would prefer to the server. When a proxy is set (http_proxy,\n"
	      "https_proxy, all_proxy), HOST is added to NO_PROXY and no_proxy.\n"
	      "AWS_LAMBDA_RUNTIME_API is not set: CMD is not a function's runtime.\n"
	      "\n"
	      "CMD's stdin, stdout and stderr are its own. SIGINT, SIGTERM, SIGHUP,\n"
	      "SIGQUIT, SIGUSR1 and SIGUSR2 sent to metatoken exec are passed on to CMD,\n"
	      "and exec waits for CMD to end; a terminal's Ctrl-C reaches CMD and not\n"
	      "the private server.\n"
	      "\n"
	      "  --server HOST:PORT  a running metatokend\n"
	      "  --private           a private metatokend even when METATOKEN_SERVER is set\n"
	      "  --config FILE       the private metatokend's configuration\n"
	      "  --log FILE          append the private metatokend's log, one line per\n"
	      "                      request, to FILE\n"
	      "  --verbose           the private metatokend's log on stderr, with CMD's\n"
	      "  --help              this text\n"
	      "Otherwise the private metatokend's log (warnings and errors) is shown only\n"
	      "if it fails to start or stops before CMD ends.\n"
	      "\n"
	      "Exit status: CMD's, or 128+N when signal N ended it; else\n"
	      "  125    metatoken exec failed and CMD did not run: a bad command line, no\n"
	      "         metadata server answers at the running server's address, or the\n"
	      "         private metatokend could not start (its error is on stderr)\n"
	      "  126    CMD cannot be run (not executable)\n"
	      "  127    CMD was not found\n"
	      "  128+N  signal N came before CMD started (the private server is stopped)\n",
	      f);
}

static volatile sig_atomic_t got_signal; /* the first signal that came before CMD ran */
static volatile sig_atomic_t cmd_pid;    /* > 0 while CMD is to be signalled */

/* Only async-signal-safe calls. */
static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (cmd_pid > 0) {
		/* A terminal's signal reached CMD already: it is in our group. */
		if (si->si_code != SI_KERNEL)
			kill((pid_t)cmd_pid, sig);
		return;
	}
	if (!got_signal)
		got_signal = sig;
}

/* Whether addr is HOST:PORT (HOST non-empty, PORT 1..65535). */
static int is_host_port(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	char *end;
	unsigned long port;

	if (!colon || colon == addr || !colon[1] || strpbrk(addr, "/ \t\r\n?#@"))
		return 0;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	return !*end && !errno && port >= 1 && port <= 65535 && colon[1] >= '0' && colon[1] <= '9';
}

/*
 * Starts CMD with envp; on success *pid is set and CMD is signalled by
 * on_signal from then on. old_sa and old_mask are what CMD inherits (the
 * dispositions and mask we were started with). Returns 0, or the exit
 * status to end with (its reason printed, or a signal's 128+N).
 */
static int run_command(char **cmd, char **envp, const struct sigaction *old_sa,
                       const sigset_t *old_mask, pid_t *pid)
{
	int report[2], e = 0, status;
	sigset_t block, mask;
	ssize_t got;

	if (pipe2(report, O_CLOEXEC) != 0) {
		fprintf(stderr, WHO ": cannot run %s: %s\n", cmd[0], strerror(errno));
		return EXIT_FAILED;
	}
	private_signals(&block);
	sigprocmask(SIG_BLOCK, &block, &mask);
	if (got_signal) {
		sigprocmask(SIG_SETMASK, &mask, NULL);
		close(report[0]);
		close(report[1]);
		return 128 + got_signal;
	}
	*pid = fork();
	if (*pid == 0) {
		/* Blocked until its dispositions are CMD's: nothing sent to it is lost. */
		for (size_t i = 0; i < PRIVATE_CAUGHT_N; i++)
			sigaction(private_caught[i], &old_sa[i], NULL);
		sigprocmask(SIG_SETMASK, old_mask, NULL);
		execvpe(cmd[0], cmd, envp);
		e = errno;
		got = write(report[1], &e, sizeof(e));
		(void)got;
		_exit(EXIT_NOT_FOUND);
	}
	e = errno;
	if (*pid > 0)
		cmd_pid = *pid;
	sigprocmask(SIG_SETMASK, &mask, NULL);
	close(report[1]);
	if (*pid < 0) {
		close(report[0]);
		fprintf(stderr, WHO ": cannot run %s: %s\n", cmd[0], strerror(e));
		return EXIT_FAILED;
	}
	/* The pipe closes on a successful exec, or carries its errno. */
	do
		got = read(report[0], &e, sizeof(e));
	while (got < 0 && errno == EINTR);
	close(report[0]);
	if (got != (ssize_t)sizeof(e))
		return 0;
	sigprocmask(SIG_BLOCK, &block, &mask);
	while (waitpid(*pid, &status, 0) < 0 && errno == EINTR)
		;
	cmd_pid = 0;
	sigprocmask(SIG_SETMASK, &mask, NULL);
	if (e == ENOENT && !strchr(cmd[0], '/')) {
		fprintf(stderr, WHO ": %s: command not found\n", cmd[0]);
		return EXIT_NOT_FOUND;
	}
	fprintf(stderr, WHO ": %s: %s\n", cmd[0], strerror(e));
	return e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
}

/* Shows the end of the private server's log, when it is ours to show. */
static void show_log(const struct private_scratch *s, const char *log_path)
{
	char buf[4096];
	ssize_t n;
	off_t size;
	int fd;

	if (log_path) {
		fprintf(stderr, WHO ": metatokend's log is in %s\n", log_path);
		return;
	}
	if (!s->log[0] || (fd = open(s->log, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > LOG_SHOWN) {
		lseek(fd, size - LOG_SHOWN, SEEK_SET);
		fprintf(stderr, WHO ": the end of metatokend's log:\n");
	} else {
		lseek(fd, 0, SEEK_SET);
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stderr) != (size_t)n)
			break;
	close(fd);
}

/*
 * Waits for CMD to end, reaping the private server too if it dies first
 * (and saying so). Returns CMD's exit status, 128+N for a signal's death.
 */
static int wait_command(pid_t pid, const char *cmd, struct private_daemon *d,
                        const struct private_scratch *s, const char *log_path)
{
	char how[64];
	sigset_t block, mask;
	int status = 0;

	private_signals(&block);
	for (;;) {
		siginfo_t si = { 0 };
		int st = 0, daemon_died = 0;
		pid_t who;

		/* WNOWAIT: a zombie's pid is not reused until reaped below, with
		 * the signals blocked, so on_signal never signals another process. */
		if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT) != 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, WHO ": cannot wait for %s: %s\n", cmd, strerror(errno));
			return EXIT_FAILED;
		}
		who = si.si_pid;
		sigprocmask(SIG_BLOCK, &block, &mask);
		while (waitpid(who, &st, 0) < 0 && errno == EINTR)
			;
		if (who == pid) {
			cmd_pid = 0;
			status = st;
		} else if (d->pid > 0 && who == d->pid) {
			d->pid = 0;
			daemon_died = 1;
		}
		sigprocmask(SIG_SETMASK, &mask, NULL);
		if (who == pid)
			break;
		if (daemon_died) {
			private_describe_status(st, how, sizeof(how));
			fprintf(stderr, WHO ": metatokend (%s) stopped while %s ran (%s)\n",
			        d->path, cmd, how);
			show_log(s, log_path);
		}
	}
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* The configuration of a private server without --config: the built-in one,
 * with the admin secret in our scratch folder rather than the user's. */
static char *default_config(const char *secret_path)
{
	cJSON *root = cJSON_CreateObject(), *control;
	char *text = NULL;

	if (root && (control = cJSON_AddObjectToObject(root, "control")) &&
	    cJSON_AddStringToObject(control, "secret_file", secret_path))
		text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}

struct exec_opts {
	const char *server;   /* --server, or $METATOKEN_SERVER */
	const char *from;     /* which of them, for messages */
	const char *config;   /* --config */
	const char *log_path; /* --log */
	int private_server;
	int verbose;
};

/*
 * Starts the private server and fills t from its banner. Returns 0, or the
 * exit status to end with (the reason printed, or 128+N for a signal).
 */
static int start_private(const struct exec_opts *o, struct private_daemon *d,
                         struct private_scratch *s, char *secret_path, size_t cap,
                         struct exec_target *t)
{
	const char *args[] = { "--config", o->config, "--log-level",
		               o->log_path || o->verbose ? "info" : "warn", NULL };
	char *text, how[64];
	int log_fd, banner, status = 0;

	if (private_scratch_make(s, WHO) != 0)
		return EXIT_FAILED;
	if (!o->config) {
		snprintf(secret_path, cap, "%s/admin.secret", s->dir);
		text = default_config(secret_path);
		if (!text) {
			fprintf(stderr, WHO ": out of memory\n");
			return EXIT_FAILED;
		}
		if (private_scratch_config(s, WHO, text) != 0) {
			cJSON_free(text);
			return EXIT_FAILED;
		}
		cJSON_free(text);
		args[1] = s->config;
	}
	if (o->verbose) {
		log_fd = STDERR_FILENO;
	} else if (o->log_path) {
		log_fd = open(o->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (log_fd < 0) {
			fprintf(stderr, WHO ": --log %s: %s\n", o->log_path, strerror(errno));
			return EXIT_FAILED;
		}
	} else if ((log_fd = private_scratch_log(s, WHO)) < 0) {
		return EXIT_FAILED;
	}
	if (private_start(d, args, log_fd) != 0) {
		if (log_fd != STDERR_FILENO)
			close(log_fd);
		return EXIT_FAILED;
	}
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	banner = private_read_banner(d, &got_signal, NULL, NULL, &status);
	if (banner == PRIVATE_STOPPED)
		return 128 + got_signal;
	if (banner != PRIVATE_READY) {
		show_log(s, o->log_path);
		if (banner == PRIVATE_EXITED) {
			private_describe_status(status, how, sizeof(how));
			fprintf(stderr, WHO ": %s exited before it was ready (%s)\n", d->path, how);
		}
		return EXIT_FAILED;
	}
	/* Nothing but the banner comes on its stdout. */
	close(d->out_fd);
	d->out_fd = -1;
	t->addr = d->addr;
	t->private_server = 1;
	t->container_uri = private_export(d, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	t->container_token = private_export(d, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
	t->admin_secret = private_export(d, "METATOKEN_ADMIN_SECRET");
	return 0;
}

/* Reads the command line into o; returns the index of CMD, or -1 to exit
 * with *rc. */
static int parse_args(int argc, char **argv, struct exec_opts *o, int *rc)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "private", no_argument, NULL, 'p' },
		{ "config", required_argument, NULL, 'c' },
		{ "log", required_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("METATOKEN_SERVER");
	int opt, explicit_server = 0;

	*rc = EXIT_FAILED;
	/* "+": the options end at CMD, whose own options are its. */
	while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			o->server = optarg;
			o->from = "--server";
			explicit_server = 1;
			break;
		case 'p':
			o->private_server = 1;
			break;
		case 'c':
			o->config = optarg;
			o->private_server = 1;
			break;
		case 'l':
			o->log_path = optarg;
			o->private_server = 1;
			break;
		case 'v':
			o->verbose = 1;
			o->private_server = 1;
			break;
		case 'h':
			usage(stdout);
			*rc = 0;
			return -1;
		default:
			fprintf(stderr, WHO ": see metatoken exec --help\n");
			return -1;
		}
	}
	if (explicit_server && o->private_server) {
		fprintf(stderr, WHO ": --server names a running metatokend; --private, --config, "
		                    "--log and --verbose are for a private one\n");
		return -1;
	}
	if (o->log_path && o->verbose) {
		fprintf(stderr, WHO ": --log and --verbose: choose one\n");
		return -1;
	}
	if (!explicit_server && !o->private_server && env && *env) {
		o->server = env;
		o->from = "$METATOKEN_SERVER";
	}
	if (o->server && !is_host_port(o->server)) {
		fprintf(stderr, WHO ": %s \"%s\": expected HOST:PORT, e.g. 127.0.0.1:8169\n",
		        o->from, o->server);
		return -1;
	}
	if (optind >= argc) {
		fprintf(stderr, WHO ": no command to run (metatoken exec [OPTIONS] [--] CMD "
		                    "[ARGS...]; see --help)\n");
		return -1;
	}
	return optind;
}

int cli_exec(int argc, char **argv)
{
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO },
	                 old_sa[PRIVATE_CAUGHT_N];
	struct exec_opts o = { 0 };
	struct private_daemon d;
	struct private_scratch s = { .dir = "" };
	struct exec_target t = { 0 };
	char **env = NULL;
	char secret_path[PATH_MAX + 16] = "";
	sigset_t old_mask;
	pid_t pid = -1;
	int first, rc;

	first = parse_args(argc, argv, &o, &rc);
	if (first < 0)
		return rc;
	private_init(&d, WHO);
	/* No SA_RESTART: the waits that a signal interrupts look at got_signal. */
	sigemptyset(&sa.sa_mask);
	sigprocmask(SIG_SETMASK, NULL, &old_mask);
	for (size_t i = 0; i < PRIVATE_CAUGHT_N; i++) {
		sigaction(private_caught[i], NULL, &old_sa[i]);
		/* One we were started with ignored (nohup, a script's background
		 * job) stays ignored, and CMD inherits it so. */
		if (old_sa[i].sa_handler != SIG_IGN)
			sigaction(private_caught[i], &sa, NULL);
	}

	if (o.server) {
		rc = exec_probe(o.server, o.from, &got_signal) == 0 ? 0
		     : got_signal                                   ? 128 + got_signal
		                                                    : EXIT_FAILED;
		t.addr = o.server;
	} else {
		rc = start_private(&o, &d, &s, secret_path, sizeof(secret_path), &t);
	}
	if (rc != 0)
		goto out;
	if (!(env = exec_env(&t))) {
		fprintf(stderr, WHO ": out of memory\n");
		rc = EXIT_FAILED;
		goto out;
	}
	rc = run_command(argv + first, env, old_sa, &old_mask, &pid);
	if (rc == 0)
		rc = wait_command(pid, argv[first], &d, &s, o.log_path);
out:
	private_stop(&d);
	private_release(&d);
	if (secret_path[0])
		unlink(secret_path); /* metatokend removes it, unless it was killed */
	private_scratch_remove(&s, WHO);
	exec_env_free(env);
	for (size_t i = 0; i < PRIVATE_CAUGHT_N; i++)
		sigaction(private_caught[i], &old_sa[i], NULL);
	return rc;
}
