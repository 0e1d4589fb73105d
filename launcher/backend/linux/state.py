"""Persisted container state, and its status re-derived from reality.

What is stored is only what cannot be recomputed: the init pid *with its
start time* (so a recycled pid is never mistaken for the container), the
bundle, the spec as it was at create time, the cgroup path, timestamps.
The status (creating/created/running/paused/stopped) is never stored: it is
derived from the live process, the exec fifo and the freezer on every read.
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.backend.linux import procinfo
from launcher.errors import ConflictError, NotFoundError, StateError, UsageError
from launcher.paths import EXEC_FIFO, STATE_FILE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.2.0"


def check_id(cid: str) -> str:
    """Container ids: ``[A-Za-z0-9][A-Za-z0-9_.-]*`` with no ``..`` (SECURITY.md rule 6)."""
    ok = bool(cid) and len(cid) <= 1024 and cid[0].isascii() and cid[0].isalnum()
    ok = ok and all(c.isascii() and (c.isalnum() or c in "_.-") for c in cid)
    if not ok or ".." in cid:
        raise UsageError(f"invalid container id {cid!r}: use letters, digits, '_', '.', '-'")
    return cid


class ContainerState:
    __slots__ = ("bundle", "cgroup_layout", "cgroup_path", "created", "dir", "id", "owner",
                 "pid", "pid_start", "rootfs", "spec", "started")

    def __init__(self, cid: str, directory: str) -> None:
        self.id = cid
        self.dir = directory
        self.pid = 0
        self.pid_start: int | None = None
        self.bundle = ""
        self.rootfs = ""
        self.created = ""
        self.started = ""
        self.owner = ""
        self.cgroup_path = ""
        self.cgroup_layout = ""
        self.spec: dict[str, Any] = {}

    # persistence
    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if k not in ("dir",)}

    def save(self) -> None:
        """Atomic (temp + rename), mode 0600. No fsync: the state describes
        processes, and a crash that could lose the write ends them too; after
        a reboot the status is re-derived from reality anyway (pid + start
        time), so durability buys nothing here and costs ms on every start."""
        path = os.path.join(self.dir, STATE_FILE)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, fastjson.dumps(self.to_json()).encode())
        finally:
            os.close(fd)
        os.rename(tmp, path)

    @classmethod
    def load(cls, root: str, cid: str) -> ContainerState:
        check_id(cid)
        directory = os.path.join(root, cid)
        path = os.path.join(directory, STATE_FILE)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            if os.path.isdir(directory):
                raise StateError(
                    f"container {cid} has no state file {path} (interrupted create?): "
                    f"remove it with 'delete --force {cid}'"
                ) from None
            raise NotFoundError(f"container {cid} does not exist") from None
        try:
            data = fastjson.loads(raw)
            st = cls(cid, directory)
            for k in cls.__slots__:
                if k != "dir" and k in data:
                    setattr(st, k, data[k])
            if not isinstance(st.pid, int) or not isinstance(st.spec, dict):
                raise ValueError("bad field types")
        except ValueError as exc:
            raise StateError(
                f"state file {path} is corrupt ({exc}): remove the container with "
                f"'delete --force {cid}' or delete {directory}"
            ) from None
        return st

    # reality
    def alive(self) -> bool:
        return procinfo.is_alive(self.pid, self.pid_start)

    def status(self, frozen: bool | None = None) -> str:
        if not self.pid:
            return "creating"
        if not self.alive():
            return "stopped"
        if os.path.exists(os.path.join(self.dir, EXEC_FIFO)):
            return "created"
        if frozen is None:
            frozen = self._frozen()
        return "paused" if frozen else "running"

    def _frozen(self) -> bool:
        if not self.cgroup_path:
            return False
        from launcher.backend.linux.cgroups import open_manager

        try:
            return open_manager(self.cgroup_path, self.cgroup_layout or None).is_frozen()
        except Exception:  # a missing cgroup is simply not frozen
            return False

    def oci_state(self) -> dict[str, Any]:
        """The runtime spec's state JSON."""
        status = self.status()
        out: dict[str, Any] = {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "status": status,
        }
        if status != "stopped":
            out["pid"] = self.pid
        out["bundle"] = self.bundle
        ann = self.spec.get("annotations")
        if ann:
            out["annotations"] = ann
        return out


def claim(root: str, cid: str) -> str:
    """Atomically claim ``cid``: one ``mkdir`` decides (SECURITY.md rule 7)."""
    check_id(cid)
    os.makedirs(root, mode=0o700, exist_ok=True)
    directory = os.path.join(root, cid)
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        raise ConflictError(f"container with id {cid} already exists") from None
    return directory


def list_ids(root: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(root) if not n.startswith("."))
    except FileNotFoundError:
        return []


SECCOMP_FILE = "seccomp.bpf"  # the container's filter: flags (4 bytes), then the program


def save_seccomp(state_dir: str, prog: bytes, flag_bits: int) -> None:
    """Keep a container's seccomp filter where ``exec`` finds it (execproc)."""
    data = flag_bits.to_bytes(4, "little") + prog
    fd = os.open(os.path.join(state_dir, SECCOMP_FILE),
                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:  # plain os calls: this is on every start's path (~40 us less than a file object)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def load_seccomp(state_dir: str) -> tuple[bytes, int] | None:
    """The container's filter (program, flags), or None when it runs unconfined."""
    try:
        with open(os.path.join(state_dir, SECCOMP_FILE), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    return data[4:], int.from_bytes(data[:4], "little")
