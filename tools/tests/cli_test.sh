#!/usr/bin/env bash
# CLI tests of `pgrestify` against the throwaway servers (CTest fixture pgrestify_servers).
#   cli_test.sh CASE PGRESTIFY_BINARY ENV_FILE
# Each case empties the tables, runs the tool and checks the tables (psql), the summary line,
# the reject file and the exit status.
set -euo pipefail
# shellcheck source=tools/tests/cli_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_common.sh" pgrestify-cli-test "$@"
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
              --token --header --schema --null-string --reject-file --quiet --progress-interval \
              --retries --retry-budget --timeout; do
    grep -q -- "$flag" out.txt || fail "import --help does not document $flag"
  done
  run delete --help
  eq "delete --help status" 0 "$RC"
  for flag in --url --table --column --file --batch-size --concurrency --token --header --schema --reject-file --quiet \
              --trim-keys --retries --retry-budget --timeout; do
    grep -q -- "$flag" out.txt || fail "delete --help does not document $flag"
  done
  run --help
  grep -q "Exit status" out.txt || fail "--help does not document the exit status"
  ;;

csv_quoting)
  # Quoted commas, doubled quotes, newlines (LF and CRLF) inside fields, unicode, spaces kept,
  # empty field, "" and --null-string -> NULL with --empty-as-null (the pre-COPY rule), a CRLF line ending, a BOM on the header.
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
  run import --url "$URL" --table users --file in.csv --null-string NULL --empty-as-null --reject-file rej.ndjson
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
  # (anon has no privilege on it, so PostgREST's description does not list it: nothing is sent)
  run import --url "$URL" --table secrets --file secret.csv --reject-file rej.ndjson --quiet
  eq "anon cannot write secrets" 4 "$RC"
  grep -q "table 'secrets' is not exposed by PostgREST" err.txt || fail "anon secrets: $(cat err.txt)"
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
  # keys are matched as written; --trim-keys strips the padding (case delete_keys: without it)
  run delete --url "$URL" --table users --column id --file ids.txt --batch-size 500 --reject-file rej.ndjson --trim-keys
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

delete_keys)
  # Keys are matched exactly as written: ' lead' is not 'lead'. A UTF-8 BOM at the start of the
  # file and the '\r' of CRLF line ends are not part of a key. --trim-keys strips spaces and tabs.
  sql "insert into api.tags(key, label) values ('lead', '1'), ('first', '2'), ('crlf', '3'), (' spaced', '4'), ('keep', '5')"
  printf '\xef\xbb\xbffirst\r\n lead\r\ncrlf\r\n spaced\n' > keys.txt
  run delete --url "$URL" --table tags --column key --file keys.txt --reject-file rej.ndjson
  eq "exit status" 0 "$RC"
  eq "summary" "4 rows: 3 deleted, 1 not found, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "left" "keep,lead" "$(sql "select string_agg(key, ',' order by key) from api.tags")"
  [[ ! -s rej.ndjson ]] || fail "reject file not empty: $(cat rej.ndjson)"
  # with --trim-keys, ' lead' deletes 'lead'
  printf ' lead \t\n' > trim.txt
  run delete --url "$URL" --table tags --column key --file trim.txt --trim-keys
  eq "--trim-keys status" 0 "$RC"
  eq "--trim-keys summary" "1 rows: 1 deleted, 0 not found, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "left after --trim-keys" "keep" "$(sql "select string_agg(key, ',' order by key) from api.tags")"
  ;;

