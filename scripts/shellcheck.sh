#!/usr/bin/env bash
# Runs shellcheck over the project's shell scripts (CTest test lint.shellcheck, issue #14):
# scripts/*.sh, bench/run.sh, tools/tests/*.sh and tests/integration/fixture.sh, with every
# default check, following `source` (-x). Without shellcheck (Debian package `shellcheck`,
# installed by scripts/bootstrap.sh) the test is skipped (exit status 77), except when CI is set:
# then it fails, so that CI never passes without the check.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v shellcheck >/dev/null 2>&1; then
  if [[ -n ${CI:-} && ${CI} != false && ${CI} != 0 ]]; then
    echo "shellcheck: not installed, and CI is set: failing (install the Debian package shellcheck)" >&2
    exit 1
  fi
  echo "shellcheck: not installed: skipped (install the Debian package shellcheck)"
  exit 77
fi

files=(scripts/*.sh bench/run.sh tools/tests/*.sh tests/integration/fixture.sh)
shellcheck --version | sed -n 2p
shellcheck -x "${files[@]}"
echo "shellcheck: ${#files[@]} scripts clean"
