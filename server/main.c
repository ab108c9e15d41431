/*
 * metatokend: a local stand-in for the cloud metadata service at
 * 169.254.169.254. See README.md and `metatokend --help`.
 *
 * Exit status: 0 after SIGINT/SIGTERM (SIGHUP reloads), 2 for a bad command line,
 * configuration or listen address, 1 for anything else.
 */
#include <getopt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "aws.h"
#include "log.h"
#include "reload.h"
#include "app.h"
#include "server.h"

#include <metatoken/version.h>

#define EXIT_USAGE        2
#define SHUTDOWN_GRACE_MS 5000

static void usage(FILE *f)
{
	fputs("usage: metatokend [--listen HOST:PORT] [--config FILE] [--log-level LEVEL]\n"
	      "                  [--tls-listen HOST:PORT --tls-cert FILE --tls-key FILE]\n"
	      "                  [--no-control] [--reload] [--quiet] [--print-config] [--version]\n"
	      "\n"
	      "Serves cloud metadata (GCE/Yandex and AWS flavours) and service-account\n"
	      "tokens, and runs functions: the Lambda Runtime API (a runtime polls\n"
	      "http://HOST:PORT/2018-06-01/runtime/invocation/next) and the Invoke API\n"
	      "(POST /2015-03-31/functions/NAME/invocations). With no \"functions\" in the\n"
	      "configuration, NAME `function` goes to whatever runtime polls.\n"
	      "\n"
	      "  --listen HOST:PORT   address to listen on (default 127.0.0.1:8169;\n"
	      "                       [::1]:PORT for IPv6; port 0 picks a free port)\n"
	      "  --config FILE        JSON configuration (see README.md); without it the\n"
	      "                       embedded default is served\n"
	      "  --tls-listen HOST:PORT  serve HTTPS there too (default 127.0.0.1:8443;\n"
	      "                       port 0 picks a free port); needs --tls-cert and --tls-key\n"
	      "  --tls-cert FILE      the HTTPS certificate (PEM; scripts/gen-certs makes one)\n"
	      "  --tls-key FILE       its private key (PEM, mode 0600); these three override\n"
	      "                       the configuration's \"tls\"\n"
	      "  --log-level LEVEL    error, warn, info (default: one line per request) or debug\n"
	      "  --no-control         turn the control API (/metatoken/v1/) off\n"
	      "  --quiet              no secret on stdout: the banner names the admin secret's\n"
	      "                       file instead of its value, and hides the container token\n"
	      "  --reload             every function restarts its runtimes when its code\n"
	      "                       changes (as \"reload\": true on each function)\n"
	      "  --print-config       print the embedded default configuration and exit\n"
	      "  --help               this text\n"
	      "  --version            print the version\n"
	      "\n"
	      "Environment: METATOKEN_BOOTSTRAP and METATOKEN_PYTHON_RUNTIME name the\n"
	      "programs that run \"runtime\": \"c\" and \"python\" functions; by default\n"
	      "metatoken-bootstrap and metatoken-python-runtime next to metatokend, in its\n"
	      "build tree, or on the PATH.\n",
	      f);
}

/*
 * Initialises OpenSSL for what metatokend uses of it: Ed25519, SHA-256,
 * HMAC, RSA and random bytes from the default provider. It must run before
 * any other OpenSSL call, or OpenSSL initialises itself with its defaults.
 *
 * Those defaults cost idle memory we do not need (issue 6): the system
 * openssl.cnf is parsed (about 130 KiB of RSS), every libcrypto error string
 * is loaded into a hash table (about 370 KiB; we never print OpenSSL's
 * errors), and the random generator is CTR-DRBG, whose AES fetch builds a
 * method object for each of the provider's ~120 ciphers (about 140 KiB of
 * heap) although we use no cipher. HASH-DRBG over SHA-256 is the other
 * SP 800-90A generator OpenSSL ships, of the same 256-bit strength, and
 * SHA-256 is fetched anyway for key ids and HMAC.
 *
 * A user who sets OPENSSL_CONF gets OpenSSL's usual initialisation from
 * that file, its random generator included.
 */
static int crypto_init(void)
{
	if (getenv("OPENSSL_CONF"))
		return OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) == 1 ? 0 : -1;
	if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS,
	                        NULL) != 1)
		return -1;
	return RAND_set_DRBG_type(NULL, "HASH-DRBG", NULL, NULL, "SHA256") == 1 ? 0 : -1;
}

/*
 * The --tls-* flags on top of the configuration's "tls" (their paths are
 * relative to the working directory, as any command-line path). Either
 * turns HTTPS on, which then needs both files. Returns 0, or -1 after
 * saying what is wrong.
 */
