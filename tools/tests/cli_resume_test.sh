#!/usr/bin/env bash
# CLI tests of `import --resume STATE` and `--shard K/N` (issue #18) against the throwaway servers
# (CTest fixture pgrestify_servers).
#   cli_resume_test.sh CASE PGRESTIFY_BINARY ENV_FILE
# The table api.resume_rows is created here (a client-side key `id`, a check that fails rows with
# a negative amount) and dropped at the end.
set -euo pipefail
# shellcheck source=tools/tests/cli_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_common.sh" pgrestify-cli-resume "$@"

drop_table() { sql "drop table if exists api.resume_rows; notify pgrst, 'reload schema'" >/dev/null 2>&1 || true; }
trap 'drop_table; [[ -n ${KEEP:-} ]] || rm -rf "$WORK"' EXIT
# The table's comment is new for each run: PostgREST's description shows it once its schema cache
# holds this table (not the one an earlier case dropped).
mark="resume-$$-$RANDOM"
sql "drop table if exists api.resume_rows;
     create table api.resume_rows (id bigint primary key, name text not null,
                                   amount integer not null check (amount >= 0), note text);
     grant select, insert, update, delete on api.resume_rows to anon, web_user;
     comment on table api.resume_rows is '$mark';
     notify pgrst, 'reload schema'" >/dev/null 2>&1
for _ in $(seq 1 200); do
  curl -fsS -H 'Accept: application/openapi+json' "$URL/" 2>/dev/null | grep -q "$mark" && break
  sleep 0.1
done

# gen N [BAD_IDS...]: N rows with ids 1..N (every 5th note NULL, every 7th a quoted `x"y,`); the
# ids in BAD_IDS get amount -1 (the server refuses them). A row is a function of its id, so the
# expected table is computed in SQL (expected).
gen() {
  local n=$1
  shift
  awk -v n="$n" -v bad=" $* " 'BEGIN {
    print "id,name,amount,note"
    for (i = 1; i <= n; i++) {
      note = (i % 5 == 0) ? "" : (i % 7 == 0) ? "\"x\"\"y,\"" : "n"
      amount = index(bad, " " i " ") ? -1 : (i * 37) % 1000
      print i ",name" i "," amount "," note
    }
  }'
}
# The table's rows: count, sum of ids, md5 of every column of every row in id order.
HASH_COLUMNS="string_agg(id || '/' || name || '/' || amount || '/' || coalesce(note, '<null>'), ';' order by id)"
table_state() { sql "select count(*) || ' ' || coalesce(sum(id), 0) || ' ' || coalesce(md5($HASH_COLUMNS), '-') from api.resume_rows"; }
# expected N [BAD_IDS...]: table_state of the rows gen N wrote, without BAD_IDS.
expected() {
  local n=$1
  shift
  local bad
  bad=$(IFS=,; echo "${*:-0}")
  sql "select count(*) || ' ' || coalesce(sum(id), 0) || ' ' || coalesce(md5($HASH_COLUMNS), '-') from (
         select i as id, 'name' || i as name, (i * 37) % 1000 as amount,
                case when i % 5 = 0 then null when i % 7 = 0 then 'x\"y,' else 'n' end as note
         from generate_series(1, $n) i where i not in ($bad)) t"
}
summary() { grep -E '^[0-9]+ rows:' <<<"$OUT" | sed -E 's/ in [0-9.]+ s .*//'; }
position() { sed -nE 's/^ *"position": ([0-9]+).*/\1/p' "$1" 2>/dev/null || true; }
# reject_lines FILE: the input lines of the reject records, sorted, space-separated.
reject_lines() { python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["line"]) for l in open(sys.argv[1])))' "$1"; }
IMPORT=(import --url "$URL" --table resume_rows --reject-file rej.ndjson -q)

