#!/usr/bin/env bash
# The test command of README.md (and of .ci/run): installs what is missing on a fresh Debian 12
# machine, builds with warnings as errors, starts a throwaway PostgreSQL 15 + PostgREST 12.0.2
# (CTest fixture) and runs every test: unit, integration, examples, tools and packaging. Then
# scripts/test-sanitizers.sh runs the suite again under ASan + UBSan and each libFuzzer target for
# a bounded time (PGRESTIFY_SANITIZERS=0 skips that second stage, for a quick local run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/bootstrap.sh

BUILD=${PGRESTIFY_BUILD_DIR:-build/test}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGRESTIFY_WERROR=ON
cmake --build "$BUILD" -j"$(nproc)"

# Integration tests fail (never skip) when the servers are missing.
export PGRESTIFY_REQUIRE_SERVER=1
status=0
ctest --test-dir "$BUILD" --output-on-failure -j2 || status=$?
if [[ -f "$BUILD/pgrestify-test-servers.env.summary" ]]; then
  echo "integration servers: $(cat "$BUILD/pgrestify-test-servers.env.summary")"
fi
echo "test suite: exit $status after $SECONDS s"

if [[ ${PGRESTIFY_SANITIZERS:-1} != 0 ]]; then
  sanitizers=0
  ./scripts/test-sanitizers.sh || sanitizers=$?
  echo "sanitizer stage: exit $sanitizers; both stages: $SECONDS s"
  if [[ $status -eq 0 ]]; then status=$sanitizers; fi
fi
exit "$status"
