#!/usr/bin/env bash
# Runs an example against the test servers: exports the fixture's env file, empties the tables,
# and passes the PostgREST URL as the example's first argument (every example takes it there).
set -euo pipefail
if [[ -n ${PGRESTIFY_TEST_ENV_FILE:-} && -f $PGRESTIFY_TEST_ENV_FILE ]]; then
  set -a
  # shellcheck disable=SC1090
  source "$PGRESTIFY_TEST_ENV_FILE"
  set +a
fi
: "${PGRESTIFY_TEST_URL:?no test server (PGRESTIFY_TEST_URL)}"
curl -fsS -X POST "$PGRESTIFY_TEST_URL/rpc/reset_tables" >/dev/null
exec "$@" "$PGRESTIFY_TEST_URL"
