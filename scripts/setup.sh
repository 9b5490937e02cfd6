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

# The offline examples run on images made from installed packages; the
# others name Docker Hub images, which are served here by stand-ins made
# from Debian packages unless a registry mirror is already configured.
case "$example" in
  hello|hello-build)
    rcompose image inspect busybox:local >/dev/null 2>&1 || sh "$here/scripts/make-local-images.sh"
    ;;
  *)
    if [ ! -e /etc/rcompose/registries.json ] || grep -q '127.0.0.1:5000' /etc/rcompose/registries.json; then
      pkgs=()
      for p in debootstrap umoci skopeo docker-registry python3-pip; do dpkg -s "$p" >/dev/null 2>&1 || pkgs+=("$p"); done
      if [ ${#pkgs[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
      fi
      bash "$here/scripts/serve-example-images.sh" 5000
    fi
    ;;
esac

cd "$here/examples/compose/$example"
rcompose up -d
rcompose ps
url=
case "$example" in
  hello) url=http://127.0.0.1:8080/cgi-bin/hits ;;
  hello-build) url=http://127.0.0.1:8081/cgi-bin/hits ;;
  flask-redis|flask-mysql) url=http://127.0.0.1:8000/ ;;
  flask-volume) url=http://127.0.0.1:5000/ ;;
  dev-env) url=http://127.0.0.1:8090/ ;;
esac
if [ -n "$url" ]; then
  # The published port answers from the host.
  for _ in $(seq 50); do
    curl -fsS "$url" && break
    sleep 0.3
  done
fi
echo "running: 'rcompose logs -f --tail=4' to follow, 'rcompose down -v' to remove (in examples/compose/$example)"
