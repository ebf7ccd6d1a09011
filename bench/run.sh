#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pgrestify benchmarks, side by side in ONE run on ONE throwaway PostgreSQL 15 + PostgREST 12.0.2
# (scripts/testenv.sh). For the same generated `users` rows it measures:
#   ceiling       the rows pre-serialized into batch files, POSTed by `curl --parallel` with
#                 ?columns= and Prefer: return=minimal (the fastest any client goes through PostgREST)
#   postgrest-js  @supabase/postgrest-js (bench/postgrest-js-insert.mjs), same batch size/concurrency
#   pgrestify     bulkInsert with the library defaults, and with the same batch size/concurrency;
#                 and with the defaults on the same rows as nlohmann::json (pgrestify-json-defaults)
#   psql-copy     `\copy` of the same rows as CSV (the database's own limit, for context)
# then bulkUpdate (grouped / all-different payloads) and bulkDelete, the streaming memory number
# (1,000,000 rows through a single-pass generator) and a batchSize x concurrency sweep.
# Runs are interleaved (ceiling, js, pgrestify, copy, ceiling, ...) and the table is truncated
# (POST /rpc/reset_tables) before each; the summary reports medians. See docs/benchmarks.md.
#
# Environment (defaults in brackets):
#   BENCH_COMPARE [1]          0: skip the main comparison (and postgrest-js, npm ci)
#   BENCH_MICRO [1]            0: skip the micro-benchmarks
#   BENCH_ROWS [100000]        rows of the main comparison
#   BENCH_RUNS [5]             runs per client (median reported)
#   BENCH_LARGE [0]            1: also 1,000,000 rows (BENCH_LARGE_RUNS [3] runs)
#   BENCH_BATCH [1000]  BENCH_CONCURRENCY [4]   batch size / requests in flight of the comparison
#   BENCH_OPS [1]              bulkUpdate / bulkDelete section (BENCH_OPS_RUNS [3])
#   BENCH_DISTINCT_ROWS [10000] rows of the all-different bulkUpdate (one PATCH per row)
#   BENCH_FUNCTION [1]         all-different bulkUpdate of BENCH_ROWS rows through pgrestify_bulk_update
#                              (sql/, installed in api) vs per-row PATCH (BENCH_DISTINCT_ROWS rows) vs
#                              insert of the same rows (BENCH_FUNCTION_RUNS [3] runs); then, in psql alone,
#                              the same function calls and the bare UPDATE they run (where the time goes);
#                              BENCH_FUNCTION_SQL [sql/pgrestify_bulk_update.sql] is the file installed
#   BENCH_STREAM [1]           streaming memory number (BENCH_STREAM_ROWS [1000000])
#   BENCH_WIDE [1]             wide rows: maxBatchBytes 1 MiB vs 4 MiB (BENCH_WIDE_ROWS [20000] rows with
#                              BENCH_WIDE_BYTES [4000]-byte names, BENCH_WIDE_RUNS [5] paired runs)
#   BENCH_CONTENTION [1]       two writers upserting the same rows at once (issue #20), next to one:
#                              BENCH_CONTENTION_ROWS [60000] rows, BENCH_CONTENTION_RUNS [3] runs
#   BENCH_WRITER [1]           BulkWriter: BENCH_WRITER_PRODUCERS [8] threads adding single rows through one
#                              writer vs bulkInsert of the same BENCH_WRITER_ROWS [300000] rows, paired
#                              (BENCH_WRITER_RUNS [5] runs; add() p50/p99), then BENCH_WRITER_LATENCY_ROWS
#                              [100] single rows at 20/s into an idle writer (end-to-end latency)
#   BENCH_ADAPTIVE [1]         adaptive concurrency (issue #19): bulkInsert of BENCH_ADAPTIVE_ROWS [100000]
#                              rows with the defaults (adaptive) vs fixed 1000 rows x
#                              BENCH_ADAPTIVE_FIXED ["2 4 8 16 32"] in flight, paired, in each profile of
#                              BENCH_ADAPTIVE_PROFILES ["rtt0 rtt5 rtt20 rtt50 trigger wide two overload"]:
#                              rttN = N ms added to every request (a proxy holding it; rtt0 = direct),
#                              trigger = a BEFORE INSERT trigger that makes each row several times as
#                              costly (BENCH_ADAPTIVE_TRIGGER_ROUNDS [40] md5 rounds), wide = rows of ~4 KB
#                              (BENCH_ADAPTIVE_WIDE_ROWS [20000] rows), two = two clients at once, each with
#                              the setting, on different rows, overload = a trigger 5x heavier still and a
#                              400 ms statement_timeout: the server times out when too many requests
#                              run at once (BENCH_ADAPTIVE_OVERLOAD_ROWS [60000] rows; PostgREST is
#                              restarted to take the setting, and again after); BENCH_ADAPTIVE_RUNS [3] runs. The defaults'
#                              concurrency over time goes to trace-<profile>-<run>.txt, and
#                              adaptive-rtt20.svg plots it (bench/plot_trace.py)
#   BENCH_LB [1]               issue #18: bulkInsert of the same BENCH_LB_ROWS [100000] rows directly to one
#                              PostgREST, through HAProxy to one replica and to three replicas (library
#                              defaults), and to three replicas at BENCH_LB_CONCURRENCY [12]; paired
#                              (BENCH_LB_RUNS [3] runs), with the CPU seconds PostgreSQL, the PostgRESTs
#                              and HAProxy spent in each (scripts/testenv.sh start-lb; needs haproxy)
#   BENCH_SWEEP [1]            sweep (BENCH_SWEEP_RUNS [3], BENCH_SWEEP_BATCHES ["100 500 1000 2000 5000"],
#                              BENCH_SWEEP_CONCURRENCY ["1 2 4 8"])
#   BENCH_BUILD_DIR [build-bench]  BENCH_OUT [bench/results/<time>]
# Needs: cmake, a C++20 compiler, libcurl, nlohmann-json, fmt, Google Benchmark (micro only),
# node + npm (postgrest-js is installed into bench/node_modules by `npm ci`), curl, /usr/bin/time,
# python3 (summary), and what scripts/testenv.sh needs (scripts/bootstrap.sh installs it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

