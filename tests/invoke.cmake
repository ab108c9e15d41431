# `metatoken invoke` (issue 11): against a fake Invoke API in python3 (the
# request it sends, each kind of answer, the one-shot form's child handling),
# and the one-shot form end to end on the real metatokend and
# metatoken-bootstrap with a C handler.
find_program(MTK_PYTHON3 python3)
if(MTK_PYTHON3)
	add_test(NAME test_cli_invoke
		COMMAND ${MTK_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_invoke.py
			$<TARGET_FILE:metatoken_cli>)

	add_library(invoke_fn MODULE integration/invoke_fn.c)
	set_target_properties(invoke_fn PROPERTIES PREFIX "")
	target_link_libraries(invoke_fn PRIVATE metatoken_shared mtk_warnings)
	add_test(NAME test_cli_invoke_local
		COMMAND ${MTK_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_invoke_local.py
			$<TARGET_FILE:metatoken_cli> $<TARGET_FILE:metatokend> $<TARGET_FILE:invoke_fn>)
endif()

# A real third-party runtime, unchanged, as a `command` function's runtime:
# @vercel/fun's nodejs runtime from npm, which scripts/lib.sh's
# mtk_install_npm installs (pinned) into METATOKEN_NPM_DIR.
set(METATOKEN_NPM_DIR "${PROJECT_SOURCE_DIR}/build/npm" CACHE PATH
	"where scripts/lib.sh's mtk_install_npm installs the npm packages tests run")
find_program(MTK_NODE node)
if(MTK_PYTHON3 AND MTK_NODE)
	add_test(NAME sdk_node_runtime
		COMMAND ${MTK_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/sdk/test_node_runtime.py
			$<TARGET_FILE:metatokend> ${METATOKEN_NPM_DIR})
endif()

# HTTP calls into a function with curl (issue 12), end to end: the real
# metatokend and metatoken-bootstrap, and a C handler (http_fn.c) that
# echoes Yandex's HTTP event or answers as the query asks.
if(DEBIAN_PYTHON3)
	add_library(http_fn MODULE integration/http_fn.c)
	set_target_properties(http_fn PROPERTIES PREFIX "")
	target_link_libraries(http_fn PRIVATE metatoken_shared PkgConfig::CJSON mtk_warnings)
	add_test(NAME test_http_invoke_curl
		COMMAND ${DEBIAN_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_http_invoke.py
			$<TARGET_FILE:metatokend> $<TARGET_FILE:http_fn>)
endif()
