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
#   scripts/testenv.sh start-lb DIR [N]   HAProxy in front of N (3) more PostgREST replicas on the
#                                         same database; prints PGRESTIFY_TEST_LB_URL=... (also
#                                         in DIR/lb/env); `stop` stops them too
#   scripts/testenv.sh stop-lb DIR        stop HAProxy and the replicas
#   scripts/testenv.sh kill-replica DIR K     SIGKILL replica K (1..N), no warning to HAProxy
#   scripts/testenv.sh pause-replica DIR K    SIGSTOP replica K: requests sent to it hang
#   scripts/testenv.sh stop-replica DIR K     graceful: drain it in HAProxy, wait for its requests
#                                             to finish, SIGTERM
#   scripts/testenv.sh start-replica DIR K    start it, wait until HAProxy sees it UP
#   scripts/testenv.sh rolling-restart DIR    stop-replica + start-replica for each, one at a time
#   scripts/testenv.sh reload-lb DIR      graceful HAProxy reload: a new process (`haproxy -sf`)
#                                         takes the port, the old one finishes its requests
#   scripts/testenv.sh wait-lb DIR [K]    wait until HAProxy sees replica K (every replica) UP
#
# DIR/env holds KEY=VALUE lines (PGRESTIFY_TEST_*), see write_env below.
# Env: PGRESTIFY_POSTGREST_BIN (default .deps/postgrest-12.0.2/postgrest),
#      PGRESTIFY_HAPROXY_BIN (default: haproxy on PATH, else /usr/sbin/haproxy),
#      PGRESTIFY_LB_SINGLE=1 (start-lb: also a second frontend in front of replica 1 alone,
#      PGRESTIFY_TEST_LB1_URL; for bench/run.sh),
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
# HAProxy in front of PostgREST replicas (start-lb ...): DIR/lb holds the replicas' configurations,
# pid files and logs, haproxy.cfg, HAProxy's admin socket and the ports (DIR/lb/state).
# ---------------------------------------------------------------------------

haproxy_bin() {
  if [[ -n ${PGRESTIFY_HAPROXY_BIN:-} ]]; then
    echo "$PGRESTIFY_HAPROXY_BIN"
    return 0
  fi
  command -v haproxy 2>/dev/null || { [[ -x /usr/sbin/haproxy ]] && echo /usr/sbin/haproxy; } || true
}

set_lb() {
  LB_DIR="$DIR/lb"
  LB_CFG="$LB_DIR/haproxy.cfg"
  LB_SOCK="$LB_DIR/admin.sock"
  LB_STATE="$LB_DIR/state"
}

load_lb() {
  set_lb
  [[ -f $LB_STATE ]] || die "no load balancer in $DIR (run '$0 start-lb $DIR' first)"
  # shellcheck disable=SC1090
  source "$LB_STATE"
}

# One command on HAProxy's admin socket (runtime API); prints the answer.
lb_admin() { # COMMAND
  python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
out = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    out += d
sys.stdout.write(out.decode())
' "$LB_SOCK" "$1"
}

# "NAME STATUS SESSIONS" for each server of backend `replicas` (STATUS: UP, DOWN, DRAIN, MAINT...).
lb_servers() {
  lb_admin "show stat" | python3 -c '
import csv, sys
rows = [l for l in sys.stdin.read().splitlines() if l]
if not rows or not rows[0].startswith("# "):
    sys.exit(1)
head = rows[0][2:].split(",")
for r in csv.DictReader(rows[1:], fieldnames=head):
    if r["pxname"] == "replicas" and r["svname"] not in ("FRONTEND", "BACKEND"):
        print(r["svname"], r["status"].split(" ")[0], r["scur"])
'
}

replica_conf() { echo "$LB_DIR/r$1.conf"; }
replica_pidfile() { echo "$LB_DIR/r$1.pid"; }

replica_check() { # K
  if [[ ! ${1:-} =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > LB_REPLICAS)); then
    die "replica must be 1..$LB_REPLICAS, got '${1:-}'"
  fi
}

