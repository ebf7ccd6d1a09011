#!/usr/bin/env bash
# CTest fixture for the integration tests: `fixture.sh start ENVFILE` / `fixture.sh stop ENVFILE`.
# Starts a throwaway PostgreSQL 15 + PostgREST 12.0.2 (scripts/testenv.sh) and writes its env
# file, or, when PGRESTIFY_TEST_URL is already set (a server the developer runs), records that.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cmd=${1:?start|stop}
envfile=${2:?env file path}
statefile="$envfile.dir"

case "$cmd" in
  start)
    # A start without a stop in between (`ctest --repeat` repeats the fixture's setup too) must
    # not leave the earlier servers running.
    if [[ -f $statefile ]]; then
      "$ROOT/scripts/testenv.sh" stop "$(cat "$statefile")" || true
    fi
    rm -f "$envfile" "$statefile"
    if [[ -n ${PGRESTIFY_TEST_URL:-} ]]; then
      env | grep '^PGRESTIFY_TEST_' > "$envfile"
      echo "fixture: using the running server at $PGRESTIFY_TEST_URL"
      exit 0
    fi
    dir=$(mktemp -d /tmp/pgrestify-test.XXXXXX)
    rmdir "$dir"
    echo "$dir" > "$statefile"
    "$ROOT/scripts/testenv.sh" start "$dir" | tee "$envfile.summary"
    cp "$dir/env" "$envfile"
    ;;
  stop)
    if [[ -f $statefile ]]; then
      "$ROOT/scripts/testenv.sh" stop "$(cat "$statefile")"
      rm -f "$statefile"
    fi
    rm -f "$envfile"
    ;;
  *) echo "usage: fixture.sh start|stop ENVFILE" >&2; exit 2 ;;
esac
