#!/usr/bin/env bash
# Writes a tar of a minimal root filesystem built from Debian's busybox-static,
# for tools that need an image offline, e.g.:
#     scripts/busybox-rootfs.sh /tmp/busybox.tar && podman import /tmp/busybox.tar localhost/busybox
# launcher itself needs none of this: `launcher run busybox` builds its own copy.
set -euo pipefail

die() { printf 'busybox-rootfs.sh: error: %s\n' "$*" >&2; exit 1; }

out=${1:-}
[ -n "$out" ] || die "usage: $0 OUT.tar"
busybox=/bin/busybox
[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" = "install ok installed" ] \
    || die "busybox-static is not installed (scripts/setup.sh installs it)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work"/{bin,dev,etc,proc,sys,tmp,root}
chmod 0755 "$work"
chmod 1777 "$work/tmp"
chmod 0700 "$work/root"
cp "$busybox" "$work/bin/busybox"
# One symlink per applet, so `echo`, `sh`, `ls` ... resolve on PATH.
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$work/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$work/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/etc/group"

tar --numeric-owner --owner=0 --group=0 -C "$work" -cf "$out" .
printf 'wrote %s\n' "$out"
