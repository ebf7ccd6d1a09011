# SPDX-License-Identifier: MIT
# What can be tested of the vcpkg ports without vcpkg (which cannot be downloaded here):
#   1. ports/pgrestify (overlay port, builds the checkout it sits in) and ports-release/pgrestify
#      (registry template, downloads a release) have the same vcpkg.json and usage, named after the
#      directory and with the project's version; both pass the same -D options to
#      vcpkg_cmake_configure(); the release template has vcpkg_from_github() with its REPO and
#      SHA512 placeholders marked, the overlay port downloads nothing;
#   2. ports/pgrestify/portfile.cmake itself runs, with stand-ins for the vcpkg functions it calls:
#      vcpkg_cmake_configure() must get SOURCE_PATH == this checkout and configures, builds and
#      installs it like vcpkg does (Release, static, lib/ and bin/, no package registry, no
#      downloads); a download function (vcpkg_from_github, ...) fails the test;
#   3. the resulting package directory has vcpkg's layout: share/pgrestify/ with the CMake package,
#      usage and copyright, the .pc file, headers, a static library, no bin/, no share/doc, and no
#      absolute path of the build or source directories in the installed text files.
# Not tested: vcpkg's own fixups (the stand-ins only move files), the debug configuration, the
# release template's download.
#   cmake -DSOURCE_DIR=<repo> -DWORK_DIR=<dir> -DGENERATOR=<generator> -DCXX=<compiler>
#         -DPROJECT_VERSION=<x.y.z> -P vcpkg_port.cmake
cmake_minimum_required(VERSION 3.21)
set(port_dir "${SOURCE_DIR}/ports/pgrestify")
set(release_dir "${SOURCE_DIR}/ports-release/pgrestify")

# 1. The port manifests.
file(READ "${port_dir}/vcpkg.json" manifest)
string(JSON port_name GET "${manifest}" name)
string(JSON port_version GET "${manifest}" version-semver)
string(JSON port_license GET "${manifest}" license)
if(NOT port_name STREQUAL "pgrestify")
  message(FATAL_ERROR "ports/pgrestify/vcpkg.json: name is '${port_name}'")
endif()
if(NOT port_version STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "ports/pgrestify/vcpkg.json: version ${port_version}, project version ${PROJECT_VERSION}")
endif()
if(NOT port_license STREQUAL "MIT")
  message(FATAL_ERROR "ports/pgrestify/vcpkg.json: license '${port_license}'")
endif()
foreach(file vcpkg.json usage portfile.cmake)
  foreach(dir "${port_dir}" "${release_dir}")
    if(NOT EXISTS "${dir}/${file}")
      message(FATAL_ERROR "${dir}/${file} is missing")
    endif()
  endforeach()
endforeach()
foreach(file vcpkg.json usage)
  file(READ "${release_dir}/${file}" other)
  file(READ "${port_dir}/${file}" mine)
  if(NOT mine STREQUAL other)
    message(FATAL_ERROR "ports/pgrestify/${file} and ports-release/pgrestify/${file} differ")
  endif()
endforeach()

# The options of vcpkg_cmake_configure(... OPTIONS ...) and the CONFIG_PATH of the fixup.
function(portfile_options file out_options out_text)
  file(READ "${file}" text)
  string(FIND "${text}" "vcpkg_cmake_configure(" at)
  if(at LESS 0)
    message(FATAL_ERROR "${file}: no vcpkg_cmake_configure()")
  endif()
  string(SUBSTRING "${text}" ${at} -1 call)
  string(FIND "${call}" ")" end)
  string(SUBSTRING "${call}" 0 ${end} call)
  string(REGEX MATCHALL "-D[A-Za-z0-9_]+(:[A-Z]+)?=[^ \t\r\n\"]*" options "${call}")
  set(${out_options} "${options}" PARENT_SCOPE)
  set(${out_text} "${text}" PARENT_SCOPE)
endfunction()
portfile_options("${port_dir}/portfile.cmake" options portfile)
portfile_options("${release_dir}/portfile.cmake" release_options release_portfile)
if(NOT options STREQUAL release_options)
  message(FATAL_ERROR "vcpkg_cmake_configure() options differ:\n  ports/pgrestify: ${options}\n"
                      "  ports-release/pgrestify: ${release_options}")
