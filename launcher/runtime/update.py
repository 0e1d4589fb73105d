"""Building spec objects from ``update`` and ``exec`` flags."""

from __future__ import annotations

import sys

from launcher import fastjson
from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.spec.model import Process, Resources


def _int(v: dict[str, Any], key: str, flag: str) -> int | None:
    raw = v.get(key)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f'invalid value "{raw}" for --{flag}: expected an integer') from None


def _read_json(path: str) -> Any:
    try:
        if path == "-":
            return fastjson.loads(sys.stdin.read())
        with open(path, "rb") as f:
            return fastjson.loads(f.read())
    except OSError as exc:
        raise UsageError(f"reading {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from exc


def resources_from(v: dict[str, Any]) -> Resources:
    """``--resources FILE`` merged with the individual flags (flags win)."""
    from launcher.spec.model import Resources

    data: dict[str, Any] = _read_json(v["resources"]) if v.get("resources") else {}
    if not isinstance(data, dict):
        raise UsageError("--resources must hold a JSON object (linux.resources)")
    mem = data.setdefault("memory", {})
    cpu = data.setdefault("cpu", {})
    for key, flag, section, name in (
        ("memory", "memory", mem, "limit"),
        ("memory_swap", "memory-swap", mem, "swap"),
        ("memory_reservation", "memory-reservation", mem, "reservation"),
        ("cpu_shares", "cpu-shares", cpu, "shares"),
        ("cpu_quota", "cpu-quota", cpu, "quota"),
        ("cpu_period", "cpu-period", cpu, "period"),
    ):
        n = _int(v, key, flag)
        if n is not None:
            section[name] = n
    for key, name in (("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        if v.get(key):
            cpu[name] = v[key]
    pids = _int(v, "pids_limit", "pids-limit")
    if pids is not None:
        data["pids"] = {"limit": pids}
    weight = _int(v, "blkio_weight", "blkio-weight")
    if weight is not None:
        data.setdefault("blockIO", {})["weight"] = weight
    for key in ("memory", "cpu"):
        if not data[key]:
            del data[key]
    return Resources.from_json(data)


def exec_process_spec(root: str, v: dict[str, Any]) -> Process:
    """``--process FILE``, or the container's own process with args and flags over it."""
    from launcher.backend.linux.state import ContainerState
    from launcher.spec.model import Process

    if v.get("process"):
        data = _read_json(v["process"])
        if not isinstance(data, dict):
            raise UsageError(f"{v['process']} must hold a JSON object (a process)")
        return Process.from_json(data)
    st = ContainerState.load(root, v["id"])
    base = dict(st.spec.get("process") or {})
    if not v.get("command"):
        raise UsageError("exec needs a command (or --process FILE)")
    base["args"] = list(v["command"])
    base["terminal"] = bool(v.get("tty"))
    base.pop("consoleSize", None)
    if v.get("env"):
        base["env"] = list(base.get("env") or []) + list(v["env"])
    if v.get("cwd"):
        base["cwd"] = v["cwd"]
    user = dict(base.get("user") or {"uid": 0, "gid": 0})
    if v.get("user"):
        uid, _, gid = str(v["user"]).partition(":")
        user = {"uid": _id(uid), "gid": _id(gid) if gid else 0}
    if v.get("additional_gids"):
        user["additionalGids"] = [_id(g) for g in v["additional_gids"]]
    base["user"] = user
    if v.get("cap"):
        from launcher.spec.caps import normalize_cap

        caps = dict(base.get("capabilities") or {})
        for cap in v["cap"]:
            name = normalize_cap(cap)
            for s in ("bounding", "effective", "permitted"):
                caps[s] = sorted(set(caps.get(s) or []) | {name})
        base["capabilities"] = caps
    if v.get("no_new_privs"):
        base["noNewPrivileges"] = True
    return Process.from_json(base)


def _id(text: str) -> int:
    if not text.isdigit() or int(text) > 2**32 - 2:
        raise UsageError(f"invalid id {text!r}: expected a number 0..4294967294")
    return int(text)