COMPARE=${BENCH_COMPARE:-1}
MICRO_RUN=${BENCH_MICRO:-1}
ROWS=${BENCH_ROWS:-100000}
RUNS=${BENCH_RUNS:-5}
LARGE=${BENCH_LARGE:-0}
LARGE_RUNS=${BENCH_LARGE_RUNS:-3}
BATCH=${BENCH_BATCH:-1000}
CONC=${BENCH_CONCURRENCY:-4}
OPS=${BENCH_OPS:-1}
OPS_RUNS=${BENCH_OPS_RUNS:-3}
DISTINCT_ROWS=${BENCH_DISTINCT_ROWS:-10000}
FUNCTION=${BENCH_FUNCTION:-1}
FUNCTION_RUNS=${BENCH_FUNCTION_RUNS:-3}
FUNCTION_SQL=${BENCH_FUNCTION_SQL:-$ROOT/sql/pgrestify_bulk_update.sql}
STREAM=${BENCH_STREAM:-1}
STREAM_ROWS=${BENCH_STREAM_ROWS:-1000000}
SWEEP=${BENCH_SWEEP:-1}
CONTENTION=${BENCH_CONTENTION:-1}
WRITER=${BENCH_WRITER:-1}
LB=${BENCH_LB:-1}
LB_ROWS=${BENCH_LB_ROWS:-100000}
LB_RUNS=${BENCH_LB_RUNS:-3}
LB_CONC=${BENCH_LB_CONCURRENCY:-12}
WRITER_ROWS=${BENCH_WRITER_ROWS:-300000}
WRITER_RUNS=${BENCH_WRITER_RUNS:-5}
WRITER_PRODUCERS=${BENCH_WRITER_PRODUCERS:-8}
WRITER_LATENCY_ROWS=${BENCH_WRITER_LATENCY_ROWS:-100}
CONTENTION_ROWS=${BENCH_CONTENTION_ROWS:-60000}
CONTENTION_RUNS=${BENCH_CONTENTION_RUNS:-3}
WIDE=${BENCH_WIDE:-1}
WIDE_ROWS=${BENCH_WIDE_ROWS:-20000}
WIDE_BYTES=${BENCH_WIDE_BYTES:-4000}
WIDE_RUNS=${BENCH_WIDE_RUNS:-5}
SWEEP_RUNS=${BENCH_SWEEP_RUNS:-3}
SWEEP_BATCHES=${BENCH_SWEEP_BATCHES:-100 500 1000 2000 5000}
SWEEP_CONCURRENCY=${BENCH_SWEEP_CONCURRENCY:-1 2 4 8}
ADAPTIVE=${BENCH_ADAPTIVE:-1}
ADAPTIVE_ROWS=${BENCH_ADAPTIVE_ROWS:-100000}
ADAPTIVE_RUNS=${BENCH_ADAPTIVE_RUNS:-3}
ADAPTIVE_FIXED=${BENCH_ADAPTIVE_FIXED:-2 4 8 16 32}
ADAPTIVE_PROFILES=${BENCH_ADAPTIVE_PROFILES:-rtt0 rtt5 rtt20 rtt50 trigger wide two overload}
ADAPTIVE_TRIGGER_ROUNDS=${BENCH_ADAPTIVE_TRIGGER_ROUNDS:-40}
ADAPTIVE_WIDE_ROWS=${BENCH_ADAPTIVE_WIDE_ROWS:-20000}
ADAPTIVE_OVERLOAD_ROWS=${BENCH_ADAPTIVE_OVERLOAD_ROWS:-60000}
BUILD=${BENCH_BUILD_DIR:-build-bench}
OUT=${BENCH_OUT:-bench/results/$(date +%Y%m%d-%H%M%S)}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- build ----
log "building $BUILD (Release)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPGRESTIFY_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD" --target pgrestify_bench -j2 >/dev/null
[[ $MICRO_RUN != 1 ]] || cmake --build "$BUILD" --target pgrestify_micro -j2 >/dev/null 2>&1 || log "pgrestify_micro not built (Google Benchmark missing?)"
DRIVER="$ROOT/$BUILD/bench/pgrestify_bench"
MICRO="$ROOT/$BUILD/bench/pgrestify_micro"
if [[ $COMPARE == 1 && ! -d bench/node_modules/@supabase/postgrest-js ]]; then
  log "installing postgrest-js (npm ci)"
  (cd bench && npm ci --no-audit --no-fund >/dev/null)
