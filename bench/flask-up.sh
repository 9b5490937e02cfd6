#!/bin/bash
# The classic app from an empty store (issue 13): `up -d` of
# examples/compose/flask-redis — pull redis:alpine and python:3.11-alpine,
# build web, start both — then the time until its published port answers
# HTTP 200; rcompose side by side with Docker Compose on Docker Engine, both
# pulling from the same loopback registry as their docker.io mirror
# (scripts/make-example-images.sh stand-ins).
#   rows: rcompose / docker-compose x up -d / until 200 (median of RUNS,
#   each from an empty image store; 1 warm-up dropped)
# Docker: Debian's docker.io + docker-compose, a private containerd + dockerd
# (own sockets, data roots), stopped by PID on exit.
# Usage: bench/flask-up.sh      (RUNS=3, W=/var/tmp/rcompose-bench-flask)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${W:-/var/tmp/rcompose-bench-flask}
RUNS=${RUNS:-3}
[ "$(id -u)" = 0 ] || { echo "bench/flask-up.sh: needs root" >&2; exit 1; }
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
for p in docker-registry skopeo umoci debootstrap python3-pip; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
mkdir -p "$W"
RUNW=$W/run
mkdir -p "$RUNW"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
(cd "$REPO" && cargo build --release --quiet)
RC=$CARGO_TARGET_DIR/release/rcompose
OCI=$(bash "$REPO/scripts/make-example-images.sh" | tail -n 1)

PIDS=()
FWD=$(cat /proc/sys/net/ipv4/ip_forward)
APP=$W/flask-redis
cleanup() {
  (cd "$APP" 2>/dev/null && RCOMPOSE_ROOT=$W/rc-root RCOMPOSE_RUN=$RUNW/rc-run "$RC" down -v -t 1 >/dev/null 2>&1) || true
  (cd "$APP" 2>/dev/null && docker-compose down -v -t 1 >/dev/null 2>&1) || true
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    pid=${PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  echo "$FWD" > /proc/sys/net/ipv4/ip_forward
}
trap cleanup EXIT
start_bg() { local log=$W/$1.log; shift; setsid "$@" > "$log" 2>&1 < /dev/null & PIDS+=($!); }
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench/flask-up.sh: $what did not come up (logs in $W)" >&2; exit 1
}

# The registry both tools pull from.
PORT=5077
REG=$W/registry; rm -rf "$REG"; mkdir -p "$REG"
printf 'version: 0.1\nlog: {level: warn}\nstorage:\n  filesystem: {rootdirectory: %s}\nhttp:\n  addr: 127.0.0.1:%s\n' "$REG/data" "$PORT" > "$REG/config.yml"
start_bg registry docker-registry serve "$REG/config.yml"
wait_for registry curl -fsS "http://127.0.0.1:$PORT/v2/"
while read -r tag name; do
  skopeo copy --quiet --dest-tls-verify=false "oci:$OCI:$tag" "docker://127.0.0.1:$PORT/$name"
done < "$(dirname "$OCI")/names"
printf '{"registry-mirrors": ["http://127.0.0.1:%s"], "mirror-only": true}\n' "$PORT" > "$W/registries.json"

CTRD=$W/containerd; mkdir -p "$CTRD"
start_bg containerd containerd --address "$CTRD/containerd.sock" --root "$CTRD/root" --state "$RUNW/containerd"
wait_for containerd test -S "$CTRD/containerd.sock"
DSOCK=$W/docker.sock
start_bg dockerd dockerd --host "unix://$DSOCK" --containerd "$CTRD/containerd.sock" \
  --data-root "$W/docker-data" --exec-root "$RUNW/docker-exec" --pidfile "$W/docker.pid" --bridge none \
  --iptables=false --ip6tables=false \
  --registry-mirror "http://127.0.0.1:$PORT" --insecure-registry "127.0.0.1:$PORT"
export DOCKER_HOST=unix://$DSOCK
D=/usr/bin/docker
wait_for dockerd $D info

rm -rf "$APP"; cp -a "$REPO/examples/compose/flask-redis" "$APP"

now() { echo "${EPOCHREALTIME/./}"; }  # microseconds
wait_200_ms() { # t0 -> ms from t0 until 127.0.0.1:8000 answers 200
  local t0=$1
  for _ in $(seq 1 600); do
    if curl -fsS -o /dev/null -m 1 "http://127.0.0.1:8000/"; then echo $(( ($(now) - t0) / 1000 )); return 0; fi
    sleep 0.02
  done
  echo "bench/flask-up.sh: nothing answers on 127.0.0.1:8000" >&2; exit 1
}
RESULTS=$W/results.txt
: > "$RESULTS"
for tool in rcompose docker-compose; do
  for run in $(seq 0 "$RUNS"); do
    if [ $tool = rcompose ]; then
      rm -rf "$W/rc-root" "$RUNW/rc-run"
      cmd=(env RCOMPOSE_ROOT=$W/rc-root RCOMPOSE_RUN=$RUNW/rc-run RCOMPOSE_REGISTRIES=$W/registries.json "$RC")
    else
      $D image prune -af >/dev/null
      $D builder prune -af >/dev/null 2>&1 || true
      cmd=(docker-compose)
    fi
    sync
    t0=$(now)
    (cd "$APP" && "${cmd[@]}" up -d >"$W/$tool-up.log" 2>&1) || { cat "$W/$tool-up.log" >&2; exit 1; }
    up=$(( ($(now) - t0) / 1000 ))
    ready=$(wait_200_ms "$t0")
    (cd "$APP" && "${cmd[@]}" down -v -t 1 >/dev/null 2>&1)
    if [ "$run" != 0 ]; then
      echo "$tool up $up" >> "$RESULTS"
      echo "$tool http200 $ready" >> "$RESULTS"
    fi
  done
done

python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    tool, op, ms = line.split()
    rows.setdefault((op, tool), []).append(int(ms))
print(f"{'flask-redis, empty store':<26} {'rcompose ms':>12} {'docker-compose ms':>18} {'speed-up':>9}")
for op, label in (("up", "up -d"), ("http200", "up -d until HTTP 200")):
    r = statistics.median(rows[(op, "rcompose")])
    d = statistics.median(rows[(op, "docker-compose")])
    print(f"{label:<26} {r:>12.0f} {d:>18.0f} {d / r:>8.1f}x")
PY
