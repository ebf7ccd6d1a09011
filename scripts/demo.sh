#!/usr/bin/env bash
# The demo command of README.md: installs what is missing, builds, starts a throwaway
# PostgreSQL 15 + PostgREST 12.0.2 on 127.0.0.1, runs the demo against it, stops the servers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/bootstrap.sh
BUILD=${PGRESTIFY_BUILD_DIR:-build/demo}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPGRESTIFY_BUILD_TESTS=OFF -DPGRESTIFY_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target example_quickstart
exec ./scripts/testenv.sh run -- "$BUILD/examples/quickstart"
