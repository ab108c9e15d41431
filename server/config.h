/*
 * metatokend's configuration: an embedded default, or a JSON file given with
 * --config. Parsing is strict: unknown keys, wrong types and out-of-range
 * values stop start-up with one message naming the file, the field and what
 * was wrong, e.g.
 *
 *   cfg.json: service_accounts[1].lifetime_s: must be a positive integer (got "ten")
 *
 * The JSON shape (every key optional unless marked; defaults in parentheses):
 *
 *   {
 *     "listen": "127.0.0.1:8169",          host:port, [v6]:port; port 0 = any
 *     "signing_key": "certs/key.pem",      Ed25519 PKCS#8 PEM (generated at start)
 *     "tls": {                             an HTTPS listener besides the plain one
 *       "listen": "127.0.0.1:8443",        as "listen" ("127.0.0.1:8443"); port 0 = any
 *       "cert_file": "certs/server.pem",   required: PEM certificate (chain)
 *       "key_file": "certs/server.key"     required: its PEM private key, mode 0600
 *     },                                   (scripts/gen-certs makes both)
 *     "project": {
 *       "id": "metatoken-local",           required when "project" is given
 *       "numeric_id": 123456789012,        positive integer
 *       "attributes": { "k": "v", ... }    string values
 *     },
 *     "instance": {
 *       "id": "fhm1234567890abcdef0",      string: digits (GCE) or Yandex-style
 *       "name": "...", "hostname": "...", "zone": "ru-central1-a",
 *       "attributes": { ... }, "labels": { ... }
 *     },
 *     "yandex": { "folder_id": "...", "cloud_id": "..." },
 *     "control": {                         the control API under /metatoken/v1/
 *       "enabled": true,                   (true)
 *       "secret": "...",                   16..256 printable chars (generated)
 *       "secret_file": "path"              where the secret is written, mode 0600
 *     },                                   (see control.h for the default path)
 *     "metrics": {                         GET /metrics (Prometheus); /healthz and
 *       "enabled": true                    /readyz answer regardless (on when the
 *     },                                   listener is a loopback address)
 *     "aws": {                             the AWS IMDS flavour under /latest/
 *       "imdsv2_only": false,              token-less (IMDSv1) requests get 401 (false)
 *       "instance_id": "i-0123...",        "i-" and 8 or 17 hex digits
 *       "hostname": "ip-10-0-0-1.ec2.internal",  also local-hostname
 *       "local_ipv4": "10.0.0.1",          dotted IPv4
 *       "availability_zone": "us-east-1a", the region plus one letter
 *       "region": "us-east-1",
 *       "account_id": "123456789012",      12 digits
 *       "container_token": "..."           16..256 printable chars: the
 *     },                                   container endpoint's Authorization
 *                                          value (generated at start)
 *     "service_accounts": [                at least one; the first is `default`
 *       {
 *         "id": "ajeXXXXXXXXXXXXXXXXX",    required; 1..128 chars of [A-Za-z0-9._-]
 *         "email": "sa@project.iam...",    required; unique across accounts
 *         "scopes": ["https://..."],       (["https://www.googleapis.com/auth/cloud-platform"])
 *         "lifetime_s": 43200,             positive integer (43200)
 *         "reissue_margin_s": 300,         non-negative integer (300)
 *         "aws_role": "metatoken-role",    1..64 chars of [A-Za-z0-9+=,.@_-]; the
 *                                          instance's IAM role; at most one account
 *         "aws_lifetime_s": 21600,         positive integer (21600): AWS credentials
 *         "authorized_keys": [             keys that may exchange a JWT for this
 *           {                              account's token (POST /iam/v1/tokens)
 *             "id": "ajeXXXXXXXXXXXXXXXXX",   required; the JWT's kid, 1..128 chars of
 *                                          [A-Za-z0-9._-]; unique across all accounts
 *             "public_key": "-----BEGIN PUBLIC KEY-----\n...",  RSA 2048..8192 bits,
 *                                          SPKI PEM; or instead
 *             "public_key_file": "sa.pub"  the same in a file (relative to this one's
 *           }                              folder); exactly one of the two
 *         ]
 *         "upstream": {                    tokens fetched from a real source instead of
 *                                          minted (upstream.h); exactly one source:
 *           "metadata": "http://h:port",   another metadata server (GCE flavour), its
 *           "account": "default",            account there ("default")
 *           "key_file": "key.json",        or: an authorized key (mode 0600) exchanged
 *           "iam_endpoint": "https://...",   at an IAM endpoint (the client's default)
 *           "command": ["yc", "iam", "create-token"],  or: a program printing a token
 *           "lifetime_s": 43200,             command only: a bare token's life (43200)
 *           "ca_file": "ca.pem",           key_file only: the CA for an https endpoint
 *           "timeout_ms": 10000,           one fetch, retries included (10000)
 *           "refresh_window_s": 240,       refresh this long before expiry (240)
 *           "retry_interval_ms": 30000     at least this between refresh attempts (30000)
 *         }                                an upstream account takes no lifetime_s,
 *                                          reissue_margin_s or aws_role: its tokens'
 *                                          life is the source's
 *       }
 *     ],
 *     "functions": [                       functions metatokend runs (function.h)
 *       {
 *         "name": "hello",                 required; 1..64 chars of [A-Za-z0-9_-]; unique
 *         "handler": "./lib.so:symbol",    _HANDLER; required for runtime "c", and for
 *                                          "python" as module.function
 *         "runtime": "c",                  "c" (metatoken-bootstrap), "python"
 *                                          (metatoken-python-runtime), "command" (with
 *                                          "command": [argv...]) or "external"
 *         "python": "python3",             runtime "python": the interpreter (PATH)
 *         "code_dir": ".",                 LAMBDA_TASK_ROOT and the working directory
 *         "timeout_s": 3,                  number above 0, at most 900 (3)
 *         "memory_mb": 128,                integer 128..10240 (128)
 *         "version": "$LATEST",
 *         "service_account": "default",    an account's id or email, or null: no token
 *         "concurrency": 1,                integer 1..64 (1): processes, and invocations at once
 *         "environment": {"K": "V"},
 *         "max_event_bytes": 6291456,      (6 MiB) and "max_response_bytes" (6 MiB)
 *       }
 *     ]
 *   }
 *
 * Sections that are absent take the embedded default's values.
 */