static int apply_tls_flags(struct config *c, const char *const flags[3])
{
	char err[256];

	if (flags[0]) {
		char *host;
		uint16_t port;

		if (config_parse_listen(flags[0], &host, &port, err, sizeof(err)) != 0) {
			fprintf(stderr, "metatokend: --tls-listen: %s\n", err);
			return -1;
		}
		free(c->tls_listen_host);
		c->tls_listen_host = host;
		c->tls_listen_port = port;
	}
	for (int i = 1; i < 3; i++) {
		char **field = i == 1 ? &c->tls_cert_file : &c->tls_key_file;

		if (!flags[i])
			continue;
		if (!flags[i][0]) {
			fprintf(stderr, "metatokend: --tls-%s: must not be empty\n",
			        i == 1 ? "cert" : "key");
			return -1;
		}
		free(*field);
		if (!(*field = strdup(flags[i]))) {
			fputs("metatokend: out of memory\n", stderr);
			return -1;
		}
	}
	if (!c->tls_listen_host && !c->tls_cert_file && !c->tls_key_file)
		return 0; /* no HTTPS */
	if (!c->tls_cert_file || !c->tls_key_file) {
		fprintf(stderr,
		        "metatokend: HTTPS needs a certificate and its key: give %s (or "
		        "\"tls\": {\"cert_file\", \"key_file\"} in the configuration; "
		        "scripts/gen-certs makes both)\n",
		        !c->tls_cert_file && !c->tls_key_file ? "--tls-cert FILE and --tls-key FILE"
		        : !c->tls_cert_file                   ? "--tls-cert FILE"
		                                              : "--tls-key FILE");
		return -1;
	}
	if (!c->tls_listen_host) {
		if (!(c->tls_listen_host = strdup(CONFIG_DEFAULT_LISTEN_HOST))) {
			fputs("metatokend: out of memory\n", stderr);
			return -1;
		}
		c->tls_listen_port = CONFIG_DEFAULT_TLS_PORT;
	}
	return 0;
}

/* Says, on stdout, how to point SDKs at this server. Tests read these lines.
 * quiet: no secret (stdout often ends up in a CI log). */
