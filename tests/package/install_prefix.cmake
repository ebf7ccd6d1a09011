# SPDX-License-Identifier: MIT
# Installs a build tree into an empty prefix (the fixture of the installed-package tests).
#   cmake -DBUILD_DIR=<build> -DPREFIX=<dir> [-DCONFIG=<config>] -P install_prefix.cmake
cmake_minimum_required(VERSION 3.21)
file(REMOVE_RECURSE "${PREFIX}")
set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
