# SPDX-License-Identifier: MIT
# The Debian packages of cmake/package.cmake, checked without installing them (an apt-get install
# would change the machine the tests run on):
#   1. a separate small build tree of the checkout (tools ON; tests, examples, benchmarks OFF;
#      -DCMAKE_INSTALL_PREFIX=/usr as a distribution build) and `cpack -G DEB` in it;
#   2. exactly pgrestify-dev_<version>-1_<arch>.deb and pgrestify-cli_<version>-1_<arch>.deb, whose
#      `dpkg-deb --info` fields (Package, Version, Depends) and `dpkg-deb --contents` file lists are
#      what the README promises;
#   3. both extracted with `dpkg-deb -x` into one temporary root: tests/package/consumer builds and
#      runs with only -DCMAKE_PREFIX_PATH=<root>/usr (and finds pgrestify there), the consumer
#      builds and runs with the flags of <root>'s pgrestify.pc (pkg_config.cmake), and the
#      extracted <root>/usr/bin/pgrestify --version prints the project's version.
#   cmake -DSOURCE_DIR=<repo> -DWORK_DIR=<dir> -DGENERATOR=<generator> -DCXX=<compiler>
#         -DPROJECT_VERSION=<x.y.z> [-DLAUNCHER=<ccache>] -P deb_packages.cmake
cmake_minimum_required(VERSION 3.21)
set(pkg_dir "${CMAKE_CURRENT_LIST_DIR}")
set(build "${WORK_DIR}/build")
set(root "${WORK_DIR}/root")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
find_program(DPKG_DEB dpkg-deb REQUIRED)
if(CMAKE_CPACK_COMMAND)
  set(cpack "${CMAKE_CPACK_COMMAND}")
else()
  get_filename_component(cmake_bin "${CMAKE_COMMAND}" DIRECTORY)
  set(cpack "${cmake_bin}/cpack")
endif()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc COMMAND_ECHO STDOUT)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc})")
  endif()
