#!/usr/bin/env bash
# CTest fixture for the integration tests: `fixture.sh start ENVFILE [TEST_SERVER]` /
# `fixture.sh stop ENVFILE`. Starts a throwaway PostgreSQL 15 + PostgREST 12.0.2
# (scripts/testenv.sh) and writes its env file, or, when PGRESTIFY_TEST_URL is already set (a
# server the developer runs), records that. With TEST_SERVER (tests/support/test_server.cpp) it
# also starts an echoing and a silent loopback server that are not PostgREST, and adds
# PGRESTIFY_TEST_ECHO_URL and PGRESTIFY_TEST_SILENT_URL to the env file. On the servers it starts
# itself, it also runs a second PostgREST on the same database with the default
# `db-tx-end = commit` (dry runs must refuse it) and adds PGRESTIFY_TEST_COMMIT_URL.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cmd=${1:?start|stop}
envfile=${2:?env file path}
testserver=${3:-}
statefile="$envfile.dir"
extradir="$envfile.servers"

stop_test_servers() {
  local pidfile
  for pidfile in "$extradir"/*.pid; do
    [[ -f $pidfile ]] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  rm -rf "$extradir"
}

# Starts `TEST_SERVER MODE` and appends its URL to the env file as PGRESTIFY_TEST_<NAME>_URL.
start_test_server() { # MODE NAME
  local mode=$1 name=$2 i
  "$testserver" "$mode" "$extradir/$mode.port" >"$extradir/$mode.log" 2>&1 </dev/null &
  echo $! > "$extradir/$mode.pid"
  for ((i = 0; i < 100; i++)); do
    [[ -s $extradir/$mode.port ]] && break
    sleep 0.05
  done
  [[ -s $extradir/$mode.port ]] || { echo "fixture: the $mode test server did not start" >&2; exit 1; }
  echo "PGRESTIFY_TEST_${name}_URL=http://127.0.0.1:$(cat "$extradir/$mode.port")" >> "$envfile"
}

start_test_servers() {
  [[ -n $testserver ]] || return 0
  mkdir -p "$extradir"
  start_test_server echo ECHO
  start_test_server silent SILENT
}

# A second PostgREST 12.0.2 on the testenv's database, configured like the first but with the
# default `db-tx-end = commit` (it ignores `Prefer: tx=rollback`). Its URL goes to the env file as
# PGRESTIFY_TEST_COMMIT_URL; stop_test_servers stops it.
start_commit_postgrest() { # TESTENV_DIR
  local dir=$1 conf port i
  mkdir -p "$extradir"
  conf="$extradir/commit-postgrest.conf"
  for ((i = 0; i < 5; i++)); do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    (umask 077 && sed -e '/^db-tx-end/d' -e "s/^server-port = .*/server-port = $port/" "$dir/postgrest.conf" >"$conf")
    "${PGRESTIFY_POSTGREST_BIN:-$ROOT/.deps/postgrest-12.0.2/postgrest}" "$conf" >"$extradir/commit-postgrest.log" 2>&1 </dev/null &
    echo $! > "$extradir/commit-postgrest.pid"
    local j
    for ((j = 0; j < 200; j++)); do
      if curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
        echo "PGRESTIFY_TEST_COMMIT_URL=http://127.0.0.1:$port" >> "$envfile"
        return 0
      fi
      kill -0 "$(cat "$extradir/commit-postgrest.pid")" 2>/dev/null || break
      sleep 0.05
    done
    kill "$(cat "$extradir/commit-postgrest.pid")" 2>/dev/null || true
  done
  echo "fixture: the second (db-tx-end = commit) PostgREST did not start" >&2
  cat "$extradir/commit-postgrest.log" >&2 || true
  exit 1
}

case "$cmd" in
  start)
    # A start without a stop in between (`ctest --repeat` repeats the fixture's setup too) must
    # not leave the earlier servers running.
    if [[ -f $statefile ]]; then
      "$ROOT/scripts/testenv.sh" stop "$(cat "$statefile")" || true
    fi
    stop_test_servers
    rm -f "$envfile" "$statefile"
    if [[ -n ${PGRESTIFY_TEST_URL:-} ]]; then
      env | grep '^PGRESTIFY_TEST_' > "$envfile"
      start_test_servers
      echo "fixture: using the running server at $PGRESTIFY_TEST_URL"
      exit 0
    fi
    dir=$(mktemp -d /tmp/pgrestify-test.XXXXXX)
    rmdir "$dir"
    echo "$dir" > "$statefile"
    "$ROOT/scripts/testenv.sh" start "$dir" | tee "$envfile.summary"
    cp "$dir/env" "$envfile"
    start_test_servers
    start_commit_postgrest "$dir"
    ;;
  stop)
    stop_test_servers
    if [[ -f $statefile ]]; then
      "$ROOT/scripts/testenv.sh" stop "$(cat "$statefile")"
      rm -f "$statefile"
    fi
    rm -f "$envfile"
    ;;
  *) echo "usage: fixture.sh start|stop ENVFILE" >&2; exit 2 ;;
esac
