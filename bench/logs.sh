#!/bin/bash
# Logs benchmark (issue 12, item 11): `logs --tail 5` on a 400 MB json-file
# log of a stopped container, in a private RCOMPOSE_ROOT. Prints the time
# (hyperfine) and the peak memory (/usr/bin/time -v, maximum resident set
# size). Target: under 50 ms and 20 MB RSS (it used to read the whole log:
# 2.7 s and 1 GB for a 397 MB log).
# Measured (2 shared cores, release build, 2026-12-08): 10.0 ms mean;
# 18.5-18.9 MB peak in the project directory (`ps` there: 18.5 MB), 13.1 MB
# by project name (huge pages stay off for a small project: runtime::thp).
# Usage: bench/logs.sh   (RUNS=20, SIZE_MB=400, W=/var/tmp/rcompose-bench-logs,
#                         RC=path/to/rcompose to skip the release build)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${W:-/var/tmp/rcompose-bench-logs}
RUNS=${RUNS:-20}
SIZE_MB=${SIZE_MB:-400}
[ "$(id -u)" = 0 ] || { echo "bench/logs.sh: needs root (it creates a container)" >&2; exit 1; }
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
command -v perl >/dev/null || need+=(perl)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ -z "${RC:-}" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
  (cd "$REPO" && cargo build --release --quiet)
  RC=$CARGO_TARGET_DIR/release/rcompose
fi
export RCOMPOSE_ROOT=$W/root RCOMPOSE_RUN=$W/run
P=$W/benchlogs
cleanup() { (cd "$P" 2>/dev/null && "$RC" down -t 0 >/dev/null 2>&1) || true; }
trap cleanup EXIT
cleanup
rm -rf "$W"; mkdir -p "$P"

sh "$REPO/scripts/make-busybox-rootfs.sh" "$W/rootfs" >/dev/null
tar -C "$W/rootfs" -cf "$W/busybox.tar" .
"$RC" image import --change 'CMD ["sh"]' "$W/busybox.tar" busybox:bench-logs >/dev/null
cat > "$P/compose.yaml" <<'EOF'
services:
  app:
    image: busybox:bench-logs
    network_mode: none
    command: ["true"]
EOF
cd "$P"
"$RC" up -d >/dev/null
for _ in $(seq 1 100); do
  "$RC" ps -a --format json | grep -q '"State":"exited"' && break
  sleep 0.1
done
ID=$("$RC" ps -a -q)
LOG=$RCOMPOSE_ROOT/containers/$ID/$ID-json.log
# Records as the supervisor writes them, one second apart per 1000.
perl -e '
  my ($n, $limit) = (0, $ARGV[0] * 1024 * 1024);
  my $size = 0;
  while ($size < $limit) {
    my $s = int($n / 1000);
    my $t = sprintf("2026-01-%02dT%02d:%02d:%02d.%09dZ", 1 + int($s / 86400) % 28,
      int($s / 3600) % 24, int($s / 60) % 60, $s % 60, ($n % 1000) * 1000000);
    my $l = "{\"log\":\"request $n handled in 12ms by worker 3 with status 200 OK and a body of 1234 bytes\\n\",\"stream\":\"stdout\",\"time\":\"$t\"}\n";
    print $l; $size += length $l; $n++;
  }' "$SIZE_MB" > "$LOG"
echo "log: $LOG ($(du -m "$LOG" | cut -f1) MB, $(wc -l < "$LOG") lines)"
"$RC" logs --tail 5
echo
hyperfine --warmup 3 --runs "$RUNS" -N "$RC logs --tail 5" "$RC logs --tail 5 --since 2026-01-01T00:00:00Z"
# Memory: in the project directory (the Compose file is loaded and
# validated), and by project name from elsewhere (no file to load: what
# reading the log costs).
echo "peak memory, in the project directory:"
/usr/bin/time -v "$RC" logs --tail 5 2>&1 >/dev/null | grep -E 'Maximum resident|Elapsed'
echo "peak memory, by project name:"
(cd / && /usr/bin/time -v "$RC" -p benchlogs logs --tail 5 2>&1 >/dev/null | grep -E 'Maximum resident|Elapsed')
echo "peak memory of a command that loads the project and reads no log (ps):"
/usr/bin/time -v "$RC" ps 2>&1 >/dev/null | grep -E 'Maximum resident'
