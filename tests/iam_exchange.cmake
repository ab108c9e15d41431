# The Yandex IAM exchange in metatokend and authorized keys (issue 13,
# items 1 and 2): in-process on fake clocks, the configuration's keys, the
# CLI against the real daemon, and PyJWT as Yandex's documentation uses it.
mtk_add_test(test_iam SOURCES integration/test_iam.c
	LIBS mtk_test_inproc mtk_test_support PkgConfig::CJSON LABELS concurrency)
mtk_add_test(test_config_authkeys SOURCES unit/test_config_authkeys.c LIBS metatokend_core)
mtk_add_test(test_iam_cli SOURCES integration/test_iam_cli.c
	LIBS metatoken_static mtk_test_support PkgConfig::CJSON)
target_include_directories(test_iam_cli PRIVATE ${PROJECT_SOURCE_DIR}/common)
target_compile_definitions(test_iam_cli PRIVATE
	METATOKEN_CLI_PATH="$<TARGET_FILE:metatoken_cli>")
add_dependencies(test_iam_cli metatoken_cli)
find_program(DEBIAN_PYTHON3_IAM python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(DEBIAN_PYTHON3_IAM)
	add_test(NAME sdk_yandex_iam_pyjwt
		COMMAND ${DEBIAN_PYTHON3_IAM} ${CMAKE_CURRENT_SOURCE_DIR}/sdk/test_yandex_iam_pyjwt.py
			$<TARGET_FILE:metatokend> $<TARGET_FILE:metatoken_cli>)
endif()
# Issue 13 end to end over HTTPS: a key from the control API exchanged by
# libmetatoken at metatokend's TLS listener, then chained through a second
# metatokend's key_file upstream while the first fails, stalls, recovers.
find_program(MTK_PYTHON3_IAM_HTTPS python3)
if(MTK_PYTHON3_IAM_HTTPS)
	add_test(NAME test_iam_https
		COMMAND ${MTK_PYTHON3_IAM_HTTPS}
			${CMAKE_CURRENT_SOURCE_DIR}/integration/test_iam_https.py
			$<TARGET_FILE:metatokend> $<TARGET_FILE:metatoken_cli>
			${PROJECT_SOURCE_DIR}/scripts/gen-certs)
endif()
