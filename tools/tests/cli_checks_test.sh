#!/usr/bin/env bash
# CLI tests of --dry-run and --max-errors against the throwaway servers (CTest fixture
# pgrestify_servers; the dry-run refusal uses its second PostgREST, db-tx-end = commit).
#   cli_checks_test.sh CASE PGRESTIFY_BINARY ENV_FILE
set -euo pipefail
# shellcheck source=tools/tests/cli_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_common.sh" pgrestify-cli-checks "$@"

reset
# 1000 sales rows; rows 3, 400 and 999 (0-based) break the amount >= 0 check.
{
  echo "region,product,amount"
  for ((i = 0; i < 1000; i++)); do
    if ((i == 3 || i == 400 || i == 999)); then echo "eu,p$i,-1"; else echo "eu,p$i,1"; fi
  done
} > sales.csv
state() { sql "select count(*) || ':' || coalesce(md5(string_agg(id || '/' || product || '/' || amount, ',' order by id)), '-') from api.sales"; }

case "$CASE" in
dry_run)
  run import --help
  grep -q -- "--dry-run" out.txt || fail "import --help does not document --dry-run"
  grep -q -- "--max-errors" out.txt || fail "import --help does not document --max-errors"
  run delete --help
  grep -q -- "--dry-run" out.txt || fail "delete --help does not document --dry-run"
  run import --url "$URL" --table sales --file sales.csv --dry-run --batch-size 100 --reject-file rej.ndjson
  eq "import exit status" 1 "$RC"
  eq "import summary" "1000 rows: 997 written, 0 skipped, 3 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "rejected lines" "5 402 1001" "$(python3 -c 'import json,sys; print(" ".join(str(n) for n in sorted(json.loads(l)["line"] for l in open("rej.ndjson"))))')"
  eq "nothing imported" 0 "$(sql "select count(*) from api.sales")"
  sql "insert into api.sales (id, region, product, amount) select g, 'r', 'p' || g, g from generate_series(1, 10) g"
  before=$(state)
  printf '1\n2\n3\n42\n' > keys.txt
  run delete --url "$URL" --table sales --column id --file keys.txt --dry-run
  eq "delete exit status" 0 "$RC"
  eq "delete summary" "4 rows: 3 deleted, 1 not found, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "nothing deleted" "$before" "$(state)"
  if [[ -n ${PGRESTIFY_TEST_COMMIT_URL:-} ]]; then
    run import --url "$PGRESTIFY_TEST_COMMIT_URL" --table sales --file sales.csv --dry-run
    eq "refused: exit status" 4 "$RC"
    grep -q "db-tx-end" err.txt || fail "the refusal does not name db-tx-end: $ERR"
    run delete --url "$PGRESTIFY_TEST_COMMIT_URL" --table sales --column id --file keys.txt --dry-run
    eq "refused delete: exit status" 4 "$RC"
    eq "nothing written or deleted" "$before" "$(state)"
  else
    fail "no PGRESTIFY_TEST_COMMIT_URL (the fixture's db-tx-end = commit server)"
  fi
  ;;

max_errors)
  # Batches of 100, one at a time: the batches holding rows 3 and 400 fail one row each; after
  # the second failure no new batch starts.
  run import --url "$URL" --table sales --file sales.csv --batch-size 100 --concurrency 1 --max-errors 2 \
    --reject-file rej.ndjson
  eq "exit status" 1 "$RC"
  # The file is read as the batches go: rows after the last batch started are never read.
  eq "summary" "500 rows: 498 written, 0 skipped, 2 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "rows imported" 498 "$(sql "select count(*) from api.sales")"
  eq "last row imported" 1 "$(sql "select count(*) from api.sales where product = 'p499'")"
  eq "first row not sent" 0 "$(sql "select count(*) from api.sales where product = 'p500'")"
  run import --url "$URL" --table sales --file sales.csv --max-errors -1
  eq "negative --max-errors: usage" 2 "$RC"
  ;;

*)
  echo "unknown case $CASE" >&2
  exit 2
  ;;
esac

if ((FAILS > 0)); then
  echo "$CASE: $FAILS failure(s)" >&2
  exit 1
fi
