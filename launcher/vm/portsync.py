"""Host forwards that follow the machine's containers.

A container's ports are published inside the guest; the host reaches them
through a forward (QEMU's ``hostfwd``, through the machine's driver) from the
same port on the host. The forwards launcher made are recorded in
``forwards.json`` in the machine's run directory (it goes when QEMU stops, as
the forwards do)::

    {"tcp/8080": {"ip": "127.0.0.1", "added": 1700000000.0, "seen": true}}

:func:`reconcile` makes them match what the guest publishes now: a port no
running container publishes any more loses its forward (``run --rm`` ended,
``rm -f``, ``stop``, a container that exited by itself), a published port
without one gets one (``-P``, ``start`` of a stopped container). ``-p`` adds
its forward before the run (:func:`add`, so a foreground ``run -p`` is
reachable at once); such an entry is kept for :data:`GRACE` seconds before the
guest must show it published. The host address is the one ``-p`` named, else
all addresses, as Docker binds published ports.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from launcher.vm.machine import Machine

    # (machine, proto, host ip, host port, guest port, add)
    HostFwd = Callable[[Machine, str, str, int, int, bool], None]

RECORD = "forwards.json"
LOCK = "forwards.lock"
GRACE = 30.0
ALL = "0.0.0.0"


def _hostfwd(m: Machine, proto: str, ip: str, host_port: int, guest_port: int,
             add: bool) -> None:
    from launcher.vm.driver import for_machine

    for_machine(m).hostfwd(m, proto, ip, host_port, guest_port, add=add)


def _load(m: Machine) -> dict[str, Any]:
    from launcher import fastjson

    try:
        with open(os.path.join(m.run_dir, RECORD), "rb") as f:
            doc = fastjson.loads(f.read())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _save(m: Machine, rec: dict[str, Any]) -> None:
    from launcher import fastjson

    path = os.path.join(m.run_dir, RECORD)
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(fastjson.dumps(rec))
    os.replace(tmp, path)


def _lock(m: Machine) -> Any:
    from launcher.locks import FileLock

    return FileLock(os.path.join(m.run_dir, LOCK))


def add(m: Machine, proto: str, ip: str, port: int, hostfwd: HostFwd | None = None) -> None:
    """Forward host ``ip:port`` to the guest's ``port`` now (replacing any forward
    of that port), ahead of the container that will publish it."""
    hostfwd = hostfwd or _hostfwd
    with _lock(m):
        rec = _load(m)
        old = rec.get(f"{proto}/{port}")
        if old is not None:
            _quiet_remove(m, proto, str(old.get("ip", ALL)), port, hostfwd)
        else:
            _quiet_remove(m, proto, ip, port, hostfwd)  # one left by a killed CLI
        hostfwd(m, proto, ip, port, port, True)
        rec[f"{proto}/{port}"] = {"ip": ip, "added": time.time(), "seen": False}
        _save(m, rec)


def _quiet_remove(m: Machine, proto: str, ip: str, port: int, hostfwd: HostFwd) -> None:
    try:
        hostfwd(m, proto, ip, port, port, False)
    except Exception:
        pass  # none there


def reconcile(m: Machine, published: Iterable[tuple[str, int]],
              hostfwd: HostFwd | None = None, now: float | None = None) -> list[str]:
    """Make the forwards match ``published`` ((proto, port) pairs the guest's
    running containers publish); a warning for each port that cannot be forwarded."""
    hostfwd = hostfwd or _hostfwd
    now = time.time() if now is None else now
    want = {f"{proto}/{port}" for proto, port in published}
    warnings: list[str] = []
    with _lock(m):
        rec = _load(m)
        for key in sorted(set(rec) - want):
            entry = rec[key]
            if not entry.get("seen") and now - float(entry.get("added", 0)) < GRACE:
                continue  # -p added it for a container that is still starting
            proto, _, port = key.partition("/")
            _quiet_remove(m, proto, str(entry.get("ip", ALL)), int(port), hostfwd)
            del rec[key]
        for key in sorted(want):
            if key in rec:
                rec[key]["seen"] = True
                continue
            proto, _, port = key.partition("/")
            try:
                hostfwd(m, proto, ALL, int(port), int(port), True)
            except Exception as exc:
                warnings.append(f"port {key} is not forwarded from the host: {exc}")
                continue
            rec[key] = {"ip": ALL, "added": now, "seen": True}
        _save(m, rec)
    return warnings


def settle(m: Machine, keys: Iterable[tuple[str, int]]) -> None:
    """The runs that wanted these forwards are over (a foreground ``run -p``
    ended, a ``run -d -p`` failed): no grace for them at the next reconcile."""
    with _lock(m):
        rec = _load(m)
        for proto, port in keys:
            entry = rec.get(f"{proto}/{port}")
            if entry is not None:
                entry["seen"] = True
        _save(m, rec)


def has_forwards(m: Machine) -> bool:
    return bool(_load(m))
