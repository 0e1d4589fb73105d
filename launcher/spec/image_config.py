"""ImageConfig: the parts of an OCI/Docker image config that running needs.

Reads ``config.{Env, Entrypoint, Cmd, WorkingDir, User, ExposedPorts, Volumes,
Labels, StopSignal}``, ``architecture``, ``os`` and ``rootfs.diff_ids``. ``None``
means absent. Everything else (history, created, author, ...) is kept and
written back by :meth:`ImageConfig.to_json`. A wrong type is an ``ImageError``
naming the field.
"""

from __future__ import annotations

from launcher.errors import ImageError
from launcher.spec.record import clone

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _strs(v: Any) -> bool:
    return type(v) is list and all(type(x) is str for x in v)


def _str(v: Any) -> bool:
    return type(v) is str


def _obj(v: Any) -> bool:
    return type(v) is dict


def _strmap(v: Any) -> bool:
    return type(v) is dict and all(type(x) is str for x in v.values())


# (attribute, key under "config", check, what)
_CONFIG_FIELDS = (
    ("env", "Env", _strs, "a list of strings"),
    ("entrypoint", "Entrypoint", _strs, "a list of strings"),
    ("cmd", "Cmd", _strs, "a list of strings"),
    ("working_dir", "WorkingDir", _str, "a string"),
    ("user", "User", _str, "a string"),
    ("exposed_ports", "ExposedPorts", _obj, "an object"),
    ("volumes", "Volumes", _obj, "an object"),
    ("labels", "Labels", _strmap, "an object of strings"),
    ("stop_signal", "StopSignal", _str, "a string"),
)


class ImageConfig:
    __slots__ = ("_raw", "architecture", "cmd", "diff_ids", "entrypoint", "env",
                 "exposed_ports", "labels", "os", "stop_signal", "user", "volumes",
                 "working_dir")  # fmt: skip

    def __init__(
        self,
        *,
        env: list[str] | None = None,
        entrypoint: list[str] | None = None,
        cmd: list[str] | None = None,
        working_dir: str | None = None,
        user: str | None = None,
        exposed_ports: dict[str, Any] | None = None,
        volumes: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
        stop_signal: str | None = None,
        architecture: str | None = None,
        os: str | None = None,
        diff_ids: list[str] | None = None,
    ) -> None:
        self.env = env
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.working_dir = working_dir
        self.user = user
        self.exposed_ports = exposed_ports
        self.volumes = volumes
        self.labels = labels
        self.stop_signal = stop_signal
        self.architecture = architecture
        self.os = os
        self.diff_ids = diff_ids
        self._raw: dict[str, Any] = {}  # the document as read, for unknown keys

    @classmethod
    def from_json(cls, obj: Any) -> ImageConfig:
        if type(obj) is not dict:
            raise ImageError("image config: expected a JSON object")
        self = cls()
        try:
            self._raw = clone(obj)
        except RecursionError:  # values below are parts of obj: cloning them then works
            raise ImageError("image config: JSON nested too deeply") from None
        config = obj.get("config")
        if config is not None and type(config) is not dict:
            raise ImageError("image config: config: expected an object")
        for attr, key, check, what in _CONFIG_FIELDS:
            value = (config or {}).get(key)
            if value is not None:
                if not check(value):
                    raise ImageError(f"image config: config.{key}: expected {what}")
                setattr(self, attr, clone(value))
        for key in ("architecture", "os"):
            value = obj.get(key)
            if value is not None and type(value) is not str:
                raise ImageError(f"image config: {key}: expected a string")
            setattr(self, key, value)
        rootfs = obj.get("rootfs")
        if rootfs is not None:
            diff_ids = rootfs.get("diff_ids") if type(rootfs) is dict else None
            if diff_ids is not None and not _strs(diff_ids):
                raise ImageError("image config: rootfs.diff_ids: expected a list of strings")
            self.diff_ids = list(diff_ids) if diff_ids is not None else None
        return self

    def to_json(self) -> dict[str, Any]:
        """The image config document; keys not modelled here come back unchanged."""
        out: dict[str, Any] = clone(self._raw)
        had_config = type(out.get("config")) is dict
        config: dict[str, Any] = out["config"] if had_config else {}
        for attr, key, _check, _what in _CONFIG_FIELDS:
            value = getattr(self, attr)
            if value is None:
                config.pop(key, None)
            else:
                config[key] = clone(value)
        if config or had_config:
            out["config"] = config
        for key in ("architecture", "os"):
            if getattr(self, key) is None:
                out.pop(key, None)
            else:
                out[key] = getattr(self, key)
        rootfs: dict[str, Any] = out["rootfs"] if type(out.get("rootfs")) is dict else {}
        if self.diff_ids is not None:
            rootfs.setdefault("type", "layers")
            rootfs["diff_ids"] = list(self.diff_ids)
            out["rootfs"] = rootfs
        else:
            rootfs.pop("diff_ids", None)
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageConfig):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        values = [(n, getattr(self, n)) for n in self.__slots__ if n != "_raw"]
        fields = ", ".join(f"{n}={v!r}" for n, v in values if v is not None)
        return f"ImageConfig({fields})"
