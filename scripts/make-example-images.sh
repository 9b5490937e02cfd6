#!/usr/bin/env bash
# Makes offline stand-ins for the Docker Hub images the classic examples
# name, from Debian packages only (no image registry is reachable here):
#
#   python:3.11-slim, python:3.11-alpine   python3.11, pip, flask, redis,
#                                           psycopg2, mysql-connector-python
#   redis:alpine                            redis-server, protected mode off
#   mysql:8.0                               MariaDB behind MySQL's entrypoint
#   postgres:15                             PostgreSQL 15 behind postgres's entrypoint
#
# Each image is a debootstrap minbase layer (shared) plus one layer of
# packages, with the config the official image has (entrypoint, cmd,
# VOLUME, EXPOSE, WORKDIR, env). The examples' `RUN pip install -r
# requirements.txt` then finds every requirement satisfied: a build cannot
# reach PyPI from inside a container on these machines (outbound TLS goes
# through a proxy whose CA only the host trusts), so what PyPI alone has
# (mysql-connector-python) is downloaded on the host and installed here.
#
# The result is an OCI layout, cached by the hash of this script and the
# mirror: the path is printed on the last line of stdout.
#   scripts/make-example-images.sh            build or reuse the cache
#   CACHE=/some/dir scripts/make-example-images.sh
# Needs root (chroot, mounts), debootstrap, umoci, skopeo, python3 -m pip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${CACHE:-/var/cache/rcompose-test-images}
MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
MYSQL_CONNECTOR=mysql-connector-python==8.4.0

key=$( (cat "$0"; echo "$MIRROR $SUITE") | sha256sum | cut -c1-16)
out=$CACHE/$key
mkdir -p "$CACHE"
# One builder at a time (tests may ask in parallel); the others reuse its result.
exec 9>"$CACHE/.lock"
flock 9
if [ -f "$out/done" ]; then
  echo "$out/oci"
  exit 0
fi

log() { echo "[$(date +%T)] $*" >&2; }
for tool in debootstrap umoci skopeo; do
  command -v "$tool" >/dev/null || { echo "make-example-images: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done

work=$(mktemp -d "$CACHE/.build-XXXXXX")
mounted=()
cleanup() {
  # Unmount whatever is still mounted under the work dir (ours, or
  # debootstrap's /proc and /sys of a failed run) before removing it.
  local m
  for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
  awk -v w="$work/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  if awk -v w="$work/" 'index($5, w) == 1 {found=1} END {exit !found}' /proc/self/mountinfo; then
    echo "make-example-images: $work still has mounts; not removed" >&2
    return
  fi
  rm -rf "$work"
}
trap cleanup EXIT
oci=$work/oci
umoci init --layout "$oci"

# ---- the shared base layer: debootstrap minbase
base=$work/minbase
log "debootstrap --variant=minbase $SUITE from $MIRROR"
if ! debootstrap --variant=minbase "$SUITE" "$base" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
  tail -20 "$work/debootstrap.log" >&2
  exit 1
fi
rm -rf "$base"/var/cache/apt/archives/*.deb "$base"/var/lib/apt/lists/*
umoci new --image "$oci:minbase"
umoci unpack --image "$oci:minbase" "$work/b"
tar -C "$base" -cf - . | tar -C "$work/b/rootfs" -xpf -
umoci repack --image "$oci:minbase" "$work/b"
rm -rf "$work/b" "$base"

# in_chroot ROOT CMD...: runs CMD in ROOT with /proc and /dev of the host.
in_chroot() {
  local r=$1
  shift
  chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"
}

# image TAG PACKAGES...: unpacks the base as TAG, installs PACKAGES in a
# chroot, runs the function `tune_TAG` (files, users), repacks one layer.
image() {
  local tag=$1
  shift
  local b=$work/bundle-$tag r
  r=$b/rootfs
  log "$tag: apt-get install $*"
  umoci unpack --image "$oci:minbase" "$b"
  cp /etc/resolv.conf "$r/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
  chmod 0755 "$r/usr/sbin/policy-rc.d"
  mount -t proc proc "$r/proc" && mounted+=("$r/proc")
  mount --bind /dev "$r/dev" && mounted+=("$r/dev")
  in_chroot "$r" apt-get update -qq >"$work/apt-$tag.log" 2>&1 || { tail -20 "$work/apt-$tag.log" >&2; exit 1; }
  if ! in_chroot "$r" apt-get install -y -qq --no-install-recommends "$@" >>"$work/apt-$tag.log" 2>&1; then
    tail -20 "$work/apt-$tag.log" >&2
    exit 1
  fi
  "tune_${tag//[-.]/_}" "$r"
  in_chroot "$r" apt-get clean
  rm -rf "$r"/var/lib/apt/lists/* "$r/usr/sbin/policy-rc.d" "$r"/var/log/apt/* "$r"/var/cache/debconf/*-old
  : >"$r/etc/resolv.conf"
  umount "$r/proc" "$r/dev"
  mounted=()
  umoci repack --image "$oci:$tag" "$b"
  rm -rf "$b"
}

entrypoint() { # ROOT: the script from stdin becomes /usr/local/bin/docker-entrypoint.sh
  mkdir -p "$1/usr/local/bin"
  cat >"$1/usr/local/bin/docker-entrypoint.sh"
  chmod 0755 "$1/usr/local/bin/docker-entrypoint.sh"
}

PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# ---- python: what python:3.11-slim gives, plus the examples' requirements
wheels=$work/wheels
log "python: pip download $MYSQL_CONNECTOR (host)"
python3 -m pip download --quiet --only-binary=:all: --no-deps --dest "$wheels" \
  --platform manylinux_2_17_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
  "$MYSQL_CONNECTOR" >&2
tune_python() {
  local r=$1
  # pip as in the official image: installs into the system (no PEP 668 refusal)
  rm -f "$r"/usr/lib/python3*/EXTERNALLY-MANAGED
  mkdir -p "$r/tmp/wheels"
  cp "$wheels"/*.whl "$r/tmp/wheels/"
  local w wheel_paths=()
  for w in "$r"/tmp/wheels/*.whl; do wheel_paths+=("/tmp/wheels/${w##*/}"); done
  in_chroot "$r" python3 -m pip install --quiet --no-index --no-deps --disable-pip-version-check "${wheel_paths[@]}"
  rm -rf "$r/tmp/wheels" "$r/root/.cache"
  ln -sf python3 "$r/usr/bin/python"
}
image python python3 python3-pip python3-flask python3-redis python3-psycopg2 ca-certificates
umoci config --image "$oci:python" --os linux --architecture amd64 \
  --config.env "$PATH_ENV" --config.env LANG=C.UTF-8 --config.env PYTHON_VERSION=3.11 \
  --config.cmd python3

