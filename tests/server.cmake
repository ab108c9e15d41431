# Server tests (issue 2). Unit tests link metatokend_core directly.
foreach(t tokens config)
	if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_${t}.c)
		mtk_add_test(test_${t} SOURCES unit/test_${t}.c LIBS metatokend_core)
	endif()
endforeach()
