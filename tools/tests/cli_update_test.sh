#!/usr/bin/env bash
# `pgrestify update` and `pgrestify sql` (issue #16) against the throwaway servers:
#   cli_update_test.sh CASE PGRESTIFY_BINARY ENV_FILE
# The function is installed in schema `other` (the tool's --schema), and dropped at the end.
# shellcheck source=tools/tests/cli_common.sh
source "$(dirname "$0")/cli_common.sh" pgrestify-cli-update "$@"

drop_all() {
  sql "drop function if exists other.pgrestify_bulk_update(text, text[], jsonb, boolean, text);
       drop table if exists other.cliupd; drop schema if exists \"cli upd \"\"sch\" cascade;
       notify pgrst, 'reload schema'" >/dev/null
}
trap 'drop_all; [[ -n ${KEEP:-} ]] || rm -rf "$WORK"' EXIT

# Waits until PostgREST's description of schema `other` lists the function and the table with
# comment $1.
wait_exposed() {
  for _ in $(seq 1 200); do
    if curl -fsS -H 'Accept: application/openapi+json' -H 'Accept-Profile: other' "$URL/" 2>/dev/null |
      python3 -c 'import json,sys; d=json.load(sys.stdin); m=sys.argv[1]
sys.exit(0 if "/rpc/pgrestify_bulk_update" in d.get("paths",{}) and d.get("definitions",{}).get("cliupd",{}).get("description")==m else 1)' "$1"; then
      return 0
    fi
    sleep 0.1
  done
  fail "PostgREST never listed the function and the table"
  return 1
}

case "$CASE" in
sql)
  run sql
  eq "status" 0 "$RC"
  grep -q '^CREATE OR REPLACE FUNCTION api.pgrestify_bulk_update($' <<<"$OUT" || fail "default schema is not api"
  grep -q 'SECURITY INVOKER' <<<"$OUT" || fail "not SECURITY INVOKER"
  # a schema name that needs quoting is quoted, and the output runs in psql as it is
  run sql --schema 'cli upd "sch'
  eq "status (odd schema)" 0 "$RC"
  grep -q '^CREATE OR REPLACE FUNCTION "cli upd ""sch".pgrestify_bulk_update($' <<<"$OUT" || fail "schema not quoted"
  grep -q 'api\.pgrestify_bulk_update' <<<"$OUT" && fail "api. left in the output"
  sql 'create schema "cli upd ""sch"' >/dev/null
  "$PSQL" "$PGRESTIFY_TEST_PG_URI" -XAtq -v ON_ERROR_STOP=1 -f out.txt >/dev/null || fail "psql refused the SQL"
  eq "installed" 1 "$(sql "select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                           where n.nspname = 'cli upd \"sch' and p.proname = 'pgrestify_bulk_update'")"
  eq "invoker" f "$(sql "select p.prosecdef from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                         where n.nspname = 'cli upd \"sch' and p.proname = 'pgrestify_bulk_update'")"
  ;;

update_function)
  mark="cliupd $(date +%s%N)"
  run sql --schema other
  eq "sql status" 0 "$RC"
  "$PSQL" "$PGRESTIFY_TEST_PG_URI" -XAtq -v ON_ERROR_STOP=1 -f out.txt >/dev/null
  sql "drop table if exists other.cliupd;
       create table other.cliupd (id int primary key, v text not null, n int not null check (n >= 0));
       insert into other.cliupd select g, 'old', 0 from generate_series(1, 3000) g;
       grant select, update on other.cliupd to anon;
       comment on table other.cliupd is '$mark'; notify pgrst, 'reload schema'" >/dev/null
  wait_exposed "$mark"
  # 3000 rows, each with its own values; id 77 violates the check; ids 9001/9002 do not exist
  python3 - <<'PY' > rows.ndjson
import json
for i in range(1, 3001):
    print(json.dumps({"id": i, "v": "v%d" % (i * 7), "n": -1 if i == 77 else i * 3}))
    if i == 1500:
        print(json.dumps({"id": 9001, "v": "x", "n": 1}))
print(json.dumps({"id": 9002, "v": "x", "n": 1}))
PY
  run update --url "$URL" --schema other --table cliupd --file rows.ndjson --key id --reject-file rej.ndjson -q
  eq "status" 1 "$RC"
  eq "summary" "3002 rows: 2999 updated, 2 not found, 1 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "updated" 2999 "$(sql "select count(*) from other.cliupd where v = 'v' || (id * 7) and n = id * 3")"
  eq "violating row unchanged" "old 0" "$(sql "select v || ' ' || n from other.cliupd where id = 77")"
  eq "rejects" 3 "$(wc -l < rej.ndjson)"
  eq "reject lines" "77 1501 3002" "$(python3 -c 'import json,sys
print(" ".join(str(n) for n in sorted(json.loads(l)["line"] for l in open("rej.ndjson"))))')"
  eq "reject kinds" "23514 not_found not_found" "$(python3 -c 'import json
r=[j["error"] for j in sorted((json.loads(l) for l in open("rej.ndjson")), key=lambda j: j["line"])]
print(" ".join(e.get("code") or e.get("kind") for e in r))')"
  # --strategy function works the same, and patch gives the same table
  sql "update other.cliupd set v = 'old', n = 0" >/dev/null
  run update --url "$URL" --schema other --table cliupd --file rows.ndjson --key id --strategy patch -q \
    --reject-file rej2.ndjson
  eq "patch summary" "3002 rows: 2999 updated, 2 not found, 1 failed" "$(sed -E 's/ in .*//' <<<"$OUT")"
  eq "patch updated" 2999 "$(sql "select count(*) from other.cliupd where v = 'v' || (id * 7) and n = id * 3")"
  ;;

*) unknown_case ;;
esac

finish_case
