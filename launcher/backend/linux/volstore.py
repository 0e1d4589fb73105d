"""Named volumes (Docker's ``local`` driver): ``storage/volumes/<name>/_data``.

A volume is a directory claimed by one atomic ``mkdir`` (so two parallel
``volume create x`` make one volume), with ``volume.json`` beside its data
(creation time, labels). A volume is in use while any container's bundle
mounts it; ``rm`` refuses those (even with ``-f``, as Docker does).
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.errors import ConflictError, NotFoundError, StateError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.paths import Paths

DATA = "_data"
META = "volume.json"


def check_name(name: str) -> str:
    ok = (bool(name) and len(name) <= 255 and name[0].isascii() and name[0].isalnum()
          and all(c.isascii() and (c.isalnum() or c in "_.-") for c in name)
          and ".." not in name)
    if not ok:
        raise UsageError(f"invalid volume name {name!r}: use [A-Za-z0-9][A-Za-z0-9_.-]*")
    return name


class VolumeStore:
    __slots__ = ("paths",)

    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    @property
    def root(self) -> str:
        return os.path.join(self.paths.storage, "volumes")

    def dir(self, name: str) -> str:
        return os.path.join(self.root, check_name(name))

    def data(self, name: str) -> str:
        return os.path.join(self.dir(name), DATA)

    def create(self, name: str | None = None, labels: dict[str, str] | None = None
               ) -> tuple[str, bool]:
        """Make volume ``name`` (a random one if None); (name, created). An existing
        volume is kept as it is, as ``docker volume create`` does."""
        from launcher.backend.linux.record import now_rfc3339

        name = check_name(name) if name else os.urandom(32).hex()
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        directory = self.dir(name)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            return name, False
        try:
            os.mkdir(os.path.join(directory, DATA), 0o755)
            meta = {"Name": name, "CreatedAt": now_rfc3339(), "Labels": dict(labels or {})}
            tmp = os.path.join(directory, META + ".tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(fastjson.dumps(meta))
            os.rename(tmp, os.path.join(directory, META))
        except BaseException:
            from launcher.fsutil import remove_tree

            remove_tree(directory)
            raise
        return name, True

    def inspect(self, name: str) -> dict[str, Any]:
        directory = self.dir(name)
        try:
            with open(os.path.join(directory, META), "rb") as f:
                meta = fastjson.loads(f.read(1 << 20))
        except FileNotFoundError:
            raise NotFoundError(f"no such volume: {name}") from None
        except ValueError as exc:
            raise StateError(f"volume file {os.path.join(directory, META)} is corrupt "
                             f"({exc}): remove the volume with 'launcher volume rm {name}'"
                             ) from None
        return {"CreatedAt": meta.get("CreatedAt", ""), "Driver": "local",
                "Labels": meta.get("Labels") or {}, "Mountpoint": self.data(name),
                "Name": name, "Options": {}, "Scope": "local"}

    def names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.root)
                          if os.path.isfile(os.path.join(self.root, n, META)))
        except FileNotFoundError:
            return []

    def in_use(self) -> dict[str, list[str]]:
        """Volume name -> ids of the containers whose bundle mounts it."""
        prefix = self.root + os.sep
        used: dict[str, list[str]] = {}
        bundles = os.path.join(self.paths.storage, "containers")
        try:
            ids = os.listdir(bundles)
        except FileNotFoundError:
            return used
        for cid in ids:
            try:
                with open(os.path.join(bundles, cid, "config.json"), "rb") as f:
                    spec = fastjson.loads(f.read())
            except (OSError, ValueError):
                continue
            for m in spec.get("mounts") or [] if type(spec) is dict else []:
                src = str(m.get("source") or "") if type(m) is dict else ""
                if src.startswith(prefix):
                    used.setdefault(src[len(prefix):].split(os.sep, 1)[0], []).append(cid)
        return used

    def remove(self, name: str) -> None:
        from launcher.fsutil import remove_tree

        self.inspect(name)  # NotFoundError first
        users = self.in_use().get(name)
        if users:
            raise ConflictError(f"remove {name}: volume is in use - "
                                f"[{', '.join(u[:12] for u in users)}]")
        # Rename first: the volume disappears atomically, then its data goes.
        doomed = os.path.join(self.root, f".removing-{name}-{os.getpid()}")
        os.rename(self.dir(name), doomed)
        remove_tree(doomed)
