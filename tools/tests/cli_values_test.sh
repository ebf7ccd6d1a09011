#!/usr/bin/env bash
# CLI tests of how values reach the database unchanged (issues #13 point 2 and #21), against the
# throwaway servers (CTest fixture pgrestify_servers):
#   cli_values_test.sh CASE PGRESTIFY_BINARY ENV_FILE
#   copy_roundtrip   a table of every common type, exported by psql's \copy ... csv header
#                    (default NULL, then NULL 'NULL'), imported into a copy: 0 differing rows
#   csv_conventions  unquoted empty / "" / --null-string quoted and not / --empty-as-null /
#                    json columns: valid, invalid (fails its row with its line), JSON null
#   ndjson_exact     NDJSON and JSON numbers reach numeric/text/json/jsonb with their digits;
#                    a value the column cannot take fails its row with PostgreSQL's error
# Each case creates its own tables (api.cv_*) and drops them at the end.
set -euo pipefail
# shellcheck source=tools/tests/cli_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_common.sh" pgrestify-cli-values "$@"
summary() { sed -E 's/ in .*//' <<<"$OUT"; }
reject_field() { # FILE N KEY.PATH: a field of the N-th (1-based) reject record
  python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1], newline="\n")]; v=r[int(sys.argv[2])-1]
for k in sys.argv[3].split("."): v=v[k]
print(v if not isinstance(v,(dict,list)) else json.dumps(v,ensure_ascii=False))' "$1" "$2" "$3"
}
# Makes PostgREST reload its schema cache and waits until its description lists TABLE (a GET on
# the table answers before that: PostgREST 12 queries tables it does not know yet).
reload_and_wait() { # TABLE
  sql "NOTIFY pgrst, 'reload schema'"
  local i
  for ((i = 0; i < 100; i++)); do
    curl -s -H 'Accept: application/openapi+json' "$URL/" | python3 -c \
      'import json,sys; sys.exit(0 if sys.argv[1] in json.load(sys.stdin).get("definitions", {}) else 1)' "$1" \
      && return 0
    sleep 0.1
  done
  fail "PostgREST does not serve $1 after a schema reload"
  exit 1
}
grant() { sql "GRANT SELECT, INSERT, UPDATE, DELETE ON $1 TO anon, web_user"; }

