#!/usr/bin/env bash
# Benchmark: `rcompose config -q` on a generated 1,000-service project that
# uses anchors + `<<` merge keys, interpolation from a .env file and an
# override file (issue target: < 50 ms median on the 2-core CI machine).
# Usage: bench/config.sh [SERVICES]   (needs hyperfine: installed if missing)
set -euo pipefail
N=${1:-1000}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
(cd "$here" && cargo build --release --quiet)
bin=$here/target/release/rcompose

{
  echo 'x-common: &common'
  echo '  restart: ${RESTART:-unless-stopped}'
  echo '  environment: &env'
  echo '    LOG_LEVEL: ${LOG_LEVEL:-info}'
  echo '    REGION: ${REGION}'
  echo '  healthcheck:'
  echo '    test: ["CMD", "true"]'
  echo '    interval: 30s'
  echo '  networks: [backend]'
  echo 'services:'
  for i in $(seq 1 "$N"); do
    echo "  svc$i:"
    echo '    <<: *common'
    echo "    image: registry.local:5000/app/svc$i:\${TAG:-latest}"
    echo "    ports: [\"127.0.0.1:$((20000 + i)):80\"]"
    echo "    volumes: [\"data$((i % 10)):/data\", \"./conf/svc$i:/etc/app:ro\"]"
    echo "    mem_limit: 256m"
    if [ "$i" -gt 1 ]; then echo "    depends_on: [svc$((i - 1))]"; fi
  done
  echo 'networks:'
  echo '  backend: {}'
  echo 'volumes:'
  for j in $(seq 0 9); do echo "  data$j: {}"; done
} > "$work/compose.yaml"
{
  echo 'services:'
  for i in $(seq 1 5 "$N"); do
    echo "  svc$i:"
    echo '    environment:'
    echo '      EXTRA: "1"'
    echo '    cpus: 0.5'
  done
} > "$work/compose.override.yaml"
printf 'REGION=eu\nTAG=1.2.3\n' > "$work/.env"

echo "project: $N services, $(wc -l < "$work/compose.yaml") + $(wc -l < "$work/compose.override.yaml") lines"
"$bin" --project-directory "$work" config -q
hyperfine -N --warmup 3 --runs 30 --export-json "$work/result.json" \
  "$bin --project-directory $work config -q"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("median: %.1f ms (target < 50 ms)" % (r["median"]*1000))' "$work/result.json"
