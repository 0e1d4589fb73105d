#!/usr/bin/env python3
"""Build launcher's guest image from Debian packages: kernel, initramfs, root disk.

    python3 provision/build.py --out DIR [--arch x86_64] [--wheel launcher.whl]

Runs as root on a Debian/Ubuntu host with apt, dpkg-deb, tar, kmod (depmod),
e2fsprogs (mkfs.ext4 -d) and qemu-img. Packages come through the host's own apt
configuration (its mirrors), so nothing beyond the package registries is needed;
launcher and its Python dependencies come from the project's wheel and the
host's pip configuration. Nothing from the image is ever run on the host: the
debs are unpacked with ``dpkg-deb --fsys-tarfile | tar``, and depmod, mkfs and
qemu-img are the host's, reading the tree as data.

Steps, each a function below: resolve and download the packages (apt with an
empty status file, so the whole dependency closure comes down); unpack them
into a merged-/usr tree; configure it (users, sshd, the numbered boot scripts
in guest/boot.d, CA bundle, symlinks into /run/launcher); install launcher;
index kernel modules; write the initramfs (busybox, the virtio drivers, init);
make the ext4 disk and convert it to qcow2. Reproducible where it can be:
fixed filesystem UUID and hash seed, every mtime set to SOURCE_DATE_EPOCH,
E2FSPROGS_FAKE_TIME, a cpio written here with zeroed times. Output:
``DIR/vmlinuz``, ``DIR/initrd.img``, ``DIR/disk.qcow2`` and ``DIR/image.json``
(their sha256s, the kernel command line, the recipe hash).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # launcher itself, from this checkout

from launcher.vm import cpio, selfsync  # noqa: E402
from launcher.vm.images import sha256_file  # noqa: E402

EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1700000000"))
FS_UUID = "6a0c8b1e-1a0c-4c8e-8000-6c61756e6368"  # fixed: reproducible disks
HASH_SEED = "6a0c8b1e-1a0c-4c8e-8001-6c61756e6368"
DISK_SIZE = "3G"  # sparse; grown in the guest to --disk-size (boot.d/60-disk.sh)
# Debian's generic kernels: the cloud flavour boots faster but has no 9p, and
# host directories are shared over 9p (the one transport QEMU has on Linux,
# macOS and Windows alike).
KERNEL_PACKAGE = {"x86_64": "linux-image-amd64", "aarch64": "linux-image-arm64"}
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
# What the initramfs loads to mount the root disk; their dependencies come along.
# What the boot needs before sshd can start: the root disk and fw_cfg (the
# host key). busybox's static modprobe loads them in one process; the NIC and
# 9p load in the guest while sshd starts (boot.d/10-mounts.sh).
INITRD_MODULES = ("virtio_pci", "virtio_blk", "crc32c_generic", "ext4", "qemu_fw_cfg")
# Module directories kept in the guest (the rest, sound, GPUs, NICs and the like,
# is dropped: a VM has none of that hardware).
KEEP_MODULES = ("kernel/fs", "kernel/net", "kernel/lib", "kernel/crypto", "kernel/arch",
                "kernel/block", "kernel/mm", "kernel/virt", "kernel/drivers/virtio",
                "kernel/drivers/block", "kernel/drivers/char", "kernel/drivers/base",
                "kernel/drivers/md", "kernel/drivers/nvdimm", "kernel/drivers/vhost",
                "kernel/drivers/firmware")
CONSOLE = {"x86_64": "ttyS0", "aarch64": "ttyAMA0"}  # the serial port of q35 / virt


def cmdline(arch: str) -> str:
    return f"console={CONSOLE[arch]} quiet panic=-1 rootfstype=ext4"
PY = "python3.11"
PROBE_MARKER = "LAUNCHER-ACCEL-PROBE-OK"  # launcher.vm.accel.PROBE_MARKER


class BuildError(Exception):
    pass


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    res = subprocess.run(argv, capture_output=True, check=False, **kw)  # type: ignore[call-overload]
    if res.returncode != 0:
        err = res.stderr.decode(errors="replace").strip()[-800:]
        raise BuildError(f"{' '.join(argv[:4])}… exited {res.returncode}: {err}")
    return res  # type: ignore[no-any-return]


def recipe_hash(wheel: str | None = None) -> str:
    """sha256 over every file of the recipe (and the wheel): the image cache key."""
    h = hashlib.sha256()
    for base, dirs, files in os.walk(HERE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(base, name)
            h.update(os.path.relpath(path, HERE).encode() + b"\0")
            with open(path, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    if wheel:
        with open(wheel, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def packages(arch: str) -> list[str]:
    with open(os.path.join(HERE, "packages.txt")) as f:
        names = [ln.split("#")[0].strip() for ln in f]
    return [n for n in names if n] + [KERNEL_PACKAGE[arch]]


def download(arch: str, work: str) -> list[str]:
    """The .deb files of every package and its dependencies (no recommends). For
    another architecture than the host's, the host's sources are read into
    package lists of our own first (the host's lists are for its own)."""
    state, cache = os.path.join(work, "apt-state"), os.path.join(work, "debs")
    os.makedirs(os.path.join(cache, "partial"))
    os.makedirs(state)
    open(os.path.join(state, "status"), "w").close()
    opts = [f"-oDir::State::status={state}/status", f"-oDir::Cache::archives={cache}",
            "-oDebug::NoLocking=1", "-oAPT::Install-Recommends=false",
            f"-oAPT::Architecture={DEB_ARCH[arch]}",
            f"-oAPT::Architectures::={DEB_ARCH[arch]}", "-q"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    host = run(["dpkg", "--print-architecture"]).stdout.decode().strip()
    if host != DEB_ARCH[arch]:
        lists = os.path.join(work, "apt-lists")
        os.makedirs(os.path.join(lists, "partial"))
        opts += [f"-oDir::State::Lists={lists}", f"-oDir::Cache::pkgcache={work}/pkgcache.bin",
                 f"-oDir::Cache::srcpkgcache={work}/srcpkgcache.bin"]
        run(["apt-get", *opts, "update"], env=env)
    run(["apt-get", *opts, "--download-only", "-y", "install", *packages(arch)], env=env)
    debs = sorted(os.path.join(cache, n) for n in os.listdir(cache) if n.endswith(".deb"))
    if not debs:
        raise BuildError("apt downloaded no packages")
    return debs


def unpack(debs: list[str], root: str) -> None:
    """Unpack every deb's files (no maintainer scripts) into a merged-/usr tree."""
    for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        os.symlink(f"usr/{link}", os.path.join(root, link))
    for deb in debs:
        data = run(["dpkg-deb", "--fsys-tarfile", deb]).stdout
        run(["tar", "-x", "--keep-directory-symlink", "-C", root], input=data)


def _write(root: str, rel: str, text: str, mode: int = 0o644) -> None:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def _link(root: str, rel: str, target: str) -> None:
    path = os.path.join(root, rel)
    if os.path.lexists(path):
        os.unlink(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)


def configure(root: str) -> None:
    """What maintainer scripts and first-boot tools would have done, as files."""
    _write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
           "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"
           "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    _write(root, "etc/group", "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n")
    _write(root, "etc/shadow", "root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\n"
           "nobody:*:19000:0:99999:7:::\n", 0o640)
    with open(os.path.join(HERE, "guest", "fstab")) as f:
        _write(root, "etc/fstab", f.read())
    _write(root, "etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\n"
           "hosts: files dns\n")
    for name in ("resolv.conf", "hosts", "hostname"):
        _link(root, f"etc/{name}", f"/run/launcher/{name}")
    with open(os.path.join(HERE, "guest", "sshd_config")) as f:
        _write(root, "etc/ssh/sshd_config", f.read())
    _link(root, "usr/bin/sh", "dash")
    for d, mode in (("root", 0o700), ("tmp", 0o1777), ("proc", 0o555), ("sys", 0o555),
                    ("dev", 0o755), ("run", 0o755), ("var/tmp", 0o1777)):
        os.makedirs(os.path.join(root, d), exist_ok=True)
        os.chmod(os.path.join(root, d), mode)
    guest = os.path.join(root, "usr/lib/launcher-guest")
    shutil.copytree(os.path.join(HERE, "guest"), guest, ignore=shutil.ignore_patterns(
        "sshd_config", "fstab"), dirs_exist_ok=True)
    os.chmod(os.path.join(guest, "init"), 0o755)
    _ca_bundle(root)


def _ca_bundle(root: str) -> None:
    """update-ca-certificates' result: every Mozilla CA in one PEM bundle."""
    src = os.path.join(root, "usr/share/ca-certificates")
    pems = []
    for base, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".crt"):
                with open(os.path.join(base, name)) as f:
                    pems.append(f.read().strip() + "\n")
    _write(root, "etc/ssl/certs/ca-certificates.crt", "".join(pems))


def install_launcher(root: str, wheel: str, arch: str) -> None:
    """launcher and its dependencies into the guest's /usr/local (pip --target),
    as binary wheels for the guest's Python (Debian 12: 3.11, glibc 2.36)."""
    site = os.path.join(root, f"usr/local/lib/{PY}/dist-packages")
    platforms = [a for v in ("2014", "_2_17", "_2_28", "_2_34")
                 for a in ("--platform", f"manylinux{v}_{arch}")]
    run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-compile", "--target", site, "--python-version", "3.11", "--only-binary=:all:",
         *platforms, wheel])
    shutil.rmtree(os.path.join(site, "bin"), ignore_errors=True)
    # what the host agent compares with its own launcher (launcher.vm.selfsync)
    _write(root, selfsync.GUEST_DIGEST.lstrip("/"),
           selfsync.digest(os.path.join(site, "launcher")) + "\n", 0o644)
    for name, module in (("launcher", "launcher.cli.main"),
                         ("launcher-runtime", "launcher.runtime.main"),
                         ("launcher-remote", "launcher.vm.guest")):
        _write(root, f"usr/local/bin/{name}",
               f"#!/usr/bin/python3\nimport sys\nfrom {module} import main\nsys.exit(main())\n",
               0o755)


