#!/usr/bin/env bash
# CLI tests of issue #17 (running in a service): --token-command. Same conventions as cli_test.sh:
#   cli_service_test.sh CASE PGRESTIFY_BINARY ENV_FILE
set -euo pipefail
RUN_TIMEOUT=120
# shellcheck source=tools/tests/cli_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_common.sh" pgrestify-cli-service-test "$@"
: "${PGRESTIFY_TEST_JWT:?no JWT (PGRESTIFY_TEST_JWT)}"

reset

case "$CASE" in
token_command)
  # The command prints a token PostgREST refuses (401 PGRST301, as for an expired JWT) the first
  # time and the fixture's valid JWT afterwards: the tool asks again once and every row is written.
  printf '%s' "$PGRESTIFY_TEST_JWT" > good.txt
  cat > token.sh <<'SH'
#!/bin/sh
echo run >> runs.txt
if [ "$(wc -l < runs.txt)" -eq 1 ]; then printf '  not.a-valid.jwt-REFUSED-SECRET-1 \n'; else cat good.txt; echo; fi
SH
  chmod +x token.sh
  printf 'name,email\n' > in.csv
  for i in $(seq 1 500); do printf 'u%d,u%d@x.io\n' "$i" "$i"; done >> in.csv
  run import --url "$URL" --table users --file in.csv --token-command "./token.sh" --batch-size 100 --reject-file rej.ndjson
  eq "status" 0 "$RC"
  eq "summary" "500 rows: 500 written, 0 skipped, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "rows in the table" 500 "$(sql "select count(distinct email) from api.users where email like 'u%@x.io'")"
  eq "command runs" 2 "$(wc -l < runs.txt)"
  if grep -qF -- "REFUSED-SECRET" out.txt err.txt; then fail "the refused token leaked: $ERR"; fi
  if grep -qF -- "$PGRESTIFY_TEST_JWT" out.txt err.txt; then fail "the token leaked"; fi
  # Without the command's fresh token (it always prints the refused one), the rows fail with 401.
  reset
  run import --url "$URL" --table users --file in.csv --token-command "echo not.a-valid.jwt-REFUSED-SECRET-2" \
    --reject-file rej.ndjson
  [[ $RC != 0 ]] || fail "a refused token: status 0"
  eq "rows in the table" 0 "$(sql "select count(*) from api.users")"
  if grep -qF -- "REFUSED-SECRET" out.txt err.txt rej.ndjson; then fail "the refused token leaked: $(cat err.txt rej.ndjson | head -c 400)"; fi
  ;;

token_command_fails)
  printf 'name,email\na,a@x.io\n' > in.csv
  # A failing command: nothing is sent, the message says why without quoting the output.
  run import --url "$URL" --table users --file in.csv --token-command "echo OUTPUT-SECRET-3; exit 7"
  eq "status" 4 "$RC"
  grep -q "token-command exited with status 7" err.txt || fail "no message: $ERR"
  if grep -qF -- "OUTPUT-SECRET-3" out.txt err.txt; then fail "the command's output leaked: $ERR"; fi
  eq "rows in the table" 0 "$(sql "select count(*) from api.users")"
  # --token and --token-command together: refused before anything is sent.
  run import --url "$URL" --table users --file in.csv --token "$PGRESTIFY_TEST_JWT" --token-command "echo x"
  eq "both: status" 4 "$RC"
  grep -q "give only one" err.txt || fail "both: no message: $ERR"
  ;;

*)
  fail "unknown case"
  ;;
esac

finish_case
