#!/usr/bin/env bash
# Serves the stand-in Docker Hub images of scripts/make-example-images.sh
# (python, redis, mysql, postgres) from a docker-registry on
# 127.0.0.1:PORT, and makes it rcompose's docker.io mirror in
# /etc/rcompose/registries.json when that file does not exist yet.
#   scripts/serve-example-images.sh [PORT]     (default 5000)
# The registry keeps running in the background; its PID is in
# $STATE/registry.pid (stop it with: kill "$(cat $STATE/registry.pid)").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${1:-5000}
STATE=${STATE:-/var/lib/rcompose-example-registry}
REGISTRIES=${RCOMPOSE_REGISTRIES:-/etc/rcompose/registries.json}

for tool in docker-registry skopeo curl; do
  command -v "$tool" >/dev/null || { echo "serve-example-images: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
oci=$(bash "$here/make-example-images.sh" | tail -n 1)
mkdir -p "$STATE"
chmod 0700 "$STATE"
pidfile=$STATE/registry.pid
if ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then
  cat >"$STATE/config.yml" <<CONF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $STATE/data}
http:
  addr: 127.0.0.1:$port
CONF
  setsid docker-registry serve "$STATE/config.yml" >"$STATE/registry.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
fi
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null || { cat "$STATE/registry.log" >&2; exit 1; }
while read -r tag name; do
  skopeo copy --quiet --dest-tls-verify=false "oci:$oci:$tag" "docker://127.0.0.1:$port/$name"
done <"$(dirname "$oci")/names"
echo "serving $(awk '{print $2}' "$(dirname "$oci")/names" | sed 's|^library/||' | tr '\n' ' ')on 127.0.0.1:$port (pid $(cat "$pidfile"))"

if [ ! -e "$REGISTRIES" ]; then
  mkdir -p "$(dirname "$REGISTRIES")"
  printf '{ "registry-mirrors": ["http://127.0.0.1:%s"] }\n' "$port" >"$REGISTRIES"
  echo "wrote $REGISTRIES: docker.io images come from 127.0.0.1:$port first"
elif ! grep -q "127.0.0.1:$port" "$REGISTRIES"; then
  echo "note: $REGISTRIES exists; add \"http://127.0.0.1:$port\" to its \"registry-mirrors\" to use these images" >&2
fi
