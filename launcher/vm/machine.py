"""A machine: its record on disk, its files, and its status derived from reality.

::

    storage/machines/<name>/          persistent, 0700
        machine.json                  the record (below); written last by init
        disk.qcow2                    copy-on-write overlay over the image's disk
        id_ed25519, id_ed25519.pub    launcher's client key for this machine
        ssh_host_ed25519_key(.pub)    the guest's host key: made here, pinned here
        fw_cfg/                       per-VM data QEMU hands to the guest
    state/machines/<name>/            volatile: one boot
        qemu.pid, qmp.sock, console.log, ssh-port

Status is never stored. ``running`` needs a live QEMU whose pid file and
command line name this machine (its driver looks: launcher.vm.driver);
``starting`` is running without an SSH banner yet; ``stopped`` has no QEMU;
``broken`` is a machine missing one of its files (an interrupted init, a
deleted image) and says which.
"""

from __future__ import annotations

import os

from launcher import fastjson, osflags
from launcher.errors import NotFoundError, StateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths

RECORD = "machine.json"
DEFAULT_NAME = "default"
_FIELDS = ("name", "arch", "cpus", "memory_mb", "disk_gb", "driver", "image_dir", "cmdline",
           "shares", "shares_via", "created")


def machines_dir(paths: Paths) -> str:
    return os.path.join(paths.storage, "machines")


def check_name(name: str) -> str:
    ok = name and len(name) <= 40 and name[0].isalnum() and all(
        c.isalnum() or c in "-_." for c in name)
    if not ok:
        from launcher.errors import UsageError

        raise UsageError(f"invalid machine name {name!r}: letters, digits, '-', '_', '.', "
                         "starting with a letter or digit, at most 40")
    return name


def host_arch() -> str:
    """This host's CPU as guest arches are named (macOS says arm64, Windows AMD64)."""
    if hasattr(os, "uname"):
        machine = os.uname().machine.lower()
    else:
        import platform

        machine = platform.machine().lower()
    return {"arm64": "aarch64", "amd64": "x86_64", "x64": "x86_64"}.get(machine, machine)


class Machine:
    """One machine's record plus where its files are."""

    __slots__ = ("arch", "cmdline", "cpus", "created", "dir", "disk_gb", "driver",
                 "image_dir", "memory_mb", "name", "run_dir", "shares", "shares_via")

    def __init__(self, paths: Paths, name: str) -> None:
        self.name = check_name(name)
        self.dir = os.path.join(machines_dir(paths), name)
        self.run_dir = os.path.join(paths.state, "machines", name)
        self.arch = host_arch()
        self.cpus, self.memory_mb, self.disk_gb = 2, 2048, 10
        self.driver, self.image_dir, self.cmdline = "qemu", "", ""
        self.shares: list[str] = []
        # how shares reach the guest: "9p" (QEMU's virtfs, mounted at boot) or "sftp"
        # (reverse sshfs served by the host agent: launcher.vm.sftpshare)
        self.shares_via = "9p"
        self.created = ""

    # -- files --------------------------------------------------------------
    @property
    def disk(self) -> str:
        return os.path.join(self.dir, "disk.qcow2")

    @property
    def kernel(self) -> str:
        return os.path.join(self.image_dir, "vmlinuz")

    @property
    def initrd(self) -> str:
        return os.path.join(self.image_dir, "initrd.img")

    @property
    def client_key(self) -> str:
        return os.path.join(self.dir, "id_ed25519")

    @property
    def host_key_pub(self) -> str:
        return os.path.join(self.dir, "ssh_host_ed25519_key.pub")

    def fw_cfg_files(self) -> dict[str, str]:
        base = os.path.join(self.dir, "fw_cfg")
        return {k: os.path.join(base, k) for k in
                ("ssh_host_ed25519_key", "authorized_keys", "hostname", "shares")}

    def share_tags(self) -> list[tuple[str, str]]:
        return [(f"share{i}", path) for i, path in enumerate(self.shares)]

    def ssh_port(self) -> int | None:
        try:
            with open(os.path.join(self.run_dir, "ssh-port")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    # -- record -------------------------------------------------------------
    def to_json(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in _FIELDS}

    def save(self) -> None:
        tmp = os.path.join(self.dir, f".{RECORD}.tmp")
        fd = os.open(tmp, osflags.WRITE_NEW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(fastjson.dumps(self.to_json(), indent=2))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.dir, RECORD))

    @classmethod
    def load(cls, paths: Paths, name: str) -> Machine:
        m = cls(paths, name)
        try:
            with open(os.path.join(m.dir, RECORD), "rb") as f:
                doc = fastjson.loads(f.read())
        except FileNotFoundError:
            if os.path.isdir(m.dir):
                return m  # half-made: status() says broken
            raise NotFoundError(f"no such machine: {name} (create it with "
                                f"`launcher machine init {name}`)") from None
        except ValueError as exc:
            raise StateError(f"machine {name}: corrupt {RECORD}: {exc}") from None
        for key in _FIELDS:
            if key in doc and key != "name":
                setattr(m, key, doc[key])
        return m

    def problem(self) -> str | None:
        """Why this machine cannot start, or None."""
        if not os.path.exists(os.path.join(self.dir, RECORD)):
            return "init did not finish (no machine.json): remove it with machine rm -f"
        for what, path in (("disk", self.disk), ("kernel", self.kernel),
                           ("initrd", self.initrd), ("client key", self.client_key),
                           ("host key", self.host_key_pub),
                           *self.fw_cfg_files().items()):
            if not os.path.exists(path):
                return f"its {what} is missing ({path})"
        return None


def status(m: Machine) -> tuple[str, str]:
    """(status, detail) from reality: running / starting / stopped / broken."""
    from launcher.vm.driver import for_machine

    why = m.problem()
    pid = for_machine(m).alive(m)
    if pid is None:
        return ("broken", why) if why else ("stopped", "")
    port = m.ssh_port()
    if port is not None and banner_ready(port, 0.5):
        return "running", f"pid {pid}, ssh 127.0.0.1:{port}"
    return "starting", f"pid {pid}"


def banner_ready(port: int, timeout: float) -> bool:
    """True when something on 127.0.0.1:``port`` says ``SSH-`` (QEMU's user
    networking accepts connections before the guest's sshd listens)."""
    import _socket

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        return s.recv(4) == b"SSH-"
    except OSError:
        return False
    finally:
        s.close()


def list_names(paths: Paths) -> list[str]:
    try:
        return sorted(n for n in os.listdir(machines_dir(paths)) if not n.startswith("."))
    except FileNotFoundError:
        return []
