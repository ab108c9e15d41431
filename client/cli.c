/*
 * metatoken: the command-line face of libmetatoken.
 *
 *   metatoken token [--json] [--server HOST:PORT] [--account NAME] [--flavour F]
 *                   [--cacert FILE]
 *   metatoken token [--json] --key-file KEY.json [--iam-endpoint URL] [--cacert FILE]
 *   metatoken admin [--server HOST:PORT] COMMAND ...   (cli_admin.c)
 *   metatoken invoke [OPTIONS] NAME|HANDLER [EVENT]     (cli_invoke.c)
 *   metatoken exec [OPTIONS] [--] CMD [ARGS...]         (cli_exec.c)
 *
 * prints the current access token (like `gcloud auth print-access-token`),
 * or with --json the whole token document. Exit status: 0 on success, 1
 * when no token could be had (one line on stderr says why), 2 for a bad
 * command line.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "cli.h"
#include "metatoken/aws.h"
#include "metatoken/metatoken.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fputs(
	    "usage: metatoken token [--json] [--server HOST:PORT] [--account NAME] [--flavour F]\n"
	    "       metatoken token [--json] --key-file KEY.json [--iam-endpoint URL]\n"
	    "       metatoken admin [--server HOST:PORT] COMMAND   (metatoken admin --help)\n"
	    "       metatoken invoke [OPTIONS] NAME [EVENT]        (metatoken invoke --help)\n"
	    "       metatoken invoke [OPTIONS] MODULE.FUNCTION|LIB.so[:SYMBOL] [EVENT]\n"
	    "       metatoken exec [OPTIONS] [--] CMD [ARGS...]    (metatoken exec --help)\n"
	    "       metatoken --version\n"
	    "\n"
	    "Each command has its own --help (metatoken token --help, ...).\n",
	    f);
}

static void token_usage(FILE *f)
{
	fputs(
	    "usage: metatoken token [--json] [--server HOST:PORT] [--account NAME]\n"
	    "                       [--flavour gce|aws] [--cacert FILE]\n"
	    "       metatoken token [--json] --key-file KEY.json [--iam-endpoint URL]\n"
	    "                       [--cacert FILE]\n"
	    "\n"
	    "Prints an access token for the service account from the metadata service,\n"
	    "or with --key-file an IAM token for the authorized key's service account.\n"
	    "\n"
	    "  --json             print {\"access_token\",\"expires_in\",\"token_type\"}\n"
	    "  --server ADDR      host[:port] of the metadata service (default:\n"
	    "                     $YC_METADATA_ADDR, $GCE_METADATA_HOST, 169.254.169.254);\n"
	    "                     --endpoint is another name for it\n"
	    "  --account NAME     service account: \"default\" or its email (aws: the role)\n"
	    "  --flavour gce|aws  gce (the default): a Bearer token. aws: the IMDS role\n"
	    "                     credentials (server: $AWS_EC2_METADATA_SERVICE_ENDPOINT),\n"
	    "                     printed as AWS_ACCESS_KEY_ID=..., AWS_SECRET_ACCESS_KEY=...\n"
	    "                     and AWS_SESSION_TOKEN=... lines, or with --json as\n"
	    "                     {\"AccessKeyId\",\"SecretAccessKey\",\"Token\",\"expires_in\"}\n"
	    "  --key-file FILE    exchange a JWT signed with this Yandex Cloud authorized key\n"
	    "                     (yc iam key create, metatoken admin key create; mode 0600)\n"
	    "                     at the IAM endpoint instead of asking a metadata service\n"
	    "  --iam-endpoint URL with --key-file: the http(s) URL of the IAM token endpoint\n"
	    "                     (default: $METATOKEN_IAM_ENDPOINT, else\n"
	    "                     https://iam.api.cloud.yandex.net/iam/v1/tokens; metatokend\n"
	    "                     serves one at http://HOST:PORT/iam/v1/tokens)\n"
	    "  --cacert FILE      PEM CA certificates that an https:// server must chain to\n"
	    "                     (default: the system's); metadata servers are http://\n"
	    "  --help             show this help\n"
	    "\n"
	    "When only $AWS_EC2_METADATA_SERVICE_ENDPOINT is set (no --server,\n"
	    "$YC_METADATA_ADDR or $GCE_METADATA_HOST), the flavour is not guessed:\n"
	    "pass --flavour.\n",
	    f);
}

static int set(const char *name)
{
	const char *v = getenv(name);

	return v && *v;
}

/* AWS credentials: env lines, or a JSON object. */
static int print_aws(const struct mtk_token *t, int json_out)
{
	cJSON *o;
	char *text;

	if (!json_out) {
		printf("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_SESSION_TOKEN=%s\n",
		       mtk_token_aws_access_key_id(t), mtk_token_aws_secret_access_key(t),
		       mtk_token_aws_session_token(t));
		return 0;
	}
	o = cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "AccessKeyId", mtk_token_aws_access_key_id(t)) ||
	    !cJSON_AddStringToObject(o, "SecretAccessKey", mtk_token_aws_secret_access_key(t)) ||
	    !cJSON_AddStringToObject(o, "Token", mtk_token_aws_session_token(t)) ||
	    !cJSON_AddNumberToObject(o, "expires_in",
	                             (double)((mtk_token_expires_in_ms(t) + 999) / 1000)) ||
	    !(text = cJSON_PrintUnformatted(o))) {
		cJSON_Delete(o);
		fprintf(stderr, "metatoken: %s\n", mtk_strerror(MTK_ERR_NO_MEMORY));
		return -1;
	}
	printf("%s\n", text);
	OPENSSL_cleanse(text, strlen(text));
	cJSON_free(text);
	cJSON_Delete(o);
	return 0;
}

