#!/usr/bin/env bash
# CLI tests of issue #13 that need library changes made in parallel (answers validated as
# PostgREST's, credential redaction beyond Authorization, a retry time budget, over-long keys
# failing alone, quoted identifiers). Same conventions as cli_test.sh:
#   cli_adversarial_test.sh CASE PGRESTIFY_BINARY ENV_FILE
set -euo pipefail
RUN_TIMEOUT=120
# shellcheck source=tools/tests/cli_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_common.sh" pgrestify-cli-adv-test "$@"
: "${PGRESTIFY_TEST_ECHO_URL:?no echo test server (PGRESTIFY_TEST_ECHO_URL)}"
ECHO=$PGRESTIFY_TEST_ECHO_URL
# no_secret NAME SECRET...: none of the secrets is in the output, the messages or the reject file
no_secret() {
  local name=$1 s
  shift
  for s in "$@"; do
    if grep -qF -- "$s" out.txt err.txt rej.ndjson 2>/dev/null; then fail "$name: '$s' leaked: $(grep -hF -- "$s" out.txt err.txt rej.ndjson | head -c 400)"; fi
  done
}

reset

case "$CASE" in
html)
  # A server that answers 200 text/html (a wrong --url, a portal) is not PostgREST: no row is
  # reported written or deleted, they fail (exit status 1) and are in the reject file.
  printf 'name,email\na,a@x.io\nb,b@x.io\n' > in.csv
  run import --url "$ECHO/html" --table users --file in.csv --reject-file rej.ndjson --retries 0
  eq "import status" 1 "$RC"
  eq "import summary" "2 rows: 0 written, 0 skipped, 2 failed" "$(sed -E 's/ in .*//; s/ \([0-9]+ with an unknown outcome\)//' <<<"$OUT")"
  eq "import rejects" 2 "$(wc -l < rej.ndjson)"
  printf '1\n2\n' > keys.txt
  run delete --url "$ECHO/html" --table users --file keys.txt --reject-file rej.ndjson --retries 0
  eq "delete status" 1 "$RC"
  eq "delete summary" "2 rows: 0 deleted, 0 not found, 2 failed" "$(sed -E 's/ in .*//; s/ \([0-9]+ with an unknown outcome\)//' <<<"$OUT")"
  eq "delete rejects" 2 "$(wc -l < rej.ndjson)"
  # 201 without a body or Content-Range, and a JSON body that is not PostgREST's answer
  for path in json created; do
    run delete --url "$ECHO/$path" --table users --file keys.txt --reject-file rej.ndjson --retries 0
    eq "delete /$path status" 1 "$RC"
  done
  ;;

secrets)
  # Credentials are redacted from every reject record and message: apikey / X-Api-Key headers
  # (echoed by the server), URL user info (sent as Authorization: Basic).
  printf 'name,email\na,a@x.io\n' > in.csv
  for path in error html json; do
    run import --url "$ECHO/$path" --table users --file in.csv --reject-file rej.ndjson --retries 0 \
      --header 'apikey: sb-SUPERSECRET-apikey-0001' --header 'X-Api-Key: xk-OTHERSECRET-0002'
    [[ $RC != 0 ]] || fail "/$path with api keys: status 0"
    no_secret "/$path api keys" SUPERSECRET OTHERSECRET
    host=${ECHO#http://}
    run import --url "http://alice:Pw-S3cret-XYZ@$host/$path" --table users --file in.csv --reject-file rej.ndjson --retries 0
    [[ $RC != 0 ]] || fail "/$path with user info: status 0"
    no_secret "/$path user info" "Pw-S3cret-XYZ" "$(printf 'alice:Pw-S3cret-XYZ' | base64)"
    run delete --url "http://alice:Pw-S3cret-XYZ@$host/$path" --table users --file in.csv --reject-file rej.ndjson \
      --retries 0 --header 'apikey: sb-SUPERSECRET-apikey-0001'
    no_secret "/$path delete" "Pw-S3cret-XYZ" "$(printf 'alice:Pw-S3cret-XYZ' | base64)" SUPERSECRET
  done
  ;;

retry_budget)
  # --retry-budget: failures of requests that were never executed (connection refused) are
  # retried for that long, then the rows fail.
  printf 'name,email\na,a@x.io\n' > in.csv
  t0=$(date +%s.%N)
  run import --url http://127.0.0.1:9 --table users --file in.csv --retry-budget 3 --reject-file rej.ndjson
  took=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
  eq "status" 1 "$RC"
  python3 -c "import sys; sys.exit(0 if 2.5 <= $took <= 15 else 1)" || fail "--retry-budget 3 took $took s"
  grep -q '"transport":"connect"' rej.ndjson || fail "no connect failure: $(cat rej.ndjson)"
  ;;

long_key)
  # A key too long for any URL fails alone with a clear message; the other keys are deleted.
  sql "insert into api.tags(key, label) values ('a', '1'), ('b', '2')"
  { echo a; python3 -c 'print("k" * 100000)'; echo b; } > keys.txt
  run delete --url "$URL" --table tags --column key --file keys.txt --reject-file rej.ndjson
  eq "status" 1 "$RC"
  eq "summary" "3 rows: 2 deleted, 0 not found, 1 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "rejects" 1 "$(wc -l < rej.ndjson)"
  grep -q '^{"line":2,' rej.ndjson || fail "the long key is not rejected with its line"
  if grep -q '"outcomeUnknown":true\|"transport":"reset"' rej.ndjson; then fail "long key reported as a transport failure"; fi
  eq "left" 0 "$(sql "select count(*) from api.tags")"
  ;;

quoted_identifiers)
  # Column names PostgREST accepts when quoted ("we\"ird", "a b") pass through the tool: CSV
  # header names, --conflict-columns and --column are used as written.
  sql "drop table if exists api.adv_quoted; create table api.adv_quoted(\"we\"\"ird\" text primary key, \"a b\" text);
       grant select, insert, update, delete on api.adv_quoted to anon, web_user; notify pgrst, 'reload schema'"
  for ((i = 0; i < 100; i++)); do
    # the description lists the table once PostgREST reloaded its schema cache (a GET may
    # answer before that)
    curl -fsS -H 'Accept: application/openapi+json' "$URL/" 2>/dev/null | grep -q '"adv_quoted"' && break
    sleep 0.1
  done
  printf '"we""ird",a b\nk1,v1\nk2,v2\n' > in.csv
  run import --url "$URL" --table adv_quoted --file in.csv --reject-file rej.ndjson
  eq "import status" 0 "$RC"
  eq "import summary" "2 rows: 2 written, 0 skipped, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  printf '"we""ird",a b\nk2,new\nk3,v3\n' > up.csv
  run import --url "$URL" --table adv_quoted --file up.csv --on-conflict update --conflict-columns 'we"ird' --reject-file rej.ndjson
  eq "upsert status" 0 "$RC"
  eq "after upsert" "k1=v1,k2=new,k3=v3" "$(sql "select string_agg(\"we\"\"ird\" || '=' || \"a b\", ',' order by 1) from api.adv_quoted")"
  printf 'k1\nk3\n' > keys.txt
  run delete --url "$URL" --table adv_quoted --column 'we"ird' --file keys.txt --reject-file rej.ndjson
  eq "delete status" 0 "$RC"
  eq "after delete" "k2=new" "$(sql "select string_agg(\"we\"\"ird\" || '=' || \"a b\", ',' order by 1) from api.adv_quoted")"
  sql "drop table api.adv_quoted; notify pgrst, 'reload schema'"
  ;;

*) unknown_case ;;
esac

finish_case