endif()
foreach(required PGRESTIFY_BUILD_TESTS=OFF PGRESTIFY_BUILD_EXAMPLES=OFF PGRESTIFY_BUILD_TOOLS=OFF
                 PGRESTIFY_BUILD_BENCH=OFF)
  if(NOT "-D${required}" IN_LIST options)
    message(FATAL_ERROR "portfile.cmake: vcpkg_cmake_configure() does not pass -D${required}")
  endif()
endforeach()
if(NOT portfile MATCHES "vcpkg_cmake_config_fixup\\(CONFIG_PATH ([^ )\n]+)\\)")
  message(FATAL_ERROR "portfile.cmake: no vcpkg_cmake_config_fixup(CONFIG_PATH ...)")
endif()
set(config_path "${CMAKE_MATCH_1}")
get_filename_component(package_name "${config_path}" NAME)
if(NOT package_name STREQUAL port_name)
  message(FATAL_ERROR "CONFIG_PATH ${config_path}: the fixup moves it to share/${port_name}, "
                      "but the CMake package is ${package_name} (set PACKAGE_NAME)")
endif()
# The release template: a download whose placeholders are visibly unfilled.
foreach(needle "vcpkg_from_github(" "REPO @PGRESTIFY_REPO@" "SHA512 @PGRESTIFY_SHA512@" "RELEASE TEMPLATE")
  string(FIND "${release_portfile}" "${needle}" hit)
  if(hit LESS 0)
    message(FATAL_ERROR "ports-release/pgrestify/portfile.cmake: no '${needle}'")
  endif()
endforeach()
message(STATUS "portfile options: ${options}; config path ${config_path}")

# 2. Run the overlay portfile with stand-ins for vcpkg's functions (vcpkg's variables as a
#    x64-linux build of the port would see them).
set(PORT "${port_name}")
set(VERSION "${port_version}")
set(TARGET_TRIPLET x64-linux)
set(VCPKG_TARGET_IS_WINDOWS OFF)
set(CURRENT_BUILDTREES_DIR "${WORK_DIR}/buildtrees")
set(CURRENT_PACKAGES_DIR "${WORK_DIR}/packages")
set(build "${CURRENT_BUILDTREES_DIR}/${TARGET_TRIPLET}-rel")
set(packages "${CURRENT_PACKAGES_DIR}")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc COMMAND_ECHO STDOUT)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc})")
  endif()
endfunction()

foreach(download vcpkg_from_github vcpkg_from_gitlab vcpkg_from_git vcpkg_from_bitbucket
                 vcpkg_download_distfile vcpkg_extract_source_archive)
  cmake_language(EVAL CODE "
    function(${download})
      message(FATAL_ERROR \"ports/pgrestify/portfile.cmake calls ${download}(\${ARGV}): \"
                          \"the overlay port must build the checkout it sits in, not download\")
    endfunction()")
endforeach()
function(vcpkg_check_linkage)
endfunction()
function(vcpkg_copy_pdbs)
endfunction()
function(vcpkg_cmake_configure)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "SOURCE_PATH" "OPTIONS")
  file(REAL_PATH "${arg_SOURCE_PATH}" got)
  file(REAL_PATH "${SOURCE_DIR}" want)
  if(NOT got STREQUAL want)
    message(FATAL_ERROR "vcpkg_cmake_configure(SOURCE_PATH ${arg_SOURCE_PATH}): not the checkout ${want}")
  endif()
  set_property(GLOBAL PROPERTY port_source_path "${got}")
  # CMAKE_CXX_FLAGS_RELEASE: no optimisation, to keep the test fast (flags are the triplet's
  # business, not the port's).
  run("configure" ${CMAKE_COMMAND} -S "${arg_SOURCE_PATH}" -B "${build}" -G "${GENERATOR}"
      -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-DNDEBUG"
      "-DCMAKE_INSTALL_PREFIX=${CURRENT_PACKAGES_DIR}" -DBUILD_SHARED_LIBS=OFF
      -DCMAKE_INSTALL_LIBDIR:STRING=lib -DCMAKE_INSTALL_BINDIR:STRING=bin
      -DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
      -DCMAKE_FIND_PACKAGE_NO_SYSTEM_PACKAGE_REGISTRY=ON -DFETCHCONTENT_FULLY_DISCONNECTED=ON
      ${arg_OPTIONS})
endfunction()
function(vcpkg_cmake_install)
  run("build" ${CMAKE_COMMAND} --build "${build}" --parallel 2)
  run("install" ${CMAKE_COMMAND} --install "${build}")
endfunction()
# vcpkg moves CONFIG_PATH to share/<port> (and rewrites paths, not emulated here).
function(vcpkg_cmake_config_fixup)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "CONFIG_PATH;PACKAGE_NAME" "")
  if(NOT IS_DIRECTORY "${CURRENT_PACKAGES_DIR}/${arg_CONFIG_PATH}")
    message(FATAL_ERROR "vcpkg_cmake_config_fixup: no ${arg_CONFIG_PATH} in the package")
  endif()
  file(MAKE_DIRECTORY "${CURRENT_PACKAGES_DIR}/share")
  file(RENAME "${CURRENT_PACKAGES_DIR}/${arg_CONFIG_PATH}" "${CURRENT_PACKAGES_DIR}/share/${PORT}")
  file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/lib/cmake")