case "$CASE" in
copy_roundtrip)
  sql "DROP TABLE IF EXISTS api.cv_src, api.cv_dst"
  sql "CREATE TABLE api.cv_src (
         id int PRIMARY KEY, t text, tn text NOT NULL, j json, jb jsonb, ia int[], ta text[], n numeric,
         b boolean, by bytea, ts timestamptz, d date, u uuid)"
  # Edge values: empty string, NULL, the text NULL, quotes, newlines, spaces, unicode, JSON scalars,
  # arrays, objects and nested nulls (json keeps its spacing and duplicate keys), a 30-digit numeric.
  sql "INSERT INTO api.cv_src VALUES
   (1, '', '', '{\"a\": 1}', '{\"a\": [1, 2.50, null], \"b\": {\"c\": \"x\"}}', '{1,2,3}', '{\"\",NULL,\"a b\",\"NULL\"}',
    123456789012345678901234567890.123456789, true, '\\x00ff', 'infinity', '2024-02-29',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
   (2, NULL, 'NULL', '42', '\"str\"', '{}', '{}', -0.000000000000000000000000000001, false, '\\x', '-infinity',
    '1970-01-01', NULL),
   (3, 'NULL', 'quote \"x\" and ''y''', '[1, \"two\", null, {\"k\": []}]', '12345678901234567890.123456789', NULL,
    NULL, NULL, NULL, NULL, '2024-01-02 03:04:05.123456+00', NULL, NULL),
   (4, E'multi\\nline\\r\\nend', '  padded  ', 'true', 'false', '{-1,NULL}',
    E'{\"with,comma\",\"with \\\\\"quote\\\\\"\",\"back\\\\\\\\slash\"}', 0, NULL, '\\xdeadbeef', NULL, 'infinity', NULL),
   (5, 'Zoë 東京 🚀', ',', '\"a\\u00e9 \\\"q\\\"\"', '{\"x\": 1e-5, \"y\": -0.0}', NULL, '{\"\"}', 1.50, NULL, NULL, NULL,
    '-infinity', NULL),
   (6, '\"', '\"\"', '{\"deep\": {\"deeper\": [[]]}, \"a\": 1, \"a\": 2}', '[]', NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL),
   (7, ' ', E'\\t', '{\"spaced\" :  1 ,  \"n\": 1.000000000000000000001 }', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL),
   (8, NULL, 'null', NULL, '{}', NULL, ARRAY[NULL]::text[], 1e-30, NULL, NULL, NULL, NULL, NULL)"
  sql "CREATE TABLE api.cv_dst (LIKE api.cv_src INCLUDING ALL)"
  grant api.cv_src
  grant api.cv_dst
  reload_and_wait cv_dst
  # Rows that differ (json as jsonb and, except for a top-level string, whose escapes PostgreSQL
  # decodes on the way in, as text: json keeps its spacing; numeric also as text: its scale).
  cols="id, t, tn, j::jsonb, CASE WHEN json_typeof(j) = 'string' THEN NULL ELSE j::text END, jb, ia, ta, n, n::text,
        b, by, ts, d, u"
  diff_sql="SELECT count(*) FROM ((SELECT $cols FROM api.cv_src EXCEPT SELECT $cols FROM api.cv_dst)
            UNION ALL (SELECT $cols FROM api.cv_dst EXCEPT SELECT $cols FROM api.cv_src)) x"
  for null in default NULL; do
    sql "TRUNCATE api.cv_dst"
    if [[ $null == default ]]; then
      sql "\\copy api.cv_src to '$WORK/src.csv' csv header"
      run import --url "$URL" --table cv_dst --file src.csv --reject-file rej.ndjson
    else
      sql "\\copy api.cv_src to '$WORK/src.csv' csv header null 'NULL'"
      run import --url "$URL" --table cv_dst --file src.csv --null-string NULL --reject-file rej.ndjson
    fi
    eq "[$null] exit status" 0 "$RC"
    eq "[$null] summary" "8 rows: 8 written, 0 skipped, 0 failed" "$(summary)"
    [[ ! -s rej.ndjson ]] || fail "[$null] reject file not empty: $(cat rej.ndjson)"
    [[ -z $ERR ]] || fail "[$null] unexpected stderr: $ERR"
    eq "[$null] rows in the copy" 8 "$(sql "SELECT count(*) FROM api.cv_dst")"
    eq "[$null] differing rows" 0 "$(sql "$diff_sql")"
    if [[ $(sql "$diff_sql") != 0 ]]; then
      sql "(SELECT 'src', $cols FROM api.cv_src EXCEPT SELECT 'src', $cols FROM api.cv_dst)
           UNION ALL (SELECT 'dst', $cols FROM api.cv_dst EXCEPT SELECT 'dst', $cols FROM api.cv_src)" >&2
    fi
    eq "[$null] json types" "object,number,array,boolean,string,object,object,-" \
      "$(sql "SELECT string_agg(coalesce(json_typeof(j), '-'), ',' ORDER BY id) FROM api.cv_dst")"
  done
  sql "DROP TABLE api.cv_src, api.cv_dst"
  ;;

