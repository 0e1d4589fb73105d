"""Machine lifecycle: init, start, stop, rm, inspect — each step undone on failure.

``init`` resolves the image first (a bad ``--image`` makes nothing), then makes
the machine directory and writes the record last; any failure in between
removes the directory. ``start`` reports its phases with timings (accelerator,
QEMU, SSH banner, login); a failure after QEMU started stops it again.
"""

from __future__ import annotations

import os
import time

from launcher import osflags
from launcher.errors import ConflictError, RuntimeFailure, StateError, UsageError
from launcher.vm.machine import Machine, status

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable

    import paramiko

    from launcher.paths import Paths
    from launcher.vm.driver import Driver

BOOT_TIMEOUT = float(os.environ.get("LAUNCHER_VM_BOOT_TIMEOUT", "180"))
Phase = "tuple[str, float]"


def parse_size(text: str, what: str) -> int:
    """``2g``/``512m``/``2048`` (MiB) → MiB."""
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    mult = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
    try:
        if t and t[-1] in mult:
            return max(1, int(float(t[:-1]) * mult[t[-1]]))
        return int(t)
    except ValueError:
        raise UsageError(f"invalid {what} {text!r} (for example 2g or 512m)") from None


def default_shares() -> list[str]:
    """The user's home directory, as podman machine and Lima share it."""
    home = os.path.expanduser("~")
    return [home] if os.path.isdir(home) and home != "/" else []


