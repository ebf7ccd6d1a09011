#!/usr/bin/env bash
# CLI tests of `pgrestify` against the throwaway servers (CTest fixture pgrestify_servers).
#   cli_test.sh CASE PGRESTIFY_BINARY ENV_FILE
# Each case empties the tables, runs the tool and checks the tables (psql), the summary line,
# the reject file and the exit status.
set -euo pipefail
CASE=${1:?case}
BIN=${2:?pgrestify binary}
ENV_FILE=${3:?env file}
if [[ -f $ENV_FILE ]]; then
  set -a
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  set +a
fi
: "${PGRESTIFY_TEST_URL:?no test server (PGRESTIFY_TEST_URL)}"
URL=$PGRESTIFY_TEST_URL
PSQL=${PGRESTIFY_TEST_PSQL:-psql}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgrestify-cli-test.XXXXXX")
[[ -n ${KEEP:-} ]] || trap 'rm -rf "$WORK"' EXIT; [[ -z ${KEEP:-} ]] || echo "work dir $WORK"
cd "$WORK"

FAILS=0
fail() { printf 'FAIL [%s]: %s\n' "$CASE" "$*" >&2; FAILS=$((FAILS + 1)); }
sql() { "$PSQL" "$PGRESTIFY_TEST_PG_URI" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
eq() { # NAME EXPECTED ACTUAL
  if [[ "$2" != "$3" ]]; then fail "$1: expected [$2], got [$3]"; fi
}
reset() { curl -fsS -X POST "$URL/rpc/reset_tables" >/dev/null; }
# run ARGS...: runs the tool, sets RC, OUT (stdout), ERR (stderr)
run() {
  set +e
  "$BIN" "$@" >out.txt 2>err.txt
  RC=$?
  set -e
  OUT=$(cat out.txt)
  ERR=$(cat err.txt)
}
summary_re='^[0-9]+ rows: [0-9]+ written, [0-9]+ skipped, [0-9]+ failed in [0-9]+\.[0-9] s \([0-9]+ rows/s\)$'
reject_field() { # FILE N JQ-LIKE-KEY: the field of the N-th (1-based) reject record, via python
  python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; v=r[int(sys.argv[2])-1]
for k in sys.argv[3].split("."): v=v[k]
print(v if not isinstance(v,(dict,list)) else json.dumps(v,ensure_ascii=False))' "$1" "$2" "$3"
}

reset

case "$CASE" in
help)
  run import --help
  eq "import --help status" 0 "$RC"
  for flag in --url --table --file --format --batch-size --concurrency --on-conflict --conflict-columns \
              --token --header --schema --null-string --reject-file --quiet --progress-interval; do
    grep -q -- "$flag" out.txt || fail "import --help does not document $flag"
  done
  run delete --help
  eq "delete --help status" 0 "$RC"
  for flag in --url --table --column --file --batch-size --concurrency --token --header --schema --reject-file --quiet; do
    grep -q -- "$flag" out.txt || fail "delete --help does not document $flag"
  done
  run --help
  grep -q "Exit status" out.txt || fail "--help does not document the exit status"
  ;;

csv_quoting)
  # Quoted commas, doubled quotes, newlines (LF and CRLF) inside fields, unicode, spaces kept,
  # empty field and --null-string -> NULL, a CRLF line ending, a BOM on the header.
  printf '\xef\xbb\xbfname,email,status,role\r\n' > in.csv
  cat >> in.csv <<'CSV'
"Smith, John",a@x.io,"said ""hi""",user
"multi
line
name",b@x.io,,admin
Zoë 東京 🚀,c@x.io,NULL,guest
  padded  ,d@x.io,"",user
CSV
  printf '"crlf\r\ninside",e@x.io,ok,user\r\n' >> in.csv
  run import --url "$URL" --table users --file in.csv --null-string NULL --reject-file rej.ndjson
  eq "exit status" 0 "$RC"
  eq "summary" "5 rows: 5 written, 0 skipped, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  [[ $OUT =~ $summary_re ]] || fail "summary line format: $OUT"
  eq "a name" 'Smith, John' "$(sql "select name from api.users where email='a@x.io'")"
  eq "a status" 'said "hi"' "$(sql "select status from api.users where email='a@x.io'")"
  eq "b name" $'multi\nline\nname' "$(sql "select name from api.users where email='b@x.io'")"
  eq "b status null" t "$(sql "select status is null from api.users where email='b@x.io'")"
  eq "b role" admin "$(sql "select role from api.users where email='b@x.io'")"
  eq "c name" 'Zoë 東京 🚀' "$(sql "select name from api.users where email='c@x.io'")"
  eq "c status null" t "$(sql "select status is null from api.users where email='c@x.io'")"
  eq "d name" '  padded  ' "$(sql "select name from api.users where email='d@x.io'")"
  eq "d status null" t "$(sql "select status is null from api.users where email='d@x.io'")"
  eq "e name" t "$(sql "select name = E'crlf\\r\\ninside' from api.users where email='e@x.io'")"
  eq "count" 5 "$(sql "select count(*) from api.users")"
  [[ ! -s rej.ndjson ]] || fail "reject file not empty: $(cat rej.ndjson)"
  ;;

