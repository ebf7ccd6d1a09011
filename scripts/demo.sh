#!/usr/bin/env bash
# The demo command of README.md: installs what is missing, builds the `pgrestify` command-line
# tool, starts a throwaway PostgreSQL 15 + PostgREST 12.0.2 on 127.0.0.1, generates a
# 100,000-row CSV of users (with a few duplicate and invalid rows on purpose), imports it with a
# progress bar, shows the summary and some rejected rows, reads back the count, stops the servers.
#
#   scripts/demo.sh            (PGRESTIFY_BUILD_DIR=build/demo, DEMO_ROWS=100000)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BUILD=${PGRESTIFY_BUILD_DIR:-build/demo}
ROWS=${DEMO_ROWS:-100000}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. dependencies"
./scripts/bootstrap.sh

say "2. build (target pgrestify_cli only)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPGRESTIFY_BUILD_TESTS=OFF -DPGRESTIFY_BUILD_BENCH=OFF \
  -DPGRESTIFY_BUILD_EXAMPLES=OFF -DPGRESTIFY_BUILD_TOOLS=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target pgrestify_cli
CLI="$ROOT/$BUILD/tools/pgrestify"
[[ $BUILD == /* ]] && CLI="$BUILD/tools/pgrestify"

say "3. throwaway PostgreSQL + PostgREST"
WORK=$(mktemp -d /tmp/pgrestify-demo.XXXXXX)
SERVERS=$(mktemp -d /tmp/pgrestify-demo-servers.XXXXXX)
rmdir "$SERVERS"  # testenv.sh creates it with the permissions PostgreSQL needs
cleanup() {
  "$ROOT/scripts/testenv.sh" stop "$SERVERS" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
./scripts/testenv.sh start "$SERVERS"
set -a
# shellcheck disable=SC1091
source "$SERVERS/env"
set +a
URL=$PGRESTIFY_TEST_URL

say "4. a CSV of $ROWS users (5 repeat an earlier email, 4 have an invalid role, 3 no email)"
CSV="$WORK/users.csv"
awk -v n="$ROWS" 'BEGIN {
  print "name,email,role,active,last_login"
  split("Ada Lovelace|Grace Hopper|Alan Turing|Zoë Ångström|李 小龍|O\"Brien, Pat", names, "|")
  for (i = 1; i <= n; i++) {
    name = names[(i % 6) + 1] " #" i
    gsub(/"/, "\"\"", name)                       # RFC 4180: quotes doubled inside quoted fields
    email = "user" i "@example.com"; role = (i % 50 == 0) ? "admin" : "user"
    if (i % 20000 == 7) email = "user" (i - 3) "@example.com"    # duplicate -> skipped
    if (i % 30000 == 11) role = "superhero"                       # CHECK violation -> rejected
    if (i % 45000 == 13) email = ""                               # NOT NULL violation -> rejected
    login = (i % 3 == 0) ? "" : sprintf("2024-%02d-%02dT10:00:00Z", (i % 12) + 1, (i % 28) + 1)
    printf "\"%s\",%s,%s,%s,%s\n", name, email, role, (i % 4 ? "true" : "false"), login
  }
}' > "$CSV"
printf 'generated %s (%s bytes); the first lines:\n' "$CSV" "$(wc -c < "$CSV")"
head -n 4 "$CSV"

say "5. pgrestify import (progress bar on a terminal, plain lines otherwise)"
echo "\$ pgrestify import --url $URL --table users --file users.csv --on-conflict ignore \\"
echo "    --conflict-columns email --reject-file rejects.ndjson"
set +e
"$CLI" import --url "$URL" --table users --file "$CSV" --on-conflict ignore --conflict-columns email \
  --reject-file "$WORK/rejects.ndjson" --progress-interval 2 >"$WORK/summary.txt"
status=$?
set -e
cat "$WORK/summary.txt"
echo "exit status $status (1 = some rows failed, see docs/cli.md)"

say "6. rejected rows (line in users.csv, the row, the server's answer)"
head -n 3 "$WORK/rejects.ndjson" | cut -c 1-300
echo "($(wc -l < "$WORK/rejects.ndjson") in rejects.ndjson)"

say "7. reading back"
count=$(curl -fsS -o /dev/null -D - -H 'Prefer: count=exact' "$URL/users?select=id&limit=1" |
  tr -d '\r' | sed -n 's/^[Cc]ontent-[Rr]ange: .*\///p')
echo "PostgREST reports $count rows in api.users"
written=$(sed -nE 's/^[0-9]+ rows: ([0-9]+) written.*/\1/p' "$WORK/summary.txt")
if [[ $count != "$written" ]]; then
  echo "demo: the table holds $count rows but the summary says $written were written" >&2
  exit 1
fi
say "8. stopping the servers"
