#!/usr/bin/env bash
# CTest fixture for the integration tests: `fixture.sh start ENVFILE [TEST_SERVER]` /
# `fixture.sh stop ENVFILE`. Starts a throwaway PostgreSQL 15 + PostgREST 12.0.2
# (scripts/testenv.sh) and writes its env file, or, when PGRESTIFY_TEST_URL is already set (a
# server the developer runs), records that. With TEST_SERVER (tests/support/test_server.cpp) it
# also starts an echoing and a silent loopback server that are not PostgREST, and adds
# PGRESTIFY_TEST_ECHO_URL and PGRESTIFY_TEST_SILENT_URL to the env file.
# When nginx is installed (Debian package `nginx`, see scripts/bootstrap.sh) it also starts nginx
# terminating TLS in front of that PostgREST and requiring a client certificate (mutual TLS), with
# a CA, server and client certificates generated here by openssl, and adds PGRESTIFY_TEST_TLS_URL,
# _TLS_CA, _TLS_CERT, _TLS_KEY, _TLS_KEY_ENCRYPTED, _TLS_KEY_PASSWORD and _TLS_WRONG_CA (a CA that
# signed nothing) to the env file. Without nginx these are absent: tests/integration/tls_test.cpp
# then fails under CI (like a missing PostgREST) and skips otherwise. nginx runs unprivileged in
# its own directory ($envfile.servers/tls: configuration, pid file, logs, temp paths), in the
# foreground, and is stopped by its PID like the other test servers.
# On the servers it starts itself, it also runs a second PostgREST on the same database with the
# default `db-tx-end = commit` (dry runs must refuse it) and adds PGRESTIFY_TEST_COMMIT_URL.
# And, when HAProxy is installed (Debian package `haproxy`), `scripts/testenv.sh start-lb`: HAProxy
# on loopback in front of three more PostgREST replicas on the same database (keep-alive on both
# sides, health checks on each replica's /ready), PGRESTIFY_TEST_LB_URL in the env file. Without
# HAProxy it is absent: tests/integration/replicas_test.cpp then fails under CI and skips
# otherwise. `testenv.sh stop` stops HAProxy (every process a reload left) and the replicas.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cmd=${1:?start|stop}
envfile=${2:?env file path}
testserver=${3:-}
statefile="$envfile.dir"
extradir="$envfile.servers"

stop_test_servers() {
  local pidfile
  for pidfile in "$extradir"/*.pid; do
    [[ -f $pidfile ]] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  rm -rf "$extradir"
}

# Starts `TEST_SERVER MODE` and appends its URL to the env file as PGRESTIFY_TEST_<NAME>_URL.
start_test_server() { # MODE NAME
  local mode=$1 name=$2 i
  "$testserver" "$mode" "$extradir/$mode.port" >"$extradir/$mode.log" 2>&1 </dev/null &
  echo $! > "$extradir/$mode.pid"
  for ((i = 0; i < 100; i++)); do
    [[ -s $extradir/$mode.port ]] && break
    sleep 0.05
  done
  [[ -s $extradir/$mode.port ]] || { echo "fixture: the $mode test server did not start" >&2; exit 1; }
  echo "PGRESTIFY_TEST_${name}_URL=http://127.0.0.1:$(cat "$extradir/$mode.port")" >> "$envfile"
}

nginx_bin() {
  command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true
}

# A free loopback TCP port (the kernel's choice; nginx binding it later may still race).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Generates the test PKI in $1: a CA, a server certificate for 127.0.0.1/localhost, a client
# certificate (plain and pass-phrase protected key), and a second, unrelated CA.
make_test_pki() { # DIR
  local d=$1 ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 3 -subj "/CN=pgrestify test CA" 2>/dev/null
  openssl req -x509 "${ec[@]}" -keyout "$d/wrong-ca.key" -out "$d/wrong-ca.pem" -days 3 \
    -subj "/CN=pgrestify unrelated CA" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$d/server.ext"
  printf 'extendedKeyUsage=clientAuth\n' > "$d/client.ext"
  local who
  for who in server client; do
    openssl req "${ec[@]}" -keyout "$d/$who.key" -out "$d/$who.csr" -subj "/CN=pgrestify test $who" 2>/dev/null
    openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 3 \
      -extfile "$d/$who.ext" -out "$d/$who.pem" 2>/dev/null
  done
  openssl pkey -in "$d/client.key" -aes256 -passout pass:fixture-key-pass -out "$d/client-encrypted.key"
}

# nginx (TLS, client certificate required) in front of the PostgREST at $1.
start_tls_proxy() { # UPSTREAM_URL
  local upstream=$1 nginx d port i attempt
  nginx=$(nginx_bin)
  if [[ -z $nginx ]]; then
    echo "fixture: nginx is not installed (Debian package nginx): no TLS server, the TLS tests fail under CI" >&2
    return 0
  fi
  d="$extradir/tls"
  mkdir -p "$d"
  make_test_pki "$d"
  for ((attempt = 0; attempt < 5; attempt++)); do
    port=$(free_port)
    mkdir -p "$d/temp"
    cat > "$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $d/temp/body;
  proxy_temp_path $d/temp/proxy;
  fastcgi_temp_path $d/temp/fastcgi;
  uwsgi_temp_path $d/temp/uwsgi;
  scgi_temp_path $d/temp/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $d/server.pem;
    ssl_certificate_key $d/server.key;
    ssl_client_certificate $d/ca.pem;
    ssl_verify_client on;
    location / {
      proxy_pass $upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_read_timeout 120s;
    }
  }
}
EOF
    "$nginx" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" >"$d/nginx.out" 2>&1 </dev/null &
    echo $! > "$extradir/nginx.pid"
    for ((i = 0; i < 100; i++)); do
      if curl -s -o /dev/null --max-time 2 --cacert "$d/ca.pem" --cert "$d/client.pem" --key "$d/client.key" \
        "https://127.0.0.1:$port/"; then
        {
          echo "PGRESTIFY_TEST_TLS_URL=https://127.0.0.1:$port"
          echo "PGRESTIFY_TEST_TLS_CA=$d/ca.pem"
          echo "PGRESTIFY_TEST_TLS_CERT=$d/client.pem"
          echo "PGRESTIFY_TEST_TLS_KEY=$d/client.key"
          echo "PGRESTIFY_TEST_TLS_KEY_ENCRYPTED=$d/client-encrypted.key"
          echo "PGRESTIFY_TEST_TLS_KEY_PASSWORD=fixture-key-pass"
          echo "PGRESTIFY_TEST_TLS_WRONG_CA=$d/wrong-ca.pem"
        } >> "$envfile"
        return 0
      fi
      kill -0 "$(cat "$extradir/nginx.pid")" 2>/dev/null || break  # exited (port taken?): try another port
      sleep 0.05
    done
    kill "$(cat "$extradir/nginx.pid")" 2>/dev/null || true
    rm -f "$extradir/nginx.pid"
  done
  echo "fixture: nginx did not start; its log:" >&2
  cat "$d/error.log" "$d/nginx.out" >&2 2>/dev/null || true
  exit 1
}

start_test_servers() {
  [[ -n $testserver ]] || return 0
  mkdir -p "$extradir"
  start_test_server echo ECHO
  start_test_server silent SILENT
}

# A second PostgREST 12.0.2 on the testenv's database, configured like the first but with the
# default `db-tx-end = commit` (it ignores `Prefer: tx=rollback`). Its URL goes to the env file as
# PGRESTIFY_TEST_COMMIT_URL; stop_test_servers stops it.
start_commit_postgrest() { # TESTENV_DIR
  local dir=$1 conf port i
  mkdir -p "$extradir"
  conf="$extradir/commit-postgrest.conf"
  for ((i = 0; i < 5; i++)); do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    (umask 077 && sed -e '/^db-tx-end/d' -e "s/^server-port = .*/server-port = $port/" "$dir/postgrest.conf" >"$conf")
    "${PGRESTIFY_POSTGREST_BIN:-$ROOT/.deps/postgrest-12.0.2/postgrest}" "$conf" >"$extradir/commit-postgrest.log" 2>&1 </dev/null &
    echo $! > "$extradir/commit-postgrest.pid"
    local j
    for ((j = 0; j < 200; j++)); do
      if curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
        echo "PGRESTIFY_TEST_COMMIT_URL=http://127.0.0.1:$port" >> "$envfile"
        return 0
      fi
      kill -0 "$(cat "$extradir/commit-postgrest.pid")" 2>/dev/null || break
      sleep 0.05
    done
    kill "$(cat "$extradir/commit-postgrest.pid")" 2>/dev/null || true
  done
  echo "fixture: the second (db-tx-end = commit) PostgREST did not start" >&2
  cat "$extradir/commit-postgrest.log" >&2 || true
  exit 1
}

