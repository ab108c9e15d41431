# The fuzz targets and what each links, shared by the corpus replay tests
# (tests/fuzz.cmake, every build) and the libFuzzer build
# (tests/fuzz/CMakeLists.txt, METATOKEN_FUZZ=ON). One per parser of
# untrusted input; tests/fuzz/corpus/<name>/ is its seed corpus.
set(MTK_FUZZ_TARGETS tokens config faults json token_doc context aws_creds aws_role endpoint http route
	rt_response retry_after sigv4 http_proxy)
# The client's IAM exchange answer (client/fetch_iam.c).
list(APPEND MTK_FUZZ_TARGETS iam_response)

# mtk_fuzz_link(TARGET NAME): links TARGET with what fuzz_NAME.c tests.
function(mtk_fuzz_link target name)
	target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_FUNCTION_LIST_DIR})
	target_link_libraries(${target} PRIVATE mtk_warnings)
	if(name MATCHES "^(tokens|config|faults|json|http|route|sigv4|http_proxy)$")
		target_link_libraries(${target} PRIVATE metatokend_core)
	else()
		# token_doc tests an internal (mtk__) function: the static library
		# has it, and client/private/internal.h declares it.
		target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/client)
		target_link_libraries(${target} PRIVATE metatoken_static PkgConfig::CJSON)
	endif()
endfunction()