csv_conventions)
  sql "DROP TABLE IF EXISTS api.cv_conv"
  sql "CREATE TABLE api.cv_conv (id int PRIMARY KEY, t text, j jsonb, k json)"
  grant api.cv_conv
  reload_and_wait cv_conv
  # Default (COPY): unquoted empty = NULL, "" = empty string, the text NULL is text.
  printf 'id,t,j,k\n1,,,\n2,"",1,2\n3,NULL,"{""a"": 1}",[]\n4,"NULL","""s""","{ ""x"" : [1, 2] }"\n' > a.csv
  run import --url "$URL" --table cv_conv --file a.csv --reject-file rej.ndjson
  eq "default: exit status" 0 "$RC"
  eq "default: summary" "4 rows: 4 written, 0 skipped, 0 failed" "$(summary)"
  eq "default: t" "1|t|,2|f|,3|f|NULL,4|f|NULL" \
    "$(sql "SELECT string_agg(id || '|' || CASE WHEN t IS NULL THEN 't' ELSE 'f' END || '|' || coalesce(t, ''), ',' ORDER BY id) FROM api.cv_conv")"
  eq "default: jsonb" "-,number,object,string" \
    "$(sql "SELECT string_agg(coalesce(jsonb_typeof(j), '-'), ',' ORDER BY id) FROM api.cv_conv")"
  eq "default: json text" '-|2|[]|{ "x" : [1, 2] }' \
    "$(sql "SELECT string_agg(coalesce(k::text, '-'), '|' ORDER BY id) FROM api.cv_conv")"

  # --null-string as COPY's NULL: unquoted NULL is NULL, "NULL" and the empty field are text.
  sql "TRUNCATE api.cv_conv"
  printf 'id,t\n1,NULL\n2,"NULL"\n3,\n4,""\n' > b.csv
  run import --url "$URL" --table cv_conv --file b.csv --null-string NULL --reject-file rej.ndjson
  eq "null-string: exit status" 0 "$RC"
  eq "null-string: t" "1|t|,2|f|NULL,3|f|,4|f|" \
    "$(sql "SELECT string_agg(id || '|' || CASE WHEN t IS NULL THEN 't' ELSE 'f' END || '|' || coalesce(t, ''), ',' ORDER BY id) FROM api.cv_conv")"

  # --empty-as-null: every empty field is NULL, quoted or not.
  sql "TRUNCATE api.cv_conv"
  run import --url "$URL" --table cv_conv --file b.csv --null-string NULL --empty-as-null --reject-file rej.ndjson
  eq "empty-as-null: exit status" 0 "$RC"
  eq "empty-as-null: t" "1|t|,2|f|NULL,3|t|,4|t|" \
    "$(sql "SELECT string_agg(id || '|' || CASE WHEN t IS NULL THEN 't' ELSE 'f' END || '|' || coalesce(t, ''), ',' ORDER BY id) FROM api.cv_conv")"

  # Invalid JSON fails its row, named by column and line; a JSON null (which PostgREST would
  # store as SQL NULL) too; the other rows are written.
  sql "TRUNCATE api.cv_conv"
  printf 'id,t,j,k\n1,a,{bad,[]\n2,"b\nc","{""ok"": true}",[]\n3,c,null,[]\n4,d,1,"[1,"\n' > c.csv
  run import --url "$URL" --table cv_conv --file c.csv --reject-file rej.ndjson
  eq "invalid json: exit status" 1 "$RC"
  eq "invalid json: summary" "4 rows: 1 written, 0 skipped, 3 failed" "$(summary)"
  eq "invalid json: rows" "2" "$(sql "SELECT string_agg(id::text, ',') FROM api.cv_conv")"
  eq "invalid json: reject lines" "2 5 6" \
    "$(reject_field rej.ndjson 1 line) $(reject_field rej.ndjson 2 line) $(reject_field rej.ndjson 3 line)"
  msg1=$(reject_field rej.ndjson 1 error.message)
  [[ $msg1 == "column 'j' is json: the field is not valid JSON ("* ]] || fail "invalid json message: $msg1"
  msg2=$(reject_field rej.ndjson 2 error.message)
  [[ $msg2 == *"column 'j'"*"null"*"SQL NULL"* ]] || fail "json null message: $msg2"
  msg3=$(reject_field rej.ndjson 3 error.message)
  [[ $msg3 == "column 'k' is json: the field is not valid JSON ("* ]] || fail "invalid json message (k): $msg3"

  # A table the description does not list (no such table, or no privilege on it): nothing is sent.
  run import --url "$URL" --table cv_not_exposed --file a.csv --reject-file rej.ndjson
  [[ $ERR == *"table 'cv_not_exposed' is not exposed by PostgREST"* ]] || fail "not exposed: $ERR"
  eq "not exposed: exit status" 4 "$RC"
  # Without PostgREST's description of the table (a server whose GET / fails) the tool warns that
  # json fields go as strings unless --json-columns names them (that server fails the rows too).
  : "${PGRESTIFY_TEST_ECHO_URL:?no echo test server}"
  run import --url "$PGRESTIFY_TEST_ECHO_URL/error" --table cv_conv --file a.csv --reject-file rej.ndjson
  [[ $ERR == *"warning: cannot read the column types of 'cv_conv'"*"--json-columns"* ]] ||
    fail "no warning without a description: $ERR"
  eq "no description: exit status" 1 "$RC"
  sql "DROP TABLE api.cv_conv"
  ;;

