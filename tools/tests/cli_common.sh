#!/usr/bin/env bash
# Shared set-up of the CLI test scripts (cli_test.sh, cli_values_test.sh, cli_adversarial_test.sh):
#   source cli_common.sh WORKDIR_PREFIX CASE PGRESTIFY_BINARY ENV_FILE
# Reads the fixture's env file (PGRESTIFY_TEST_*), enters a fresh work directory (kept with KEEP=1)
# and defines fail, sql, eq, reset and run. RUN_TIMEOUT (seconds) bounds each run of the tool.
# shellcheck disable=SC2034  # CASE, BIN, URL, PSQL, RC, OUT, ERR are for the sourcing script
set -euo pipefail
prefix=${1:?work dir prefix}
CASE=${2:?case}
BIN=${3:?pgrestify binary}
ENV_FILE=${4:?env file}
if [[ -f $ENV_FILE ]]; then
  set -a
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  set +a
fi
: "${PGRESTIFY_TEST_URL:?no test server (PGRESTIFY_TEST_URL)}"
URL=$PGRESTIFY_TEST_URL
PSQL=${PGRESTIFY_TEST_PSQL:-psql}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/$prefix.XXXXXX")
[[ -n ${KEEP:-} ]] || trap 'rm -rf "$WORK"' EXIT; [[ -z ${KEEP:-} ]] || echo "work dir $WORK"
cd "$WORK"

FAILS=0
fail() { printf 'FAIL [%s]: %s\n' "$CASE" "$*" >&2; FAILS=$((FAILS + 1)); }
# The end of every script: its status from the failures counted by fail().
finish_case() {
  if ((FAILS > 0)); then
    echo "$CASE: $FAILS failure(s)" >&2
    exit 1
  fi
  echo "$CASE: ok"
}
# The `*)` branch of every script's case statement.
unknown_case() {
  echo "unknown case $CASE" >&2
  exit 2
}
sql() { "$PSQL" "$PGRESTIFY_TEST_PG_URI" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
eq() { # NAME EXPECTED ACTUAL
  if [[ "$2" != "$3" ]]; then fail "$1: expected [$2], got [$3]"; fi
}
reset() { curl -fsS -X POST "$URL/rpc/reset_tables" >/dev/null; }
# run ARGS...: runs the tool, sets RC, OUT (stdout), ERR (stderr)
run() {
  set +e
  if [[ -n ${RUN_TIMEOUT:-} ]]; then
    timeout "$RUN_TIMEOUT" "$BIN" "$@" >out.txt 2>err.txt
  else
    "$BIN" "$@" >out.txt 2>err.txt
  fi
  RC=$?
  set -e
  OUT=$(cat out.txt)
  ERR=$(cat err.txt)
}
