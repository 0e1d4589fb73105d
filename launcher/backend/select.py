"""The one place that decides which backend runs containers on this host."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.base import Backend
    from launcher.paths import Paths


def select_backend(paths: Paths, os_name: str | None = None) -> Backend:
    """Linux → the native backend; elsewhere the VM backend (not available yet)."""
    from launcher import host

    name = os_name or host.os_name()
    if name == "linux":
        from launcher.backend.linux.backend import NativeBackend

        return NativeBackend(paths)
    raise _unsupported(name)


def require_native(os_name: str | None = None) -> None:
    """What ``select_backend`` checks, without building a backend: for the verbs
    that act on existing containers (stop, rm, exec…) and must start fast."""
    from launcher import host

    name = os_name or host.os_name()
    if name != "linux":
        raise _unsupported(name)


def _unsupported(name: str) -> Exception:
    from launcher.errors import UnsupportedError

    return UnsupportedError(
        f"launcher cannot run containers on {name} yet: it needs a Linux kernel, and the "
        "Linux VM backend for macOS and Windows is not part of this version"
    )
