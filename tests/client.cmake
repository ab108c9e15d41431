# Client library tests (issue 3). Unit tests link the static library and
# drive it through its test seams (fake clock, fake transport).
set(MTK_CLIENT_FAKE unit/test_client_fake.c)

foreach(t options abi cache retry malformed)
	mtk_add_test(test_client_${t}
		SOURCES unit/test_client_${t}.c ${MTK_CLIENT_FAKE}
		LIBS metatoken_static)
endforeach()
# The retry tests also call the Retry-After parser, an internal function.
target_include_directories(test_client_retry PRIVATE ${PROJECT_SOURCE_DIR}/client)

mtk_add_test(test_client_concurrency
	SOURCES unit/test_client_concurrency.c ${MTK_CLIENT_FAKE}
	LIBS metatoken_static
	LABELS concurrency)

if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_context.c)
	mtk_add_test(test_context
		SOURCES unit/test_context.c ${MTK_CLIENT_FAKE}
		LIBS metatoken_static PkgConfig::CJSON)
endif()

# Integration: the real metatokend (a process on an ephemeral port), and its
# HTTP stack in-process on a clock shared with the client.
mtk_add_test(test_client_daemon
	SOURCES integration/test_client_daemon.c
	LIBS metatoken_static mtk_test_support PkgConfig::CJSON)
target_compile_definitions(test_client_daemon PRIVATE
	METATOKEN_CLI_PATH="$<TARGET_FILE:metatoken_cli>")
add_dependencies(test_client_daemon metatoken_cli)
mtk_add_test(test_client_reissue
	SOURCES integration/test_client_reissue.c
	LIBS metatoken_static mtk_test_inproc mtk_test_support)

# Packaging: install, build examples/ through pkg-config, run it.
add_test(NAME test_client_install
	COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_client_install.sh
		${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} $<TARGET_FILE:metatokend>
		"${METATOKEN_SANITIZE}")
mtk_add_test(test_client_transport
	SOURCES integration/test_client_transport.c
	LIBS metatoken_static Threads::Threads)

# The runtime client (issue 11): the Runtime API loop through its transport
# seam, and metatoken-bootstrap against a loopback Runtime API fixture.
foreach(t runtime runtime_loop)
	mtk_add_test(test_${t}
		SOURCES unit/test_${t}.c unit/test_runtime_fake.c ${MTK_CLIENT_FAKE}
		LIBS metatoken_static PkgConfig::CJSON)
endforeach()
mtk_add_test(test_bootstrap
	SOURCES integration/test_bootstrap.c
	LIBS PkgConfig::CJSON Threads::Threads)
target_compile_definitions(test_bootstrap PRIVATE
	METATOKEN_BOOTSTRAP_PATH="$<TARGET_FILE:metatoken_bootstrap>"
	EXAMPLES_DIR="${PROJECT_BINARY_DIR}/examples")
add_dependencies(test_bootstrap metatoken_bootstrap metatoken_example_hello metatoken_example_error)
# The loop's own HTTP transport (client/runtime_http.c, an internal
# interface) against a scripted loopback server.
mtk_add_test(test_runtime_http
	SOURCES integration/test_runtime_http.c
	LIBS metatoken_static Threads::Threads)
target_include_directories(test_runtime_http PRIVATE ${PROJECT_SOURCE_DIR}/client)


# libcurl is loaded on first use: a program linking libmetatoken.so (and not
# libcurl) has none mapped until its first real client; threads creating the
# first clients at once share one load; without a usable libcurl,
# mtk_client_new() fails clearly (the loader's seam, in the static library).
mtk_add_test(test_client_libcurl_lazy
	SOURCES integration/test_client_libcurl_lazy.c
	LIBS metatoken_shared Threads::Threads)
mtk_add_test(test_client_libcurl_threads
	SOURCES integration/test_client_libcurl_threads.c
	LIBS metatoken_static Threads::Threads
	LABELS concurrency)
mtk_add_test(test_client_libcurl_missing
	SOURCES unit/test_client_libcurl_missing.c
	LIBS metatoken_static)
target_include_directories(test_client_libcurl_missing PRIVATE
	${PROJECT_SOURCE_DIR}/client
	$<TARGET_PROPERTY:PkgConfig::CURL,INTERFACE_INCLUDE_DIRECTORIES>)

# ABI: the shared library exports exactly client/exports.txt.
add_test(NAME test_client_exports
	COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_client_exports.sh
		$<TARGET_FILE:metatoken_shared> ${PROJECT_SOURCE_DIR}/client/exports.txt
		"${METATOKEN_SANITIZE}")

# The CLI: --server for every command (--endpoint kept for token and
# invoke), one help per command, admin's server from the metadata
# variables, and no guessed AWS flavour in `metatoken token`.
find_program(MTK_PYTHON3 python3)
if(MTK_PYTHON3)
	add_test(NAME test_cli_server
		COMMAND ${MTK_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_server.py
			$<TARGET_FILE:metatoken_cli>)
endif()

# The IAM exchange source (issue 13): the fetcher through the public API on
# the fake clock and transport, and the JWT codec and key-file reader of
# common/ it signs with; keys are generated at test time.
mtk_add_test(test_client_iam
	SOURCES unit/test_client_iam.c unit/test_iam_key.c ${MTK_CLIENT_FAKE}
	LIBS metatoken_static PkgConfig::CJSON PkgConfig::OPENSSL)
mtk_add_test(test_jwt
	SOURCES unit/test_jwt.c unit/test_iam_key.c
	LIBS metatoken_static PkgConfig::CJSON PkgConfig::OPENSSL)
foreach(t test_client_iam test_jwt)
	target_include_directories(${t} PRIVATE
		${PROJECT_SOURCE_DIR}/client ${PROJECT_SOURCE_DIR}/common)
endforeach()
# `metatoken token --key-file` over HTTPS against a stand-in IAM endpoint
# in Debian's python3 (PyJWT verifies the client's JWT), with a CA and
# certificate generated by the test.
find_program(MTK_DEBIAN_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(MTK_DEBIAN_PYTHON3)
	add_test(NAME test_cli_iam
		COMMAND ${MTK_DEBIAN_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_iam.py
			$<TARGET_FILE:metatoken_cli>)
endif()
