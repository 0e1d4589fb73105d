"""What the global options leave for the typer commands (``ctx.obj``)."""

from __future__ import annotations

from launcher.paths import Paths


class CliState:
    __slots__ = ("backend", "debug", "root")

    def __init__(self, root: str | None = None, debug: bool = False,
                 backend: str | None = None) -> None:
        self.root = root  # --root / LAUNCHER_ROOT; None: the default for this user
        self.debug = debug
        self.backend = backend  # --backend / LAUNCHER_BACKEND; None: by platform

    def paths(self) -> Paths:
        return Paths.from_root(self.root)


def state_of(obj: object) -> CliState:
    """``ctx.obj`` as set by the global callback (a fresh default when a command runs alone)."""
    return obj if isinstance(obj, CliState) else CliState()
