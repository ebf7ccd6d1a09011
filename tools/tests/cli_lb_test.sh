#!/usr/bin/env bash
# CLI tests through HAProxy in front of three PostgREST replicas (issue #18; the fixture's
# PGRESTIFY_TEST_LB_URL, scripts/testenv.sh start-lb): an `import --on-conflict ignore` of 200,000
# rows while one replica is killed, and of 1,000,000 rows (long enough to outlast the restarts)
# while all three are restarted one after the other. Each ends with exit 0, a summary of every row
# written (or skipped, when a batch whose answer was lost is sent again) and 0 failed, and the
# table equal to the input.
#   cli_lb_test.sh CASE PGRESTIFY_BINARY ENV_FILE
set -euo pipefail
# shellcheck source=tools/tests/cli_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_common.sh" pgrestify-cli-lb "$@"

if [[ -z ${PGRESTIFY_TEST_LB_URL:-} || -z ${PGRESTIFY_TEST_DIR:-} ]]; then
  # Under CI a missing balancer is a failure, never a skip.
  if [[ -n ${CI:-} || -n ${PGRESTIFY_REQUIRE_SERVER:-} ]]; then
    echo "FAIL [$CASE]: no load balancer in the fixture (PGRESTIFY_TEST_LB_URL)" >&2
    exit 1
  fi
  echo "$CASE: skipped (no load balancer)"
  exit 77
fi
TESTENV=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/testenv.sh
ROWS=200000
[[ $CASE != rolling_restart ]] || ROWS=1000000

# The rows: key k<i>, label l<i>; a row is a function of i, so the expected table is SQL.
awk -v n="$ROWS" 'BEGIN { print "key,label"; for (i = 1; i <= n; i++) print "k" i ",l" i }' >in.csv
table_state() { sql "select count(*) || ' ' || md5(coalesce(string_agg(key || '/' || label, ';' order by key), '')) from api.tags"; }
expected_state() {
  sql "select count(*) || ' ' || md5(coalesce(string_agg(key || '/' || label, ';' order by key), ''))
       from (select 'k' || i as key, 'l' || i as label from generate_series(1, $ROWS) i) t"
}

# import_while ACTION: starts the import through the balancer, runs `testenv.sh ACTION` once the
# table holds 20,000 rows (early in the import), waits for both.
import_while() {
  reset
  "$BIN" import --url "$PGRESTIFY_TEST_LB_URL" --table tags --file in.csv --on-conflict ignore -q >out.txt 2>err.txt &
  local pid=$! n=0 acted=0
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    n=$(sql "select count(*) from api.tags")
    if ((n >= 20000)); then
      # shellcheck disable=SC2086  # ACTION is a subcommand and its arguments
      "$TESTENV" $1 "$PGRESTIFY_TEST_DIR" ${2:-} >action.txt 2>&1 || fail "testenv $1 failed: $(tail -n 3 action.txt)"
      acted=1
      kill -0 "$pid" 2>/dev/null || fail "the import ended before '$1' finished: not during the import"
      break
    fi
    sleep 0.02
  done
  set +e
  wait "$pid"
  RC=$?
  set -e
  OUT=$(cat out.txt)
  ERR=$(cat err.txt)
  ((RC == 0)) || echo "stderr of the import: $(head -c 2000 <<<"$ERR")" >&2
  ((acted)) || fail "the import ended (or never reached 20,000 rows: $n) before '$1' could run"
}

check_import() {
  eq "exit status" 0 "$RC"
  # A batch whose first answer was lost with the replica may have been committed; sent again with
  # --on-conflict ignore, its rows are counted skipped (seen: 199000 written, 1000 skipped). Every
  # row is written or skipped, none failed, and the table below is the input.
  local line written skipped
  line=$(grep -E '^[0-9]+ rows:' <<<"$OUT" | sed -E 's/ in .*//')
  written=$(sed -nE 's/^[0-9]+ rows: ([0-9]+) written, ([0-9]+) skipped, 0 failed$/\1/p' <<<"$line")
  skipped=$(sed -nE 's/^[0-9]+ rows: ([0-9]+) written, ([0-9]+) skipped, 0 failed$/\2/p' <<<"$line")
  if [[ ${line%%:*} != "$ROWS rows" || -z $written ]]; then
    fail "summary: expected [$ROWS rows: W written, S skipped, 0 failed], got [$line]"
  else
    eq "written + skipped" "$ROWS" "$((written + skipped))"
  fi
  eq "table" "$(expected_state)" "$(table_state)"
}

case $CASE in
  kill_replica)
    import_while kill-replica 2
    "$TESTENV" start-replica "$PGRESTIFY_TEST_DIR" 2 >/dev/null 2>&1 || fail "replica 2 did not come back"
    check_import
    ;;
  rolling_restart)
    import_while rolling-restart
    check_import
    ;;
  *) unknown_case ;;
esac
reset
finish_case