#ifndef METATOKEN_SERVER_CONFIG_H
#define METATOKEN_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_LISTEN_HOST    "127.0.0.1"
#define CONFIG_DEFAULT_LISTEN_PORT    8169
#define CONFIG_DEFAULT_TLS_PORT       8443
#define CONFIG_DEFAULT_LIFETIME_S     43200
#define CONFIG_DEFAULT_MARGIN_S       300
#define CONFIG_DEFAULT_AWS_LIFETIME_S 21600

struct config_kv {
	char *key;
	char *value;
};

enum config_upstream_kind {
	CONFIG_UPSTREAM_NONE = 0, /* tokens minted here */
	CONFIG_UPSTREAM_METADATA,
	CONFIG_UPSTREAM_KEY_FILE,
	CONFIG_UPSTREAM_COMMAND,
};

/* An account's "upstream" (upstream.h). Paths are relative to the
 * configuration file's folder once loaded. */
struct config_upstream {
	enum config_upstream_kind kind;
	char *metadata; /* METADATA: the endpoint */
	char *account;  /* METADATA: the account there */
	char *key_file; /* KEY_FILE */
	char *iam_endpoint;
	char *ca_file;  /* NULL: the system's CAs */
	char **command; /* COMMAND: NULL-terminated argv */
	size_t n_command;
	int64_t lifetime_s; /* COMMAND: the life of a token printed bare */
	int64_t timeout_ms;
	int64_t refresh_window_s;
	int64_t retry_interval_ms;
};

/* An authorized key of an account (authkeys.h): one of the two is set. */
struct config_authkey {
	char *id;
	char *public_key;      /* PEM text, checked when parsed */
	char *public_key_file; /* relative to the file's folder once loaded; read at start */
};

struct config_account {
	char *id;
	char *email;
	char **scopes;
	size_t n_scopes;
	int64_t lifetime_s;
	int64_t reissue_margin_s;
	char *aws_role;                  /* NULL: no AWS role (at most one account has one) */
	int64_t aws_lifetime_s;          /* lifetime of the role's credentials */
	struct config_upstream upstream; /* kind NONE: tokens minted here */
	struct config_authkey *authorized_keys;
	size_t n_authorized_keys;
};

#define CONFIG_DEFAULT_FUNCTION_TIMEOUT_S  3
#define CONFIG_DEFAULT_PAYLOAD_MAX         (6 * 1024 * 1024) /* AWS's 6 MiB */
#define CONFIG_FUNCTION_CONCURRENCY_MAX    64
#define CONFIG_FUNCTIONS_MAX               64
#define CONFIG_FUNCTIONS_CONCURRENCY_TOTAL 256 /* runtimes (processes, listeners) in all */

