#!/bin/bash
# Orchestrator benchmark (issue 6): `up -d` and `down` of a 3-service and a
# 20-service busybox project (services exit on SIGTERM; one publishes a
# port), rcompose side by side with Docker Compose on Docker Engine in one
# run, on the same image; plus `up -d` on an unchanged running project.
#   rows: compose3/compose20 x rcompose/docker-compose x up -d/down (median of RUNS, 1 warm-up dropped)
# Docker: Debian's docker.io + docker-compose, a private containerd + dockerd
# (own sockets and data roots), stopped by PID on exit.
# Usage: bench/up.sh            (RUNS=5, W=/var/tmp/rcompose-bench-up,
#                                RUNW=/run/rcompose-bench-up)
# Data roots are on W (disk), runtime state on RUNW, a tmpfs mounted for the
# run: as both tools keep them by default (/var/lib/…, /run/…) on a Debian
# host, where /run is a tmpfs (on this VM without systemd, it is not).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${W:-/var/tmp/rcompose-bench-up}
RUNS=${RUNS:-5}
[ "$(id -u)" = 0 ] || { echo "bench/up.sh: needs root" >&2; exit 1; }
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v hyperfine >/dev/null || need+=(hyperfine)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
RUNW=${RUNW:-/run/rcompose-bench-up}
mkdir -p "$W" "$RUNW"
RUNW_MOUNTED=

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
(cd "$REPO" && cargo build --release --quiet)
RC=$CARGO_TARGET_DIR/release/rcompose
export RCOMPOSE_ROOT=$W/rc-root RCOMPOSE_RUN=$RUNW/rc-run

PIDS=()
FWD=$(cat /proc/sys/net/ipv4/ip_forward)
cleanup() {
  for d in compose3 compose20; do
    (cd "$W/$d" 2>/dev/null && "$RC" down -t 1 >/dev/null 2>&1) || true
    (cd "$W/$d" 2>/dev/null && DOCKER_HOST=unix://$W/docker.sock docker-compose down -t 1 >/dev/null 2>&1) || true
  done
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    pid=${PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  # dockerd turns forwarding on; leave the host as it was.
  echo "$FWD" > /proc/sys/net/ipv4/ip_forward
  if [ -n "$RUNW_MOUNTED" ]; then
    # Busy while a container's mount still points into it: then leave it.
    umount "$RUNW" 2>/dev/null && rmdir "$RUNW" 2>/dev/null || true
  fi
}
trap cleanup EXIT
if [ "$(stat -f -c %T "$RUNW")" != tmpfs ]; then
  mount -t tmpfs -o mode=0755 rcompose-bench-run "$RUNW" && RUNW_MOUNTED=1
fi
start_bg() { local log=$W/$1.log; shift; setsid "$@" > "$log" 2>&1 < /dev/null & PIDS+=($!); }
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench/up.sh: $what did not come up (logs in $W)" >&2; exit 1
}

CTRD=$W/containerd; mkdir -p "$CTRD"
start_bg containerd containerd --address "$CTRD/containerd.sock" --root "$CTRD/root" --state "$RUNW/containerd"
wait_for containerd test -S "$CTRD/containerd.sock"
DSOCK=$W/docker.sock
start_bg dockerd dockerd --host "unix://$DSOCK" --containerd "$CTRD/containerd.sock" \
  --data-root "$W/docker-data" --exec-root "$RUNW/docker-exec" --pidfile "$W/docker.pid" --bridge none \
  --iptables=false --ip6tables=false
export DOCKER_HOST=unix://$DSOCK
D=/usr/bin/docker
wait_for dockerd $D info

# The same image for both: made for rcompose, saved, loaded into Docker.
"$RC" image inspect busybox:local >/dev/null 2>&1 || sh "$REPO/scripts/make-local-images.sh" "$RC"
"$RC" image save busybox:local | $D load -q >/dev/null

IDLE='["sh", "-c", "trap '"'"'exit 0'"'"' TERM; sleep 2147483647 & wait"]'
mkdir -p "$W/compose3" "$W/compose20"
cat > "$W/compose3/compose.yaml" <<EOF
services:
  db: {image: "busybox:local", command: $IDLE, networks: [appnet]}
  cache: {image: "busybox:local", command: $IDLE, networks: [appnet], depends_on: [db]}
  web:
    image: busybox:local
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /var/www & wait"]
    ports: ["127.0.0.1:18080:8080"]
    networks: [appnet]
    depends_on: [db, cache]
networks:
  appnet: {driver: bridge}
EOF
{
  echo "services:"
  for i in $(seq -w 1 19); do
    echo "  s$i: {image: \"busybox:local\", command: $IDLE, networks: [appnet]}"
  done
  cat <<EOF
  web:
    image: busybox:local
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /var/www & wait"]
    ports: ["127.0.0.1:18081:8080"]
    networks: [appnet]
networks:
  appnet: {driver: bridge}
EOF
} > "$W/compose20/compose.yaml"

now() { echo "${EPOCHREALTIME/./}"; }  # microseconds
# time_ms DIR CMD...: runs CMD in DIR, prints the milliseconds it took.
time_ms() {
  local dir=$1; shift
  local t0 t1
  t0=$(now)
  (cd "$dir" && "$@" >/dev/null 2>&1) || { echo "bench/up.sh: '$*' failed in $dir" >&2; exit 1; }
  t1=$(now)
  echo $(( (t1 - t0) / 1000 ))
}
wait_http() {
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done
  echo "bench/up.sh: nothing answers on 127.0.0.1:$1" >&2; exit 1
}

RESULTS=$W/results.txt
: > "$RESULTS"
for app in compose3 compose20; do
  port=18080; [ $app = compose20 ] && port=18081
  for tool in rcompose docker-compose; do
    if [ $tool = rcompose ]; then cmd=("$RC"); else cmd=(docker-compose); fi
    for run in $(seq 0 "$RUNS"); do
      up=$(time_ms "$W/$app" "${cmd[@]}" up -d)
      wait_http $port
      down=$(time_ms "$W/$app" "${cmd[@]}" down)
      # run 0 warms caches and is dropped
      if [ "$run" != 0 ]; then
        echo "$app $tool up $up" >> "$RESULTS"
        echo "$app $tool down $down" >> "$RESULTS"
      fi
    done
  done
done

# `up -d` on an unchanged, running project.
(cd "$W/compose3" && "$RC" up -d >/dev/null 2>&1)
(cd "$W/compose3" && hyperfine -N --warmup 3 --runs 30 --export-json "$W/noop.json" "$RC up -d" >/dev/null)
(cd "$W/compose3" && "$RC" down >/dev/null 2>&1)

python3 - "$RESULTS" "$W/noop.json" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    app, tool, op, ms = line.split()
    rows.setdefault((app, op, tool), []).append(int(ms))
print(f"{'project':<10} {'op':<5} {'rcompose ms':>12} {'docker-compose ms':>18} {'speed-up':>9}")
for app in ("compose3", "compose20"):
    for op in ("up", "down"):
        r = statistics.median(rows[(app, op, "rcompose")])
        d = statistics.median(rows[(app, op, "docker-compose")])
        print(f"{app:<10} {op:<5} {r:>12.0f} {d:>18.0f} {d / r:>8.1f}x")
noop = json.load(open(sys.argv[2]))["results"][0]
print(f"rcompose up -d, unchanged running compose3: median {noop['median'] * 1000:.1f} ms")
PY
