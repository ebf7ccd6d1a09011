# SPDX-License-Identifier: MIT
# CPack: Debian packages of pgrestify (included from the top-level CMakeLists.txt after
# cmake/install.cmake). From a build tree of the static library (the default):
#   cpack -G DEB        (in the build directory)
# gives two packages (file names <name>_<version>-<release>_<arch>.deb):
#   pgrestify-dev  component "development": libpgrestify.a, include/pgrestify/, the CMake package
#                  (LIBDIR/cmake/pgrestify) and pgrestify.pc; Depends on the -dev packages the
#                  CMake package and the .pc file ask for: libcurl4-openssl-dev, nlohmann-json3-dev,
#                  libfmt-dev.
#   pgrestify-cli  component "cli" (the `pgrestify` tool, when PGRESTIFY_BUILD_TOOLS is ON);
#                  Depends computed by dpkg-shlibdeps (libcurl4, libfmt9, libcsv3, libstdc++6,
#                  libc6, libgcc-s1 on Debian 12), or that list when dpkg-shlibdeps is missing.
# Both install under /usr (CPACK_PACKAGING_INSTALL_PREFIX); configure with
# -DCMAKE_INSTALL_PREFIX=/usr to get Debian's multiarch LIBDIR (lib/<triplet>) from GNUInstallDirs.
# tests/package/deb_packages.cmake builds and checks them (ctest -L packaging).
get_target_property(_pgrestify_type pgrestify TYPE)
if(NOT _pgrestify_type STREQUAL "STATIC_LIBRARY")
  message(STATUS "pgrestify: no Debian packages for a shared libpgrestify (build the static library for cpack)")
  unset(_pgrestify_type)
  return()
endif()
unset(_pgrestify_type)

set(PGRESTIFY_PACKAGE_MAINTAINER "pgrestify maintainers <pgrestify@localhost>"
    CACHE STRING "Maintainer field of the Debian packages")

# Copyright files where Debian expects them; only for the packages (EXCLUDE_FROM_ALL keeps them
# out of a plain `cmake --install`, which has share/doc/pgrestify/LICENSE).
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/pgrestify-dev RENAME copyright
  COMPONENT development EXCLUDE_FROM_ALL)
set(_pgrestify_components development)
if(TARGET pgrestify_cli)
  install(FILES ${PROJECT_SOURCE_DIR}/LICENSE
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/pgrestify-cli RENAME copyright
    COMPONENT cli EXCLUDE_FROM_ALL)
  list(APPEND _pgrestify_components cli)
endif()

set(CPACK_PACKAGE_NAME pgrestify)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "C++20 client library for PostgREST bulk operations")
set(CPACK_PACKAGE_CONTACT "${PGRESTIFY_PACKAGE_MAINTAINER}")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL ${_pgrestify_components})
unset(_pgrestify_components)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${PGRESTIFY_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME pgrestify-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "libcurl4-openssl-dev, nlohmann-json3-dev (>= 3.10), libfmt-dev")
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION
    "C++20 client library for PostgREST bulk operations (static library, headers, CMake and pkg-config files)")

set(CPACK_DEBIAN_CLI_PACKAGE_NAME pgrestify-cli)
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION database)
set(CPACK_COMPONENT_CLI_DESCRIPTION
    "pgrestify command-line tool: bulk CSV/NDJSON/JSON import, update and delete through PostgREST")
find_program(PGRESTIFY_DPKG_SHLIBDEPS dpkg-shlibdeps)
mark_as_advanced(PGRESTIFY_DPKG_SHLIBDEPS)
if(PGRESTIFY_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_CLI_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_CLI_PACKAGE_DEPENDS "libcurl4, libfmt9, libcsv3, libstdc++6, libc6, libgcc-s1")
endif()

include(CPack)
