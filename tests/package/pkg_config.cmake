# SPDX-License-Identifier: MIT
# Compiles, links and runs the consumer program with the flags of the installed pgrestify.pc only.
#   cmake -DPREFIX=<dir> -DLIBDIR=<lib> -DCXX=<compiler> -DSOURCE=<main.cpp> -DOUTPUT=<program>
#         [-DEXTRA_FLAGS=<flag>|<flag>] -P pkg_config.cmake
cmake_minimum_required(VERSION 3.21)
find_program(PKG_CONFIG NAMES pkg-config pkgconf REQUIRED)
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")
string(REPLACE "|" ";" extra "${EXTRA_FLAGS}")

function(pkg out)
  execute_process(COMMAND ${PKG_CONFIG} ${ARGN} pgrestify RESULT_VARIABLE rc OUTPUT_VARIABLE text
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config ${ARGN} pgrestify failed (${rc})")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

pkg(version --modversion)
pkg(cflags --cflags)
pkg(libs --libs)
message(STATUS "pgrestify ${version}: cflags '${cflags}' libs '${libs}'")
separate_arguments(cflags UNIX_COMMAND "${cflags}")
separate_arguments(libs UNIX_COMMAND "${libs}")
# The .pc file is relocatable (prefix=${pcfiledir}/...): its include path must be this prefix's.
file(REAL_PATH "${PREFIX}/include" want)
set(found FALSE)
foreach(flag IN LISTS cflags)
  if(flag MATCHES "^-I(.+)$")
    file(REAL_PATH "${CMAKE_MATCH_1}" dir)
    if(dir STREQUAL want)
      set(found TRUE)
    endif()
  endif()
endforeach()
if(NOT found)
  message(FATAL_ERROR "pgrestify.pc does not point to ${want}")
endif()

execute_process(COMMAND "${CXX}" -std=c++20 -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers
                        ${extra} ${cflags} "${SOURCE}" -o "${OUTPUT}" ${libs}
                RESULT_VARIABLE rc COMMAND_ECHO STDOUT)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling with the pkg-config flags failed (${rc})")
endif()
# A shared libpgrestify.so is found through LD_LIBRARY_PATH (the .pc file sets no rpath).
set(ENV{LD_LIBRARY_PATH} "${PREFIX}/${LIBDIR}:$ENV{LD_LIBRARY_PATH}")
execute_process(COMMAND "${OUTPUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${OUTPUT} failed (${rc})")
endif()
