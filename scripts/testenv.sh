#!/usr/bin/env bash
# Throwaway PostgreSQL 15 + PostgREST 12.0.2 for integration tests,
# listening on 127.0.0.1 only.
#
#   scripts/testenv.sh start DIR          start both, write DIR/env
#   scripts/testenv.sh stop DIR           stop both, rm -rf DIR (unless KEEP=1)
#   scripts/testenv.sh run [DIR --] CMD…  start (fresh mktemp dir unless DIR),
#                                         run CMD with DIR/env exported, stop;
#                                         exits with CMD's status
#   scripts/testenv.sh psql DIR [ARGS…]   psql as superuser
#   scripts/testenv.sh {start,stop,restart}-postgrest DIR
#   scripts/testenv.sh {start,stop,restart}-postgres DIR
#   scripts/testenv.sh wait-postgrest DIR wait until PostgREST answers 200
#
# DIR/env holds KEY=VALUE lines (PGRESTIFY_TEST_*), see write_env below.
# Env: PGRESTIFY_POSTGREST_BIN (default .deps/postgrest-12.0.2/postgrest),
#      PGRESTIFY_PG_BIN (default /usr/lib/postgresql/15/bin),
#      PGRESTIFY_TEST_TIMEOUT (readiness wait, seconds, default 30), KEEP=1.
set -euo pipefail

readonly POSTGREST_VERSION=12.0.2
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
ROOT="$(cd "$(dirname "$SELF")/.." && pwd)"
readonly SELF ROOT
readonly PGBIN="${PGRESTIFY_PG_BIN:-/usr/lib/postgresql/15/bin}"
readonly PGRST_BIN="${PGRESTIFY_POSTGREST_BIN:-$ROOT/.deps/postgrest-$POSTGREST_VERSION/postgrest}"
readonly SCHEMA_SQL="$ROOT/tests/integration/schema.sql"
readonly TIMEOUT="${PGRESTIFY_TEST_TIMEOUT:-30}"
readonly MARKER=.pgrestify-testenv

log() { printf 'testenv: %s\n' "$*"; }
err() { printf 'testenv: error: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SELF" >&2
  exit 2
}

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

# PostgreSQL refuses to run as root: use the `postgres` account then.
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

