# Server tests (issue 2).
# Unit tests link metatokend_core directly; integration tests start the real
# metatokend (test_gce, test_daemon) or run its HTTP stack in-process with an
# injected clock (test_reissue).
mtk_add_test(test_tokens SOURCES unit/test_tokens.c LIBS metatokend_core)
mtk_add_test(test_slot SOURCES unit/test_slot.c LIBS metatokend_core LABELS concurrency)
mtk_add_test(test_gce_token SOURCES unit/test_gce_token.c LIBS metatokend_core)
mtk_add_test(test_config SOURCES unit/test_config.c LIBS metatokend_core)
mtk_add_test(test_config_functions SOURCES unit/test_config_functions.c LIBS metatokend_core)
mtk_add_test(test_config_sections SOURCES unit/test_config_sections.c LIBS metatokend_core)
mtk_add_test(test_config_tls SOURCES unit/test_config_tls.c LIBS metatokend_core)
mtk_add_test(test_tls SOURCES unit/test_tls.c LIBS metatokend_core)
mtk_add_test(test_json SOURCES unit/test_json.c LIBS metatokend_core)
mtk_add_test(test_faults SOURCES unit/test_faults.c LIBS metatokend_core)
mtk_add_test(test_timefmt SOURCES unit/test_timefmt.c LIBS metatokend_core)
mtk_add_test(test_secret SOURCES unit/test_secret.c LIBS metatokend_core)
mtk_add_test(test_grow SOURCES unit/test_grow.c LIBS metatokend_core)
mtk_add_test(test_metrics SOURCES unit/test_metrics.c LIBS metatokend_core)
mtk_add_test(test_stats SOURCES unit/test_stats.c LIBS metatokend_core PkgConfig::CJSON
	LABELS concurrency)

mtk_add_test(test_gce SOURCES integration/test_gce.c LIBS mtk_test_support PkgConfig::CJSON)
mtk_add_test(test_daemon SOURCES integration/test_daemon.c LIBS mtk_test_support)
# A hostile local client (issue 10), in-process on fake clocks.
mtk_add_test(test_hardening SOURCES integration/test_hardening.c
	LIBS mtk_test_inproc mtk_test_support LABELS concurrency)
# Held requests and the drain on the wait clock.
mtk_add_test(test_waits SOURCES integration/test_waits.c
	LIBS mtk_test_inproc mtk_test_support LABELS concurrency)
# Metadata that changes, and the identity document (issue 14).
mtk_add_test(test_meta SOURCES integration/test_meta.c
	LIBS mtk_test_inproc mtk_test_support PkgConfig::CJSON LABELS concurrency)
mtk_add_test(test_reissue SOURCES integration/test_reissue.c
	LIBS mtk_test_inproc mtk_test_support PkgConfig::CJSON LABELS concurrency)

# A real SDK: python3-google-auth from Debian obtains a token from a running
# metatokend, through GCE_METADATA_ROOT and GCE_METADATA_IP (PROTOCOL.md §5).
find_program(DEBIAN_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(DEBIAN_PYTHON3)
	add_test(NAME sdk_google_auth
		COMMAND ${DEBIAN_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/sdk/test_google_auth.py
			$<TARGET_FILE:metatokend>)
endif()

# The control API and validation stand-ins (issue 4).
mtk_add_test(test_control SOURCES integration/test_control.c
	LIBS mtk_test_support PkgConfig::CJSON)
# The scenarios of issue 4: the real client library against the real server.
mtk_add_test(test_scenarios SOURCES integration/test_scenarios.c
	LIBS metatoken_static mtk_test_support PkgConfig::CJSON)
# Metadata that changes, from the shell: metatoken admin and curl.
add_test(NAME test_admin_meta
	COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_admin_meta.sh
		$<TARGET_FILE:metatokend> $<TARGET_FILE:metatoken_cli>)
# The README's scenario commands, run with the CLI and curl.
add_test(NAME test_readme
	COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_readme.sh
		$<TARGET_FILE:metatokend> $<TARGET_FILE:metatoken_cli>)

# Functions (issue 11): the Runtime and Invoke APIs in-process, the test as
# the runtime.
mtk_add_test(test_functions SOURCES integration/test_functions.c
	LIBS mtk_test_inproc mtk_test_support PkgConfig::CJSON LABELS concurrency)
# HTTP calls into a function, Yandex style (issue 12): in-process, the test
# as the runtime.
mtk_add_test(test_http_invoke SOURCES integration/test_http_invoke.c
	LIBS mtk_test_inproc mtk_test_support PkgConfig::CJSON LABELS concurrency)
# Runtimes metatokend starts and supervises: a command runtime in sh.
# The C runtime: metatoken-bootstrap (found next to the test binary's
# ../client/) and the examples' handler.
mtk_add_test(test_runtimes SOURCES integration/test_runtimes.c
	LIBS mtk_test_inproc mtk_test_support PkgConfig::CJSON LABELS concurrency)
target_compile_definitions(test_runtimes PRIVATE
	MTK_EXAMPLES_DIR="$<TARGET_FILE_DIR:metatoken_example_hello>")
add_dependencies(test_runtimes metatoken_bootstrap metatoken_example_hello)
# Metrics, health and readiness (issue 14): in-process, the real daemon.
mtk_add_test(test_ops SOURCES integration/test_ops.c
	LIBS mtk_test_inproc mtk_test_support PkgConfig::CJSON)

# test_reload: SIGHUP re-reads the configuration, on the real daemon
# (standard library only).
find_program(MTK_PYTHON3_RELOAD python3)
if(MTK_PYTHON3_RELOAD)
	add_test(NAME test_reload
		COMMAND ${MTK_PYTHON3_RELOAD} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_reload.py
			$<TARGET_FILE:metatokend>)
endif()

# Upstream mode (issue 13 item 4): the configuration's forms, the command
# source's fetcher; chaining and the command source on real daemons.
mtk_add_test(test_client_with_fetcher SOURCES unit/test_client_with_fetcher.c
	LIBS metatokend_core)
mtk_add_test(test_upstream_config SOURCES unit/test_upstream_config.c LIBS metatokend_core)
mtk_add_test(test_upstream_command SOURCES unit/test_upstream_command.c LIBS metatokend_core
	PkgConfig::CJSON)
if(DEBIAN_PYTHON3)
	add_test(NAME test_upstream
		COMMAND ${DEBIAN_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_upstream.py
			$<TARGET_FILE:metatokend>)
endif()