fi

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/pgrestify-bench.XXXXXX")"
SERVERS="$(mktemp -d "${TMPDIR:-/tmp}/pgrestify-bench-servers.XXXXXX")"
: >"$SERVERS/.pgrestify-testenv" # so that testenv.sh stop removes it even if start fails

cleanup() {
  bash "$ROOT/scripts/testenv.sh" stop "$SERVERS" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- machine ----
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n1)"
  echo "memory: $(free -m | awk '/^Mem:/ {print $2 " MiB"}')"
  echo "kernel: $(uname -r)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "compiler: $(${CXX:-c++} --version | head -n1)"
  if [[ $COMPARE == 1 ]]; then
    echo "node: $(node --version), postgrest-js: $(node -p "require('./bench/node_modules/@supabase/postgrest-js/package.json').version")"
  fi
  echo "curl: $(curl --version | head -n1 | cut -d' ' -f1-2)"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' (+ uncommitted changes in src/include)')"
} >"$OUT/machine.txt"

# ---- micro-benchmarks (no network, before the servers start) ----
if [[ $MICRO_RUN == 1 && -x $MICRO ]]; then
  log "micro-benchmarks"
  "$MICRO" --benchmark_min_time=0.5 --benchmark_format=console >"$OUT/micro.txt" 2>&1 || log "micro-benchmarks failed"
fi

# ---- servers ----
log "starting PostgreSQL + PostgREST"
bash scripts/testenv.sh start "$SERVERS" >/dev/null
set -a
# shellcheck disable=SC1091
source "$SERVERS/env"
set +a
PSQL=("$PGRESTIFY_TEST_PSQL" -X -q -At -v ON_ERROR_STOP=1 "$PGRESTIFY_TEST_PG_URI")
if [[ $LB == 1 ]]; then
  log "starting HAProxy in front of three PostgREST replicas (and of replica 1 alone)"
  PGRESTIFY_LB_SINGLE=1 bash scripts/testenv.sh start-lb "$SERVERS" 3 >/dev/null
  set -a
  # shellcheck disable=SC1091
  source "$SERVERS/lb/env"
  set +a
fi

reset() {
  curl -fsS -X POST -H "Authorization: Bearer $PGRESTIFY_TEST_JWT" "$PGRESTIFY_TEST_URL/rpc/reset_tables" >/dev/null
  "${PSQL[@]}" -c "VACUUM ANALYZE api.users" >/dev/null
}

count_users() { "${PSQL[@]}" -c "SELECT count(*) FROM api.users"; }

# record SECTION RUN JSON: adds section/run to a client's JSON line, checks the table.
record() {
  local section=$1 run=$2 json=$3 expect=${4:-}
  if [[ -n $expect ]]; then
    local n
    n="$(count_users)"
    [[ $n == "$expect" ]] || { log "ERROR: users holds $n rows, expected $expect ($json)"; exit 1; }
  fi
  jq -c --arg s "$section" --argjson r "$run" '. + {section: $s, run: $r}' <<<"$json" >>"$RESULTS"
}

