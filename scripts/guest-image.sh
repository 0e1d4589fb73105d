#!/usr/bin/env bash
# Builds the VM backend's guest image for one architecture with provision/, as
# CI (for the macOS and Windows jobs) and the release workflow do it. Runs as
# root on Debian: provision/ resolves Debian's packages with this host's apt.
#
#   scripts/guest-image.sh x86_64|aarch64 OUT_DIR
#
# OUT_DIR gets image.json (every file with its sha256), the kernel, the
# initramfs and the disk; `launcher machine init --image OUT_DIR` boots it.
set -euo pipefail

arch=${1:?usage: guest-image.sh x86_64|aarch64 OUT_DIR}
out=${2:?usage: guest-image.sh x86_64|aarch64 OUT_DIR}
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[ "$(id -u)" -eq 0 ] || { echo "guest-image.sh: run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -q </dev/null
# What provision/build.py runs: apt-get/dpkg-deb (resolve and unpack), depmod,
# mkfs.ext4/debugfs/dumpe2fs (the disk), qemu-img; python3-venv for the wheel.
apt-get install -y -q --no-install-recommends python3 python3-venv ca-certificates \
    kmod e2fsprogs qemu-utils </dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip wheel --quiet --no-deps --disable-pip-version-check \
    -w "$work/wheel" .
wheel=$(ls "$work"/wheel/launcher-*.whl)
python3 provision/build.py --out "$out" --arch "$arch" --wheel "$wheel"
echo "guest image for $arch: $out/image.json"