case "$CASE" in
kill_resume)
  # 1,000,000 rows plus 3 malformed records (an extra field) and 2 rows the server refuses,
  # killed with SIGKILL at five random points spread over the import, then resumed to the end.
  {
    gen 1000000 250000 750000 | awk 'NR == 100001 || NR == 500001 || NR == 900001 { print "1,x,2,3,4" } { print }'
  } >in.csv
  # input lines of the 5 failures, in input order: the malformed records (lines 100001, 500002,
  # 900003) and ids 250000 (line 250002) and 750000 (line 750003)
  want_rejects="100001 250002 500002 750003 900003"
  mapfile -t points < <(python3 -c 'import random
pts = sorted(random.sample(range(1, 19), 5))
print("\n".join(str(p * 50000 + random.randrange(50000)) for p in pts))')
  killed=0
  for point in "${points[@]}"; do
    # Each run is killed only after its own state moved past where it started: a run the last one
    # overshot (state already past its point) would otherwise die before it recorded its run.
    start=$(position st.json)
    "$BIN" "${IMPORT[@]}" --file in.csv --on-conflict ignore --resume st.json >out.txt 2>err.txt &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      p=$(position st.json)
      if [[ -n $p ]] && ((p >= point)) && [[ $p != "$start" ]]; then
        kill -9 "$pid" 2>/dev/null && killed=$((killed + 1))
        break
      fi
      sleep 0.02
    done
    wait "$pid" 2>/dev/null || true
    echo "killed at position >= $point (state position $(position st.json), table $(sql 'select count(*) from api.resume_rows') rows)"
  done
  eq "runs killed" 5 "$killed"
  RUN_TIMEOUT=120 run "${IMPORT[@]}" --file in.csv --on-conflict ignore --resume st.json
  echo "$OUT"
  eq "exit status (5 rows failed)" 1 "$RC"
  eq "table equals the input" "$(expected 1000000 250000 750000)" "$(table_state)"
  read -r rows written skipped failed < <(summary | sed -E 's/([0-9]+) rows: ([0-9]+) written, ([0-9]+) skipped, ([0-9]+) failed.*/\1 \2 \3 \4/')
  eq "summary: every input record" 1000003 "$rows"
  eq "summary: failed" 5 "$failed"
  eq "summary: written + skipped" 999998 "$((written + skipped))"
  grep -q "^resumed: run 6 of this import" <<<"$OUT" || fail "no 'resumed: run 6' line: $OUT"
  eq "reject records: each failure once" "$want_rejects" "$(reject_lines rej.ndjson)"
  grep -q '"complete": true' st.json || fail "the state does not say complete: $(cat st.json)"
  ;;

refused)
  # Batches of 100, one at a time; id 500 fails and --max-errors 1 stops the run after its batch:
  # a state that is not complete.
  gen 3000 500 >in.csv
  run "${IMPORT[@]}" --file in.csv --batch-size 100 --concurrency 1 --max-errors 1 --resume st.json
  eq "first run: exit status" 1 "$RC"
  grep -q '"complete": false' st.json || fail "the first run's state is complete: $(cat st.json)"
  before="$(table_state) $(md5sum <st.json) $(md5sum <rej.ndjson)"
  eq "first run: one reject" "501" "$(reject_lines rej.ndjson)"
  # a changed input (same size: one digit changed), a changed option, another shard
  cp in.csv saved.csv
  sed 's/^2999,name2999,/2999,name2998,/' saved.csv >in.csv
  run "${IMPORT[@]}" --file in.csv --batch-size 100 --concurrency 1 --resume st.json
  eq "changed input: exit status" 6 "$RC"
  grep -q "the input file changed" <<<"$ERR" || fail "changed input: message: $ERR"
  cp saved.csv in.csv
  run "${IMPORT[@]}" --file in.csv --on-conflict ignore --resume st.json
  eq "changed option: exit status" 6 "$RC"
  grep -q -- "--on-conflict was 'error' and is now 'ignore'" <<<"$ERR" || fail "changed option: message: $ERR"
  run "${IMPORT[@]}" --file in.csv --shard 1/2 --resume st.json
  eq "another shard: exit status" 6 "$RC"
  grep -q "it is the state of shard 1/1, not of shard 1/2" <<<"$ERR" || fail "another shard: message: $ERR"
  eq "nothing written (table, state, reject file)" "$before" \
    "$(table_state) $(md5sum <st.json) $(md5sum <rej.ndjson)"
  # the original command continues: the rejected row once, every other row written. A record
  # written after the last state (a kill between the two) is cut off.
  echo '{"line":9999,"row":{},"error":{"kind":"server"}}' >>rej.ndjson
  run "${IMPORT[@]}" --file in.csv --batch-size 100 --concurrency 1 --max-errors 1 --resume st.json
  eq "resumed: exit status" 1 "$RC"
  eq "resumed: summary over both runs" "3000 rows: 2999 written, 0 skipped, 1 failed" "$(summary)"
  eq "resumed: table" "$(expected 3000 500)" "$(table_state)"
  eq "resumed: the reject record once" "501" "$(reject_lines rej.ndjson)"
  # usage errors: invalid K/N, --resume without a file it can read again or without --reject-file
  for shard in 0/3 4/3 3 a/b 1/0 -1/3 2/3/4 ""; do
    run import --url "$URL" --table resume_rows --file in.csv --shard "$shard"
    eq "--shard '$shard': exit status" 2 "$RC"
  done
  run import --url "$URL" --table resume_rows --file - --reject-file r.ndjson --resume s2.json </dev/null
  eq "--resume with standard input: exit status" 2 "$RC"
  run import --url "$URL" --table resume_rows --file in.csv --resume s2.json
  eq "--resume without --reject-file: exit status" 2 "$RC"
  [[ ! -e s2.json ]] || fail "a refused command line wrote a state"
  ;;