enum config_runtime {
	CONFIG_RUNTIME_C,        /* metatoken-bootstrap loads handler (lib.so:symbol) */
	CONFIG_RUNTIME_PYTHON,   /* metatoken-python-runtime loads handler (module.function) */
	CONFIG_RUNTIME_COMMAND,  /* command speaks the Runtime API */
	CONFIG_RUNTIME_EXTERNAL, /* started by someone else, attached to its Runtime API */
};

/* A function metatokend runs (function.h). */
struct config_function {
	char *name;
	char *handler; /* _HANDLER; NULL: none given */
	enum config_runtime runtime;
	char **command; /* NULL-terminated argv for CONFIG_RUNTIME_COMMAND */
	char *python;   /* CONFIG_RUNTIME_PYTHON's interpreter; NULL: python3 */
	size_t n_command;
	char *code_dir; /* LAMBDA_TASK_ROOT and the working directory */
	int64_t timeout_ms;
	int64_t memory_mb;
	char *version;
	char *account;  /* NULL: `default` unless no_account */
	int no_account; /* "service_account": null */
	int64_t concurrency;
	struct config_kv *env;
	size_t n_env;
	int64_t max_event_bytes;
	int64_t max_response_bytes;
	int reload; /* restart runtimes when the code changes (function_reload.c) */
};

struct config {
	char *source;      /* the file name, or "<embedded default>" */
	char *document;    /* the file's JSON, compact; NULL for the default */
	char *listen_host; /* without brackets for IPv6 */
	uint16_t listen_port;
	char *signing_key_path; /* NULL: generate a key at start */
	/* The HTTPS listener (daemon.h): on when tls_cert_file is set. Paths
	 * relative to the configuration file's folder. */
	char *tls_listen_host; /* NULL: CONFIG_DEFAULT_LISTEN_HOST */
	uint16_t tls_listen_port;
	char *tls_cert_file;
	char *tls_key_file;
	/* Host names accepted besides the built-in ones (route.c). */
	char **allowed_hosts;
	size_t n_allowed_hosts;
	/* The daemon's limits (daemon.h); 0: its default. */
	unsigned max_connections;
	unsigned per_client_connections;
	unsigned max_held_requests;
	unsigned threads; /* request threads; 0: the default (app.c) */
	int64_t header_timeout_ms;
	int64_t idle_timeout_ms;
	/* GET /metrics (ops.c): 1 on, 0 off, -1 (unset) on only when the
	 * listener is a loopback address. */
	int metrics_enabled;

	char *project_id;
	int64_t numeric_project_id;
	struct config_kv *project_attributes;
	size_t n_project_attributes;

	char *instance_id;
	char *instance_name;
	char *hostname;
	char *zone;     /* short form, e.g. "ru-central1-a" */
	char *image_id; /* the identity document's imageId; "" if not set */
	struct config_kv *instance_attributes;
	size_t n_instance_attributes;
	struct config_kv *labels;
	size_t n_labels;

	char *folder_id;
	char *cloud_id;

	struct config_account *accounts; /* accounts[0] is `default` */
	size_t n_accounts;

	int control_enabled;
	char *admin_secret;      /* NULL: generate one at start */
	char *admin_secret_file; /* NULL: the default path */

	/* The AWS IMDS flavour (aws.c). Strings are never NULL once loaded. */
	int aws_imdsv2_only;
	char *aws_instance_id;
	char *aws_hostname;
	char *aws_local_ipv4;
	char *aws_availability_zone;
	char *aws_region;
	char *aws_account_id;
	char *aws_container_token; /* NULL: generate one at start */
	struct config_function *functions;
	size_t n_functions;
};

/* The embedded default configuration (JSON text). */
extern const char config_embedded_default[];

/*
 * Loads the embedded default, then, if path is non-NULL, the file on top of
 * it (sections present in the file replace the default's). On failure
 * returns -1, leaves *out empty (safe to release) and writes one line into
 * err: "<file>: <field>: <what is wrong> (got <value>)", or for a JSON syntax
 * error "<file>:<line>:<column>: <what>".
 */
int config_load(const char *path, struct config *out, char *err, size_t errlen);

/* Parses JSON text as if read from a file named `source`. Same contract. */
int config_parse(const char *json, size_t len, const char *source, struct config *out, char *err,
                 size_t errlen);

/*
 * Parses "host:port", "[v6]:port" or ":port" (host 127.0.0.1) into a
 * malloc'd host and a port. Returns 0, or -1 with a reason in err.
 */
int config_parse_listen(const char *text, char **host, uint16_t *port, char *err, size_t errlen);

/* Frees everything *c owns and zeroes it. No operation is performed if c is NULL. */
void config_release(struct config *c);

#endif
