# SPDX-License-Identifier: MIT
# What can be tested of ports/pgrestify without vcpkg (which cannot be downloaded here):
#   1. the port's vcpkg.json names the port after the directory and has the project's version;
#   2. a copy of the sources a release archive provides for the library (CMakeLists.txt, LICENSE,
#      cmake/, include/, src/: no tests/, examples/, tools/, bench/) configures, builds and
#      installs with exactly the -D options of the portfile's vcpkg_cmake_configure(), plus what
#      vcpkg_cmake_configure() itself passes (Release, static, lib/ and bin/, no package registry,
#      no downloads);
#   3. the result has what the rest of the portfile expects: CONFIG_PATH of
#      vcpkg_cmake_config_fixup() holding <port>Config.cmake and the targets files, the .pc file
#      for vcpkg_fixup_pkgconfig(), headers, a static library, no bin/ directory, and no absolute
#      path of the build or source directories in the installed text files.
# Not tested: vcpkg_from_github (download + SHA512), the debug configuration, the fixups themselves.
#   cmake -DSOURCE_DIR=<repo> -DWORK_DIR=<dir> -DGENERATOR=<generator> -DCXX=<compiler>
#         -DPROJECT_VERSION=<x.y.z> -P vcpkg_port.cmake
cmake_minimum_required(VERSION 3.21)
set(port_dir "${SOURCE_DIR}/ports/pgrestify")

# 1. The port manifest.
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
foreach(file usage portfile.cmake)
  if(NOT EXISTS "${port_dir}/${file}")
    message(FATAL_ERROR "ports/pgrestify/${file} is missing")
  endif()
endforeach()

# The options of vcpkg_cmake_configure(... OPTIONS ...) and the CONFIG_PATH of the fixup.
file(READ "${port_dir}/portfile.cmake" portfile)
string(FIND "${portfile}" "vcpkg_cmake_configure(" at)
if(at LESS 0)
  message(FATAL_ERROR "portfile.cmake: no vcpkg_cmake_configure()")
endif()
string(SUBSTRING "${portfile}" ${at} -1 call)
string(FIND "${call}" ")" end)
string(SUBSTRING "${call}" 0 ${end} call)
string(REGEX MATCHALL "-D[A-Za-z0-9_]+(:[A-Z]+)?=[^ \t\r\n\"]*" options "${call}")
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
message(STATUS "portfile options: ${options}; config path ${config_path}")

# 2. Configure, build and install a source copy like vcpkg_cmake_configure/vcpkg_cmake_install.
set(src "${WORK_DIR}/src")
set(build "${WORK_DIR}/x64-linux-rel")
set(packages "${WORK_DIR}/packages")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${src}")
file(COPY "${SOURCE_DIR}/CMakeLists.txt" "${SOURCE_DIR}/LICENSE" "${SOURCE_DIR}/cmake" "${SOURCE_DIR}/include"
          "${SOURCE_DIR}/src" DESTINATION "${src}")

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc COMMAND_ECHO STDOUT)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}). If the library now needs another top-level "
                        "directory, add it to the copy in tests/package/vcpkg_port.cmake.")
  endif()
endfunction()

# CMAKE_CXX_FLAGS_RELEASE: no optimisation, to keep the test fast (flags are the triplet's
# business, not the port's).
run("configure" ${CMAKE_COMMAND} -S "${src}" -B "${build}" -G "${GENERATOR}"
    -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-DNDEBUG"
    "-DCMAKE_INSTALL_PREFIX=${packages}" -DBUILD_SHARED_LIBS=OFF
    -DCMAKE_INSTALL_LIBDIR:STRING=lib -DCMAKE_INSTALL_BINDIR:STRING=bin
    -DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
    -DCMAKE_FIND_PACKAGE_NO_SYSTEM_PACKAGE_REGISTRY=ON -DFETCHCONTENT_FULLY_DISCONNECTED=ON
    ${options})
run("build" ${CMAKE_COMMAND} --build "${build}" --parallel 2)
run("install" ${CMAKE_COMMAND} --install "${build}")

# 3. What the rest of the portfile works on.
set(errors)
foreach(file
    ${config_path}/pgrestifyConfig.cmake
    ${config_path}/pgrestifyConfigVersion.cmake
    ${config_path}/pgrestifyTargets.cmake
    ${config_path}/pgrestifyTargets-release.cmake
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