ndjson_exact)
  sql "DROP TABLE IF EXISTS api.cv_num"
  sql "CREATE TABLE api.cv_num (id int PRIMARY KEY, n numeric, t text, j jsonb, k json, f float8)"
  grant api.cv_num
  reload_and_wait cv_num
  # Every row has the same columns: PostgREST then reads the body as json, values as written.
  # (Rows with different columns make it use jsonb, see docs/bulk-operations.md.)
  cat > in.ndjson <<'NDJSON'
{"id": 1, "n": 12345678901234567890.123456789, "t": 12345678901234567890123456789, "j": {"a": 12345678901234567890.123456789}, "k": [1e-400, -0.0, 1E400], "f": null}
{"id": 2, "n": 1e-400, "t": -0.0, "j": [123456789012345678901234567890], "k": {"x": 0.1000000000000000055511151231257827}, "f": null}
{"id": 3, "n": -0.0, "t": 1e400, "j": 1e400, "k": 18446744073709551616, "f": null}
{"id": 4, "n": null, "t": null, "j": null, "k": null, "f": 1e-400}
{"id": 5, "n": 1.50, "t": 1.50, "j": null, "k": null, "f": -0.0}
NDJSON
  run import --url "$URL" --table cv_num --file in.ndjson --reject-file rej.ndjson
  eq "ndjson: exit status" 1 "$RC"
  eq "ndjson: summary" "5 rows: 4 written, 0 skipped, 1 failed" "$(summary)"
  eq "ndjson: failed line" 4 "$(reject_field rej.ndjson 1 line)"
  eq "ndjson: failed code" 22003 "$(reject_field rej.ndjson 1 error.code)"
  eq "n" "12345678901234567890.123456789|0.$(printf '0%.0s' {1..399})1|0.0|1.50" \
    "$(sql "SELECT string_agg(n::text, '|' ORDER BY id) FROM api.cv_num WHERE n IS NOT NULL")"
  eq "t" "12345678901234567890123456789|-0.0|1e400|1.50" \
    "$(sql "SELECT string_agg(t, '|' ORDER BY id) FROM api.cv_num WHERE t IS NOT NULL")"
  eq "j exact" "true|true|true" "$(sql "SELECT string_agg((j = CASE id
      WHEN 1 THEN '{\"a\": 12345678901234567890.123456789}'::jsonb
      WHEN 2 THEN '[123456789012345678901234567890]'::jsonb
      ELSE '1e400'::jsonb END)::text, '|' ORDER BY id) FROM api.cv_num WHERE j IS NOT NULL")"
  eq "k as written" '[1e-400, -0.0, 1E400]|{"x": 0.1000000000000000055511151231257827}|18446744073709551616' \
    "$(sql "SELECT string_agg(k::text, '|' ORDER BY id) FROM api.cv_num WHERE k IS NOT NULL")"
  eq "f sign" "-0" "$(sql "SELECT f::text FROM api.cv_num WHERE id = 5")"

  # The same rows as a JSON array.
  sql "TRUNCATE api.cv_num"
  python3 -c 'import sys; print("[\n" + ",\n".join(l.strip() for l in open("in.ndjson") if l.strip()) + "\n]")' > in.json
  run import --url "$URL" --table cv_num --file in.json --reject-file rej.ndjson
  eq "json: exit status" 1 "$RC"
  eq "json: summary" "5 rows: 4 written, 0 skipped, 1 failed" "$(summary)"
  eq "json: n" "12345678901234567890.123456789|0.$(printf '0%.0s' {1..399})1|0.0|1.50" \
    "$(sql "SELECT string_agg(n::text, '|' ORDER BY id) FROM api.cv_num WHERE n IS NOT NULL")"
  eq "json: t" "12345678901234567890123456789|-0.0|1e400|1.50" \
    "$(sql "SELECT string_agg(t, '|' ORDER BY id) FROM api.cv_num WHERE t IS NOT NULL")"
  sql "DROP TABLE api.cv_num"
  ;;

*) unknown_case ;;
esac

finish_case
