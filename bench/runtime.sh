#!/usr/bin/env bash
# Runtime benchmark (issue 4): create + start + wait + remove of a container
# running /bin/true, side by side in one run:
#   rcompose engine   create+start+wait+delete on a prepared bundle (what
#                     `crun run -b BUNDLE` does)
#   rcompose full     the whole life: overlay root, /etc files, OCI spec,
#                     create, start, wait, remove everything
#   crun, runc        `run` on the very bundle rcompose prepared (same
#                     config.json: Docker's seccomp profile, caps, masks)
#   floor             unshare --fork --pid --mount --uts --ipc --net chroot
# Then the supervisor's memory with 10 idle containers (Pss, which splits
# shared pages among the processes that map them, per container).
# Target: rcompose median <= 1.3x crun's; <= 4 MB per idle container.
# Usage: bench/runtime.sh   (RUNS=30, W=/var/tmp/rcompose-bench-runtime)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${W:-/var/tmp/rcompose-bench-runtime}
RUNS=${RUNS:-30}
[ "$(id -u)" = 0 ] || { echo "bench/runtime.sh: needs root" >&2; exit 1; }
need=()
for c in crun runc hyperfine jq unshare; do command -v $c >/dev/null || need+=($c); done
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  pkgs=("${need[@]/unshare/util-linux}")
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
(cd "$REPO" && cargo build --release --quiet && cargo build --release --quiet --example runtime_once)
RC=$CARGO_TARGET_DIR/release/rcompose
EX=$CARGO_TARGET_DIR/release/examples/runtime_once
rm -rf "$W"; mkdir -p "$W"
STATE=$W/state
HUGETLB_MOUNTED=
cleanup() {
  "$EX" remove "$STATE" bench-bundle >/dev/null 2>&1 || true
  (cd "$W/mem" 2>/dev/null && RCOMPOSE_ROOT=$STATE/root RCOMPOSE_RUN=$STATE/run "$RC" down -t 0 >/dev/null 2>&1) || true
  if [ -n "$HUGETLB_MOUNTED" ]; then
    # Without child cgroups the kernel can give the controller back to v2.
    find /sys/fs/cgroup/hugetlb -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
    umount /sys/fs/cgroup/hugetlb && rmdir /sys/fs/cgroup/hugetlb || true
  fi
}
trap cleanup EXIT

sh "$REPO/scripts/make-busybox-rootfs.sh" "$W/rootfs" >/dev/null
B=$("$EX" prepare "$W/rootfs" "$STATE" bench-bundle)

# crun refuses a hybrid cgroup host while a controller sits on the v2
# hierarchy (here: hugetlb). Mount that controller as v1 for the run, as
# ../shared/anchors did, and undo it afterwards. Also when it is on no
# mounted hierarchy: an earlier run's v1 hierarchy the kernel has not
# released yet, which it could release (moving hugetlb back to v2) mid-run.
if [ -d /sys/fs/cgroup/unified ] && [ ! -e /sys/fs/cgroup/hugetlb ] \
   && grep -q '^hugetlb' /proc/cgroups && ! grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.subtree_control; then
  mkdir /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
  HUGETLB_MOUNTED=1
fi
crun --root "$W/crun" run -b "$B" sanity-crun
runc --root "$W/runc" run -b "$B" sanity-runc
"$EX" run "$STATE" bench-bundle
"$EX" full "$W/rootfs" "$STATE"
unshare --fork --pid --mount --uts --ipc --net chroot "$W/rootfs" /bin/true

hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$W/runtime.json" \
  -n "rcompose engine" "$EX run $STATE bench-bundle" \
  -n "rcompose full" "$EX full $W/rootfs $STATE" \
  -n "crun run" "crun --root $W/crun run -b $B bench-crun" \
  -n "runc run" "runc --root $W/runc run -b $B bench-runc" \
  -n "floor (unshare+chroot)" "unshare --fork --pid --mount --uts --ipc --net chroot $W/rootfs /bin/true" >/dev/null

# Memory: 10 idle containers on one network, as `up -d` leaves them.
mkdir -p "$W/mem"
{
  echo "services:"
  for i in $(seq -w 1 10); do
    echo "  s$i: {image: busybox:bench, command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 2147483647 & wait\"]}"
  done
} > "$W/mem/compose.yaml"
export RCOMPOSE_ROOT=$STATE/root RCOMPOSE_RUN=$STATE/run
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .
"$RC" image import --change 'CMD ["sh"]' "$W/rootfs.tar" busybox:bench >/dev/null
(cd "$W/mem" && "$RC" up -d >/dev/null 2>&1)
sleep 2
: > "$W/mem.txt"
for pid in $(pgrep -f "__supervise mem-s"); do
  pss=$(awk '/^Pss:/{print $2}' /proc/$pid/smaps_rollup)
  rss=$(awk '/^VmRSS:/{print $2}' /proc/$pid/status)
  anon=$(awk '/^Anonymous:/{print $2}' /proc/$pid/smaps_rollup)
  echo "$pid $pss $rss $anon" >> "$W/mem.txt"
done
(cd "$W/mem" && "$RC" down -t 0 >/dev/null 2>&1)

python3 - "$W/runtime.json" "$W/mem.txt" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
crun = res["crun run"]["median"]
print(f"{'command':<24} {'median ms':>10} {'mean ms':>9} {'vs crun':>8}")
for name, r in res.items():
    print(f"{name:<24} {r['median']*1000:>10.1f} {r['mean']*1000:>9.1f} {r['median']/crun:>7.2f}x")
rows = [list(map(int, l.split())) for l in open(sys.argv[2]) if l.strip()]
n = 10
pss = sum(r[1] for r in rows)
print(f"10 idle containers: {len(rows)} supervisor processes (supervisor + its DNS/ports child each)")
print(f"  Pss per container: {pss / n / 1024:.2f} MB; RSS per process: max {max(r[2] for r in rows) / 1024:.1f} MB;"
      f" anonymous per container: {sum(r[3] for r in rows) / n / 1024:.2f} MB")
PY