replica_proc_start() { # K PORT
  local k=$1 pid rc=0
  if our_pid "$(replica_pidfile "$k")" "$(replica_conf "$k")" >/dev/null; then
    err "replica $k already runs"
    return 1
  fi
  nohup "$PGRST_BIN" "$(replica_conf "$k")" >>"$LB_DIR/r$k.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$(replica_pidfile "$k")"
  pgrst_wait "$2" "$pid" || rc=$?
  if ((rc != 0)); then
    err "replica $k (PostgREST on 127.0.0.1:$2) did not start"
    tail_log "$LB_DIR/r$k.log"
    return 1
  fi
}

replica_proc_stop() { # K SIGNAL
  local pid i
  if pid="$(our_pid "$(replica_pidfile "$1")" "$(replica_conf "$1")")"; then
    kill "-$2" "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      pid_alive "$pid" || break
      sleep 0.05
    done
    if pid_alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 40; i++)); do
        pid_alive "$pid" || break
        sleep 0.05
      done
    fi
  fi
  rm -f "$(replica_pidfile "$1")"
}

# Waits until HAProxy reports replica K (every replica when K is empty) with status WANT (UP).
lb_wait_status() { # WANT [K]
  local want=$1 k=${2:-} deadline=$((SECONDS + TIMEOUT)) lines ok name status
  while ((SECONDS < deadline)); do
    ok=1
    lines="$(lb_servers 2>/dev/null)" || lines=""
    [[ -n $lines ]] || ok=0
    while read -r name status _; do
      [[ -z $name ]] && continue
      [[ -n $k && $name != "r$k" ]] && continue
      [[ $status == "$want" ]] || ok=0
    done <<<"$lines"
    ((ok)) && return 0
    sleep 0.1
  done
  err "HAProxy does not report ${k:+replica }${k:-every replica} $want after ${TIMEOUT}s:"
  lb_servers >&2 || true
  return 1
}

write_lb_cfg() {
  local k port_var admin_var
  (umask 077 && cat >"$LB_CFG.tmp") <<EOF
# HAProxy 2.6 in front of $LB_REPLICAS PostgREST 12.0.2 replicas (scripts/testenv.sh start-lb).
global
  maxconn 1000
  stats socket $LB_SOCK mode 600 level admin

defaults
  mode http
  option http-keep-alive          # client side: keep connections open between requests
  http-reuse safe                 # server side: reuse idle connections to the replicas
  option idle-close-on-response   # on reload, idle client connections get a response before closing
  option redispatch 1             # a connection retried after a failure goes to another replica
  retries 3                       # connection failures only: the request had not left HAProxy
  timeout connect 2s
  timeout client 120s             # above the client's request timeout (pgrestify: 60 s)
  timeout server 120s             # a batch may run that long in the database
  timeout http-request 30s
  timeout http-keep-alive 30s
  timeout queue 10s
  timeout check 2s

frontend postgrest
  bind 127.0.0.1:$LB_PORT
  default_backend replicas

backend replicas
  balance leastconn
  option httpchk GET /ready       # PostgREST's admin server: 200 when it can serve requests
  http-check expect status 200
  default-server inter 500ms fastinter 250ms downinter 500ms rise 2 fall 2
EOF
  for ((k = 1; k <= LB_REPLICAS; k++)); do
    port_var="LB_R${k}_PORT"
    admin_var="LB_R${k}_ADMIN"
    echo "  server r$k 127.0.0.1:${!port_var} check port ${!admin_var}" >>"$LB_CFG.tmp"
  done
  if [[ -n ${LB1_PORT:-} ]]; then
    # shellcheck disable=SC2153 # LB_R1_PORT/LB_R1_ADMIN: set by cmd_start_lb and load_lb
    cat >>"$LB_CFG.tmp" <<EOF

# bench/run.sh: the same balancer in front of replica 1 alone.
frontend single
  bind 127.0.0.1:$LB1_PORT
  default_backend single

backend single
  option httpchk GET /ready
  http-check expect status 200
  default-server inter 500ms fastinter 250ms downinter 500ms rise 2 fall 2
  server r1 127.0.0.1:$LB_R1_PORT check port $LB_R1_ADMIN
EOF
  fi
  mv -f "$LB_CFG.tmp" "$LB_CFG"
}