endfunction()
function(vcpkg_fixup_pkgconfig)
  file(GLOB pc "${CURRENT_PACKAGES_DIR}/lib/pkgconfig/*.pc")
  if(NOT pc)
    message(FATAL_ERROR "vcpkg_fixup_pkgconfig: no lib/pkgconfig/*.pc")
  endif()
endfunction()
function(vcpkg_install_copyright)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "" "FILE_LIST")
  file(READ "${arg_FILE_LIST}" text)
  file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright" "${text}")
endfunction()

include("${port_dir}/portfile.cmake")
get_property(used_source GLOBAL PROPERTY port_source_path)
if(NOT used_source)
  message(FATAL_ERROR "ports/pgrestify/portfile.cmake never called vcpkg_cmake_configure()")
endif()
message(STATUS "ports/pgrestify built the checkout ${used_source}")

# 3. What vcpkg would package.
set(errors)
foreach(file
    share/pgrestify/pgrestifyConfig.cmake
    share/pgrestify/pgrestifyConfigVersion.cmake
    share/pgrestify/pgrestifyTargets.cmake
    share/pgrestify/pgrestifyTargets-release.cmake
    share/pgrestify/usage
    share/pgrestify/copyright
    lib/pkgconfig/pgrestify.pc
    lib/libpgrestify.a
    include/pgrestify/pgrestify.hpp
    include/pgrestify/version.hpp)
  if(NOT EXISTS "${packages}/${file}")
    list(APPEND errors "missing ${file}")
  endif()
endforeach()
if(EXISTS "${packages}/bin")
  list(APPEND errors "a static build installs bin/ (vcpkg rejects that)")
endif()
if(EXISTS "${packages}/share/doc")
  list(APPEND errors "share/doc is left in the package")
endif()
set(src "${SOURCE_DIR}")
file(GLOB_RECURSE installed LIST_DIRECTORIES false "${packages}/*.cmake" "${packages}/*.pc" "${packages}/*.hpp")
foreach(file IN LISTS installed)
  file(READ "${file}" text)
  foreach(dir "${src}" "${build}" "${packages}" "${SOURCE_DIR}")
    string(FIND "${text}" "${dir}" hit)
    if(hit GREATER_EQUAL 0)
      list(APPEND errors "${file} contains the absolute path ${dir}")
    endif()
  endforeach()
endforeach()
if(errors)
  string(REPLACE ";" "\n  " errors "${errors}")
  message(FATAL_ERROR "vcpkg port check:\n  ${errors}")
endif()
message(STATUS "the portfile's options build and install what vcpkg_cmake_config_fixup(CONFIG_PATH ${config_path}) expects")
