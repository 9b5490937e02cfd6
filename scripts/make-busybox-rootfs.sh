#!/bin/sh
# Makes a busybox root filesystem directory from Debian's busybox-static,
# offline (the installed package's binary, no download).
# Usage: scripts/make-busybox-rootfs.sh DEST
set -eu
dest=${1:?usage: make-busybox-rootfs.sh DEST}
bb=$(dpkg -L busybox-static 2>/dev/null | grep -E '/bin/busybox$' | head -n1 || true)
[ -n "$bb" ] && [ -x "$bb" ] || {
	echo "busybox-static is not installed: apt-get install busybox-static" >&2
	exit 1
}
mkdir -p "$dest"
cd "$dest"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp proc sys dev home var/tmp
chmod 1777 tmp var/tmp
chmod 700 root
cp "$bb" bin/busybox
for applet in $(./bin/busybox --list-full); do
	[ "$applet" = bin/busybox ] && continue
	mkdir -p "$(dirname "$applet")"
	[ -e "$applet" ] || ln -s /bin/busybox "$applet"
done
cat > etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
P
cat > etc/group <<'G'
root:x:0:
daemon:x:1:
tty:x:5:
audio:x:29:app
nogroup:x:65534:
app:x:1000:
G
mkdir -p home/app && chown 1000:1000 home/app
echo "rootfs made in $dest"
