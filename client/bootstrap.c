/*
 * metatoken-bootstrap: the C runtime. Loads the handler that _HANDLER names
 * from a shared object and runs the Lambda Runtime API loop around it
 * (metatoken/runtime.h), so that a function is a .so and nothing else.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metatoken/runtime.h"

#define PROG "metatoken-bootstrap"

static const char usage[] =
    "usage: " PROG " [--invocations N]\n"
    "\n"
    "Runs a C function handler under the Lambda Runtime API, as AWS Lambda\n"
    "and Yandex Cloud Functions do (and metatokend, which starts this program\n"
    "for functions with \"runtime\": \"c\").\n"
    "\n"
    "Environment:\n"
    "  _HANDLER                path/to/libfn.so[:symbol]; the symbol defaults to\n"
    "                          \"handler\"; a relative path is under LAMBDA_TASK_ROOT\n"
    "  LAMBDA_TASK_ROOT        the function's code directory (default: the\n"
    "                          current directory)\n"
    "  AWS_LAMBDA_RUNTIME_API  host:port of the Runtime API\n"
    "  AWS_LAMBDA_FUNCTION_NAME, _VERSION, _MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME,\n"
    "  AWS_LAMBDA_LOG_STREAM_NAME: context fields the Runtime API does not send\n"
    "  YC_METADATA_ADDR, GCE_METADATA_HOST: the metadata service that gives the\n"
    "                          token when the Runtime API sends none\n"
    "\n"
    "The symbol is a function of type mtk_handler_fn (metatoken/runtime.h):\n"
    "  int handler(const char *event, size_t len, const struct mtk_context *ctx,\n"
    "              struct mtk_result *out, void *arg);\n"
    "\n"
    "A missing file or symbol is reported to the Runtime API as an init error\n"
    "(Runtime.ImportModuleError, Runtime.HandlerNotFound) and the exit status\n"
    "is 1; so is a Runtime API that cannot be reached.\n"
    "\n"
    "Options:\n"
    "  --invocations N  exit 0 after N invocations (default: run forever)\n"
    "  --help           print this text\n"
    "  --version        print the version\n";

/* A C identifier: what dlsym can find. */
static int identifier(const char *s)
{
	size_t i;

	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/*
 * Loads the handler _HANDLER names into *fn. On failure reports an init
 * error naming the file and the symbol, and returns -1.
 */
static int load(const struct mtk_runtime_options *opts, mtk_handler_fn *fn)
{
	const char *spec = getenv("_HANDLER"), *root = getenv("LAMBDA_TASK_ROOT");
	char path[4096], file[4096 + 8];
	const char *symbol = "handler";
	char *colon;
	void *lib, *sym;

	if (!spec || !*spec) {
		mtk_runtime_init_error(opts, "Runtime.MalformedHandlerName",
		                       "_HANDLER is not set: it names the handler as "
		                       "path/to/libfn.so[:symbol]");
		return -1;
	}
	if (strlen(spec) >= sizeof(path)) {
		mtk_runtime_init_error(opts, "Runtime.MalformedHandlerName",
		                       "_HANDLER is longer than %zu bytes", sizeof(path) - 1);
		return -1;
	}
	strcpy(path, spec);
	if ((colon = strrchr(path, ':'))) {
		*colon = '\0';
		symbol = colon + 1;
	}
	if (!path[0] || !identifier(symbol)) {
		mtk_runtime_init_error(opts, "Runtime.MalformedHandlerName",
		                       "_HANDLER=%s: must be path/to/libfn.so[:symbol], the symbol "
		                       "a C identifier",
		                       spec);
		return -1;
	}
	/* dlopen() searches the library path for a name without a slash: a
	 * relative name is made explicit. */
	if (path[0] == '/')
		snprintf(file, sizeof(file), "%s", path);
	else
		snprintf(file, sizeof(file), "%s/%s", root && *root ? root : ".", path);

	if (!(lib = dlopen(file, RTLD_NOW | RTLD_LOCAL))) {
		/* dlerror()'s text lasts only until the next dl* call, and
		 * reporting may dlopen() libcurl: it is copied first. */
		char why[1024];

		snprintf(why, sizeof(why), "%s", dlerror());
		mtk_runtime_init_error(opts, "Runtime.ImportModuleError",
		                       "cannot load %s (handler %s, from _HANDLER=%s): %s", file,
		                       symbol, spec, why);
		return -1;
	}
	dlerror();
	sym = dlsym(lib, symbol);
	if (!sym) {
		mtk_runtime_init_error(opts, "Runtime.HandlerNotFound",
		                       "%s has no symbol %s (from _HANDLER=%s)", file, symbol,
		                       spec);
		dlclose(lib);
		return -1;
	}
	/* The library stays loaded for the life of the process. ISO C has no
	 * cast from void * to a function pointer; POSIX guarantees the bytes. */
	memcpy(fn, &sym, sizeof(*fn));
	return 0;
}

int main(int argc, char **argv)
{
	struct mtk_runtime_options opts = { .struct_size = sizeof(opts), .log_prefix = PROG };
	mtk_handler_fn fn;
	char *end;
	int i;

	/* The supervisor reads our output as it comes, line by line. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf(PROG " %s\n", mtk_version());
			return 0;
		} else if (strcmp(argv[i], "--invocations") == 0 && i + 1 < argc) {
			opts.max_invocations = strtoull(argv[++i], &end, 10);
			if (*end || !opts.max_invocations || argv[i][0] == '-') {
				fprintf(
				    stderr,
				    PROG
				    ": --invocations: must be a positive integer (got \"%s\")\n",
				    argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, PROG ": unknown argument \"%s\"\n%s", argv[i], usage);
			return 2;
		}
	}

	if (load(&opts, &fn) != 0)
		return 1;
	return mtk_runtime_run(&opts, fn, NULL) == MTK_OK ? 0 : 1;
}