ndjson)
  cat > in.ndjson <<'NDJSON'
{"name": "n1", "email": "n1@x.io", "active": false}

{"name": "Zoë \u6771", "email": "n2@x.io", "role": "admin"}
not json
[1, 2]
{"name": "n3", "email": "n3@x.io", "last_login": "2024-01-02T03:04:05Z"}
NDJSON
  run import --url "$URL" --table users --file in.ndjson --reject-file rej.ndjson
  eq "exit status" 1 "$RC"
  eq "summary" "5 rows: 3 written, 0 skipped, 2 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "count" 3 "$(sql "select count(*) from api.users")"
  eq "n1 active" f "$(sql "select active from api.users where email='n1@x.io'")"
  eq "n2 name" 'Zoë 東' "$(sql "select name from api.users where email='n2@x.io'")"
  eq "n3 last_login" '2024-01-02 03:04:05+00' "$(sql "select last_login at time zone 'UTC' || '+00' from api.users where email='n3@x.io'")"
  eq "rejects" 2 "$(wc -l < rej.ndjson)"
  eq "reject 1 line" 4 "$(reject_field rej.ndjson 1 line)"
  eq "reject 1 row" 'not json' "$(reject_field rej.ndjson 1 row)"
  eq "reject 1 kind" input "$(reject_field rej.ndjson 1 error.kind)"
  eq "reject 2 line" 5 "$(reject_field rej.ndjson 2 line)"
  eq "reject 2 message" "the line is not a JSON object" "$(reject_field rej.ndjson 2 error.message)"
  # --format overrides the extension
  reset
  cp in.ndjson data.txt
  run import --url "$URL" --table users --file data.txt --format ndjson --quiet --reject-file rej2.ndjson
  eq "--format ndjson count" 3 "$(sql "select count(*) from api.users")"
  ;;

json_array)
  cat > in.json <<'JSON'
[{"name": "j1", "email": "j1@x.io"},
 {"name": "j2", "email": "j2@x.io", "role": "nope"},
 42,
 {"name": "j3", "email": "j3@x.io"}]
JSON
  run import --url "$URL" --table users --file in.json --reject-file rej.ndjson
  eq "exit status" 1 "$RC"
  eq "summary" "4 rows: 2 written, 0 skipped, 2 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "count" 2 "$(sql "select count(*) from api.users")"
  eq "rejects" 2 "$(wc -l < rej.ndjson)"
  # records of a JSON array are numbered by element (1-based)
  grep -q '"line":3,"row":42,' rej.ndjson || fail "element 3 not rejected: $(cat rej.ndjson)"
  grep -q '"line":2,.*"code":"23514"' rej.ndjson || fail "element 2 not rejected with 23514: $(cat rej.ndjson)"
  ;;

rejects)
  # 2,500 rows over 3 batches; failures: an in-file duplicate email (line of the later row),
  # a duplicate of a pre-existing row, a CHECK violation, a NOT NULL violation, a record with
  # too many fields. A multi-line record before them shifts line numbers off row numbers.
  sql "insert into api.users(name, email) values ('old', 'exists@x.io')"
  python3 - <<'PY'
