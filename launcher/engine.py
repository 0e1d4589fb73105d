"""The core behind ``launcher``'s commands: image → spec → backend, and back.

The CLI parses and prints; everything a command *does* is here, so the
Python API and the VM path can reach the same logic.  ``run_container`` is
the hot path: it imports nothing heavy (no typer, rich, json, re, dataclasses)
and records per-phase timings that ``--debug`` prints.
"""

from __future__ import annotations

import os

from launcher.errors import NotFoundError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.paths import Paths
    from launcher.spec.request import RunRequest

DEFAULT_IMAGE = "busybox"
_T0 = [0.0]
PHASES: list[tuple[str, float]] = []


def _mark(phase: str) -> None:
    import time

    now = time.perf_counter()
    if not _T0[0]:
        _T0[0] = now
    PHASES.append((phase, now - _T0[0]))


def _backend(paths: Paths) -> Any:
    from launcher.backend.select import select_backend

    return select_backend(paths)


def run_container(paths: Paths, req: RunRequest) -> int:
    """``launcher run``: run the container in the foreground; its exit code."""
    _mark("start")
    if req.network is None:  # defaults < launcher.toml < environment < --network
        from launcher.settings import default_network

        req.network = default_network(paths)
    return int(_backend(paths).run(req, _mark))


def import_image(paths: Paths, source: str, ref: str) -> str:
    """``launcher import ROOTFS.tar REF``: the new image's id."""
    from launcher.image.importer import import_rootfs
    from launcher.image.store import ImageStore

    _backend(paths)  # the store lives with the backend: fail clearly where there is none
    store = ImageStore(paths)
    if source != "-" and not os.path.exists(source):
        raise NotFoundError(f"{source}: no such file")
    return import_rootfs(store, source, ref).id


def system_info(paths: Paths) -> dict[str, Any]:
    from launcher import __version__, host, settings

    info: dict[str, Any] = {"version": __version__, "host": host.detect().as_dict(),
                            "storage": paths.storage, "state": paths.state,
                            "config": paths.settings_file}
    try:
        info["settings"] = settings.effective(paths)
    except Exception as exc:  # a broken launcher.toml: say so, report the rest
        info["settings_error"] = str(exc)
    try:
        info["backend"] = _backend(paths).name
    except Exception as exc:  # the report must work where no backend does
        info["backend"] = None
        info["backend_error"] = str(exc)
    return info
