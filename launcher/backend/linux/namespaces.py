"""Which namespaces to create and which to join, in the order the kernel needs."""

from __future__ import annotations

import os

from launcher.backend.linux import syscalls as sc
from launcher.errors import ConfigError, RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.syscalls import Syscalls
    from launcher.spec.model import Spec

FLAGS = {
    "user": sc.CLONE_NEWUSER,
    "cgroup": sc.CLONE_NEWCGROUP,
    "ipc": sc.CLONE_NEWIPC,
    "uts": sc.CLONE_NEWUTS,
    "network": sc.CLONE_NEWNET,
    "pid": sc.CLONE_NEWPID,
    "mount": sc.CLONE_NEWNS,
    "time": sc.CLONE_NEWTIME,
}
# Joining: the user namespace first (it grants the rights to join the others,
# which it owns), mount last (it changes our root and cwd).
JOIN_ORDER = ("user", "cgroup", "ipc", "uts", "network", "pid", "time", "mount")
PROC_NAMES = {"network": "net", "mount": "mnt"}


class NamespacePlan:
    __slots__ = ("joins", "new_flags", "new_types")

    def __init__(self, joins: list[tuple[str, str]], new_types: list[str]) -> None:
        self.joins = joins  # (type, path) in JOIN_ORDER
        self.new_types = new_types
        self.new_flags = 0
        for t in new_types:
            self.new_flags |= FLAGS[t]

    def creates(self, typ: str) -> bool:
        return typ in self.new_types

    def has(self, typ: str) -> bool:
        return typ in self.new_types or any(t == typ for t, _ in self.joins)

    @property
    def needs_fork(self) -> bool:
        """A new or joined pid namespace applies to children only: init is a grandchild."""
        return self.has("pid")


def plan(spec: Spec) -> NamespacePlan:
    joins: dict[str, str] = {}
    new: list[str] = []
    for ns in (spec.linux.namespaces if spec.linux else None) or ():
        if ns.type not in FLAGS:
            raise ConfigError(f"unknown namespace type {ns.type!r}")
        if ns.path:
            joins[ns.type] = ns.path
        else:
            new.append(ns.type)
    ordered = [(t, joins[t]) for t in JOIN_ORDER if t in joins]
    return NamespacePlan(ordered, [t for t in JOIN_ORDER if t in new])


def join_all(sys: Syscalls, joins: list[tuple[str, str]]) -> None:
    for typ, path in joins:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise RuntimeFailure(f"opening {typ} namespace {path}: {exc.strerror}") from exc
        try:
            sys.setns(fd, FLAGS[typ])
        except OSError as exc:
            raise RuntimeFailure(f"joining {typ} namespace {path}: {exc.strerror}") from exc
        finally:
            os.close(fd)


def proc_path(pid: int, typ: str) -> str:
    return f"/proc/{pid}/ns/{PROC_NAMES.get(typ, typ)}"


def write_id_maps(pid: int, spec: Spec) -> None:
    """From the parent: uid_map and gid_map of a child that made a user namespace."""
    linux = spec.linux
    assert linux is not None
    for name, maps in (("uid_map", linux.uid_mappings), ("gid_map", linux.gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps or ())
        try:
            with open(f"/proc/{pid}/{name}", "w", encoding="ascii") as f:
                f.write(text)
        except OSError as exc:
            raise RuntimeFailure(f"writing {name} of pid {pid}: {exc.strerror}") from exc
