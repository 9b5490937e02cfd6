#!/bin/bash
# Builds the offline test images as one OCI layout: DIR/oci, with the tags
#   busybox          1 layer: /bin/busybox (Debian's busybox-static) + applet symlinks, CMD sh
#   busybox-arm64    the same, config saying linux/arm64/v8 (a second index entry)
#   multi            an OCI index over busybox (linux/amd64) and busybox-arm64
#   whiteouts        2 layers: busybox + files, then a hand-made layer with a
#                    whiteout, an opaque dir, a hard link, a symlink, a fifo, an xattr
# No network: everything comes from installed packages (busybox-static, umoci, jq, python3).
# Usage: scripts/make-test-images.sh DIR     (re-run: DIR/oci is rebuilt)
set -euo pipefail
DIR=${1:?usage: $0 DIR}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
OCI=$DIR/oci
WORK=$DIR/work
BUSYBOX=${BUSYBOX:-/bin/busybox}
for tool in umoci jq python3 sha256sum; do
  command -v "$tool" >/dev/null || { echo "make-test-images: $tool is missing (see scripts/test-packages.txt)" >&2; exit 1; }
done
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || [ "$(ldd "$BUSYBOX" 2>&1 | grep -c 'not a dynamic')" = 1 ] || {
  echo "make-test-images: $BUSYBOX is not a static binary (install busybox-static)" >&2; exit 1; }
rm -rf "$OCI" "$WORK"
mkdir -p "$WORK"
umoci init --layout "$OCI"

# ---- busybox: one layer, FROM-scratch style
umoci new --image "$OCI:busybox"
umoci unpack --image "$OCI:busybox" "$WORK/bb"
R=$WORK/bb/rootfs
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,home,var/www}
chmod 1777 "$R/tmp"
cp "$BUSYBOX" "$R/bin/busybox"
chroot "$R" /bin/busybox --install -s
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
echo 'hello from busybox httpd' > "$R/var/www/index.html"
umoci repack --image "$OCI:busybox" "$WORK/bb"
umoci config --image "$OCI:busybox" --os linux --architecture amd64 \
  --config.cmd sh --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umoci config --image "$OCI:busybox" --tag busybox-arm64 --architecture arm64

# ---- whiteouts: busybox + files, then a hand-made second layer
umoci config --image "$OCI:busybox" --tag whiteouts --config.cmd /bin/sh
umoci unpack --image "$OCI:whiteouts" "$WORK/wo"
R=$WORK/wo/rootfs
mkdir -p "$R/opt/dir" "$R/data"
echo removed > "$R/etc/removed"
echo a > "$R/opt/dir/a"
echo b > "$R/opt/dir/b"
echo keep > "$R/data/keep"
umoci repack --image "$OCI:whiteouts" "$WORK/wo"
python3 - "$WORK/layer2.tar" <<'PY'
import io, sys, tarfile
def add(t, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link="", pax=None, uid=0, gid=0):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.linkname, ti.uid, ti.gid = kind, mode, 1700000000, link, uid, gid
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    if pax:
        ti.pax_headers = pax
    t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "etc/", tarfile.DIRTYPE, mode=0o755)
    add(t, "etc/.wh.removed")
    add(t, "opt/", tarfile.DIRTYPE, mode=0o755)
    add(t, "opt/dir/", tarfile.DIRTYPE, mode=0o755)
    add(t, "opt/dir/.wh..wh..opq")
    add(t, "opt/dir/c", data=b"c\n")
    add(t, "data/", tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1000)
    add(t, "data/file", data=b"hard\n", mode=0o640, uid=1000, gid=1000)
    add(t, "data/link", tarfile.LNKTYPE, link="data/file")
    add(t, "data/sym", tarfile.SYMTYPE, link="/bin/busybox", mode=0o777)
    add(t, "data/fifo", tarfile.FIFOTYPE, mode=0o600)
    add(t, "data/xattr", data=b"x\n", pax={"SCHILY.xattr.user.rcompose": "test"})
    add(t, "data/setuid", data=b"s\n", mode=0o4755)
PY
umoci raw add-layer --image "$OCI:whiteouts" "$WORK/layer2.tar"

# ---- multi: an OCI index over the two platform variants
blob() { echo "$OCI/blobs/sha256/${1#sha256:}"; }
desc_of() { jq -c --arg t "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]==$t) | {mediaType, digest, size}' "$OCI/index.json"; }
AMD=$(desc_of busybox | jq -c '. + {platform: {architecture: "amd64", os: "linux"}}')
ARM=$(desc_of busybox-arm64 | jq -c '. + {platform: {architecture: "arm64", os: "linux", variant: "v8"}}')
jq -cn --argjson a "$AMD" --argjson b "$ARM" \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [$b, $a]}' > "$WORK/index.json"
IDX=sha256:$(sha256sum "$WORK/index.json" | cut -d' ' -f1)
cp "$WORK/index.json" "$(blob "$IDX")"
SIZE=$(stat -c %s "$WORK/index.json")
jq --arg d "$IDX" --argjson s "$SIZE" \
  '.manifests += [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s,
                   annotations: {"org.opencontainers.image.ref.name": "multi"}}]' "$OCI/index.json" > "$WORK/top.json"
mv "$WORK/top.json" "$OCI/index.json"

umoci gc --layout "$OCI"
rm -rf "$WORK"
jq -r '.manifests[] | "\(.annotations["org.opencontainers.image.ref.name"])\t\(.mediaType)\t\(.digest)"' "$OCI/index.json"
