#!/usr/bin/env bash
# The whole test suite (unit, integration against the throwaway PostgreSQL 15 + PostgREST 12.0.2,
# fuzz corpus replay, examples, tools) built with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DPGRESTIFY_SANITIZE=ON). Any sanitizer report fails the test that triggered it.
#
#   scripts/test-sanitizers.sh              build in build/asan (PGRESTIFY_BUILD_DIR overrides) and run
#   scripts/test-sanitizers.sh -R 'fault'   extra arguments go to ctest
#
# Set PGRESTIFY_FUZZ=1 to also build the libFuzzer targets with clang and run each for
# PGRESTIFY_FUZZ_SECONDS (default 20) seconds, in a second build directory (build/fuzz).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/bootstrap.sh

BUILD=${PGRESTIFY_BUILD_DIR:-build/asan}
JOBS=${PGRESTIFY_JOBS:-$(nproc)}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DPGRESTIFY_WERROR=ON -DPGRESTIFY_SANITIZE=ON \
  -DPGRESTIFY_BUILD_BENCH=OFF
cmake --build "$BUILD" -j"$JOBS"

# halt_on_error: the first report fails the process. detect_leaks stays on (LeakSanitizer).
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export PGRESTIFY_REQUIRE_SERVER=1

status=0
start=$SECONDS
ctest --test-dir "$BUILD" --output-on-failure -j2 "$@" || status=$?
echo "sanitizer suite: $((SECONDS - start)) s, exit $status"

if [[ ${PGRESTIFY_FUZZ:-0} == 1 ]]; then
  FUZZ_BUILD=${PGRESTIFY_FUZZ_BUILD_DIR:-build/fuzz}
  cmake -S . -B "$FUZZ_BUILD" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DPGRESTIFY_WERROR=ON \
    -DPGRESTIFY_FUZZ=ON -DPGRESTIFY_FUZZ_SECONDS="${PGRESTIFY_FUZZ_SECONDS:-20}" \
    -DPGRESTIFY_BUILD_EXAMPLES=OFF -DPGRESTIFY_BUILD_TOOLS=OFF -DPGRESTIFY_BUILD_BENCH=OFF
  cmake --build "$FUZZ_BUILD" -j"$JOBS"
  ctest --test-dir "$FUZZ_BUILD" --output-on-failure -L fuzz || status=$?
fi
exit "$status"
