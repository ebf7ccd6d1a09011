#!/usr/bin/env bash
# The project's C++ formatting (.clang-format, issue #14), with clang-format 14 (Debian package
# clang-format-14, installed by scripts/bootstrap.sh; other versions format differently).
#
#   scripts/format.sh           format every C++ file in place
#   scripts/format.sh --check   change nothing; list the files that are not formatted, exit 1 if any
#                               (CTest test lint.clang_format)
#
# The files: include/, src/, tests/, tools/, bench/ and fuzz/ (*.cpp, *.hpp, *.h). Not examples/:
# the docs quote those programs verbatim (tests/docs), and their layout is chosen for reading.
# Without clang-format-14 the check is skipped (exit status 77), except when CI is set: then it
# fails, so that CI never passes without the check.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

check=0
case ${1:-} in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac

tool=clang-format-14
if ! command -v "$tool" >/dev/null 2>&1; then
  if [[ -n ${CI:-} && ${CI} != false && ${CI} != 0 ]]; then
    echo "format: $tool not installed, and CI is set: failing (install the Debian package clang-format-14)" >&2
    exit 1
  fi
  echo "format: $tool not installed: skipped (install the Debian package clang-format-14)"
  exit 77
fi

files=()
for dir in include src tests tools bench fuzz; do
  [[ -d $dir ]] || continue
  while IFS= read -r -d '' f; do files+=("$f"); done \
    < <(find "$dir" \( -name build -o -name '.*' \) -prune -o -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) -print0)
done
((${#files[@]} > 0)) || { echo "format: no C++ files found" >&2; exit 1; }

if ((check == 0)); then
  "$tool" -i --style=file "${files[@]}"
  echo "format: ${#files[@]} files formatted"
  exit 0
fi

bad=0
for f in "${files[@]}"; do
  if ! "$tool" --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run scripts/format.sh)"
    bad=$((bad + 1))
  fi
done
if ((bad > 0)); then
  echo "format: $bad of ${#files[@]} files are not formatted" >&2
  exit 1
fi
echo "format: ${#files[@]} files formatted"