import csv
with open("in.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["name", "email", "role"])
    line = 2
    expect = []
    for i in range(2500):
        name, email, role = f"u{i}", f"u{i}@x.io", "user"
        if i == 3: name = "two\nlines"
        if i == 700: email = "u10@x.io"; expect.append((line, "23505"))
        if i == 1200: email = "exists@x.io"; expect.append((line, "23505"))
        if i == 1500: role = "superhero"; expect.append((line, "23514"))
        if i == 2100: email = ""; expect.append((line, "23502"))
        if i == 2300:
            w.writerow([name, email, role, "extra"]); expect.append((line, "input")); line += 1; continue
        w.writerow([name, email, role])
        line += 1 + name.count("\n")
with open("expected.txt", "w") as f:
    for l, c in sorted(expect): f.write(f"{l} {c}\n")
PY
  run import --url "$URL" --table users --file in.csv --batch-size 1000 --reject-file rej.ndjson
  eq "exit status" 1 "$RC"
  eq "summary" "2500 rows: 2495 written, 0 skipped, 5 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "count" 2496 "$(sql "select count(*) from api.users")"
  got=$(python3 -c 'import json
for l in open("rej.ndjson"):
    r = json.loads(l); e = r["error"]
    print(r["line"], e.get("code") or e["kind"])' | sort -n)
  eq "reject lines and codes" "$(cat expected.txt)" "$got"
  # a server reject carries the row as sent and the server's message and details
  line700=$(awk '$2=="23505"{print $1; exit}' expected.txt)
  rec=$(grep "^{\"line\":$line700," rej.ndjson || true)
  [[ -n $rec ]] || fail "no reject record for line $line700"
  grep -q '"row":{"email":"u10@x.io","name":"u700","role":"user"}' <<<"$rec" || fail "row of line $line700: $rec"
  grep -q '"details":"Key (email)=(u10@x.io) already exists."' <<<"$rec" || fail "details of line $line700: $rec"
  grep -q '"status":409' <<<"$rec" || fail "status of line $line700: $rec"
  # without --reject-file the records go to standard error
  reset
  sql "insert into api.users(name, email) values ('old', 'exists@x.io')"
  run import --url "$URL" --table users --file in.csv --quiet
  eq "stderr rejects" 5 "$(grep -c '^{"line":' err.txt)"
  ;;

exit_codes)
  printf 'name,email\nok,ok@x.io\n' > good.csv
  run import --url "$URL" --table users --file good.csv
  eq "all written" 0 "$RC"
  run import --url "$URL" --table users --file good.csv --reject-file rej.ndjson
  eq "duplicate fails" 1 "$RC"
  run import --url "$URL" --table users
  eq "missing --file" 2 "$RC"
  run import --url "$URL" --table users --file good.csv --batch-size 0
  eq "--batch-size 0" 2 "$RC"
  run import --url "$URL" --table users --file good.csv --on-conflict maybe
  eq "--on-conflict maybe" 2 "$RC"
  run import --url "$URL" --table users --file good.csv --header 'no colon'
  eq "bad --header" 2 "$RC"
  run import --url "$URL" --table users --file does-not-exist.csv
  eq "missing file" 3 "$RC"
  run import --url "$URL" --table events --file good.csv --on-conflict ignore
  eq "ignore on a table without a primary key" 4 "$RC"
  grep -q "primary key" err.txt || fail "no primary key message: $ERR"
  run import --url "$URL" --table users --file good.csv --reject-file /nonexistent-dir/rej.ndjson
  eq "unwritable reject file" 4 "$RC"
  # connection refused: every row fails (after retries) with a transport error
  run import --url http://127.0.0.1:9 --table users --file good.csv --reject-file rej.ndjson --quiet
  eq "server down" 1 "$RC"
  grep -q '"kind":"transport"' rej.ndjson || fail "no transport reject: $(cat rej.ndjson)"
  # JWT: secrets is readable by web_user only
  printf 'value\nfrom-cli\n' > secret.csv
  run import --url "$URL" --table secrets --file secret.csv --reject-file rej.ndjson --quiet
  eq "anon cannot write secrets" 1 "$RC"
  run import --url "$URL" --table secrets --file secret.csv --token "$PGRESTIFY_TEST_JWT" --quiet
  eq "web_user writes secrets" 0 "$RC"
  eq "secret row" 1 "$(sql "select count(*) from api.secrets where value='from-cli'")"
  sql "delete from api.secrets where value='from-cli'"
  # --schema: other.notes
  printf 'body\nnote one\n' > note.csv
  run import --url "$URL" --table notes --file note.csv --schema other --quiet
  eq "--schema other" 0 "$RC"
  eq "note row" 1 "$(sql "select count(*) from other.notes where body='note one'")"
  sql "truncate other.notes"
  ;;

input_error)
  # An unterminated quoted field at line 4: the rows before it are written, exit status 3.
  printf 'name,email\na,a@x.io\nb,b@x.io\n"broken,c@x.io\nd,d@x.io\n' > in.csv
  run import --url "$URL" --table users --file in.csv --reject-file rej.ndjson
  eq "exit status" 3 "$RC"
  eq "written before the error" 2 "$(sql "select count(*) from api.users")"
  grep -q "input error at line 4" err.txt || fail "no line in the input error: $ERR"
  # text after a closing quote
  reset
  printf 'name,email\na,a@x.io\n"b"x,b@x.io\n' > in2.csv
  run import --url "$URL" --table users --file in2.csv --reject-file rej.ndjson
  eq "exit status (quote)" 3 "$RC"
  grep -q "input error at line 3" err.txt || fail "no line in the input error: $ERR"
  # duplicate header column
  run import --url "$URL" --table users --file <(printf 'name,name\na,b\n') --format csv
  eq "duplicate header" 3 "$RC"
  ;;