static void print_banner(const struct server *srv, int quiet)
{
	printf("metatokend listening on http://%s (%s)\n", srv->bound, srv->cfg.source);
	if (srv->tls_bound[0])
		printf("# and on https://%s (certificate %s; e.g. curl --cacert certs/ca.pem "
		       "https://%s/...)\n",
		       srv->tls_bound, srv->cfg.tls_cert_file, srv->tls_bound);
	printf("# point SDKs at it from another shell:\n");
	printf("export YC_METADATA_ADDR=%s\n", srv->bound);
	printf("export GCE_METADATA_HOST=%s\n", srv->bound);
	printf("export GCE_METADATA_ROOT=%s\n", srv->bound);
	printf("export GCE_METADATA_IP=%s\n", srv->bound);
	printf("export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://%s/\n", srv->bound);
	if (aws_role(srv)) {
		printf(
		    "# AWS container credentials (they take precedence over IMDS in AWS SDKs):\n");
		printf("# export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://%s%s\n", srv->bound,
		       AWS_CONTAINER_PATH);
		if (quiet)
			printf("# export AWS_CONTAINER_AUTHORIZATION_TOKEN=<hidden by --quiet: set "
			       "aws.container_token in the configuration to know it>\n");
		else
			printf("# export AWS_CONTAINER_AUTHORIZATION_TOKEN=%s\n",
			       aws_container_token(srv->aws));
	}
	printf("# a Lambda runtime started by hand serves the function `function` "
	       "(POST http://%s/2015-03-31/functions/function/invocations):\n",
	       srv->bound);
	printf("#   AWS_LAMBDA_RUNTIME_API=%s AWS_LAMBDA_FUNCTION_NAME=function "
	       "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/function "
	       "AWS_LAMBDA_LOG_STREAM_NAME=local ./your-runtime\n",
	       srv->bound);
	if (srv->control_enabled) {
		printf("# control API: http://%s/metatoken/v1/ (or `metatoken admin`);\n",
		       srv->bound);
		printf("# its secret is %sin %s\n", quiet ? "" : "also ", srv->admin_secret_file);
		printf("export METATOKEN_SERVER=%s\n", srv->bound);
		if (!quiet) /* metatoken admin reads the file without it */
			printf("export METATOKEN_ADMIN_SECRET=%s\n", srv->admin_secret);
	}
	printf("# Ctrl-C stops it.\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "tls-listen", required_argument, NULL, 't' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "no-control", no_argument, NULL, 'N' },
		{ "reload", no_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'Q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = NULL, *config_path = NULL;
	const char *tls_flags[3] = { NULL, NULL, NULL }; /* --tls-listen, --tls-cert, --tls-key */
	struct server srv = { 0 };
	struct daemon *daemon = NULL;
	char err[512];
	sigset_t stop_signals;
	int opt, sig, status = 1, no_control = 0, reload = 0, quiet = 0;

	if (crypto_init() != 0) {
		fputs("metatokend: cannot initialise OpenSSL\n", stderr);
		return 1;
	}
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen = optarg;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 't':
			tls_flags[0] = optarg;
			break;
		case 'C':
			tls_flags[1] = optarg;
			break;
		case 'K':
			tls_flags[2] = optarg;
			break;
		case 'L':
			if (log_set_level_name(optarg) != 0) {
				fprintf(
				    stderr,
				    "metatokend: --log-level: must be error, warn, info or debug (got \"%s\")\n",
				    optarg);
				return EXIT_USAGE;
			}
			break;
		case 'P':
			fputs(config_embedded_default, stdout);
			return 0;
		case 'N':
			no_control = 1;
			break;
		case 'R':
			reload = 1;
			break;
		case 'Q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			puts("metatokend " MTK_VERSION_STRING);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "metatokend: unexpected argument \"%s\" (see --help)\n",
		        argv[optind]);
		return EXIT_USAGE;
	}

	if (config_load(config_path, &srv.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "metatokend: %s\n", err);
		return EXIT_USAGE;
	}
	if (no_control)
		srv.cfg.control_enabled = 0;
	for (size_t i = 0; reload && i < srv.cfg.n_functions; i++)
		srv.cfg.functions[i].reload = 1;
	if (listen) {
		char *host;
		uint16_t port;

		if (config_parse_listen(listen, &host, &port, err, sizeof(err)) != 0) {
			fprintf(stderr, "metatokend: --listen: %s\n", err);
			config_release(&srv.cfg);
			return EXIT_USAGE;
		}
		free(srv.cfg.listen_host);
		srv.cfg.listen_host = host;
		srv.cfg.listen_port = port;
	}
	if (apply_tls_flags(&srv.cfg, tls_flags) != 0) {
		config_release(&srv.cfg);
		return EXIT_USAGE;
	}

	/* The signals that stop us are taken synchronously by sigwait below;
	 * block them before any thread starts so that every thread inherits
	 * the mask. A closed client socket must not kill us either. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	/* SIGHUP reloads the configuration (reload.h), taken the same way. */
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (app_init(&srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "metatokend: %s\n", err);
		status = EXIT_USAGE;
		goto out_release;
	}
	daemon = app_start(&srv, NULL, err, sizeof(err));
	if (!daemon) {
		fprintf(stderr, "metatokend: %s\n", err);
		status = EXIT_USAGE;
		goto out_release;
	}
	if (admin_write_file(&srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "metatokend: %s\n", err);
		status = EXIT_USAGE;
		daemon_stop(daemon, 0);
		goto out_release;
	}
	/* Judged on the socket bound, not on the --listen text: a name can
	 * resolve to any address. (daemon_bound_loopback() says whether both
	 * listeners are.) */
	if (!daemon_bound_loopback(daemon) && daemon_tls_loopback(daemon))
		log_msg(
		    LOG_WARN,
		    "listening on %s, which is not a loopback address: anyone who can reach it gets tokens",
		    srv.bound);
	if (!daemon_tls_loopback(daemon))
		log_msg(
		    LOG_WARN,
		    "serving HTTPS on %s, which is not a loopback address: anyone who can reach "
		    "it gets tokens",
		    srv.tls_bound);
	{
		struct daemon_limits l = daemon_limits(daemon);

		log_msg(LOG_INFO,
		        "serving %zu service account(s) on %s%s%s with %u threads; limits: %u "
		        "connections, %u per client, %u held requests, %llds header timeout",
		        srv.n_accounts, srv.bound, srv.tls_bound[0] ? " and https://" : "",
		        srv.tls_bound, daemon_threads(daemon), l.connections, l.per_client, l.held,
		        (long long)(l.header_timeout_ms / 1000));
	}
	print_banner(&srv, quiet);

	for (;;) {
		if (sigwait(&stop_signals, &sig) != 0)
			sig = SIGTERM;
		if (sig != SIGHUP)
			break;
		reload_config(&srv, config_path);
	}
	log_msg(LOG_INFO, "%s: finishing in-flight requests, then stopping",
	        sig == SIGINT ? "SIGINT" : "SIGTERM");
	daemon_stop(daemon, SHUTDOWN_GRACE_MS);
	status = 0;

out_release:
	admin_release(&srv);
	app_release(&srv);
	return status;
}
