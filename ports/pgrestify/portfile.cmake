# Overlay port: vcpkg install pgrestify --overlay-ports=<pgrestify checkout>/ports
# Release checklist: REPO is the published repository, REF the tag of the version in vcpkg.json,
# and SHA512 the archive's hash (with SHA512 0, vcpkg downloads the archive and prints it).
if(VCPKG_TARGET_IS_WINDOWS)
    # The library has no __declspec(dllexport) annotations: a DLL would export nothing.
    vcpkg_check_linkage(ONLY_STATIC_LIBRARY)
endif()

vcpkg_from_github(
    OUT_SOURCE_PATH SOURCE_PATH
    REPO pgrestify/pgrestify
    REF "v${VERSION}"
    SHA512 0
    HEAD_REF main
)

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
