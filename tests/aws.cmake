# The AWS IMDS flavour (issue 5): wire tests against the real metatokend,
# and a real SDK, python3-botocore from Debian, through its default
# credential chain in IMDSv1+v2 and v2-only modes.
mtk_add_test(test_aws SOURCES integration/test_aws.c LIBS mtk_test_support PkgConfig::CJSON)

find_program(DEBIAN_PYTHON3_AWS python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(DEBIAN_PYTHON3_AWS)
	add_test(NAME sdk_botocore
		COMMAND ${DEBIAN_PYTHON3_AWS} -W ignore::ResourceWarning
			${CMAKE_CURRENT_SOURCE_DIR}/sdk/test_botocore.py $<TARGET_FILE:metatokend>)
	# Its `lambda` client against the Invoke API (issue 11), with a stdlib
	# runtime attached to the root Runtime API.
	add_test(NAME sdk_botocore_lambda
		COMMAND ${DEBIAN_PYTHON3_AWS} -W ignore::ResourceWarning
			${CMAKE_CURRENT_SOURCE_DIR}/sdk/test_botocore_lambda.py $<TARGET_FILE:metatokend>)
	# Its `sts` client against the STS stand-in (issue 14, item 4): signed
	# calls before and after the credentials expire on the server clock.
	add_test(NAME sdk_botocore_sts
		COMMAND ${DEBIAN_PYTHON3_AWS} -W ignore::ResourceWarning
			${CMAKE_CURRENT_SOURCE_DIR}/sdk/test_botocore_sts.py $<TARGET_FILE:metatokend>)
endif()

# libmetatoken's AWS flavour: on the fake clock and transport, and against
# the real metatokend.
mtk_add_test(test_client_aws
	SOURCES unit/test_client_aws.c unit/test_client_fake.c
	LIBS metatoken_static)
mtk_add_test(test_client_aws_daemon
	SOURCES integration/test_client_aws.c
	LIBS metatoken_static mtk_test_support)

# STS (issue 14, item 4): SigV4 against AWS's published examples, the
# credentials' derivation, and GetCallerIdentity on the wire.
mtk_add_test(test_sigv4 SOURCES unit/test_sigv4.c LIBS metatokend_core)
mtk_add_test(test_awscreds SOURCES unit/test_awscreds.c LIBS metatokend_core)
mtk_add_test(test_sts SOURCES integration/test_sts.c
	LIBS mtk_test_support metatokend_core PkgConfig::CJSON)
