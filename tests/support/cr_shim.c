/* The stand-in runner of cr_shim.h (TSan builds only). */
#include "cr_shim.h"

#ifdef MTK_TEST_NO_CRITERION
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static struct shim_test *tests, **tail = &tests;
static int failures;

void shim_register(struct shim_test *t)
{
	*tail = t; /* in registration order */
	tail = &t->next;
}

void shim_check(bool ok, bool fatal, const char *file, int line, const char *expr, const char *fmt,
                ...)
{
	va_list ap;

	if (ok)
		return;
	fprintf(stderr, "%s:%d: assertion failed: %s", file, line, expr);
	if (fmt[1]) { /* the macros prefix a blank */
		fputc(':', stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
	}
	fputc('\n', stderr);
	failures++;
	if (fatal)
		exit(1);
}

int main(void)
{
	struct shim_test *t;
	int n = 0;

	for (t = tests; t; t = t->next, n++) {
		fprintf(stderr, "[RUN ] %s::%s\n", t->suite, t->name);
		if (t->s->init)
			t->s->init();
		t->fn();
		if (t->s->fini)
			t->s->fini();
	}
	fprintf(stderr, "[====] %d tests, %d failed assertions\n", n, failures);
	return failures ? 1 : 0;
}
#endif