def kernel_version(root: str) -> str:
    versions = os.listdir(os.path.join(root, "usr/lib/modules"))
    if len(versions) != 1:
        raise BuildError(f"expected one kernel in the image, found {versions}")
    return versions[0]


def trim_modules(root: str, version: str) -> None:
    """Drop the modules of hardware a VM never has (and top-level NIC drivers
    other than virtio's and the virtual ones stay: drivers/net/*.ko)."""
    base = os.path.join(root, "usr/lib/modules", version)
    for top, dirs, _files in os.walk(os.path.join(base, "kernel"), topdown=True):
        rel = os.path.relpath(top, base)
        if rel == "kernel/drivers/net":
            for d in dirs:
                shutil.rmtree(os.path.join(top, d))
            dirs[:] = []
            continue
        for d in list(dirs):
            sub = f"{rel}/{d}"
            keep = any(sub == k or sub.startswith(k + "/") or k.startswith(sub + "/")
                       for k in (*KEEP_MODULES, "kernel/drivers/net"))
            if not keep:
                shutil.rmtree(os.path.join(top, d))
                dirs.remove(d)


def module_closure(root: str, version: str, names: tuple[str, ...]) -> list[str]:
    """The modules.dep paths of ``names`` and their dependencies, dependencies first."""
    base = os.path.join(root, "usr/lib/modules", version)
    deps = _module_deps(base)
    by_name = {os.path.basename(p).split(".ko")[0].replace("-", "_"): p for p in deps}
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for dep in deps.get(path, []):
            visit(dep)
        order.append(path)

    for name in names:
        if name not in by_name:
            raise BuildError(f"the kernel has no module {name}")
        visit(by_name[name])
    return order