reject_is_input)
  # A reject file that is the input itself (same path, symlink, hard link, /dev/stdin) is refused
  # before anything is opened for writing: exit status 4, nothing sent, the input keeps its bytes.
  printf 'name,email,role\na,a@x.io,user\nb,b@x.io,superhero\n' > in.csv
  ln -s in.csv link.csv
  ln in.csv hard.csv
  sum=$(md5sum < in.csv)
  for reject in in.csv link.csv hard.csv "$PWD/in.csv" ./link.csv; do
    run import --url "$URL" --table users --file in.csv --reject-file "$reject"
    eq "import, reject file $reject: status" 4 "$RC"
    eq "import, reject file $reject: input kept" "$sum" "$(md5sum < in.csv)"
    grep -q "is the input file itself" err.txt || fail "import, reject file $reject: no message: $ERR"
    eq "import, reject file $reject: summary" "0 rows: 0 written, 0 skipped, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  done
  run import --url "$URL" --table users --file link.csv --reject-file hard.csv
  eq "import via two links: status" 4 "$RC"
  set +e
  "$BIN" import --url "$URL" --table users --file - --reject-file /dev/stdin < in.csv > out.txt 2> err.txt
  RC=$?
  set -e
  eq "stdin and /dev/stdin: status" 4 "$RC"
  eq "stdin and /dev/stdin: input kept" "$sum" "$(md5sum < in.csv)"
  set +e
  # shellcheck disable=SC2094  # on purpose: the tool must refuse to write the file it reads
  "$BIN" import --url "$URL" --table users --file - --reject-file in.csv < in.csv > out.txt 2> err.txt
  RC=$?
  set -e
  eq "stdin from the reject file: status" 4 "$RC"
  eq "stdin from the reject file: input kept" "$sum" "$(md5sum < in.csv)"
  eq "nothing imported" 0 "$(sql "select count(*) from api.users")"
  # delete: the same
  sql "insert into api.tags(key, label) values ('a', '1')"
  printf 'a\n' > keys.txt
  ln -s keys.txt keys-link.txt
  ksum=$(md5sum < keys.txt)
  for reject in keys.txt keys-link.txt; do
    run delete --url "$URL" --table tags --column key --file keys.txt --reject-file "$reject"
    eq "delete, reject file $reject: status" 4 "$RC"
    eq "delete, reject file $reject: input kept" "$ksum" "$(md5sum < keys.txt)"
  done
  eq "nothing deleted" 1 "$(sql "select count(*) from api.tags where key = 'a'")"
  # nor may it be the file standard output or standard error goes to (their lines would overwrite
  # each other: the summary over the first reject record)
  set +e
  # shellcheck disable=SC2094  # on purpose: the tool must refuse a reject file that is its stdout
  "$BIN" import --url "$URL" --table users --file in.csv --reject-file same.txt > same.txt 2> err.txt
  RC=$?
  set -e
  eq "reject file = stdout: status" 4 "$RC"
  grep -q "is the file standard output goes to" err.txt || fail "reject file = stdout: $(cat err.txt)"
  set +e
  "$BIN" import --url "$URL" --table users --file in.csv --reject-file /dev/stderr > out.txt 2> same.txt
  RC=$?
  set -e
  eq "reject file = stderr: status" 4 "$RC"
  eq "reject file = stderr/stdout: nothing sent" 0 "$(sql "select count(*) from api.users")"
  # a different file is fine
  run import --url "$URL" --table users --file in.csv --reject-file rej.ndjson
  eq "other reject file" 1 "$RC"
  eq "input still intact" "$sum" "$(md5sum < in.csv)"
  ;;

