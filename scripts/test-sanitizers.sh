#!/usr/bin/env bash
# The second stage of the README's test command (scripts/test.sh runs it last): the whole test suite
# built with AddressSanitizer + UndefinedBehaviorSanitizer (-DPGRESTIFY_SANITIZE=ON) against the
# throwaway PostgreSQL 15 + PostgREST 12.0.2 (unit, integration, examples, CLI, docs, fuzz corpus
# replay), then each libFuzzer target for a bounded time. Any sanitizer report fails the test that
# triggered it. The packaging tests are left out here: they install the library and build consumer
# projects, which the sanitizers have nothing to check in (scripts/test.sh runs them).
#
#   scripts/test-sanitizers.sh              build in build/asan (PGRESTIFY_ASAN_BUILD_DIR overrides) and run
#   scripts/test-sanitizers.sh -R 'Fault'   extra arguments go to the ctest of the sanitized suite
#
# Then a ThreadSanitizer build (build/tsan, PGRESTIFY_TSAN_BUILD_DIR overrides; -DPGRESTIFY_TSAN=ON
# compiles only the unit and integration tests of concurrent code: BulkWriter, the async calls,
# the engine's concurrency) runs those tests; PGRESTIFY_TSAN=0 skips it.
# PGRESTIFY_FUZZ=0 skips the libFuzzer runs; PGRESTIFY_FUZZ_SECONDS (default 15) is the time
# each of the four targets runs (clang, in build/fuzz).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/bootstrap.sh

BUILD=${PGRESTIFY_ASAN_BUILD_DIR:-build/asan}
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
# The longest imports (100,000-200,000 rows, or seconds spent waiting for a token to expire) run
# in the first stage only: under the sanitizers they cost minutes of the 40-minute budget, and the
# code they run is run here by smaller tests of the same calls (BulkUpdateFunction.*, Streaming.*,
# TokenProvider.*, ServiceTest.*). The replica tests behind HAProxy (Replicas.*, 3-7 s each: imports
# of up to 200,000 rows while replicas are killed, restarted or all down) test the engine's retries
# that the unit tests (ProxyError.*, EngineRetry.*) run under the sanitizers too; the CLI's
# 1,000,000-row import killed five times (cli.resume.kill_resume) has the other cli.resume.* tests,
# and its 200,000-row imports through the balancer (cli.lb.*) the Replicas.* cases.
long_imports='^(BulkUpdateFunction\.AutoUpdatesOneHundredThousandDistinctRowsExactly|Streaming\.TwoHundredThousandGeneratedRowsLandWithBoundedLookAhead|ServiceTest\.(TokenExpiringMidImportIsRenewedByTheProvider|TokenNearItsExpiryIsRenewedBeforePostgrestRefusesIt|WithoutProviderTheRowsAfterExpiryFailWith401AndNothingIsLostOrDuplicated)|Replicas\..*|cli\.resume\.kill_resume|cli\.lb\..*)$'
ctest --test-dir "$BUILD" --output-on-failure -j2 -LE packaging -E "$long_imports" "$@" || status=$?
echo "sanitizer suite (ASan+UBSan): $((SECONDS - start)) s, exit $status"

if [[ ${PGRESTIFY_TSAN:-1} == 1 ]]; then
  TSAN_BUILD=${PGRESTIFY_TSAN_BUILD_DIR:-build/tsan}
  cmake -S . -B "$TSAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGRESTIFY_WERROR=ON -DPGRESTIFY_TSAN=ON \
    -DPGRESTIFY_BUILD_EXAMPLES=OFF -DPGRESTIFY_BUILD_TOOLS=OFF -DPGRESTIFY_BUILD_BENCH=OFF
  cmake --build "$TSAN_BUILD" -j"$JOBS" --target pgrestify_unit_tests pgrestify_integration_tests pgrestify_test_server
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
  tstart=$SECONDS
  ctest --test-dir "$TSAN_BUILD" --output-on-failure -j2 \
    -R '^(BulkWriter|BulkAsync|EngineConcurrency|WriterTest|WriterFault|AsyncTest)\.' || status=$?
  echo "ThreadSanitizer suite: $((SECONDS - tstart)) s, exit $status"
fi

if [[ ${PGRESTIFY_FUZZ:-1} == 1 ]]; then
  FUZZ_BUILD=${PGRESTIFY_FUZZ_BUILD_DIR:-build/fuzz}
  cmake -S . -B "$FUZZ_BUILD" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DPGRESTIFY_WERROR=ON \
    -DPGRESTIFY_FUZZ=ON -DPGRESTIFY_FUZZ_SECONDS="${PGRESTIFY_FUZZ_SECONDS:-15}" \
    -DPGRESTIFY_BUILD_EXAMPLES=OFF -DPGRESTIFY_BUILD_TOOLS=OFF -DPGRESTIFY_BUILD_BENCH=OFF
  # Only the libFuzzer targets (and what they need): the rest of this clang build is not run here.
  fuzz_targets=$(cmake --build "$FUZZ_BUILD" --target help | sed -n 's/^\.\.\. \(pgrestify_fuzz_[a-z_]*\)$/\1/p' |
    grep -v '^pgrestify_fuzz_replay_' || true)
  if [[ -z $fuzz_targets ]]; then
    echo "no libFuzzer targets were configured (is clang++ installed?)" >&2
    status=1
  else
    # shellcheck disable=SC2086
    cmake --build "$FUZZ_BUILD" -j"$JOBS" --target $fuzz_targets
    fstart=$SECONDS
    ctest --test-dir "$FUZZ_BUILD" --output-on-failure -R '^fuzz\.run\.' || status=$?
    echo "libFuzzer runs: $((SECONDS - fstart)) s, exit $status"
  fi
fi
exit "$status"