# ---- redis: redis-server as the official image runs it
tune_redis() {
  local r=$1
  mkdir -p "$r/data"
  in_chroot "$r" chown redis:redis /data
  entrypoint "$r" <<'EOF'
#!/bin/sh
# As the official redis image: options alone run redis-server, root drops
# to the redis user, protected mode is off (the official build disables it).
set -e
case "$1" in -*|*.conf) set -- redis-server "$@" ;; esac
if [ "$1" = redis-server ]; then
  shift
  set -- redis-server "$@" --protected-mode no
  if [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
EOF
}
image redis redis-server redis-tools
umoci config --image "$oci:redis" --os linux --architecture amd64 \
  --config.env "$PATH_ENV" --config.workingdir /data --config.volume /data \
  --config.exposedports 6379/tcp \
  --config.entrypoint docker-entrypoint.sh --config.cmd redis-server

# ---- mysql: MariaDB with MySQL's entrypoint contract (MYSQL_* variables)
tune_mysql() {
  local r=$1
  rm -rf "$r"/var/lib/mysql/* "$r/etc/mysql/mariadb.conf.d/50-server.cnf"
  mkdir -p "$r/run/mysqld"
  in_chroot "$r" chown mysql:mysql /run/mysqld /var/lib/mysql
  entrypoint "$r" <<'EOF'
#!/bin/bash
# MySQL's entrypoint contract, served by MariaDB: options alone run mysqld;
# an empty data directory is initialised with MYSQL_ROOT_PASSWORD(_FILE),
# MYSQL_DATABASE, MYSQL_USER/MYSQL_PASSWORD; mysqld runs as mysql.
set -euo pipefail
case "${1:-}" in -*) set -- mysqld "$@" ;; esac
if [ "${1:-}" != mysqld ]; then exec "$@"; fi
shift
args=()
for a in "$@"; do
  case "$a" in
    # MySQL 8 options MariaDB does not know; its default plugin already is
    # mysql_native_password.
    --default-authentication-plugin=*|--default_authentication_plugin=*) ;;
    *) args+=("$a") ;;
  esac
done
file_env() { # VAR: VAR or the content of VAR_FILE
  local var=$1 file_var=${1}_FILE
  if [ -n "${!file_var:-}" ]; then export "$var"="$(cat "${!file_var}")"; fi
}
file_env MYSQL_ROOT_PASSWORD
file_env MYSQL_PASSWORD
datadir=/var/lib/mysql
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld "$datadir"
if [ ! -d "$datadir/mysql" ]; then
  if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ]; then
    echo "error: database is uninitialized and password option is not specified" >&2
    echo "  You need to specify one of MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD" >&2
    exit 1
  fi
  echo "Initializing database files"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
    --auth-root-authentication-method=normal >/dev/null
  sock=/run/mysqld/init.sock
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$sock" &
  pid=$!
  for _ in $(seq 60); do mariadb-admin --socket="$sock" ping --silent 2>/dev/null && break; sleep 0.5; done
  pw=${MYSQL_ROOT_PASSWORD:-}
  {
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '${pw//\'/\'\'}';"
    echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '${pw//\'/\'\'}';"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "${MYSQL_DATABASE:-}" ]; then echo "CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"; fi
    if [ -n "${MYSQL_USER:-}" ]; then
      echo "CREATE USER '$MYSQL_USER'@'%' IDENTIFIED BY '${MYSQL_PASSWORD//\'/\'\'}';"
      if [ -n "${MYSQL_DATABASE:-}" ]; then echo "GRANT ALL ON \`$MYSQL_DATABASE\`.* TO '$MYSQL_USER'@'%';"; fi
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket="$sock" -uroot
  kill "$pid"
  wait "$pid" || true
  echo "Database initialized"
fi
exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 "${args[@]}"
EOF
}
image mysql mariadb-server mariadb-client
umoci config --image "$oci:mysql" --os linux --architecture amd64 \
  --config.env "$PATH_ENV" --config.volume /var/lib/mysql \
  --config.exposedports 3306/tcp --config.exposedports 33060/tcp \
  --config.entrypoint docker-entrypoint.sh --config.cmd mysqld

# ---- postgres: PostgreSQL 15 with postgres's entrypoint contract
tune_postgres() {
  local r=$1
  rm -rf "$r"/var/lib/postgresql/15
  mkdir -p "$r/var/lib/postgresql/data" "$r/var/run/postgresql"
  in_chroot "$r" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
  chmod 0700 "$r/var/lib/postgresql/data"
  entrypoint "$r" <<'EOF'
#!/bin/bash
# postgres's entrypoint contract: options alone run postgres; root drops to
# postgres; an empty PGDATA is initialised with POSTGRES_PASSWORD(_FILE),
# POSTGRES_USER and POSTGRES_DB; clients authenticate with a password.
set -euo pipefail
case "${1:-}" in -*) set -- postgres "$@" ;; esac
if [ "${1:-}" != postgres ]; then exec "$@"; fi
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE"); fi
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
    echo "Error: Database is uninitialized and superuser password is not specified." >&2
    echo "  You must specify POSTGRES_PASSWORD to a non-empty value for the superuser." >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s' "${POSTGRES_PASSWORD:-}" >"$pwfile"
  initdb --username="$user" --pwfile="$pwfile" --auth-local=trust \
    --auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$db" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres -c "CREATE DATABASE \"$db\";" >/dev/null
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "PostgreSQL init process complete; ready for start up."
fi
exec "$@" -c listen_addresses='*'
EOF
}
image postgres postgresql-15 postgresql-client-15
umoci config --image "$oci:postgres" --os linux --architecture amd64 \
  --config.env PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.env PGDATA=/var/lib/postgresql/data --config.env LANG=C.UTF-8 \
  --config.volume /var/lib/postgresql/data --config.exposedports 5432/tcp \
  --config.stopsignal SIGINT \
  --config.entrypoint docker-entrypoint.sh --config.cmd postgres

umoci gc --layout "$oci"
rm -rf "$out"
mkdir -p "$out"
mv "$oci" "$out/oci"
# The Docker Hub names each stand-in answers to, as `tag name` lines.
cat >"$out/names" <<'EOF'
python library/python:3.11-slim
python library/python:3.11-alpine
python library/python:3.11
redis library/redis:alpine
redis library/redis:7
mysql library/mysql:8.0
postgres library/postgres:15
postgres library/postgres:15-alpine
EOF
touch "$out/done"
# older builds of this script are of no further use
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name '????????????????' ! -name "$key" -exec rm -rf {} +
log "images in $out/oci"
echo "$out/oci"