report_failures)
  # Exit status 4 means nothing was sent; once rows were sent, a report that cannot be written
  # completely is exit status 5 and what was lost is said on standard error.
  printf 'name,email,role\na,a@x.io,user\nb,b@x.io,superhero\nc,c@x.io,user\n' > in.csv
  run import --url "$URL" --table users --file in.csv --reject-file /dev/full
  eq "/dev/full: status" 5 "$RC"
  eq "/dev/full: rows written" 2 "$(sql "select count(*) from api.users")"
  grep -q '^{"line":3,"row":{"email":"b@x.io".*"code":"23514"' err.txt || fail "/dev/full: the reject record is not on stderr: $ERR"
  grep -q "reject file /dev/full is incomplete" err.txt || fail "/dev/full: no note: $ERR"
  eq "/dev/full: summary" "3 rows: 2 written, 0 skipped, 1 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  # standard output closed: refused before anything is sent; the summary never lands in the
  # reject file (which would otherwise get descriptor 1)
  reset
  set +e
  "$BIN" import --url "$URL" --table users --file in.csv --reject-file rej.ndjson >&- 2>err.txt
  RC=$?
  set -e
  eq ">&-: status" 4 "$RC"
  eq ">&-: nothing sent" 0 "$(sql "select count(*) from api.users")"
  if [[ -e rej.ndjson ]] && grep -q "rows:" rej.ndjson; then fail ">&-: the summary is in the reject file"; fi
  grep -q "standard output is closed" err.txt || fail ">&-: no message: $(cat err.txt)"
  # standard error closed, with a reject file: the run is complete without it
  set +e
  "$BIN" import --url "$URL" --table users --file in.csv --reject-file rej.ndjson >out.txt 2>&-
  RC=$?
  set -e
  eq "2>&-: status" 1 "$RC"
  eq "2>&-: rows" 2 "$(sql "select count(*) from api.users")"
  eq "2>&-: rejects" 1 "$(wc -l < rej.ndjson)"
  eq "2>&-: summary" "3 rows: 2 written, 0 skipped, 1 failed" "$(sed -E 's/ in .*//' out.txt)"
  # standard error closed, rejects meant for standard error: refused before anything is sent
  reset
  set +e
  "$BIN" import --url "$URL" --table users --file in.csv >out.txt 2>&-
  RC=$?
  set -e
  eq "2>&- without --reject-file: status" 4 "$RC"
  eq "2>&- without --reject-file: nothing sent" 0 "$(sql "select count(*) from api.users")"
  # standard output full: the summary goes to standard error, status 5
  set +e
  "$BIN" import --url "$URL" --table users --file in.csv --reject-file rej.ndjson >/dev/full 2>err.txt
  RC=$?
  set -e
  eq "stdout /dev/full: status" 5 "$RC"
  grep -q "summary line could not be written.*3 rows: 2 written, 0 skipped, 1 failed" err.txt ||
    fail "stdout /dev/full: summary not on stderr: $(cat err.txt)"
  # an unwritable reject file is found before anything is sent
  reset
  run import --url "$URL" --table users --file in.csv --reject-file /nonexistent-dir/rej.ndjson
  eq "unwritable reject file" 4 "$RC"
  eq "unwritable reject file: nothing sent" 0 "$(sql "select count(*) from api.users")"
  ;;

silent_server)
  # A server that never answers: --timeout and --retries bound the wait, the keys are reported
  # (outcome unknown), and the progress display ticks while no request finishes.
  : "${PGRESTIFY_TEST_SILENT_URL:?no silent test server}"
  printf '1\n2\n' > keys.txt
  t0=$(date +%s.%N)
  run delete --url "$PGRESTIFY_TEST_SILENT_URL" --table users --file keys.txt --timeout 2 --retries 1 --reject-file rej.ndjson
  took=$(python3 -c "import sys; print(round($(date +%s.%N) - $t0, 1))")
  eq "delete status" 1 "$RC"
  python3 -c "import sys; sys.exit(0 if $took < 10 else 1)" || fail "delete took $took s"
  eq "delete summary" "2 rows: 0 deleted, 0 not found, 2 failed (2 with an unknown outcome)" "$(sed -E 's/ in [0-9.]+ s .*//' <<<"$OUT")"
  eq "rejects" 2 "$(wc -l < rej.ndjson)"
  eq "key 1 outcome" True "$(reject_field rej.ndjson 1 error.outcomeUnknown)"
  eq "key 1 attempts" 2 "$(reject_field rej.ndjson 1 error.attempts)"
  eq "key 2 row" 2 "$(reject_field rej.ndjson 2 row)"
  # --progress-interval 1: a line every second although no request finishes
  printf 'name,email\na,a@x.io\n' > in.csv
  run import --url "$PGRESTIFY_TEST_SILENT_URL" --table users --file in.csv --timeout 4 --retries 0 \
    --progress-interval 1 --reject-file rej.ndjson
  eq "import status" 1 "$RC"
  lines=$(grep -c '^progress: ' err.txt || true)
  ((lines >= 3)) || fail "only $lines progress line(s) in 4 s with --progress-interval 1: $ERR"
  ;;

