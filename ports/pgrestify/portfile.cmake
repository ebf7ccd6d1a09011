# Overlay port that builds the pgrestify checkout it sits in (nothing is downloaded):
#   vcpkg install pgrestify --overlay-ports=<pgrestify checkout>/ports
# vcpkg computes the port's ABI hash from the files of this port directory only, so a binary cache
# does not see edits to the checkout: after changing the sources, reinstall with
# `vcpkg remove pgrestify` + `vcpkg install ... --no-binarycaching`.
# The registry form for a published release (vcpkg_from_github with REPO/REF/SHA512) is
# ports-release/pgrestify/portfile.cmake; tests/package/vcpkg_port.cmake keeps the two in step.
if(VCPKG_TARGET_IS_WINDOWS)
    # The library has no __declspec(dllexport) annotations: a DLL would export nothing.
    vcpkg_check_linkage(ONLY_STATIC_LIBRARY)
endif()

# ports/pgrestify -> the checkout's top-level directory.
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
if(NOT EXISTS "${SOURCE_PATH}/CMakeLists.txt" OR NOT EXISTS "${SOURCE_PATH}/include/pgrestify/pgrestify.hpp")
    message(FATAL_ERROR "ports/pgrestify must stay inside a pgrestify checkout (no sources at ${SOURCE_PATH}); "
                        "use ports-release/pgrestify for a registry")
endif()

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DPGRESTIFY_BUILD_TESTS=OFF
        -DPGRESTIFY_BUILD_EXAMPLES=OFF
        -DPGRESTIFY_BUILD_TOOLS=OFF
        -DPGRESTIFY_BUILD_BENCH=OFF
        -DPGRESTIFY_INSTALL=ON
        -DPGRESTIFY_WERROR=OFF
        -DPGRESTIFY_SANITIZE=OFF
)

vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH lib/cmake/pgrestify)
vcpkg_fixup_pkgconfig()
vcpkg_copy_pdbs()

file(REMOVE_RECURSE
    "${CURRENT_PACKAGES_DIR}/debug/include"
    "${CURRENT_PACKAGES_DIR}/debug/share"
    "${CURRENT_PACKAGES_DIR}/share/doc"
)

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
