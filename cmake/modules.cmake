# ds_module(NAME DIR DEPS...): a static library from every .cpp in DIR (non-recursive).
# A folder with no .cpp yet becomes an INTERFACE library so dependants still link.
function(ds_module name dir)
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*.cpp)
  if(srcs)
    add_library(${name} STATIC ${srcs})
    target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
    target_link_libraries(${name} PUBLIC ${ARGN})
  else()
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${CMAKE_SOURCE_DIR}/src)
    target_link_libraries(${name} INTERFACE ${ARGN})
  endif()
endfunction()

# ds_test(NAME LIBS...): one GoogleTest executable from tests/unit/NAME/*.cpp, registered with CTest.
function(ds_test name)
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/${name}/*.cpp)
  if(NOT srcs)
    return()
  endif()
  add_executable(test_${name} ${srcs})
  target_link_libraries(test_${name} PRIVATE ${ARGN} GTest::gtest GTest::gtest_main)
  target_compile_definitions(test_${name} PRIVATE
    DS_SOURCE_DIR="${CMAKE_SOURCE_DIR}" DS_SHARED_DIR="${CMAKE_SOURCE_DIR}/../shared"
    DS_BINARY_DIR="${CMAKE_BINARY_DIR}")
  add_test(NAME ${name} COMMAND test_${name})
  set_tests_properties(${name} PROPERTIES LABELS "cpu" TIMEOUT 900)
endfunction()