shards)
  # Three processes, one slice each, in parallel; one malformed record (line 4002: record 4000,
  # an extra field) belongs to shard 4000 % 3 + 1 = 2. Id i is record i - 1 before it, i after it.
  gen 30000 | awk 'NR == 4002 { print "1,x,2,3,4" } { print }' >in.csv
  pids=()
  for k in 1 2 3; do
    "$BIN" import --url "$URL" --table resume_rows --file in.csv --shard "$k/3" --resume "st$k.json" \
      --reject-file "rej$k.ndjson" --batch-size 500 -q >"out$k.txt" 2>"err$k.txt" &
    pids+=($!)
  done
  rcs=()
  for pid in "${pids[@]}"; do
    rc=0
    wait "$pid" || rc=$?
    rcs+=("$rc")
  done
  # records r with r % 3 == K-1: 10001 records, 10000 for shards 2 and 3
  eq "shard 1: exit status" 0 "${rcs[0]}"
  eq "shard 1: summary" "10001 rows: 10001 written, 0 skipped, 0 failed" "$(sed -E 's/ in .*//' out1.txt)"
  eq "shard 2: exit status" 1 "${rcs[1]}"
  eq "shard 2: summary" "10000 rows: 9999 written, 0 skipped, 1 failed" "$(sed -E 's/ in .*//' out2.txt)"
  eq "shard 2: the malformed record" "4002" "$(reject_lines rej2.ndjson)"
  eq "shard 3: exit status" 0 "${rcs[2]}"
  eq "shard 3: summary" "10000 rows: 10000 written, 0 skipped, 0 failed" "$(sed -E 's/ in .*//' out3.txt)"
  eq "table equals the input" "$(expected 30000)" "$(table_state)"
  # a shard's state is refused by another shard
  run "${IMPORT[@]}" --file in.csv --shard 3/3 --resume st1.json
  eq "another shard's state: exit status" 6 "$RC"
  grep -q "it is the state of shard 1/3, not of shard 3/3" <<<"$ERR" || fail "another shard's state: $ERR"
  # without --resume the slices are the same
  reset_table() { sql "truncate api.resume_rows" >/dev/null; }
  reset_table
  run import --url "$URL" --table resume_rows --file in.csv --shard 2/3 -q --reject-file r.ndjson
  eq "shard 2 without --resume: summary" "10000 rows: 9999 written, 0 skipped, 1 failed" "$(summary)"
  eq "shard 2 without --resume: its rows" "9999 9999" \
    "$(sql "select count(*) || ' ' || count(*) filter (where case when id <= 4000 then id - 1 else id end % 3 = 1)
            from api.resume_rows")"
  ;;

finished)
  gen 5000 >in.csv
  run "${IMPORT[@]}" --file in.csv --resume st.json
  eq "first run: exit status" 0 "$RC"
  eq "first run: summary" "5000 rows: 5000 written, 0 skipped, 0 failed" "$(summary)"
  sql "truncate api.resume_rows" >/dev/null
  state_before=$(md5sum <st.json)
  # the same command again: nothing is sent (the table stays empty; a server that cannot be
  # reached is not even asked)
  run "${IMPORT[@]}" --file in.csv --resume st.json
  eq "rerun: exit status" 0 "$RC"
  eq "rerun: the import's summary" "5000 rows: 5000 written, 0 skipped, 0 failed" "$(summary)"
  grep -q "is complete" <<<"$ERR" || fail "rerun: no 'is complete' note: $ERR"
  eq "rerun: nothing sent" "0" "$(sql "select count(*) from api.resume_rows")"
  run import --url http://127.0.0.1:9 --table resume_rows --reject-file rej.ndjson --file in.csv --resume st.json
  eq "rerun against no server: exit status" 0 "$RC"
  eq "rerun: the state is unchanged" "$state_before" "$(md5sum <st.json)"
  ;;

corrupt)
  gen 2000 >in.csv
  run "${IMPORT[@]}" --file in.csv --batch-size 100 --resume good.json
  eq "first run: exit status" 0 "$RC"
  sql "truncate api.resume_rows" >/dev/null
  printf 'kept\n' >rej.ndjson
  head -c 200 good.json >truncated.json
  : >empty.json
  printf '\x00\xff garbage' >garbage.json
  printf '[1, 2, 3]' >array.json
  sed -E 's/"position": [0-9]+/"position": 100/; s/"complete": true/"complete": false/' good.json >edited.json
  python3 -c 'import json; s = json.load(open("good.json")); s["position"] = 100; s["complete"] = False; s["check"] = "0" * 32; json.dump(s, open("badcheck.json", "w"))'
  python3 -c 'print("{\"a\": " * 50000 + "1" + "}" * 50000)' >deep.json
  head -c 2000000 /dev/zero | tr '\0' ' ' >huge.json
  mkdir dir.json
  for f in truncated empty garbage array edited badcheck deep huge dir; do
    before=$(md5sum <rej.ndjson)
    if [[ -f $f.json ]]; then sum=$(md5sum <"$f.json"); else sum=dir; fi
    RUN_TIMEOUT=30 run "${IMPORT[@]}" --file in.csv --resume "$f.json"
    eq "$f: exit status" 6 "$RC"
    grep -q "the state file $f.json cannot be used" <<<"$ERR" || fail "$f: message: $ERR"
    eq "$f: nothing written to the table" 0 "$(sql "select count(*) from api.resume_rows")"
    eq "$f: the reject file is unchanged" "$before" "$(md5sum <rej.ndjson)"
    if [[ -f $f.json ]]; then eq "$f: the state file is unchanged" "$sum" "$(md5sum <"$f.json")"; fi
  done
  ;;

*) unknown_case ;;
esac

finish_case
