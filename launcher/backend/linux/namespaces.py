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
    """From the parent: uid_map and gid_map of a child that made a user namespace.

    Root writes them itself. An ordinary user may write only a map of its own
    id (gid_map after ``setgroups`` is denied); anything wider goes through the
    setuid ``newuidmap``/``newgidmap``, which check /etc/subuid and /etc/subgid."""
    linux = spec.linux
    assert linux is not None
    for name, maps in (("uid_map", linux.uid_mappings), ("gid_map", linux.gid_mappings)):
        triples = [(m.container_id or 0, m.host_id or 0, m.size or 0) for m in maps or ()]
        own = os.geteuid() if name == "uid_map" else os.getegid()
        if os.geteuid() != 0 and not (len(triples) == 1 and triples[0][1:] == (own, 1)):
            _id_map_helper(pid, name, triples)
            continue
        if os.geteuid() != 0 and name == "gid_map":
            _write_proc(pid, "setgroups", "deny")
        _write_proc(pid, name, "".join(f"{c} {h} {s}\n" for c, h, s in triples))


def _write_proc(pid: int, name: str, text: str) -> None:
    try:
        with open(f"/proc/{pid}/{name}", "w", encoding="ascii") as f:
            f.write(text)
    except OSError as exc:
        raise RuntimeFailure(f"writing {name} of pid {pid}: {exc.strerror}") from exc


def _id_map_helper(pid: int, name: str, triples: list[tuple[int, int, int]]) -> None:
    import shutil
    import subprocess

    tool = "newuidmap" if name == "uid_map" else "newgidmap"
    path = shutil.which(tool)
    if path is None:
        raise RuntimeFailure(f"{tool} not found: install the uidmap package (rootless "
                             "containers map subordinate ids with it)")
    args = [path, str(pid), *(str(v) for t in triples for v in t)]
    res = subprocess.run(args, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        why = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
        raise RuntimeFailure(f"{tool}: {why} (check /etc/subuid and /etc/subgid)")
