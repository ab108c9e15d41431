# The Python runtime (issue 12), with Debian's /usr/bin/python3 (its
# python3-google-auth and python3-requests are what the functions use).
# test_python_runtime: the runtime against a fake Runtime API in the test.
# test_python_functions: python functions in the real metatokend, the
# issue's user stories and bad input, end to end.
# test_python_http: user story 3 (a Python function over HTTP with curl)
# and reload on change, on the real metatokend --reload.
# test_readme_python: the README's "Run a function locally" Python path,
# its commands run as written.
find_program(DEBIAN_PYTHON3_RT python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(DEBIAN_PYTHON3_RT)
	add_test(NAME test_python_runtime
		COMMAND ${DEBIAN_PYTHON3_RT} ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_python_runtime.py
			${PROJECT_BINARY_DIR}/python/metatoken-python-runtime ${PROJECT_SOURCE_DIR}/python)
	add_test(NAME test_python_functions
		COMMAND ${DEBIAN_PYTHON3_RT}
			${CMAKE_CURRENT_SOURCE_DIR}/integration/test_python_functions.py
			$<TARGET_FILE:metatokend> $<TARGET_FILE:metatoken_cli>)
	add_test(NAME test_readme_python
		COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_readme_python.sh
			$<TARGET_FILE:metatokend> $<TARGET_FILE:metatoken_cli>)
	add_test(NAME test_python_http
		COMMAND ${DEBIAN_PYTHON3_RT} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_python_http.py
			$<TARGET_FILE:metatokend>)
	# test_https: the HTTPS listener with certificates from scripts/gen-certs,
	# checked by curl and requests (python3-requests), and its refusals.
	add_test(NAME test_https
		COMMAND ${DEBIAN_PYTHON3_RT} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_https.py
			$<TARGET_FILE:metatokend> ${PROJECT_SOURCE_DIR}/scripts/gen-certs)
endif()
