"""The container record: what ``ps``, ``rm`` and ``inspect`` know of a container.

``storage/containers/<id>/container.json`` (beside the bundle's config.json)
holds what cannot be re-derived: the name, the image as asked for and its id,
the command, whether ``--rm`` was given, the creation time, and — once the
container ended — its exit code and finish time. Whether it *runs* is never
stored: ``status`` asks the runtime state (pid + start time) every time, so a
dead CLI, a reboot or a killed process shows as exited, never as running.

Writes are atomic (temp + rename, 0600). A corrupt record is a StateError that
names the file and how to repair it (``launcher rm -f <id>``).
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.errors import StateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RECORD_FILE = "container.json"
_FIELDS = ("id", "name", "image", "image_id", "command", "created", "started_at",
           "finished_at", "exit_code", "remove", "labels", "stop_timeout", "restart_policy",
           "restart_count", "restarting", "oom_killed", "log_driver", "log_opts", "open_stdin")


class ContainerRecord:
    __slots__ = ("bundle", *_FIELDS)

    def __init__(self, cid: str, bundle: str) -> None:
        self.id = cid
        self.bundle = bundle
        self.name = ""
        self.image = ""
        self.image_id = ""
        self.command: list[str] = []
        self.created = ""
        self.started_at = ""
        self.finished_at = ""
        self.exit_code: int | None = None
        self.remove = False
        self.labels: dict[str, str] = {}
        self.stop_timeout: int | None = None
        self.restart_policy = "no"
        self.restart_count = 0
        self.restarting = False  # waiting out a restart backoff (the monitor sets it)
        self.oom_killed = False  # the kernel's OOM killer struck in its cgroup
        self.log_driver = "json-file"  # logopts.DRIVERS
        self.log_opts: dict[str, str] = {}  # --log-opt, checked by logopts
        self.open_stdin = False  # -i: the monitor keeps a stdin for attach (Docker's OpenStdin)

    @property
    def path(self) -> str:
        return os.path.join(self.bundle, RECORD_FILE)

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _FIELDS}

    def save(self) -> None:
        """Atomic replace. A bundle removed meanwhile (``rm -f`` from elsewhere) is
        not an error: the container is gone, and so is its record."""
        tmp = self.path + ".tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            return
        try:
            os.write(fd, fastjson.dumps(self.to_json()).encode())
        finally:
            os.close(fd)
        try:
            os.rename(tmp, self.path)
        except FileNotFoundError:
            pass

    @classmethod
    def load(cls, bundle: str) -> ContainerRecord:
        rec = cls(os.path.basename(bundle), bundle)
        path = rec.path
        try:
            with open(path, "rb") as f:
                data = fastjson.loads(f.read(1 << 20))
            if type(data) is not dict:
                raise ValueError("not a JSON object")
            for key in _FIELDS:
                if key in data:
                    setattr(rec, key, data[key])
            if not isinstance(rec.command, list) or not isinstance(rec.name, str):
                raise ValueError("bad field types")
            if rec.exit_code is not None and type(rec.exit_code) is not int:
                raise ValueError("bad exit code")
            if type(rec.labels) is not dict or type(rec.log_opts) is not dict:
                raise ValueError("bad labels or log options")
            if rec.stop_timeout is not None and type(rec.stop_timeout) is not int:
                raise ValueError("bad stop timeout")
            if type(rec.open_stdin) is not bool:
                raise ValueError("bad open_stdin")
        except FileNotFoundError:
            raise
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateError(f"container record {path} is corrupt ({exc}): remove the "
                             f"container with 'launcher rm -f {rec.id}'") from None
        rec.id = os.path.basename(bundle)  # the directory name is the truth
        return rec


def now_rfc3339() -> str:
    """UTC now with nanoseconds, as Docker writes times."""
    from launcher import rfc3339

    return rfc3339.now()