# time_json CLIENT OP ROWS BATCH CONC CMD...: runs CMD under /usr/bin/time, prints a JSON line.
time_json() {
  local client=$1 op=$2 rows=$3 batch=$4 conc=$5
  shift 5
  local tf="$WORK/time.txt" of="$WORK/out.txt"
  /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$of" 2>"$WORK/err.txt"
  read -r wall user sys rss <"$tf"
  jq -nc --arg c "$client" --arg op "$op" --argjson rows "$rows" --argjson b "$batch" --argjson k "$conc" \
    --argjson wall "$wall" --argjson user "$user" --argjson sys "$sys" --argjson rss "$rss" \
    '{client: $c, op: $op, rows: $rows, batch_size: $b, concurrency: $k, wall_s: $wall,
      rows_per_s: ($rows / $wall | round), cpu_s: ($user + $sys), user_s: $user, sys_s: $sys, maxrss_kb: $rss}'
}

batches_dir() { # ROWS BATCH -> prints the directory (generated once)
  local d="$WORK/batches-$1-$2"
  if [[ ! -f $d/curl.cfg ]]; then
    "$DRIVER" gen-batches --rows "$1" --batch-size "$2" --dir "$d"
  fi
  echo "$d"
}

run_ceiling() { # SECTION RUN ROWS BATCH CONC
  local d json
  d="$(batches_dir "$3" "$4")"
  reset
  json="$(time_json ceiling insert "$3" "$4" "$5" curl -s --no-progress-meter --parallel --parallel-max "$5" -K "$d/curl.cfg")"
  if grep -qv '^201$' "$WORK/out.txt"; then
    log "ERROR: the ceiling got answers other than 201: $(sort "$WORK/out.txt" | uniq -c | tr '\n' ' ')"
    exit 1
  fi
  record "$1" "$2" "$json" "$3"
}

run_js() { # SECTION RUN ROWS BATCH CONC
  reset
  record "$1" "$2" "$(node bench/postgrest-js-insert.mjs --rows "$3" --batch-size "$4" --concurrency "$5")" "$3"
}