def _write(path: str, data: bytes | str, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | osflags.BINARY | osflags.CLOEXEC,
                 mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def init(paths: Paths, name: str, *, cpus: int = 2, memory_mb: int = 2048, disk_gb: int = 10,
         image: str | None = None, driver: str = "qemu", shares: list[str] | None = None,
         arch: str | None = None) -> Machine:
    from launcher.vm import images

    m = Machine(paths, name)
    if os.path.lexists(m.dir):
        raise ConflictError(f"machine {name} already exists")
    from launcher.vm.driver import get as get_driver

    drv = get_driver(driver)
    if cpus < 1 or memory_mb < 256 or disk_gb < 2:
        raise UsageError("a machine needs at least 1 CPU, 256 MiB of memory and 2 GiB of disk")
    bad = [s for s in shares or [] if not os.path.isabs(s) or not os.path.isdir(s)]
    if bad:
        raise UsageError(f"cannot share {bad[0]!r}: not an absolute path to a directory")
    drv.check()  # e.g. libvirtd down: before the image is fetched or anything made
    from launcher.vm.qemu import BINARY

    if arch is not None and arch not in BINARY:
        raise UsageError(f"unknown --arch {arch!r} (one of {', '.join(sorted(BINARY))})")
    m.arch = arch or m.arch
    m.image_dir = images.resolve(paths, image, m.arch)  # before anything is made
    m.cpus, m.memory_mb, m.disk_gb, m.driver = cpus, memory_mb, disk_gb, driver
    m.shares = [os.path.realpath(s) for s in shares or []]
    from launcher.vm.hostpath import default_transport

    m.shares_via = default_transport()
    m.cmdline = _cmdline(m.image_dir)
    m.created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    os.makedirs(os.path.dirname(m.dir), mode=0o700, exist_ok=True)
    os.mkdir(m.dir, 0o700)
    defined = False
    try:
        _populate(m)
        drv.define(m)
        defined = True
        m.save()  # last: a machine without its record is broken, never half-usable
    except BaseException:
        import shutil

        if defined:
            try:
                drv.undefine(m)
            except Exception:
                pass  # the original failure is the one to report
        shutil.rmtree(m.dir, ignore_errors=True)
        raise
    return m


def _cmdline(image_dir: str) -> str:
    from launcher import fastjson

    with open(os.path.join(image_dir, "image.json"), "rb") as f:
        doc = fastjson.loads(f.read())
    return str(doc.get("cmdline") or "console=ttyS0 quiet panic=-1")


def _populate(m: Machine) -> None:
    from launcher.vm.sshconn import generate_keypair

    client_priv, client_pub = generate_keypair()
    host_priv, host_pub = generate_keypair()
    _write(m.client_key, client_priv)
    _write(m.client_key + ".pub", client_pub + "\n", 0o644)
    _write(os.path.join(m.dir, "ssh_host_ed25519_key"), host_priv)
    _write(m.host_key_pub, host_pub + "\n", 0o644)
    os.mkdir(os.path.join(m.dir, "fw_cfg"), 0o700)
    fw = m.fw_cfg_files()
    _write(fw["ssh_host_ed25519_key"], host_priv)
    _write(fw["authorized_keys"], client_pub + "\n")
    _write(fw["hostname"], m.name)
    from launcher.vm.hostpath import guest_path

    nine_p = m.share_tags() if m.shares_via == "9p" else []  # sftp: the agent mounts them
    _write(fw["shares"], "".join(f"{tag} {guest_path(path)}\n" for tag, path in nine_p))
    _qemu_img(m)


def _qemu_img(m: Machine) -> None:
    """The machine's disk: a qcow2 overlay over the image's, at its full size."""
    import subprocess

    res = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                          os.path.join(m.image_dir, "disk.qcow2"), m.disk, f"{m.disk_gb}G"],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeFailure(f"qemu-img cannot create the disk: {res.stderr.strip()}")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (QEMU binds it next; a race is retried)."""
    import _socket

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
    finally:
        s.close()


def choose_accel(paths: Paths, m: Machine) -> tuple[str, list[tuple[str, str]]]:
    from launcher.vm import accel, probe

    key = "|".join((os.uname().release, m.arch, os.path.basename(os.path.realpath(m.kernel)),
                    _qemu_id(m.arch)))
    cache = os.path.join(paths.state, "machines", "accel.json")
    os.makedirs(os.path.dirname(cache), mode=0o700, exist_ok=True)
    from launcher.vm.machine import host_arch

    foreign = (f"the guest's CPU ({m.arch}) is not the host's ({host_arch()})"
               if m.arch != host_arch() else None)
    choice = accel.choose(lambda a, k, i, t: probe.why_not(m.arch, a, k, i, t), m.kernel,
                          os.path.join(m.image_dir, "probe.img"), cache, key,
                          os.environ.get("LAUNCHER_VM_ACCEL") or None, foreign)
    return choice.accel, choice.tried


def _qemu_id(arch: str) -> str:
    from launcher.vm import qemu

    path = qemu.binary(arch)
    st = os.stat(path)
    return f"{path}:{st.st_size}:{int(st.st_mtime)}"


def start(paths: Paths, name: str, report: Callable[[str, float], None] | None = None
          ) -> list[tuple[str, float]]:
    """Boot machine ``name`` until its SSH login works; the phases and their seconds."""
    from launcher.vm.driver import for_machine

    m = Machine.load(paths, name)
    drv = for_machine(m)
    state, detail = status(m)
    if state == "broken":
        raise StateError(f"machine {name} is broken: {detail}")
    if state in ("running", "starting"):
        raise ConflictError(f"machine {name} is already {state}")
    phases: list[tuple[str, float]] = []

    def phase(label: str, t0: float) -> None:
        phases.append((label, time.monotonic() - t0))
        if report is not None:
            report(*phases[-1])

    t0 = time.monotonic()
    accel_name, tried = choose_accel(paths, m)
    if accel_name == "tcg" and report is not None:
        import sys

        why = "; ".join(f"{a}: {w}" for a, w in tried if a != "tcg") or "none available"
        sys.stderr.write(f"WARNING: no hardware accelerator works here ({why}); "
                         "using TCG software emulation, which is slow\n")
    phase(f"accelerator {accel_name}", t0)
    t0 = time.monotonic()
    _spawn(m, drv, accel_name)
    with open(os.path.join(m.run_dir, "accel"), "w", encoding="utf-8") as f:
        f.write(f"{accel_name}\n")  # what `launcher version` reports
    phase(f"{drv.NAME} started", t0)
    try:
        t0 = time.monotonic()
        port = m.ssh_port()
        assert port is not None
        from launcher.vm.sshconn import wait_banner

        sock = wait_banner(port, time.monotonic() + BOOT_TIMEOUT,
                           lambda: drv.alive(m) is not None,
                           os.path.join(m.run_dir, "console.log"))
        phase("ssh banner", t0)
        t0 = time.monotonic()
        client = connect(m, sock=sock)  # on the connection that showed the banner
        client.close()
        phase("ssh login", t0)
    except BaseException:
        drv.stop(m)
        raise
    return phases


def _spawn(m: Machine, drv: Driver, accel_name: str) -> None:
    from launcher.vm import seed

    os.makedirs(m.run_dir, mode=0o700, exist_ok=True)
    if seed.wanted(drv.FEATURES):
        seed.write(m)  # per-VM data on a disk: the driver has no fw_cfg
    elif os.path.exists(seed.path(m)):
        os.unlink(seed.path(m))
    for attempt in range(3):
        port = free_port()
        with open(os.path.join(m.run_dir, "ssh-port"), "w") as f:
            f.write(str(port))
        try:
            drv.start(m, accel_name)
            return
        except RuntimeFailure as exc:
            if ("hostfwd" not in str(exc) and "forwarding" not in str(exc)) or attempt == 2:
                raise


def connect(m: Machine, timeout: float = 15.0, sock: socket.socket | None = None
            ) -> paramiko.SSHClient:
    from launcher.vm.sshconn import connect as ssh_connect

    port = m.ssh_port()
    if port is None:
        raise StateError(f"machine {m.name} is not running")
    with open(m.host_key_pub) as f:
        pinned = f.read()
    return ssh_connect("127.0.0.1", port, "root", m.client_key, pinned, timeout, sock)


def stop(paths: Paths, name: str) -> bool:
    """Power the guest off (sync first); False when it was not running."""
    from launcher.vm.agentclient import stop_agent
    from launcher.vm.driver import for_machine

    m = Machine.load(paths, name)
    drv = for_machine(m)
    stop_agent(m)
    if drv.alive(m) is None:
        _clear_run(m)
        return False
    try:
        client = connect(m, timeout=5.0)
        try:
            chan = client.get_transport().open_session()  # type: ignore[union-attr]
            chan.exec_command("sync && exec busybox poweroff -f")
            chan.recv_exit_status()
        finally:
            client.close()
    except Exception:
        pass  # unreachable guest: QEMU is stopped below
    drv.stop(m)
    _clear_run(m)
    return True


def _clear_run(m: Machine) -> None:
    import shutil

    keep = os.path.join(m.run_dir, "console.log")
    if os.path.isdir(m.run_dir):
        for entry in os.listdir(m.run_dir):
            path = os.path.join(m.run_dir, entry)
            if path != keep:
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)


def remove(paths: Paths, name: str, force: bool) -> None:
    import shutil

    from launcher.vm.driver import for_machine

    m = Machine.load(paths, name)
    drv = for_machine(m)
    if drv.alive(m) is not None:
        if not force:
            raise ConflictError(f"machine {name} is running: stop it first or use rm -f")
        stop(paths, name)
    drv.undefine(m)  # before the files: a domain never outlives its disk
    shutil.rmtree(m.run_dir, ignore_errors=True)
    shutil.rmtree(m.dir)
