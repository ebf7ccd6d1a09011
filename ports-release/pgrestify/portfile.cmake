# RELEASE TEMPLATE for a vcpkg registry (not an overlay: it downloads a published release).
# ports/pgrestify is the overlay port that builds a checkout; this one is what a registry gets.
# Before submitting, replace the two @...@ placeholders (vcpkg.json and usage are the same as
# ports/pgrestify's; the test checks that they stay so):
#   REPO    <owner>/<repository> where pgrestify is published          (placeholder: @PGRESTIFY_REPO@)
#   REF     the tag of the version in vcpkg.json, e.g. "v${VERSION}"   (already set)
#   SHA512  the release archive's hash                                  (placeholder: @PGRESTIFY_SHA512@)
#           (vcpkg install with SHA512 0 downloads the archive and prints the hash to put here)
# tests/package/vcpkg_port.cmake checks that it passes the same options as ports/pgrestify.
if(VCPKG_TARGET_IS_WINDOWS)
    # The library has no __declspec(dllexport) annotations: a DLL would export nothing.
    vcpkg_check_linkage(ONLY_STATIC_LIBRARY)
endif()

vcpkg_from_github(
    OUT_SOURCE_PATH SOURCE_PATH
    REPO @PGRESTIFY_REPO@
    REF "v${VERSION}"
    SHA512 @PGRESTIFY_SHA512@
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
