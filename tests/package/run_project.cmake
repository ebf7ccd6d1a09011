# SPDX-License-Identifier: MIT
# Configures, builds and (optionally) runs a separate CMake project from scratch, as a ctest test.
#   cmake -DSOURCE_DIR=<project> -DBINARY_DIR=<dir> -DGENERATOR=<generator>
#         [-DCONFIGURE_ARGS=<arg>|<arg>...] [-DRUN=<program relative to BINARY_DIR>]
#         -P run_project.cmake
# CONFIGURE_ARGS is separated by "|" because add_test() splits arguments at ";".
cmake_minimum_required(VERSION 3.21)
foreach(var SOURCE_DIR BINARY_DIR GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_project.cmake: ${var} is not set")
  endif()
endforeach()
string(REPLACE "|" ";" args "${CONFIGURE_ARGS}")

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc COMMAND_ECHO STDOUT)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc})")
  endif()
endfunction()

file(REMOVE_RECURSE "${BINARY_DIR}")
run("configure" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${BINARY_DIR}" -G "${GENERATOR}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF ${args})
run("build" ${CMAKE_COMMAND} --build "${BINARY_DIR}" --parallel 2)
if(RUN)
  run("running ${RUN}" "${BINARY_DIR}/${RUN}")
endif()