run_pgrestify() { # SECTION RUN ROWS [BATCH CONC]; without BATCH/CONC: the library defaults
  reset
  if [[ $# -ge 5 ]]; then
    record "$1" "$2" "$("$DRIVER" insert --rows "$3" --batch-size "$4" --concurrency "$5")" "$3"
  else
    record "$1" "$2" "$("$DRIVER" insert --rows "$3")" "$3"
  fi
}

run_copy() { # SECTION RUN ROWS
  local csv="$WORK/users-$3.csv"
  [[ -f $csv ]] || "$DRIVER" gen-csv --rows "$3" --file "$csv"
  reset
  record "$1" "$2" "$(time_json psql-copy insert "$3" 0 1 "${PSQL[@]}" \
    -c "\\copy api.users(name,email,role,active) FROM '$csv' WITH (FORMAT csv)")" "$3"
}

compare() { # SECTION ROWS RUNS
  local section=$1 rows=$2 runs=$3 r
  log "$section: $rows rows, $runs runs, batch $BATCH, concurrency $CONC"
  batches_dir "$rows" "$BATCH" >/dev/null
  for ((r = 1; r <= runs; r++)); do
    run_ceiling "$section" "$r" "$rows" "$BATCH" "$CONC"
    run_js "$section" "$r" "$rows" "$BATCH" "$CONC"
    run_pgrestify "$section" "$r" "$rows"
    run_pgrestify "$section" "$r" "$rows" "$BATCH" "$CONC"
    reset
    record "$section" "$r" "$("$DRIVER" insert --rows "$rows" --json-rows 1)" "$rows"
    run_copy "$section" "$r" "$rows"
  done
}

if [[ $COMPARE == 1 ]]; then
  compare "insert-$ROWS" "$ROWS" "$RUNS"
fi
if [[ $COMPARE == 1 && $LARGE == 1 ]]; then
  compare "insert-1000000" 1000000 "$LARGE_RUNS"
fi

if [[ $OPS == 1 ]]; then
  log "bulkUpdate / bulkDelete: $ROWS rows ($DISTINCT_ROWS for all-different payloads), $OPS_RUNS runs"
  for ((r = 1; r <= OPS_RUNS; r++)); do
    reset
    "$DRIVER" insert --rows "$ROWS" >/dev/null
    record ops "$r" "$("$DRIVER" update-grouped --rows "$ROWS")"
    [[ "$("${PSQL[@]}" -c "SELECT count(*) FROM api.users WHERE status = 's3'")" == $((ROWS / 10)) ]] ||
      { log "ERROR: grouped update left the wrong statuses"; exit 1; }
    record ops "$r" "$("$DRIVER" update-distinct --rows "$DISTINCT_ROWS")"
    record ops "$r" "$("$DRIVER" delete --rows "$ROWS")" 0
  done
fi

if [[ $FUNCTION == 1 ]]; then
  log "bulkUpdate through pgrestify_bulk_update: $ROWS all-different rows, $FUNCTION_RUNS runs"
  "${PSQL[@]}" -f "$FUNCTION_SQL" >/dev/null
  "${PSQL[@]}" -c "NOTIFY pgrst, 'reload schema'" >/dev/null
  for _ in $(seq 1 100); do
    curl -fsS -H 'Accept: application/openapi+json' "$PGRESTIFY_TEST_URL/" | grep -q '/rpc/pgrestify_bulk_update' && break
    sleep 0.1
  done
  for ((r = 1; r <= FUNCTION_RUNS; r++)); do
    reset
    record function "$r" "$("$DRIVER" insert --rows "$ROWS")" "$ROWS"
    record function "$r" "$("$DRIVER" update-function --rows "$ROWS")"
    [[ "$("${PSQL[@]}" -c "SELECT count(*) FROM api.users WHERE status = 'x' || id")" == "$ROWS" ]] ||
      { log "ERROR: the function left the wrong statuses"; exit 1; }
    record function "$r" "$("$DRIVER" update-distinct --rows "$DISTINCT_ROWS")"
    # Where the time goes: the same calls (1000 rows each, new values) in the database alone, one
    # connection, no PostgREST/HTTP/client; then the bare UPDATE the function runs.
    record function "$r" "$(time_json function-sql update-function-sql "$ROWS" 1000 1 "${PSQL[@]}" \
      -c "SET ROLE web_user" -c "DO \$\$ BEGIN FOR g IN 0..$((ROWS / 1000 - 1)) LOOP
            PERFORM count(*) FROM api.pgrestify_bulk_update('users', ARRAY['id'],
              (SELECT jsonb_agg(jsonb_build_object('id', i, 'status', 'y' || i))
                 FROM generate_series(g * 1000 + 1, g * 1000 + 1000) i), false, 'api');
          END LOOP; END \$\$")"
    record function "$r" "$(time_json plain-sql update-plain-sql "$ROWS" 1000 1 "${PSQL[@]}" \
      -c "SET ROLE web_user" -c "DO \$\$ BEGIN FOR g IN 0..$((ROWS / 1000 - 1)) LOOP
            UPDATE api.users AS t SET status = r.status
              FROM jsonb_to_recordset((SELECT jsonb_agg(jsonb_build_object('id', i, 'status', 'z' || i))
                                         FROM generate_series(g * 1000 + 1, g * 1000 + 1000) i))
                   AS r(id bigint, status text)
             WHERE t.id = r.id;
          END LOOP; END \$\$")"
    [[ "$("${PSQL[@]}" -c "SELECT count(*) FROM api.users WHERE status = 'z' || id")" == "$ROWS" ]] ||
      { log "ERROR: the SQL updates left the wrong statuses"; exit 1; }
  done
  "${PSQL[@]}" -c "DROP FUNCTION api.pgrestify_bulk_update(text, text[], jsonb, boolean, text); NOTIFY pgrst, 'reload schema'" >/dev/null
fi

if [[ $STREAM == 1 ]]; then
  log "streaming memory: $STREAM_ROWS rows through a single-pass generator"
  reset
  record stream 1 "$("$DRIVER" stream --rows "$STREAM_ROWS")" "$STREAM_ROWS"
fi

if [[ $WIDE == 1 ]]; then
  log "wide rows: $WIDE_ROWS rows with $WIDE_BYTES-byte names, maxBatchBytes 1 MiB vs 4 MiB, $WIDE_RUNS runs"
  for ((r = 1; r <= WIDE_RUNS; r++)); do
    for cap in 1048576 4194304; do
      reset
      record wide "$r" "$("$DRIVER" insert --rows "$WIDE_ROWS" --name-bytes "$WIDE_BYTES" --max-batch-bytes "$cap" \
        --batch-size "$BATCH" --concurrency "$CONC")" "$WIDE_ROWS"
    done
  done
fi

# Two importers of the same rows at once (bulkUpsert on email, library defaults), one in key order
# and one in the opposite (or a shuffled) order, next to one import of the same rows; each into an
# empty table. "two-writers-*" is the wall time from starting both processes to both finished
# (process start and row generation included: conservative); "one-writer" and the per-writer
# lines ("...-A", "...-B") time the bulk call alone.
two_writers() { # RUN ROWS ORDER_B LABEL
  local run=$1 rows=$2 order=$3 label=$4 t0 t1 rc=0
  reset
  t0=$(date +%s.%N)
  "$DRIVER" upsert --rows "$rows" --order asc --tag A >"$WORK/wa.json" 2>"$WORK/wa.err" &
  local pa=$!
  "$DRIVER" upsert --rows "$rows" --order "$order" --tag B >"$WORK/wb.json" 2>"$WORK/wb.err" &
  local pb=$!
  wait "$pa" || rc=1
  wait "$pb" || rc=1
  t1=$(date +%s.%N)
  [[ $rc == 0 ]] || log "WARNING: a writer failed rows: $(cat "$WORK/wa.err" "$WORK/wb.err" | head -n2 | tr '\n' ' ')"
  record contention "$run" "$(jq -c --arg c "$label" '. + {client: ($c + "-A")}' "$WORK/wa.json")"
  record contention "$run" "$(jq -c --arg c "$label" '. + {client: ($c + "-B")}' "$WORK/wb.json")"
  local n
  n="$("${PSQL[@]}" -c "SELECT count(*) FROM api.users WHERE name IN ('A' || substring(email from '^user([0-9]+)@'), 'B' || substring(email from '^user([0-9]+)@'))")"
  [[ $n == "$rows" ]] || { log "ERROR: after two writers, $n of $rows rows hold one writer's values"; exit 1; }
  record contention "$run" "$(jq -nc --arg c "$label" --argjson rows "$rows" --argjson wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')" \
    --argjson failed "$(jq -s 'map(.failed) | add' "$WORK/wa.json" "$WORK/wb.json")" \
    '{client: $c, op: "upsert", rows: $rows, batch_size: 1000, concurrency: 4, wall_s: $wall,
      rows_per_s: ($rows / $wall | round), failed: $failed}')" "$rows"
}

if [[ $CONTENTION == 1 ]]; then
  log "contention: $CONTENTION_ROWS rows, one writer vs two writers of the same rows at once, $CONTENTION_RUNS runs"
  for ((r = 1; r <= CONTENTION_RUNS; r++)); do
    reset
    record contention "$r" "$(jq -c '. + {client: "one-writer"}' <<<"$("$DRIVER" upsert --rows "$CONTENTION_ROWS")")" \
      "$CONTENTION_ROWS"
    two_writers "$r" "$CONTENTION_ROWS" desc two-writers-opposite
    two_writers "$r" "$CONTENTION_ROWS" shuffled two-writers-shuffled
  done
fi

if [[ $WRITER == 1 ]]; then
  log "writer: $WRITER_PRODUCERS producers adding $WRITER_ROWS single rows vs bulkInsert of the same rows, $WRITER_RUNS paired runs"
  for ((r = 1; r <= WRITER_RUNS; r++)); do
    reset
    # The same batches and requests in flight as the writer's (1000 rows, 4 at once): the writer's
    # own cost, not the adaptive concurrency of one and not the other.
    record writer "$r" "$("$DRIVER" insert --rows "$WRITER_ROWS" --batch-size 1000 --concurrency 4)" "$WRITER_ROWS"
    reset
    record writer "$r" "$("$DRIVER" writer --rows "$WRITER_ROWS" --producers "$WRITER_PRODUCERS")" "$WRITER_ROWS"
  done
  reset
  record writer-latency 1 "$("$DRIVER" writer-latency --rows "$WRITER_LATENCY_ROWS" --rate 20)" "$WRITER_LATENCY_ROWS"
fi

# One adaptive profile's run: the defaults, then each fixed setting, each into an empty table.
# Profile arguments: rttN adds --latency-ms N; wide pads names to 4000 bytes; two runs two drivers
# at once (users 0.. and 10,000,000..) and records their sum over the wall time of both.
adaptive_insert() { # PROFILE RUN ROWS [DRIVER ARGS...]
  local profile=$1 run=$2 rows=$3
  shift 3
  if [[ $profile != two ]]; then
    record "adaptive-$profile" "$run" "$("$DRIVER" insert --rows "$rows" "$@")" "$rows"
    return
  fi
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  "$DRIVER" insert --rows "$rows" --first 0 "$@" >"$WORK/ta.json" 2>"$WORK/ta.err" &
  local pa=$!
  local -a second=("$@")
  # The second client's trace goes next to the first's.
  local i
  for i in "${!second[@]}"; do [[ ${second[$i]} == --trace ]] && second[i + 1]="${second[$((i + 1))]%.txt}-b.txt"; done
  "$DRIVER" insert --rows "$rows" --first 10000000 "${second[@]}" >"$WORK/tb.json" 2>"$WORK/tb.err" &
  local pb=$!
  wait "$pa" || rc=1
  wait "$pb" || rc=1
  t1=$(date +%s.%N)
  [[ $rc == 0 ]] || log "WARNING: a client failed rows: $(cat "$WORK/ta.err" "$WORK/tb.err" | head -n2 | tr '\n' ' ')"
  record "adaptive-$profile" "$run" "$(jq -sc --argjson wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')" '
    .[0] + {rows: (.[0].rows + .[1].rows), wall_s: $wall, rows_per_s: ((.[0].rows + .[1].rows) / $wall | round),
            successful: (.[0].successful + .[1].successful), failed: (.[0].failed + .[1].failed),
            requests: (.[0].requests + .[1].requests), retries: (.[0].retries + .[1].retries),
            extra_requests: (.[0].extra_requests + .[1].extra_requests),
            concurrency_max: ([.[0].concurrency_max, .[1].concurrency_max] | max),
            concurrency_mean: ((.[0].concurrency_mean + .[1].concurrency_mean) / 2), clients: 2}' \
    "$WORK/ta.json" "$WORK/tb.json")" "$((2 * rows))"
}

if [[ $ADAPTIVE == 1 ]]; then
  log "adaptive: defaults vs fixed 1000 x {$ADAPTIVE_FIXED}, profiles {$ADAPTIVE_PROFILES}, $ADAPTIVE_RUNS runs"
  for ((r = 1; r <= ADAPTIVE_RUNS; r++)); do
    for profile in $ADAPTIVE_PROFILES; do
      rows=$ADAPTIVE_ROWS
      args=()
      case $profile in
        rtt*) args=(--latency-ms "${profile#rtt}") ;;
        wide)
          rows=$ADAPTIVE_WIDE_ROWS
          args=(--name-bytes 4000)
          ;;
        trigger | overload)
          # Each row: the trigger's md5 rounds (PL/pgSQL) on top of the insert; bench-only, dropped after.
          rounds=$ADAPTIVE_TRIGGER_ROUNDS
          if [[ $profile == overload ]]; then
            rounds=$((5 * ADAPTIVE_TRIGGER_ROUNDS))
            rows=$ADAPTIVE_OVERLOAD_ROWS
          fi
          "${PSQL[@]}" -c "SET client_min_messages = warning; CREATE OR REPLACE FUNCTION public.bench_heavy_row() RETURNS trigger LANGUAGE plpgsql AS \$\$
            DECLARE h text := NEW.email;
            BEGIN FOR i IN 1..$rounds LOOP h := md5(h || i); END LOOP; RETURN NEW; END \$\$;
            DROP TRIGGER IF EXISTS bench_heavy_row ON api.users;
            CREATE TRIGGER bench_heavy_row BEFORE INSERT ON api.users FOR EACH ROW EXECUTE FUNCTION public.bench_heavy_row();"
          if [[ $profile == overload ]]; then
            # PostgREST's connections take the role's setting when they are opened: restart it.
            "${PSQL[@]}" -c "ALTER ROLE authenticator SET statement_timeout = '400ms'"
            bash scripts/testenv.sh restart-postgrest "$SERVERS" >/dev/null
          fi
          ;;
        two) ;;
        *) log "ERROR: unknown adaptive profile $profile"; exit 1 ;;
      esac
      # The defaults and the fixed settings, in an order rotated by one each run: no setting
      # always runs first after another profile (or right after the heaviest one).
      read -r -a settings <<<"defaults $ADAPTIVE_FIXED"
      for ((i = 0; i < ${#settings[@]}; i++)); do
        k=${settings[$(((i + r - 1) % ${#settings[@]}))]}
        reset
        if [[ $k == defaults ]]; then
          adaptive_insert "$profile" "$r" "$rows" "${args[@]}" --trace "$OUT/trace-$profile-$r.txt"
        else
          adaptive_insert "$profile" "$r" "$rows" "${args[@]}" --batch-size 1000 --concurrency "$k"
        fi
      done
      [[ $profile != trigger && $profile != overload ]] || "${PSQL[@]}" -c "DROP TRIGGER bench_heavy_row ON api.users"
      if [[ $profile == overload ]]; then
        "${PSQL[@]}" -c "ALTER ROLE authenticator RESET statement_timeout"
        bash scripts/testenv.sh restart-postgrest "$SERVERS" >/dev/null
      fi
    done
  done
  if [[ -f $OUT/trace-rtt20-1.txt ]]; then
    python3 bench/plot_trace.py "$OUT/adaptive-rtt20.svg" "20 ms added round trip, ${ADAPTIVE_ROWS} rows" \
      "$OUT"/trace-rtt20-*.txt
  fi
fi

# CPU seconds (user + system) the servers of this run have used so far, as JSON: PostgreSQL (the
# postmaster and its backends), the PostgREST processes (the first one and the replicas) and HAProxy.
server_cpu() {
  python3 - "$SERVERS" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
tick = os.sysconf("SC_CLK_TCK")
def read(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
    except (OSError, ValueError, IndexError):
        return None, 0.0
def pids(pattern):
    out = []
    for f in glob.glob(os.path.join(d, pattern)):
        try:
            out.append(int(open(f).read().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    return out
pg = pids("postgres.pid")
cpu = {"pg_cpu_s": 0.0, "pgrst_cpu_s": 0.0, "haproxy_cpu_s": 0.0}
if pg:
    cpu["pg_cpu_s"] += read(pg[0])[1]
    for p in os.listdir("/proc"):
        if p.isdigit():
            ppid, t = read(p)
            if ppid == pg[0]:
                cpu["pg_cpu_s"] += t
for p in pids("postgrest.pid") + pids("lb/r*.pid"):
    cpu["pgrst_cpu_s"] += read(p)[1]
for p in pids("lb/haproxy.pid"):
    cpu["haproxy_cpu_s"] += read(p)[1]
print(json.dumps(cpu))
PY
}

# run_lb RUN CLIENT URL [CONCURRENCY]: bulkInsert of LB_ROWS rows through URL; records the client's
# JSON line with the servers' CPU seconds during the call.
run_lb() {
  local run=$1 client=$2 url=$3 before after json
  reset
  before="$(server_cpu)"
  if [[ $# -ge 4 ]]; then
    json="$(PGRESTIFY_TEST_URL=$url "$DRIVER" insert --rows "$LB_ROWS" --concurrency "$4")"
  else
    json="$(PGRESTIFY_TEST_URL=$url "$DRIVER" insert --rows "$LB_ROWS")"
  fi
  after="$(server_cpu)"
  record lb "$run" "$(jq -c --arg c "$client" --argjson b "$before" --argjson a "$after" \
    '. + {client: $c, pg_cpu_s: ($a.pg_cpu_s - $b.pg_cpu_s), pgrst_cpu_s: ($a.pgrst_cpu_s - $b.pgrst_cpu_s),
          haproxy_cpu_s: ($a.haproxy_cpu_s - $b.haproxy_cpu_s)}' <<<"$json")" "$LB_ROWS"
}

if [[ $LB == 1 ]]; then
  log "load balancer: $LB_ROWS rows direct / HAProxy + 1 replica / HAProxy + 3 replicas, $LB_RUNS paired runs"
  for ((r = 1; r <= LB_RUNS; r++)); do
    run_lb "$r" direct "$PGRESTIFY_TEST_URL"
    run_lb "$r" haproxy-1-replica "$PGRESTIFY_TEST_LB1_URL"
    run_lb "$r" haproxy-3-replicas "$PGRESTIFY_TEST_LB_URL"
    run_lb "$r" haproxy-3-replicas-conc "$PGRESTIFY_TEST_LB_URL" "$LB_CONC"
  done
fi

if [[ $SWEEP == 1 ]]; then
  log "sweep: batch {$SWEEP_BATCHES} x concurrency {$SWEEP_CONCURRENCY}, $SWEEP_RUNS runs, $ROWS rows"
  for ((r = 1; r <= SWEEP_RUNS; r++)); do
    for b in $SWEEP_BATCHES; do
      for k in $SWEEP_CONCURRENCY; do
        run_ceiling sweep "$r" "$ROWS" "$b" "$k"
        run_pgrestify sweep "$r" "$ROWS" "$b" "$k"
      done
    done
  done
fi

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
python3 bench/summarize.py "$OUT" >"$OUT/summary.md"
log "results: $OUT/summary.md"
cat "$OUT/summary.md"
