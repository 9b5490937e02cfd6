#!/usr/bin/env bash
# Set-up command 1: install rcompose from this checkout and run it on an
# example. Installs what it needs itself (Debian packages for the build).
# Usage: scripts/setup.sh [EXAMPLE]   (default: flask-redis)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
example=${1:-flask-redis}

need_apt=()
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "rcompose needs a Rust toolchain (cargo, rustc >= 1.85) on PATH: install it with rustup first" >&2
  exit 1
fi

(cd "$here" && cargo build --release --locked)
install -m 0755 "$here/target/release/rcompose" /usr/local/bin/rcompose
echo "installed: $(rcompose version)"

cd "$here/examples/compose/$example"
# The engine commands (up, down, ps, logs) land with the runtime issues; until
# then the main job this build can do is load, validate and print the project.
rcompose config
