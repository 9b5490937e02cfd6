#!/bin/sh
# Makes the images the offline examples and benchmarks use, in rcompose's
# store, from installed Debian packages (no registry needed):
#   busybox:local   Debian's busybox-static with its applets, CMD sh
# Usage: scripts/make-local-images.sh [RCOMPOSE]   (default: rcompose on PATH)
set -eu
rc=${1:-rcompose}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sh "$here/make-busybox-rootfs.sh" "$work/rootfs"
mkdir -p "$work/rootfs/var/www"
echo 'hello from busybox httpd' > "$work/rootfs/var/www/index.html"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
"$rc" image import \
  --change 'CMD ["sh"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  "$work/busybox.tar" busybox:local >/dev/null
echo "made busybox:local"
