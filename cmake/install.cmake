# SPDX-License-Identifier: MIT
# Install rules and the CMake/pkg-config packages of pgrestify (included from the top-level
# CMakeLists.txt when PGRESTIFY_INSTALL is ON).
#
# Installed layout (paths relative to the prefix, LIBDIR from GNUInstallDirs):
#   include/pgrestify/**.hpp, include/pgrestify/version.hpp (generated)
#   LIBDIR/libpgrestify.a (or .so with BUILD_SHARED_LIBS)
#   LIBDIR/cmake/pgrestify/pgrestify{Config,ConfigVersion,Targets,Targets-<config>}.cmake
#   LIBDIR/pkgconfig/pgrestify.pc
#   share/doc/pgrestify/LICENSE
# The build tree is a package as well: -Dpgrestify_DIR=<build dir> finds it.
# tests/package checks all of this (ctest -L packaging).
include(CMakePackageConfigHelpers)

set(PGRESTIFY_CONFIG_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pgrestify)

install(TARGETS pgrestify EXPORT pgrestifyTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/pgrestify
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development
  FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/include/pgrestify/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pgrestify COMPONENT development)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE
  DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT development)

# Dependencies the config file must find: PUBLIC ones always; the PRIVATE ones (libcurl, fmt)
# only for a static library, whose exported link interface names them as $<LINK_ONLY:...>.
get_target_property(_pgrestify_type pgrestify TYPE)
if(_pgrestify_type STREQUAL "STATIC_LIBRARY")
  set(PGRESTIFY_STATIC_LIBRARY ON)
else()
  set(PGRESTIFY_STATIC_LIBRARY OFF)
endif()
unset(_pgrestify_type)

install(EXPORT pgrestifyTargets
  NAMESPACE pgrestify::
  DESTINATION ${PGRESTIFY_CONFIG_INSTALL_DIR}
  COMPONENT development)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pgrestifyConfig.cmake.in
  ${PROJECT_BINARY_DIR}/pgrestifyConfig.cmake
  INSTALL_DESTINATION ${PGRESTIFY_CONFIG_INSTALL_DIR})
# 0.x: a minor release may break the API, so 0.1.y satisfies only requests for 0.1.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/pgrestifyConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/pgrestifyConfig.cmake
  ${PROJECT_BINARY_DIR}/pgrestifyConfigVersion.cmake
  DESTINATION ${PGRESTIFY_CONFIG_INSTALL_DIR}
  COMPONENT development)

# Build-tree package: the same config file next to a targets file that points into the build tree.
# The internal pgrestify_warnings target is linked as $<BUILD_INTERFACE:...>, which the installed
# export drops but a build-tree export keeps, so it has to be exported here too. Consumers only
# see it as $<LINK_ONLY:...>: its warning flags never reach them, its sanitizer link flags
# (PGRESTIFY_SANITIZE) do, as a static sanitized library needs.
export(TARGETS pgrestify pgrestify_warnings NAMESPACE pgrestify::
  FILE ${PROJECT_BINARY_DIR}/pgrestifyTargets.cmake)

# pkg-config. The prefix is computed from the .pc file's own location so the package stays
# correct when installed with `cmake --install --prefix <dir>` (or moved by vcpkg).
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(PGRESTIFY_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(PGRESTIFY_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(PGRESTIFY_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _pgrestify_up "/_/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/_")
  string(REGEX REPLACE "/$" "" _pgrestify_up "${_pgrestify_up}")
  set(PGRESTIFY_PC_PREFIX "\${pcfiledir}/${_pgrestify_up}")
  set(PGRESTIFY_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(PGRESTIFY_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  unset(_pgrestify_up)
endif()
# libcurl and fmt are private to libpgrestify, but a static libpgrestify.a needs them on the
# consumer's link line. `Requires.private` would only give them with `pkg-config --static`, which
# also asks for libcurl's own private libraries (rarely installed when libcurl is shared).
if(PGRESTIFY_STATIC_LIBRARY)
  set(PGRESTIFY_PC_REQUIRES "nlohmann_json >= 3.10, libcurl, fmt")
  set(PGRESTIFY_PC_REQUIRES_PRIVATE "")
  set(PGRESTIFY_PC_LIBS "-L\${libdir} -lpgrestify -pthread")
  set(PGRESTIFY_PC_LIBS_PRIVATE "")
else()
  set(PGRESTIFY_PC_REQUIRES "nlohmann_json >= 3.10")
  set(PGRESTIFY_PC_REQUIRES_PRIVATE "libcurl, fmt")
  set(PGRESTIFY_PC_LIBS "-L\${libdir} -lpgrestify")
  set(PGRESTIFY_PC_LIBS_PRIVATE "-pthread")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/pgrestify.pc.in ${PROJECT_BINARY_DIR}/pgrestify.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/pgrestify.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
  COMPONENT development)
