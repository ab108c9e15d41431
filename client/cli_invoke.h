/*
 * `metatoken invoke` (client/cli_invoke.c: the command line and the Invoke
 * API call; client/cli_invoke_local.c: the one-shot form and its private
 * metatokend). Never installed.
 */
#ifndef METATOKEN_CLIENT_CLI_INVOKE_H
#define METATOKEN_CLIENT_CLI_INVOKE_H

#include <signal.h>
#include <stddef.h>

/* Exit statuses of `metatoken invoke`; the help text lists them too. */
enum invoke_exit {
	INVOKE_OK = 0,
	INVOKE_FUNCTION_ERROR = 1, /* X-Amz-Function-Error: the document is on stderr */
	INVOKE_USAGE = 2,
	INVOKE_TIMED_OUT = 3,   /* the function error is errorType Sandbox.Timedout */
	INVOKE_API_ERROR = 4,   /* the Invoke API answered 4xx/5xx (X-Amzn-ErrorType) */
	INVOKE_UNREACHABLE = 5, /* no answer: connect failed, --timeout, no private daemon */
};

/* One call of POST /2015-03-31/functions/NAME/invocations. */
struct invoke_request {
	const char *address; /* "HOST:PORT" of metatokend */
	const char *name;    /* the function (escaped into the path here) */
	const char *event;   /* the body, event_len bytes */
	size_t event_len;
	const char *invocation_type; /* "RequestResponse", "Event" or "DryRun" */
	const char *client_context;  /* base64 of the JSON, or NULL */
	long timeout_ms;             /* give up after this long; 0: wait as long as it takes */
	/* Non-zero aborts the call within about a second and silently (a
	 * signal handler sets it); NULL: never. */
	const volatile sig_atomic_t *stop;
};

/*
 * Makes the call and reports it: the result on stdout; an error document,
 * or the API's error type and message, or why there was no answer, on
 * stderr. Returns an enum invoke_exit.
 */
int invoke_call(const struct invoke_request *rq);

/*
 * Whether handler is a C handler ("path/to/lib.so[:symbol]": it has a ':',
 * or its file name ends in .so or .so.N) or else a Python one
 * ("module.function", handlername.h). Returns NULL and sets *python, or
 * the reason it is neither (the caller prints it with the handler).
 */
const char *invoke_handler_kind(const char *handler, int *python);

/* What the one-shot form configures for its function "function". */
struct invoke_local {
	const char *handler;         /* as the user gave it: lib.so[:symbol] or module.function */
	int python;                  /* handler is module.function (invoke_handler_kind) */
	const char *python_path;     /* --python: the interpreter, or NULL (metatokend's default) */
	const char *code_dir;        /* NULL: the current directory */
	const char *timeout_s;       /* the text of --timeout, or NULL (the default) */
	long memory_mb;              /* 0: the default */
	const char *service_account; /* NULL: the default */
	int no_token;                /* service_account null: no token in the context */
	char **env;                  /* n_env "K=V" strings */
	size_t n_env;
	int verbose; /* pass every line of metatokend's log through */
};

/*
 * The one-shot form: runs a private metatokend with lo's function on a free
 * loopback port, makes rq (whose address and name it fills in) and stops
 * the daemon on every path. Returns an enum invoke_exit, or 128 + the
 * signal when SIGINT, SIGTERM or SIGHUP interrupted it.
 */
int invoke_local_run(const struct invoke_local *lo, struct invoke_request *rq);

#endif
