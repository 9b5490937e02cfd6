#!/bin/bash
# Side-by-side pull benchmark, one run: rcompose vs Docker Engine pulling the
# same image from the same local registry into an empty store (pull + unpack).
#   image: flaskredis (Debian minbase + python3-flask + redis: 2 gzip layers,
#          ~74 MB compressed), built offline by ../shared/anchors/11_debian_images.sh
#   rows:  rcompose image pull (empty store), docker pull (image removed first),
#          rcompose second pull (everything present)
# Everything runs on this machine: docker-registry on 127.0.0.1:<free port>,
# and a private containerd + dockerd (own sockets, data roots, no bridge, no
# iptables) so that no other Docker on the machine is touched. Every process
# started here is stopped by its PID on exit.
#
# Needs root and: docker.io containerd docker-registry skopeo umoci debootstrap
# hyperfine jq (apt). Env: RUNS (default 5), W (work dir, default
# /var/tmp/rcompose-bench), SHARED (default ../shared next to the repo).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$REPO/../shared}
W=${W:-/var/tmp/rcompose-bench}
RUNS=${RUNS:-5}
mkdir -p "$W"
for t in docker-registry skopeo umoci hyperfine jq dockerd containerd; do
  command -v "$t" >/dev/null || { echo "bench/pull.sh: $t is missing" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/pull.sh: needs root (dockerd, layer owners)" >&2; exit 1; }

# ---- the image (built once, kept in $W/oci)
if ! jq -e '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="flaskredis")' "$W/oci/index.json" >/dev/null 2>&1; then
  echo "building flaskredis with $SHARED/anchors/11_debian_images.sh (debootstrap; a few minutes)"
  W=$W OUT_DIR=$W/out bash "$SHARED/anchors/11_debian_images.sh"
fi

# ---- rcompose, release build
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
(cd "$REPO" && cargo build --release --quiet)
RC=$CARGO_TARGET_DIR/release/rcompose

# ---- daemons, each stopped by PID on exit
PIDS=()
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    pid=${PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
start_bg() { # logname cmd...
  local log=$W/$1.log; shift
  setsid "$@" > "$log" 2>&1 < /dev/null &
  PIDS+=($!)
}
wait_for() { # what cmd...
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench/pull.sh: $what did not come up (logs in $W)" >&2; exit 1
}

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
rm -rf "$W/registry-data"
cat > "$W/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $W/registry-data}
  delete: {enabled: true}
http:
  addr: $REG
EOF
start_bg registry docker-registry serve "$W/registry.yml"
wait_for registry curl -fsS "http://$REG/v2/"

CTRD=$W/containerd
mkdir -p "$CTRD"
start_bg containerd containerd --address "$CTRD/containerd.sock" --root "$CTRD/root" --state "$CTRD/state"
wait_for containerd test -S "$CTRD/containerd.sock"
DSOCK=$W/docker.sock
start_bg dockerd dockerd --host "unix://$DSOCK" --containerd "$CTRD/containerd.sock" \
  --data-root "$W/docker-data" --exec-root "$W/docker-exec" --pidfile "$W/docker.pid" \
  --bridge none --iptables=false --ip6tables=false --insecure-registry "$REG"
D="/usr/bin/docker -H unix://$DSOCK"
wait_for dockerd $D info

skopeo copy --quiet --dest-tls-verify=false "oci:$W/oci:flaskredis" "docker://$REG/flaskredis:latest"
curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/flaskredis/manifests/latest" \
  | jq -r '"flaskredis: \(.layers|length) layers, \([.layers[].size]|add) bytes compressed, \(.layers[0].mediaType)"'

IMG=$REG/flaskredis:latest
# Each run starts from an empty store (rcompose: the state root removed;
# docker: the image removed), then sync, as ../shared/anchors/60_pull.sh does.
RROOT=$W/rcompose-root
OUT=$W/pull.json
hyperfine --warmup 1 --runs "$RUNS" --export-json "$OUT" \
  --prepare "sh -c 'rm -rf $RROOT; sync'" -n "rcompose image pull (empty store)" \
      "env RCOMPOSE_ROOT=$RROOT $RC image pull -q $IMG" \
  --prepare "sh -c '$D rmi -f $IMG >/dev/null 2>&1; sync'" -n "docker pull (image removed)" \
      "$D pull -q $IMG" \
  --prepare "sh -c 'env RCOMPOSE_ROOT=$RROOT $RC image pull -q $IMG >/dev/null'" -n "rcompose second pull (all present)" \
      "env RCOMPOSE_ROOT=$RROOT $RC image pull -q $IMG"
echo
jq -r '.results[] | "\(.command)\tmedian \(.median*1000|floor) ms\tmin \(.min*1000|floor) ms\tmax \(.max*1000|floor) ms"' "$OUT"
RCM=$(jq '.results[0].median' "$OUT"); DM=$(jq '.results[1].median' "$OUT")
python3 -c "print(f'docker/rcompose: {$DM/$RCM:.2f}x')"
$D rmi -f "$IMG" >/dev/null 2>&1 || true
rm -rf "$RROOT"