# Starts HAProxy in the foreground (-db) under nohup; with OLD_PIDS, as a graceful reload (-sf):
# the new process binds the port, the old ones stop listening and finish their requests.
lb_proc_start() { # [OLD_PIDS]
  local hap pid i
  hap="$(haproxy_bin)"
  [[ -n $hap ]] || die "haproxy not found (Debian package haproxy; run scripts/bootstrap.sh)"
  if ! "$hap" -c -q -f "$LB_CFG" >"$LB_DIR/haproxy-check.log" 2>&1; then
    err "haproxy refuses $LB_CFG"
    tail_log "$LB_DIR/haproxy-check.log"
    return 1
  fi
  if [[ -n ${1:-} ]]; then
    # shellcheck disable=SC2086
    nohup "$hap" -db -f "$LB_CFG" -sf $1 >>"$LB_DIR/haproxy.log" 2>&1 </dev/null &
  else
    nohup "$hap" -db -f "$LB_CFG" >>"$LB_DIR/haproxy.log" 2>&1 </dev/null &
  fi
  pid=$!
  echo "$pid" >"$LB_DIR/haproxy.pid"
  echo "$pid" >>"$LB_DIR/haproxy.pids"
  # Ready when the new process answers on its admin socket and the port serves PostgREST.
  for ((i = 0; i < 200; i++)); do
    pid_alive "$pid" || break
    if lb_admin "show info" 2>/dev/null | grep -q "^Pid: $pid$" &&
      [[ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$LB_PORT/" 2>/dev/null)" == 200 ]]; then
      return 0
    fi
    sleep 0.05
  done
  err "HAProxy did not start on 127.0.0.1:$LB_PORT"
  tail_log "$LB_DIR/haproxy.log"
  return 1
}