interrupt)
  # The first SIGINT ends the tool within about a second, with a summary, even while requests
  # wait for a server that never answers; their rows are failed with an unknown outcome.
  : "${PGRESTIFY_TEST_SILENT_URL:?no silent test server}"
  # A CSV import first reads the table's description (json columns): interrupted there, nothing
  # was sent and the tool ends at once.
  python3 -c 'print("name,email")
for i in range(50): print(f"s{i},s{i}@x.io")' > in.csv
  "$BIN" import --url "$PGRESTIFY_TEST_SILENT_URL" --table users --file in.csv --batch-size 10 --concurrency 2 \
    --reject-file rej.ndjson >out.txt 2>err.txt &
  pid=$!
  sleep 1
  t0=$(date +%s.%N)
  kill -INT $pid
  set +e
  wait $pid
  RC=$?
  set -e
  took=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
  eq "silent description: status" 130 "$RC"
  python3 -c "import sys; sys.exit(0 if $took < 2.5 else 1)" || fail "silent description: SIGINT took $took s"
  eq "silent description: summary" "0 rows: 0 written, 0 skipped, 0 failed" "$(sed -E 's/ in [0-9.]+ s.*//' out.txt)"
  # NDJSON needs no description: two batches of 10 wait for answers when the signal comes.
  python3 -c 'for i in range(50): print(f"{{\"name\": \"s{i}\", \"email\": \"s{i}@x.io\"}}")' > in.ndjson
  "$BIN" import --url "$PGRESTIFY_TEST_SILENT_URL" --table users --file in.ndjson --batch-size 10 --concurrency 2 \
    --reject-file rej.ndjson >out.txt 2>err.txt &
  pid=$!
  sleep 1
  t0=$(date +%s.%N)
  kill -INT $pid
  set +e
  wait $pid
  RC=$?
  set -e
  took=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
  OUT=$(cat out.txt)
  eq "silent: status" 130 "$RC"
  python3 -c "import sys; sys.exit(0 if $took < 2.5 else 1)" || fail "silent: SIGINT took $took s"
  # two batches of 10 in flight; the rows never read are not counted
  eq "silent: summary" "20 rows: 0 written, 0 skipped, 20 failed (20 with an unknown outcome)" \
    "$(sed -E 's/ in [0-9.]+ s .*//' <<<"$OUT")"
  eq "silent: rejects" 20 "$(wc -l < rej.ndjson)"
  eq "silent: rejects unknown" 20 "$(grep -c '"outcomeUnknown":true' rej.ndjson)"
  # against the real server, mid-run: every row is accounted for and the table agrees
  python3 -c 'print("name,email")
