# `metatoken exec` (issue 12): the command's environment, exit status and
# signals, the private metatokend's life, against the real metatokend, with
# Debian's python3 and its google-auth and botocore as the command.
if(DEBIAN_PYTHON3)
	add_test(NAME test_cli_exec
		COMMAND ${DEBIAN_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_exec.py
			$<TARGET_FILE:metatoken_cli> $<TARGET_FILE:metatokend>)
endif()