# The HAProxy processes started here that still run (an old one lingers after a reload until its
# requests are done).
lb_running_pids() {
  local pid
  [[ -f $LB_DIR/haproxy.pids ]] || return 0
  while read -r pid; do
    [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" &&
      tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$LB_CFG" && echo "$pid"
  done <"$LB_DIR/haproxy.pids"
  return 0
}

LB_USED_PORTS=""
pick_unused_port() {
  local p i
  for ((i = 0; i < 50; i++)); do
    p="$(pick_port)"
    [[ " $LB_USED_PORTS " == *" $p "* ]] && continue
    echo "$p"
    return 0
  done
  die "no free TCP port found"
}

cmd_start_lb() { # N
  local n=${1:-3} k port admin port_var state
  [[ $n =~ ^[1-9]$ ]] || die "start-lb: 1 to 9 replicas, got '$n'"
  load_env
  set_lb
  [[ -f $LB_STATE ]] && die "a load balancer already runs in $DIR (stop-lb first)"
  [[ -n "$(haproxy_bin)" ]] || die "haproxy not found (Debian package haproxy; run scripts/bootstrap.sh)"
  mkdir -p "$LB_DIR"
  : >"$LB_DIR/haproxy.pids"
  LB_REPLICAS=$n
  LB_USED_PORTS="$PGRESTIFY_TEST_PG_PORT $PGRESTIFY_TEST_PGRST_PORT"
  state="LB_REPLICAS=$n"$'\n'
  for ((k = 1; k <= n; k++)); do
    port="$(pick_unused_port)"
    LB_USED_PORTS+=" $port"
    admin="$(pick_unused_port)"
    LB_USED_PORTS+=" $admin"
    printf -v "LB_R${k}_PORT" '%s' "$port"
    printf -v "LB_R${k}_ADMIN" '%s' "$admin"
    state+="LB_R${k}_PORT=$port"$'\n'"LB_R${k}_ADMIN=$admin"$'\n'
    (umask 077 && sed -e "s/^server-port = .*/server-port = $port/" "$PGRST_CONF" >"$(replica_conf "$k")" &&
      printf 'admin-server-port = %s\n' "$admin" >>"$(replica_conf "$k")")
  done
  LB_PORT="$(pick_unused_port)"
  LB_USED_PORTS+=" $LB_PORT"
  state+="LB_PORT=$LB_PORT"$'\n'
  LB1_PORT=""
  if [[ ${PGRESTIFY_LB_SINGLE:-0} == 1 ]]; then
    LB1_PORT="$(pick_unused_port)"
    state+="LB1_PORT=$LB1_PORT"$'\n'
  fi
  printf '%s' "$state" >"$LB_STATE"
  for ((k = 1; k <= n; k++)); do
    port_var="LB_R${k}_PORT"
    replica_proc_start "$k" "${!port_var}" || {
      cmd_stop_lb
      exit 1
    }
  done
  write_lb_cfg
  if ! lb_proc_start || ! lb_wait_status UP; then
    cmd_stop_lb
    exit 1
  fi
  {
    echo "PGRESTIFY_TEST_LB_URL=http://127.0.0.1:$LB_PORT"
    [[ -z $LB1_PORT ]] || echo "PGRESTIFY_TEST_LB1_URL=http://127.0.0.1:$LB1_PORT"
  } >"$LB_DIR/env"
  cat "$LB_DIR/env"
  log "HAProxy $("$(haproxy_bin)" -v | head -n1 | cut -d' ' -f3) on http://127.0.0.1:$LB_PORT in front of $n PostgREST replicas" >&2
}

cmd_stop_lb() {
  set_lb
  [[ -d $LB_DIR ]] || return 0
  local pid pidfile k i
  for pid in $(lb_running_pids); do
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
      pid_alive "$pid" || break
      sleep 0.05
    done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  for pidfile in "$LB_DIR"/r*.pid; do
    [[ -f $pidfile ]] || continue
    k="${pidfile##*/r}"
    replica_proc_stop "${k%.pid}" TERM
  done
  rm -rf "$LB_DIR"
}

cmd_replica() { # kill|pause|stop|start K
  local what=$1 k=${2:-} i port_var
  load_env
  load_lb
  replica_check "$k"
  port_var="LB_R${k}_PORT"
  case $what in
    kill)
      replica_proc_stop "$k" KILL
      ;;
    pause)
      local pid
      pid="$(our_pid "$(replica_pidfile "$k")" "$(replica_conf "$k")")" || die "replica $k does not run"
      kill -STOP "$pid"
      ;;
    stop)
      # Graceful: HAProxy sends it no new request; its requests in flight finish; then SIGTERM.
      lb_admin "set server replicas/r$k state drain" >/dev/null
      for ((i = 0; i < 200; i++)); do
        [[ "$(lb_servers | awk -v s="r$k" '$1 == s {print $3}')" == 0 ]] && break
        sleep 0.05
      done
      replica_proc_stop "$k" TERM
      ;;
    start)
      replica_proc_start "$k" "${!port_var}"
      lb_admin "set server replicas/r$k state ready" >/dev/null
      lb_wait_status UP "$k"
      ;;
  esac
}

cmd_reload_lb() {
  load_env
  load_lb
  local old
  old="$(lb_running_pids | tr '\n' ' ')"
  lb_proc_start "$old"
  lb_wait_status UP
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
  cmd_stop_lb
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
    start-lb)
      set_dir "${1:-}"
      cmd_start_lb "${2:-3}"
      ;;
    stop-lb)
      set_dir "${1:-}"
      cmd_stop_lb
      log "HAProxy and its replicas stopped"
      ;;
    kill-replica | pause-replica | stop-replica | start-replica)
      set_dir "${1:-}"
      cmd_replica "${cmd%-replica}" "${2:-}"
      log "${cmd%-replica} replica ${2:-}: done"
      ;;
    restart-replica)
      set_dir "${1:-}"
      cmd_replica stop "${2:-}"
      cmd_replica start "${2:-}"
      log "replica ${2:-} restarted"
      ;;
    rolling-restart)
      set_dir "${1:-}"
      load_lb
      local k
      for ((k = 1; k <= LB_REPLICAS; k++)); do
        cmd_replica stop "$k"
        cmd_replica start "$k"
      done
      log "rolling restart of $LB_REPLICAS replicas done"
      ;;
    reload-lb)
      set_dir "${1:-}"
      cmd_reload_lb
      log "HAProxy reloaded (pid $(head -n1 "$DIR/lb/haproxy.pid"))"
      ;;
    wait-lb)
      set_dir "${1:-}"
      load_lb
      lb_wait_status UP "${2:-}"
      ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