ignore_twice)
  python3 - <<'PY'
import csv
with open("in.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["name", "email", "role"])
    for i in range(3000):
        w.writerow([f"name {i}", f"e{i % 2500}@x.io", "admin" if i % 7 == 0 else "user"])  # 500 repeats in the file
PY
  snapshot() { sql "select md5(string_agg(name || '|' || email || '|' || role, ',' order by email)) || ' ' || count(*) from api.users"; }
  run import --url "$URL" --table users --file in.csv --on-conflict ignore --conflict-columns email --batch-size 400
  eq "first run status" 0 "$RC"
  eq "first run summary" "3000 rows: 2500 written, 500 skipped, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  first=$(snapshot)
  # the first occurrence of each email is kept
  eq "kept first" "name 5" "$(sql "select name from api.users where email='e5@x.io'")"
  run import --url "$URL" --table users --file in.csv --on-conflict ignore --conflict-columns email --batch-size 400
  eq "second run status" 0 "$RC"
  eq "second run summary" "3000 rows: 0 written, 3000 skipped, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "same table" "$first" "$(snapshot)"
  eq "count" 2500 "$(sql "select count(*) from api.users")"
  ;;

update)
  printf 'name,email,role\nA,a@x.io,user\nB,b@x.io,user\n' > first.csv
  printf 'name,email,role\nA2,a@x.io,admin\nC,c@x.io,guest\n' > second.csv
  run import --url "$URL" --table users --file first.csv
  eq "insert status" 0 "$RC"
  run import --url "$URL" --table users --file second.csv --on-conflict update --conflict-columns email
  eq "upsert status" 0 "$RC"
  eq "upsert summary" "2 rows: 2 written, 0 skipped, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "rows" "A2 admin,B user,C guest" "$(sql "select string_agg(name || ' ' || role, ',' order by email) from api.users")"
  ;;

delete)
  sql "insert into api.users(name, email) select 'u' || g, 'u' || g || '@x.io' from generate_series(1, 3000) g"
  { seq 1 2 2999; echo; echo "  3000  "; echo 99999; } > ids.txt  # odd ids, a blank line, padding, an absent id
  run delete --url "$URL" --table users --column id --file ids.txt --batch-size 500 --reject-file rej.ndjson
  eq "exit status" 0 "$RC"
  eq "summary" "1502 rows: 1501 deleted, 1 not found, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "remaining" 1499 "$(sql "select count(*) from api.users")"
  eq "remaining are even" 0 "$(sql "select count(*) from api.users where id % 2 = 1 or id = 3000")"
  [[ ! -s rej.ndjson ]] || fail "reject file not empty: $(cat rej.ndjson)"
  # a key that is not a valid id fails (22P02) and is rejected with its line
  printf '2\nnot-a-number\n4\n' > bad.txt
  run delete --url "$URL" --table users --column id --file bad.txt --reject-file rej.ndjson
  eq "bad key status" 1 "$RC"
  eq "bad key rejects" 1 "$(wc -l < rej.ndjson)"
  grep -q '^{"line":2,"row":"not-a-number",' rej.ndjson || fail "bad key reject: $(cat rej.ndjson)"
  eq "good keys of that file" 0 "$(sql "select count(*) from api.users where id in (2, 4)")"
  # text keys
  sql "insert into api.tags(key, label) values ('a,b', '1'), ('c \"d\"', '2'), ('keep', '3')"
  printf 'a,b\nc "d"\n' > tags.txt
  run delete --url "$URL" --table tags --column key --file tags.txt
  eq "tags status" 0 "$RC"
  eq "tags left" keep "$(sql "select string_agg(key, ',') from api.tags")"
  ;;

stdin)
  python3 -c 'import sys
print("name,email")
for i in range(20000): print(f"s{i},s{i}@x.io")' > in.csv
  set +e
  "$BIN" import --url "$URL" --table users --file - --progress-interval 1 --batch-size 200 --concurrency 2 \
    < <(cat in.csv) >out.txt 2>err.txt
  RC=$?
  set -e
  OUT=$(cat out.txt)
  eq "exit status" 0 "$RC"
  eq "summary" "20000 rows: 20000 written, 0 skipped, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  [[ $OUT =~ $summary_re ]] || fail "summary line format: $OUT"
  eq "count" 20000 "$(sql "select count(*) from api.users")"
  # not a terminal: progress (if any was due) is plain lines, never carriage returns
  if grep -q $'\r' err.txt; then fail "carriage return in non-terminal progress"; fi
  if [[ -s err.txt ]]; then grep -qv '^progress: ' err.txt && fail "unexpected stderr: $(cat err.txt)"; fi
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
echo "$CASE: ok"