abs_dir() { # absolute path, parent must exist
  local d=$1
  [[ $d == /* ]] || d="$PWD/$d"
  printf '%s\n' "$(cd "$(dirname "$d")" && pwd)/$(basename "$d")"
}

set_dir() {
  [[ -n ${1:-} ]] || usage
  DIR="$(abs_dir "$1")"
  PGDATA_DIR="$DIR/pg"
  SOCK_DIR="$DIR/pg-sock"
  PG_LOG="$DIR/postgres.log"
  PGRST_CONF="$DIR/postgrest.conf"
  PGRST_LOG="$DIR/postgrest.log"
  PGRST_PIDFILE="$DIR/postgrest.pid"
  PG_PIDFILE="$DIR/postgres.pid"
  ENV_FILE="$DIR/env"
}

load_env() {
  [[ -f $ENV_FILE ]] || die "$ENV_FILE not found (was '$0 start $DIR' successful?)"
  # shellcheck disable=SC1090
  source "$ENV_FILE"
}

tail_log() { # FILE [LINES]
  [[ -s $1 ]] || return 0
  printf -- '--- last lines of %s ---\n' "$1" >&2
  tail -n "${2:-30}" "$1" >&2 || true
  printf -- '---\n' >&2
}

port_free() {
  local p=$1
  if command -v ss >/dev/null 2>&1; then
    [[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]] || return 1
  fi
  # A successful connect means someone listens there.
  ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
}

pick_port() { # [EXCLUDE] -- below the Linux ephemeral range (32768+)
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    [[ $p != "${1:-}" ]] || continue
    if port_free "$p"; then
      echo "$p"
      return 0
    fi
  done
  die "no free TCP port found"
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

make_jwt() { # SECRET ROLE
  local h p s
  h="$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64url)"
  # exp = 2100-01-01T00:00:00Z
  p="$(printf '{"role":"%s","exp":4102444800}' "$2" | b64url)"
  s="$(printf '%s' "$h.$p" | openssl dgst -sha256 -mac HMAC -macopt "key:$1" -binary | b64url)"
  printf '%s.%s.%s\n' "$h" "$p" "$s"
}

# Running and not a zombie (an exited child may linger until reaped).
pid_alive() {
  local st
  [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null || return 1
  st="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
  [[ -n $st && $st != Z ]]
}

# PID from FILE if that process is still the one we started (its command line
# contains MATCH); guards against recycled PIDs.
our_pid() { # PIDFILE MATCH
  local pid
  [[ -s $1 ]] || return 1
  pid="$(head -n1 "$1")"
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
  echo "$pid"
}

psql_super() { # args…  (PG_PORT must be set)
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
}

# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------

pg_running() {
  [[ -f $PGDATA_DIR/PG_VERSION ]] && as_pg "$PGBIN/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1
}

record_pg_pid() {
  head -n1 "$PGDATA_DIR/postmaster.pid" >"$PG_PIDFILE"
}

pg_start() {
  pg_running && die "PostgreSQL already running in $PGDATA_DIR"
  if ! as_pg "$PGBIN/pg_ctl" start -w -t "$TIMEOUT" -D "$PGDATA_DIR" -l "$PG_LOG" >/dev/null; then
    err "PostgreSQL failed to start"
    tail_log "$PG_LOG"
    return 1
  fi
  record_pg_pid
}

pg_stop() {
  if pg_running; then
    as_pg "$PGBIN/pg_ctl" stop -w -t "$TIMEOUT" -m fast -D "$PGDATA_DIR" >/dev/null 2>&1 || true
  fi
  # Fallback: signal the postmaster directly (SIGINT = fast, SIGQUIT = immediate).
  local pid i
  if pid="$(our_pid "$PG_PIDFILE" "$PGDATA_DIR")"; then
    kill -INT "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      pid_alive "$pid" || break
      sleep 0.1
    done
    if pid_alive "$pid"; then
      kill -QUIT "$pid" 2>/dev/null || true
      sleep 1
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PG_PIDFILE"
}

pg_restart() {
  if ! as_pg "$PGBIN/pg_ctl" restart -w -t "$TIMEOUT" -m fast -D "$PGDATA_DIR" -l "$PG_LOG" >/dev/null; then
    err "PostgreSQL failed to restart"
    tail_log "$PG_LOG"
    return 1
  fi
  record_pg_pid
}

pg_init() {
  as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$DIR/initdb.log" 2>&1 || { err "initdb failed"; tail_log "$DIR/initdb.log"; return 1; }
  cat >>"$PGDATA_DIR/postgresql.conf" <<EOF

# --- pgrestify testenv ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCK_DIR'
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
EOF
  # Superuser: trust over the socket and 127.0.0.1. Everyone else
  # (authenticator) needs its password over 127.0.0.1.
  cat >"$PGDATA_DIR/pg_hba.conf" <<EOF
local  all  all                     trust
host   all  postgres  127.0.0.1/32  trust
host   all  all       127.0.0.1/32  scram-sha-256
EOF
}

# ---------------------------------------------------------------------------
# PostgREST
# ---------------------------------------------------------------------------

pgrst_running() { our_pid "$PGRST_PIDFILE" "$PGRST_CONF" >/dev/null; }

# Wait until GET / answers 200 with Server: postgrest/<version>.
# Sets PGRST_SERVER_HEADER. Returns 1 on timeout, 2 if the process died.
pgrst_wait() { # PORT [PID]
  local url="http://127.0.0.1:$1/" deadline=$((SECONDS + TIMEOUT)) hdrs status server
  while ((SECONDS < deadline)); do
    if [[ -n ${2:-} ]] && ! pid_alive "$2"; then return 2; fi
    hdrs="$(curl -s -m 2 -D- -o /dev/null "$url" 2>/dev/null | tr -d '\r' || true)"
    status="$(sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' <<<"$hdrs")"
    server="$(sed -n 's/^[Ss]erver: *//p' <<<"$hdrs" | head -n1)"
    if [[ $status == 200 && $server == "postgrest/$POSTGREST_VERSION" ]]; then
      PGRST_SERVER_HEADER=$server
      return 0
    fi
    sleep 0.2
  done
  return 1
}

pgrst_start() { # PORT
  local pid rc=0
  pgrst_running && die "PostgREST already running (pid $(head -n1 "$PGRST_PIDFILE"))"
  port_free "$1" || { err "port $1 for PostgREST is in use"; return 1; }
  nohup "$PGRST_BIN" "$PGRST_CONF" >>"$PGRST_LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PGRST_PIDFILE"
  pgrst_wait "$1" "$pid" || rc=$?
  if ((rc != 0)); then
    if ((rc == 2)); then
      err "PostgREST exited during startup"
    else
      err "PostgREST not ready on 127.0.0.1:$1 after ${TIMEOUT}s"
    fi
    tail_log "$PGRST_LOG"
    return 1
  fi
}

pgrst_stop() {
  local pid i
  if pid="$(our_pid "$PGRST_PIDFILE" "$PGRST_CONF")"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      pid_alive "$pid" || break
      sleep 0.1
    done
    if pid_alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 20; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
      done
    fi
  fi
  rm -f "$PGRST_PIDFILE"
}

# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------

STARTING=0
on_start_exit() {
  local rc=$?
  if ((STARTING && rc != 0)); then
    err "start failed; stopping what was started (files kept in $DIR)"
    pgrst_stop
    pg_stop
  fi
}

cmd_start() {
  set_dir "$1"
  [[ -x $PGBIN/initdb ]] || die "PostgreSQL 15 binaries not found in $PGBIN (run scripts/bootstrap.sh)"
  [[ -x $PGRST_BIN ]] || die "PostgREST binary not found at $PGRST_BIN (run scripts/bootstrap.sh)"
  [[ -f $SCHEMA_SQL ]] || die "$SCHEMA_SQL not found"
  local tool
  for tool in curl openssl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run scripts/bootstrap.sh)"
  done

  if [[ -e $DIR ]]; then
    [[ -d $DIR ]] || die "$DIR exists and is not a directory"
    # Accept an empty directory, or one holding only our marker (cmd_run).
    if [[ -n "$(find "$DIR" -mindepth 1 -maxdepth 1 ! -name "$MARKER" -print -quit)" ]]; then
      [[ -e $DIR/$MARKER ]] &&
        die "$DIR already holds a test environment; run '$0 stop $DIR' first"
      die "$DIR is not empty"
    fi
  else
    mkdir -p "$DIR"
  fi
  # Unix socket paths are limited to 107 bytes.
  ((${#SOCK_DIR} + 20 < 107)) || die "path $DIR is too long for a unix socket directory"
  : >"$DIR/$MARKER"
  chmod 0700 "$DIR"
  mkdir -p "$SOCK_DIR"
  if [[ $EUID -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist (install postgresql-15)"
    chown postgres: "$DIR" "$SOCK_DIR" "$DIR/$MARKER"
    runuser -u postgres -- test -w "$DIR" ||
      die "user postgres cannot access $DIR (pick a directory under /tmp)"
  fi

  STARTING=1
  trap on_start_exit EXIT

  # PostgreSQL: retry with another port if a race took ours.
  local attempt
  PG_PORT=""
  for attempt in 1 2 3; do
    PG_PORT="$(pick_port)"
    rm -rf "$PGDATA_DIR"
    pg_init
    pg_start && break
    grep -q 'could not bind\|Address already in use' "$PG_LOG" 2>/dev/null || exit 1
    ((attempt < 3)) || exit 1
    log "port $PG_PORT was taken, retrying"
    : >"$PG_LOG"
  done

  local pass secret jwt pg_version
  pass="$(openssl rand -hex 24)"
  secret="$(openssl rand -hex 32)"
  if ! psql_super -f "$SCHEMA_SQL" >"$DIR/schema.log" 2>&1; then
    err "loading $SCHEMA_SQL failed"
    tail_log "$DIR/schema.log"
    exit 1
  fi
  psql_super -c "ALTER ROLE authenticator PASSWORD '$pass'" >/dev/null
  pg_version="$(psql_super -At -c "SELECT split_part(current_setting('server_version'), ' ', 1)")"

  PGRST_PORT=""
  for attempt in 1 2 3; do
    PGRST_PORT="$(pick_port "$PG_PORT")"
    write_pgrst_conf "$pass" "$secret"
    pgrst_start "$PGRST_PORT" && break
    pgrst_stop
    grep -q 'already in use\|resource busy' "$PGRST_LOG" 2>/dev/null || exit 1
    ((attempt < 3)) || exit 1
    log "port $PGRST_PORT was taken, retrying"
  done

  jwt="$(make_jwt "$secret" web_user)"
  write_env "$jwt" "$secret"
  STARTING=0
  trap - EXIT
  log "PostgreSQL $pg_version on 127.0.0.1:$PG_PORT, PostgREST $POSTGREST_VERSION (Server: $PGRST_SERVER_HEADER) on http://127.0.0.1:$PGRST_PORT"
}

write_pgrst_conf() { # PASSWORD SECRET
  (umask 077 && cat >"$PGRST_CONF") <<EOF
db-uri = "postgres://authenticator:$1@127.0.0.1:$PG_PORT/postgres"
db-schemas = "api,other"
db-anon-role = "anon"
db-pool = 10
db-tx-end = "commit-allow-override"
server-host = "127.0.0.1"
server-port = $PGRST_PORT
jwt-secret = "$2"
log-level = "error"
EOF
}

write_env() { # JWT SECRET
  cat >"$ENV_FILE.tmp" <<EOF
PGRESTIFY_TEST_URL=http://127.0.0.1:$PGRST_PORT
PGRESTIFY_TEST_JWT=$1
PGRESTIFY_TEST_JWT_SECRET=$2
PGRESTIFY_TEST_PG_URI=postgresql://postgres@127.0.0.1:$PG_PORT/postgres
PGRESTIFY_TEST_PG_PORT=$PG_PORT
PGRESTIFY_TEST_PGRST_PORT=$PGRST_PORT
PGRESTIFY_TEST_DIR=$DIR
PGRESTIFY_TEST_PSQL=$PGBIN/psql
EOF
  chmod 0644 "$ENV_FILE.tmp"
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
}

cmd_stop() {
  set_dir "$1"
  [[ -d $DIR ]] || return 0
  pgrst_stop
  pg_stop
  if [[ ${KEEP:-0} == 1 ]]; then
    log "stopped; kept $DIR"
  elif [[ -e $DIR/$MARKER ]]; then
    rm -rf "$DIR"
  else
    err "$DIR is not a testenv directory; not removing it"
  fi
}

cmd_run() {
  local dir
  if [[ ${1:-} == -- ]]; then
    shift
  elif [[ $# -ge 2 && $2 == -- ]]; then
    dir=$1
    shift 2
  fi
  (($# > 0)) || usage
  if [[ -z ${dir:-} ]]; then
    dir="$(mktemp -d "${TMPDIR:-/tmp}/pgrestify-test.XXXXXX")"
    : >"$dir/$MARKER" # so that stop removes it even if start fails early
  fi
  dir="$(abs_dir "$dir")"
  # shellcheck disable=SC2064
  trap "bash '$SELF' stop '$dir'" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  bash "$SELF" start "$dir"
  local rc=0
  set -a
  # shellcheck disable=SC1091
  source "$dir/env"
  set +a
  "$@" || rc=$?
  exit "$rc"
}

cmd_psql() {
  set_dir "$1"
  shift
  load_env
  PG_PORT=$PGRESTIFY_TEST_PG_PORT
  exec "$PGBIN/psql" -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
}

main() {
  local cmd=${1:-}
  (($# > 0)) && shift
  case $cmd in
    start) cmd_start "${1:-}" ;;
    stop) cmd_stop "${1:-}" ;;
    run) cmd_run "$@" ;;
    psql) cmd_psql "$@" ;;
    start-postgrest | restart-postgrest)
      set_dir "${1:-}"
      load_env
      [[ $cmd == restart-postgrest ]] && pgrst_stop
      pgrst_start "$PGRESTIFY_TEST_PGRST_PORT"
      log "PostgREST (pid $(head -n1 "$PGRST_PIDFILE")) ready on $PGRESTIFY_TEST_URL"
      ;;
    stop-postgrest)
      set_dir "${1:-}"
      pgrst_stop
      log "PostgREST stopped"
      ;;
    wait-postgrest)
      set_dir "${1:-}"
      load_env
      pgrst_wait "$PGRESTIFY_TEST_PGRST_PORT" || die "PostgREST not ready on $PGRESTIFY_TEST_URL after ${TIMEOUT}s"
      log "PostgREST ready on $PGRESTIFY_TEST_URL"
      ;;
    start-postgres)
      set_dir "${1:-}"
      load_env
      pg_start
      log "PostgreSQL (pid $(head -n1 "$PG_PIDFILE")) started on 127.0.0.1:$PGRESTIFY_TEST_PG_PORT"
      ;;
    stop-postgres)
      set_dir "${1:-}"
      pg_stop
      log "PostgreSQL stopped"
      ;;
    restart-postgres)
      set_dir "${1:-}"
      load_env
      pg_restart
      log "PostgreSQL (pid $(head -n1 "$PG_PIDFILE")) restarted on 127.0.0.1:$PGRESTIFY_TEST_PG_PORT"
      ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
