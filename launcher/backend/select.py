"""The one place that decides which backend runs containers on this host."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.base import Backend
    from launcher.paths import Paths


def select_backend(paths: Paths, os_name: str | None = None) -> Backend:
    """Linux → the native backend; elsewhere the VM backend (not available yet)."""
    from launcher import host
    from launcher.errors import UnsupportedError

    name = os_name or host.os_name()
    if name == "linux":
        from launcher.backend.linux.backend import NativeBackend

        return NativeBackend(paths)
    raise UnsupportedError(
        f"launcher cannot run containers on {name} yet: it needs a Linux kernel, and the "
        "Linux VM backend for macOS and Windows is not part of this version"
    )
