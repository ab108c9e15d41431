/*
 * Shared by the fuzz targets and the corpus replay driver (driver.c).
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput. Built with
 * -fsanitize=fuzzer it is a libFuzzer binary (scripts/fuzz); built with
 * driver.c it replays a corpus directory, which is how every corpus runs in
 * the normal test suite.
 */
#ifndef METATOKEN_TESTS_FUZZ_H
#define METATOKEN_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * An invariant of the code under test. Unlike assert() it also holds in
 * release builds (NDEBUG), and it aborts, which both libFuzzer and the
 * replay driver report as a crash with the input that caused it.
 */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__,       \
			        #cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