for i in range(300000): print(f"r{i},r{i}@x.io")' > big.csv
  "$BIN" import --url "$URL" --table users --file big.csv --batch-size 500 --concurrency 2 \
    --reject-file rej.ndjson >out.txt 2>err.txt &
  pid=$!
  sleep 1.5
  kill -INT $pid
  set +e
  wait $pid
  RC=$?
  set -e
  OUT=$(cat out.txt)
  eq "real: status" 130 "$RC"
  read -r rows written failed unknown unsent < <(python3 -c 'import re,sys
m = re.match(r"(\d+) rows: (\d+) written, 0 skipped, (\d+) failed(?: \((\d+) with an unknown outcome\))?(?:, (\d+) not sent)? in ", sys.argv[1])
print(*(m.groups("0") if m else ("x", "x", "x", "x", "x")))' "$OUT")
  [[ $rows != x ]] || fail "real: summary: $OUT"
  eq "real: rows add up" "$rows" "$((written + failed + unsent))"
  # rows abandoned after the grace period (a loaded machine) may have been written too
  count=$(sql "select count(*) from api.users")
  ((count >= written && count <= written + unknown)) ||
    fail "real: the table holds $count rows, the summary says $written written ($unknown unknown): $OUT"
  eq "real: rejects" "$failed" "$(wc -l < rej.ndjson)"
  ((written > 0 && written < 300000)) || fail "real: not interrupted mid-run: $OUT"
  grep -q "interrupted: every input row before line" err.txt || fail "real: no resume note: $(cat err.txt)"
  ;;

messages)
  # Messages: one "pgrestify: " prefix, the tool's flag names, the right exit status, a summary
  # line on every path past the command line, and never the text of a --header.
  printf 'name,email\na,a@x.io\n' > in.csv
  run import --url "$URL" --table events --file in.csv --on-conflict ignore
  eq "no primary key: status" 4 "$RC"
  grep -q "pgrestify: pgrestify:" err.txt && fail "doubled prefix: $ERR"
  grep -q -- "--conflict-columns" err.txt || fail "no flag name in: $ERR"
  grep -q "conflictColumns" err.txt && fail "library option name in: $ERR"
  eq "no primary key: summary" "0 rows: 0 written, 0 skipped, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  run import --url "$URL" --table no_such_table --file in.csv --on-conflict ignore
  eq "missing table: status" 4 "$RC"
  grep -q "no_such_table' is not exposed by PostgREST" err.txt || fail "missing table: $ERR"
  eq "missing table: one line" 1 "$(grep -c . err.txt)"
  # an input that cannot be read: status 3 with a summary line
  run import --url "$URL" --table users --file does-not-exist.csv
  eq "missing input: status" 3 "$RC"
  eq "missing input: summary" "0 rows: 0 written, 0 skipped, 0 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  mkdir adir
  run import --url "$URL" --table users --file adir --format json
  eq "directory (json): status" 3 "$RC"
  run delete --url "$URL" --table users --file adir
  eq "directory (delete): status" 3 "$RC"
  grep -q "is a directory" err.txt || fail "directory: $ERR"
  # a CSV header that is not valid UTF-8 is an input error, not a reject of every row
  printf 'na\xffme,email\na,a@x.io\nb,b@x.io\n' > badhead.csv
  run import --url "$URL" --table users --file badhead.csv --reject-file rej.ndjson
  eq "bad header: status" 3 "$RC"
  grep -q "header.*not valid UTF-8" err.txt || fail "bad header: $ERR"
  [[ ! -s rej.ndjson ]] || fail "bad header: rows rejected: $(cat rej.ndjson)"
  eq "bad header: nothing written" 0 "$(sql "select count(*) from api.users")"
  # headers the tool owns are refused before anything is sent (exit 4), malformed ones are a
  # command-line error (exit 2); the text of a --header is never shown
  for h in 'Prefer: tx=rollback' 'prefer: resolution=ignore-duplicates' 'Content-Profile: other' 'Accept: text/csv'; do
    run import --url "$URL" --table users --file in.csv --header "$h"
    eq "--header '$h': status" 4 "$RC"
    grep -q "which the tool sets itself" err.txt || fail "--header '$h': $ERR"
  done
  eq "owned headers: nothing sent" 0 "$(sql "select count(*) from api.users")"
  secret="eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.SIGNATURE42"
  for h in "Authorization Bearer $secret" "Authorization Bearer x:$secret" "Bearer $secret"; do
    run import --url "$URL" --table users --file in.csv --header "$h" --reject-file rej.ndjson
    eq "malformed header: status" 2 "$RC"
    if grep -q "SIGNATURE42\|c2VjcmV0" out.txt err.txt rej.ndjson 2>/dev/null; then fail "the secret is shown: $ERR"; fi
  done
  run import --url "$URL" --table users --file in.csv --header "Authorization: Bearer $secret" --token "$secret"
  eq "--header Authorization with --token: status" 4 "$RC"
  if grep -q "SIGNATURE42" out.txt err.txt; then fail "the secret is shown: $ERR"; fi
  # a header PostgREST does not own passes
  run import --url "$URL" --table users --file in.csv --header 'X-Request-Id: 42'
  eq "other header: status" 0 "$RC"
  ;;

*) unknown_case ;;
esac

finish_case