def initramfs(root: str, version: str) -> bytes:
    """busybox, the modules that mount /dev/vda (and that the first boot scripts
    need), and init. The modules sit flat in /lib/modules/VERSION with their own
    modules.dep, so one ``busybox modprobe -a`` loads them all: every process
    costs ~50 ms under TCG, a module load itself ~10 ms."""
    base = os.path.join(root, "usr/lib/modules", version)
    mods = module_closure(root, version, INITRD_MODULES)
    moddir = f"lib/modules/{version}"
    entries: list[tuple[str, int, bytes]] = [(d, cpio.DIR, b"") for d in (
        "bin", "dev", "proc", "sys", "newroot", "lib", "lib/modules", moddir)]
    with open(os.path.join(root, "usr/bin/busybox"), "rb") as f:
        entries.append(("bin/busybox", cpio.EXEC, f.read()))
    with open(os.path.join(HERE, "initramfs", "init"), "rb") as f:
        entries.append(("init", cpio.EXEC, f.read()))
    flat = {path: os.path.basename(path).split(".ko")[0] + ".ko" for path in mods}
    deps = _module_deps(base)
    dep_lines = [f"{flat[p]}: {' '.join(flat[d] for d in deps.get(p, []))}".rstrip() + "\n"
                 for p in mods]
    entries.append((f"{moddir}/modules.dep", cpio.FILE, "".join(dep_lines).encode()))
    names = [flat[p].removesuffix(".ko") for p in mods]
    entries.append(("modules", cpio.FILE, " ".join(names).encode() + b"\n"))
    for path in mods:
        with open(os.path.join(base, path), "rb") as f:
            entries.append((f"{moddir}/{flat[path]}", cpio.FILE, f.read()))
    return cpio.initramfs(entries)


def _module_deps(base: str) -> dict[str, list[str]]:
    deps: dict[str, list[str]] = {}
    with open(os.path.join(base, "modules.dep")) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[mod] = rest.split()
    return deps