endfunction()
function(output out what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE text
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${text}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# 1. Build and package. No optimisation keeps the test quick (a release build is the user's
#    CMAKE_BUILD_TYPE=Release).
set(launcher_arg "")
if(LAUNCHER)
  set(launcher_arg "-DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER}")
endif()
run("configure" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${build}" -G "${GENERATOR}"
    -DCMAKE_CXX_COMPILER=${CXX} ${launcher_arg} -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-DNDEBUG"
    -DCMAKE_INSTALL_PREFIX=/usr -DPGRESTIFY_BUILD_TESTS=OFF -DPGRESTIFY_BUILD_EXAMPLES=OFF
    -DPGRESTIFY_BUILD_BENCH=OFF -DPGRESTIFY_BUILD_TOOLS=ON -DPGRESTIFY_INSTALL=ON
    -DPGRESTIFY_WERROR=OFF -DPGRESTIFY_SANITIZE=OFF)
run("build" ${CMAKE_COMMAND} --build "${build}" --parallel 2)
execute_process(COMMAND "${cpack}" -G DEB WORKING_DIRECTORY "${build}" RESULT_VARIABLE rc COMMAND_ECHO STDOUT)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cpack -G DEB failed (${rc})")
endif()

# 2. The two packages, their control fields and their files.
file(GLOB debs "${build}/packages/*.deb")
set(errors)
list(LENGTH debs count)
if(NOT count EQUAL 2)
  message(FATAL_ERROR "cpack -G DEB made ${count} packages, not pgrestify-dev and pgrestify-cli: ${debs}")
endif()
function(deb_of name out)
  file(GLOB found "${build}/packages/${name}_${PROJECT_VERSION}-1_*.deb")
  if(NOT found)
    message(FATAL_ERROR "no ${name}_${PROJECT_VERSION}-1_<arch>.deb in ${build}/packages")
  endif()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()
deb_of(pgrestify-dev dev_deb)
deb_of(pgrestify-cli cli_deb)

# Depends must name each package (with or without a version), e.g. "libcurl4 (>= 7.66.0)".
function(check_deb deb package depends_list)
  output(info "dpkg-deb --info ${deb}" ${DPKG_DEB} --info "${deb}")
  message(STATUS "dpkg-deb --info ${deb}:\n${info}")
  output(field_package "dpkg-deb --field" ${DPKG_DEB} --field "${deb}" Package)
  output(field_version "dpkg-deb --field" ${DPKG_DEB} --field "${deb}" Version)
  output(field_depends "dpkg-deb --field" ${DPKG_DEB} --field "${deb}" Depends)
  set(errs)
  if(NOT field_package STREQUAL package)
    list(APPEND errs "${deb}: Package '${field_package}', not ${package}")
  endif()
  if(NOT field_version STREQUAL "${PROJECT_VERSION}-1")
    list(APPEND errs "${deb}: Version '${field_version}', not ${PROJECT_VERSION}-1")
  endif()
  foreach(dep IN LISTS depends_list)
    string(REPLACE "+" "\\+" dep_re "${dep}")
    if(NOT ", ${field_depends}," MATCHES ", ${dep_re}( \\([^)]*\\))?,")
      list(APPEND errs "${package}: Depends '${field_depends}' does not name ${dep}")
    endif()
  endforeach()
  set(errors ${errors} ${errs} PARENT_SCOPE)
endfunction()
check_deb("${dev_deb}" pgrestify-dev "libcurl4-openssl-dev;nlohmann-json3-dev;libfmt-dev")
check_deb("${cli_deb}" pgrestify-cli "libcurl4;libfmt9;libcsv3")

# File lists: "./usr/..." paths, directories end in "/".
function(deb_files deb out)
  output(contents "dpkg-deb --contents ${deb}" ${DPKG_DEB} --contents "${deb}")
  message(STATUS "dpkg-deb --contents ${deb}:\n${contents}")
  string(REPLACE "\n" ";" lines "${contents}")
  set(files)
  foreach(line IN LISTS lines)
    if(line MATCHES " \\./(.*[^/])$")
      list(APPEND files "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  set(${out} "${files}" PARENT_SCOPE)
endfunction()
deb_files("${dev_deb}" dev_files)
deb_files("${cli_deb}" cli_files)
set(libdir "")
foreach(file IN LISTS dev_files)
  if(file MATCHES "^usr/(lib(/[^/]+)?)/libpgrestify\\.a$")
    set(libdir "${CMAKE_MATCH_1}")
  endif()
endforeach()
if(NOT libdir)
  list(APPEND errors "pgrestify-dev has no usr/<libdir>/libpgrestify.a")
endif()
foreach(file
    usr/include/pgrestify/pgrestify.hpp
    usr/include/pgrestify/version.hpp
    usr/${libdir}/cmake/pgrestify/pgrestifyConfig.cmake
    usr/${libdir}/cmake/pgrestify/pgrestifyConfigVersion.cmake
    usr/${libdir}/cmake/pgrestify/pgrestifyTargets.cmake
    usr/${libdir}/cmake/pgrestify/pgrestifyTargets-release.cmake
    usr/${libdir}/pkgconfig/pgrestify.pc
    usr/share/doc/pgrestify-dev/copyright)
  if(NOT file IN_LIST dev_files)
    list(APPEND errors "pgrestify-dev does not have ${file}")
  endif()
endforeach()
foreach(file IN LISTS dev_files)
  if(NOT file MATCHES "^usr/(include/pgrestify|${libdir}|share/doc)/")
    list(APPEND errors "pgrestify-dev has ${file} (only headers, LIBDIR and share/doc belong there)")
  endif()
endforeach()
set(want_cli usr/bin/pgrestify usr/share/doc/pgrestify-cli/copyright)
if(NOT cli_files STREQUAL want_cli)
  list(APPEND errors "pgrestify-cli has '${cli_files}', not '${want_cli}'")
endif()
if(errors)
  string(REPLACE ";" "\n  " errors "${errors}")
  message(FATAL_ERROR "Debian packages:\n  ${errors}")
endif()

# 3. Extract both into one root and use them from there.
run("dpkg-deb -x pgrestify-dev" ${DPKG_DEB} -x "${dev_deb}" "${root}")
run("dpkg-deb -x pgrestify-cli" ${DPKG_DEB} -x "${cli_deb}" "${root}")

set(consumer "${WORK_DIR}/find_package_consumer")
run("configure the find_package consumer" ${CMAKE_COMMAND} -S "${pkg_dir}/consumer" -B "${consumer}"
    -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "-DCMAKE_PREFIX_PATH=${root}/usr")
file(STRINGS "${consumer}/CMakeCache.txt" found_dir REGEX "^pgrestify_DIR:")
string(REGEX REPLACE "^[^=]*=" "" found_dir "${found_dir}")
file(REAL_PATH "${found_dir}" found_dir)
file(REAL_PATH "${root}/usr/${libdir}/cmake/pgrestify" want_dir)
if(NOT found_dir STREQUAL want_dir)
  message(FATAL_ERROR "the consumer found pgrestify in ${found_dir}, not in the extracted ${want_dir}")
endif()
run("build the find_package consumer" ${CMAKE_COMMAND} --build "${consumer}" --parallel 2)
run("run the find_package consumer" "${consumer}/consumer")

run("pkg-config consumer" ${CMAKE_COMMAND} "-DPREFIX=${root}/usr" "-DLIBDIR=${libdir}" "-DCXX=${CXX}"
    "-DSOURCE=${pkg_dir}/consumer/main.cpp" "-DOUTPUT=${WORK_DIR}/pkg_config_consumer"
    -P "${pkg_dir}/pkg_config.cmake")

output(version "pgrestify --version" "${root}/usr/bin/pgrestify" --version)
if(NOT version MATCHES "(^|[^0-9.])${PROJECT_VERSION}([^0-9.]|$)")
  message(FATAL_ERROR "the extracted pgrestify --version printed '${version}', not ${PROJECT_VERSION}")
endif()
message(STATUS "extracted pgrestify --version: ${version}")
message(STATUS "pgrestify-dev and pgrestify-cli ${PROJECT_VERSION}-1: fields, files, find_package, pkg-config and the CLI checked")