static int cmd_token(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "server", required_argument, NULL, 'e' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "account", required_argument, NULL, 'a' },
		{ "flavour", required_argument, NULL, 'f' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "iam-endpoint", required_argument, NULL, 'i' },
		{ "cacert", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mtk_client_options opts = MTK_CLIENT_OPTIONS_INIT;
	struct mtk_client *c = NULL;
	struct mtk_token *t = NULL;
	char detail[512], *json = NULL;
	enum mtk_status st;
	int json_out = 0, opt, rc = EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json_out = 1;
			break;
		case 'e':
			opts.endpoint = optarg;
			break;
		case 'a':
			opts.account = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "gce") == 0) {
				opts.flavour = MTK_FLAVOUR_GCE;
			} else if (strcmp(optarg, "aws") == 0) {
				opts.flavour = MTK_FLAVOUR_AWS;
			} else {
				fprintf(stderr,
				        "metatoken token: --flavour \"%s\": expected gce or aws\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'k':
			opts.key_file = optarg;
			break;
		case 'i':
			opts.iam_endpoint = optarg;
			break;
		case 'c':
			opts.ca_file = optarg;
			break;
		case 'h':
			token_usage(stdout);
			return 0;
		default:
			token_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "metatoken token: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (opts.key_file && (opts.endpoint || opts.account || opts.flavour != MTK_FLAVOUR_AUTO)) {
		fputs("metatoken token: --key-file asks the IAM endpoint, not a metadata "
		      "service: --server, --account and --flavour do not apply to it\n",
		      stderr);
		return EXIT_USAGE;
	}
	if (opts.iam_endpoint && !opts.key_file) {
		fputs("metatoken token: --iam-endpoint needs --key-file\n", stderr);
		return EXIT_USAGE;
	}
	/* The library would pick AWS here, and its session token would be
	 * printed as if it were an access token: ask instead. */
	if (opts.flavour == MTK_FLAVOUR_AUTO && !opts.key_file) {
		if (!opts.endpoint && set("AWS_EC2_METADATA_SERVICE_ENDPOINT") &&
		    !set("YC_METADATA_ADDR") && !set("GCE_METADATA_HOST")) {
			fputs("metatoken token: only $AWS_EC2_METADATA_SERVICE_ENDPOINT names a "
			      "metadata service: pass --flavour aws for its role credentials, or "
			      "--flavour gce (with --server) for a service account token\n",
			      stderr);
			return EXIT_USAGE;
		}
		opts.flavour = MTK_FLAVOUR_GCE;
	}

	st = mtk_client_new(&opts, &c);
	if (st != MTK_OK && (mtk_client_last_error(NULL, detail, sizeof(detail)), detail[0])) {
		/* The library says which file or variable, and how to fix it. */
		fprintf(stderr, "metatoken: %s\n", detail);
		return opts.key_file || opts.ca_file ? EXIT_USAGE : EXIT_FAIL;
	}
	if (st == MTK_ERR_BAD_ENDPOINT || st == MTK_ERR_BAD_ACCOUNT) {
		fprintf(stderr, "metatoken: %s \"%s\": %s\n",
		        st == MTK_ERR_BAD_ACCOUNT ? "--account" : "server",
		        st == MTK_ERR_BAD_ACCOUNT ? opts.account
		        : opts.endpoint           ? opts.endpoint
		                                  : "from environment",
		        mtk_strerror(st));
		return opts.endpoint || st == MTK_ERR_BAD_ACCOUNT ? EXIT_USAGE : EXIT_FAIL;
	}
	if (st != MTK_OK) {
		fprintf(stderr, "metatoken: %s\n", mtk_strerror(st));
		return EXIT_FAIL;
	}

	st = mtk_client_get_token(c, &t);
	if (st != MTK_OK) {
		mtk_client_last_error(c, detail, sizeof(detail));
		fprintf(stderr, "metatoken: %s\n", detail[0] ? detail : mtk_strerror(st));
		goto out_free;
	}
	if (opts.flavour == MTK_FLAVOUR_AWS) {
		if (print_aws(t, json_out) != 0)
			goto out_free;
	} else if (json_out) {
		if ((st = mtk_token_to_json(t, &json)) != MTK_OK) {
			fprintf(stderr, "metatoken: %s\n", mtk_strerror(st));
			goto out_free;
		}
		printf("%s\n", json);
	} else {
		printf("%s\n", mtk_token_access_token(t));
	}
	if (fflush(stdout) != 0) {
		perror("metatoken: stdout");
		goto out_free;
	}
	rc = 0;

out_free:
	mtk_json_free(json);
	mtk_token_free(t);
	mtk_client_free(c);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("metatoken %s\n", mtk_version());
		return 0;
	}
	if (strcmp(argv[1], "token") == 0)
		return cmd_token(argc - 1, argv + 1);
	if (strcmp(argv[1], "admin") == 0)
		return cli_admin(argc - 1, argv + 1);
	if (strcmp(argv[1], "invoke") == 0)
		return cli_invoke(argc - 1, argv + 1);
	if (strcmp(argv[1], "exec") == 0)
		return cli_exec(argc - 1, argv + 1);
	fprintf(stderr, "metatoken: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}

size_t cli_collect(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct cli_body *b = arg;
	size_t n = size * nmemb;
	char *grown;

	if (n > b->max - b->len) {
		b->overflow = 1;
		return 0;
	}
	grown = realloc(b->data, b->len + n + 1);
	if (!grown)
		return 0;
	memcpy(grown + b->len, ptr, n);
	b->data = grown;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}