def normalize_times(root: str) -> None:
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            os.utime(os.path.join(base, name), (EPOCH, EPOCH), follow_symlinks=False)
    os.utime(root, (EPOCH, EPOCH))


def make_disk(root: str, out: str) -> None:
    raw = out + ".raw"
    env = {**os.environ, "E2FSPROGS_FAKE_TIME": str(EPOCH)}
    try:
        run(["mkfs.ext4", "-q", "-F", "-L", "launcher-root", "-U", FS_UUID, "-E",
             f"root_owner=0:0,hash_seed={HASH_SEED}", "-d", root, raw, DISK_SIZE], env=env)
        fix_inode_times(raw, env)
        run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, out])
    finally:
        if os.path.exists(raw):
            os.unlink(raw)


def used_inodes(dumpe2fs: str) -> list[int]:
    """The allocated inode numbers, from ``dumpe2fs`` output: all of them but the
    per-group ``  Free inodes: 10915-16384, 16390`` ranges."""
    count = 0
    free: set[int] = set()
    for line in dumpe2fs.splitlines():
        if line.startswith("Inode count:"):
            count = int(line.partition(":")[2])
        elif line.startswith("  Free inodes:"):
            for part in filter(None, (p.strip() for p in line.partition(":")[2].split(","))):
                lo, _, hi = part.partition("-")
                free.update(range(int(lo), int(hi or lo) + 1))
    return [i for i in range(1, count + 1) if i not in free]


def fix_inode_times(raw: str, env: dict[str, str]) -> None:
    """Every inode's atime/mtime/ctime at SOURCE_DATE_EPOCH: ``mkfs.ext4 -d`` copies
    each source file's ctime, which no one can set (and a few files are made
    after the tree's times were normalized). With this the disk is byte for byte
    the same from one build to the next."""
    info = run(["dumpe2fs", raw], env=env).stdout.decode()
    cmds = "".join(f"sif <{i}> {field} @{EPOCH}\n" for i in used_inodes(info)
                   for field in ("atime", "mtime", "ctime"))
    with tempfile.NamedTemporaryFile("w", suffix=".debugfs") as f:
        f.write(cmds)
        f.flush()
        run(["debugfs", "-w", "-f", f.name, raw], env=env)


def build(out: str, arch: str, wheel: str, key: str) -> dict[str, object]:
    work = tempfile.mkdtemp(prefix="launcher-provision-", dir=os.path.dirname(out) or ".")
    try:
        root = os.path.join(work, "rootfs")
        unpack(download(arch, work), root)
        configure(root)
        install_launcher(root, wheel, arch)
        version = kernel_version(root)
        trim_modules(root, version)
        run(["depmod", "-b", root, version])
        os.makedirs(out, exist_ok=True)
        shutil.copyfile(os.path.join(root, "boot", f"vmlinuz-{version}"),
                        os.path.join(out, "vmlinuz"))
        with open(os.path.join(out, "initrd.img"), "wb") as f:
            f.write(initramfs(root, version))
        with open(os.path.join(root, "usr/bin/busybox"), "rb") as f:
            probe = cpio.marker_initramfs(f.read(), PROBE_MARKER)
        with open(os.path.join(out, "probe.img"), "wb") as f:
            f.write(probe)
        shutil.rmtree(os.path.join(root, "boot"))  # the kernel boots from outside the disk
        normalize_times(root)
        make_disk(root, os.path.join(out, "disk.qcow2"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    files = {k: {"file": f, "sha256": sha256_file(os.path.join(out, f))}
             for k, f in (("kernel", "vmlinuz"), ("initrd", "initrd.img"),
                          ("disk", "disk.qcow2"), ("probe", "probe.img"))}
    manifest: dict[str, object] = {"arch": arch, "kernel_version": version,
                                   "launcher_version": os.path.basename(wheel).split("-")[1],
                                   "cmdline": cmdline(arch),
                                   "recipe": key or recipe_hash(wheel), **files}
    with open(os.path.join(out, "image.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    return manifest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--arch", default=os.uname().machine, choices=sorted(KERNEL_PACKAGE))
    ap.add_argument("--wheel", required=True, help="launcher's wheel, installed in the guest")
    ap.add_argument("--print-recipe-hash", action="store_true")
    ap.add_argument("--key", default="", help="the cache key to record (launcher's)")
    args = ap.parse_args()
    if args.print_recipe_hash:
        print(recipe_hash(args.wheel))
        return 0
    try:
        manifest = build(args.out, args.arch, args.wheel, args.key)
    except BuildError as exc:
        print(f"build.py: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(manifest, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
