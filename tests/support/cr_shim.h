/*
 * Criterion, or a stand-in for it. Criterion 2.4 cannot start under
 * ThreadSanitizer (its BoxFort arena collides with TSan's memory layout:
 * "Could not initialize inheritable arena", Snaipe/Criterion#274), so the
 * TSan build compiles the concurrency tests with MTK_TEST_NO_CRITERION and
 * this minimal runner: the same Test() bodies, run one after another in one
 * process, with the subset of assertions the concurrency tests use. A failed
 * cr_assert prints where and exits non-zero. tests/CMakeLists.txt builds
 * every test labelled `concurrency` this way in the TSan build, so such
 * tests include this header instead of <criterion/criterion.h> and must not
 * depend on running in a process of their own.
 */
#ifndef METATOKEN_TEST_CR_SHIM_H
#define METATOKEN_TEST_CR_SHIM_H

#ifndef MTK_TEST_NO_CRITERION
#include <criterion/criterion.h>
#else

#include <stdbool.h>
#include <string.h>

struct shim_suite {
	void (*init)(void);
	void (*fini)(void);
	double timeout; /* accepted for Criterion compatibility; not enforced */
};

struct shim_test {
	const char *suite, *name;
	void (*fn)(void);
	const struct shim_suite *s;
	struct shim_test *next;
};

void shim_register(struct shim_test *t);
void shim_check(bool ok, bool fatal, const char *file, int line, const char *expr, const char *fmt,
                ...) __attribute__((format(printf, 6, 7)));

#define TestSuite(suite, ...) static const struct shim_suite shim_suite_##suite = { __VA_ARGS__ }

#define Test(suite, name, ...)                                                                     \
	static void shim_fn_##suite##_##name(void);                                                \
	static struct shim_test shim_t_##suite##_##name = { #suite, #name,                         \
		                                            shim_fn_##suite##_##name,              \
		                                            &shim_suite_##suite, NULL };           \
	__attribute__((constructor)) static void shim_reg_##suite##_##name(void)                   \
	{                                                                                          \
		shim_register(&shim_t_##suite##_##name);                                           \
	}                                                                                          \
	static void shim_fn_##suite##_##name(void)

#define SHIM_(fatal, cond, expr, ...)                                                              \
	shim_check((cond), (fatal), __FILE__, __LINE__, expr, " " __VA_ARGS__)

#define cr_assert(c, ...)          SHIM_(1, !!(c), #c, __VA_ARGS__)
#define cr_assert_not(c, ...)      SHIM_(1, !(c), "!" #c, __VA_ARGS__)
#define cr_assert_eq(a, b, ...)    SHIM_(1, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...)   SHIM_(1, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...)    SHIM_(1, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...)   SHIM_(1, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...)    SHIM_(1, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...)   SHIM_(1, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(a, ...)     SHIM_(1, (a) == NULL, #a " == NULL", __VA_ARGS__)
#define cr_assert_not_null(a, ...) SHIM_(1, (a) != NULL, #a " != NULL", __VA_ARGS__)
/* Through a function, so that arrays as arguments do not trip -Waddress. */
static inline bool shim_str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static inline bool shim_str_neq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) != 0;
}

#define cr_assert_str_eq(a, b, ...)  SHIM_(1, shim_str_eq((a), (b)), #a " eq " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) SHIM_(1, shim_str_neq((a), (b)), #a " neq " #b, __VA_ARGS__)
#define cr_expect_eq(a, b, ...)      SHIM_(0, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect(c, ...)            SHIM_(0, !!(c), #c, __VA_ARGS__)

#endif
#endif
