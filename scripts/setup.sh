#!/usr/bin/env bash
# Set-up command 1: install rcompose from this checkout and run it on an
# example. Installs what it needs itself (Debian packages for the build).
# Usage: scripts/setup.sh [EXAMPLE]   (default: hello, which runs offline)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
example=${1:-hello}

need_apt=()
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
dpkg -s libseccomp-dev >/dev/null 2>&1 || need_apt+=(libseccomp-dev)
dpkg -s busybox-static >/dev/null 2>&1 || need_apt+=(busybox-static)
command -v nft >/dev/null || need_apt+=(nftables)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v curl >/dev/null || need_apt+=(curl)
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

# The offline examples run on images made from installed packages.
rcompose image inspect busybox:local >/dev/null 2>&1 || sh "$here/scripts/make-local-images.sh"

cd "$here/examples/compose/$example"
rcompose up -d
rcompose ps
port=
case "$example" in
  hello) port=8080 ;;
  hello-build) port=8081 ;;
esac
if [ -n "$port" ]; then
  # The published port answers from the host; the count lives in a named volume.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    curl -fsS "http://127.0.0.1:$port/cgi-bin/hits" && break
    sleep 0.3
  done
fi
echo "running: 'rcompose logs -f --tail=4' to follow, 'rcompose down -v' to remove (in examples/compose/$example)"