# HAProxy in front of three PostgREST replicas on the testenv's database (scripts/testenv.sh start-lb).
start_lb() { # TESTENV_DIR
  if [[ -z ${PGRESTIFY_HAPROXY_BIN:-} ]] && ! command -v haproxy >/dev/null 2>&1 && [[ ! -x /usr/sbin/haproxy ]]; then
    echo "fixture: haproxy is not installed (Debian package haproxy): no load balancer, the replica tests fail under CI" >&2
    return 0
  fi
  "$ROOT/scripts/testenv.sh" start-lb "$1" 3 >/dev/null || { echo "fixture: HAProxy and its replicas did not start" >&2; exit 1; }
  cat "$1/lb/env" >> "$envfile"
}

case "$cmd" in
  start)
    # A start without a stop in between (`ctest --repeat` repeats the fixture's setup too) must
    # not leave the earlier servers running.
    if [[ -f $statefile ]]; then
      "$ROOT/scripts/testenv.sh" stop "$(cat "$statefile")" || true
    fi
    stop_test_servers
    rm -f "$envfile" "$statefile"
    if [[ -n ${PGRESTIFY_TEST_URL:-} ]]; then
      env | grep '^PGRESTIFY_TEST_' > "$envfile"
      start_test_servers
      mkdir -p "$extradir"
      start_tls_proxy "$PGRESTIFY_TEST_URL"
      echo "fixture: using the running server at $PGRESTIFY_TEST_URL"
      exit 0
    fi
    dir=$(mktemp -d /tmp/pgrestify-test.XXXXXX)
    rmdir "$dir"
    echo "$dir" > "$statefile"
    "$ROOT/scripts/testenv.sh" start "$dir" | tee "$envfile.summary"
    cp "$dir/env" "$envfile"
    start_test_servers
    start_commit_postgrest "$dir"
    mkdir -p "$extradir"
    start_tls_proxy "$(grep '^PGRESTIFY_TEST_URL=' "$envfile" | cut -d= -f2-)"
    start_lb "$dir"
    ;;
  stop)
    stop_test_servers
    if [[ -f $statefile ]]; then
      "$ROOT/scripts/testenv.sh" stop "$(cat "$statefile")"
      rm -f "$statefile"
    fi
    rm -f "$envfile"
    ;;
  *) echo "usage: fixture.sh start|stop ENVFILE" >&2; exit 2 ;;
esac
