# Fuzz corpora as regression tests: each fuzz target (tests/fuzz/) is also
# built with a plain main() (fuzz/driver.c) that replays its seed corpus, in
# every build and under every sanitizer scripts/test uses. The libFuzzer
# binaries themselves are optional: METATOKEN_FUZZ=ON, scripts/fuzz.
include(${CMAKE_CURRENT_SOURCE_DIR}/fuzz/targets.cmake)

foreach(name ${MTK_FUZZ_TARGETS})
	add_executable(fuzz_replay_${name}
		${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${name}.c
		${CMAKE_CURRENT_SOURCE_DIR}/fuzz/driver.c)
	mtk_fuzz_link(fuzz_replay_${name} ${name})
	add_test(NAME fuzz_${name}
		COMMAND fuzz_replay_${name} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${name})
	set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz)
endforeach()
