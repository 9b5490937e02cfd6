#!/usr/bin/env bash
# Set-up command 2: run every test. Installs the Debian packages the tests
# need (scripts/test-packages.txt) when they are missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if [ -s scripts/test-packages.txt ]; then
  missing=()
  while read -r pkg; do
    case "$pkg" in ''|'#'*) continue ;; esac
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done < scripts/test-packages.txt
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing test packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

cargo fmt --check
cargo build --locked --all-targets
cargo test --locked --all-targets
