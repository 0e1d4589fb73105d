"""The one place that decides which backend runs containers on this host."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.base import Backend
    from launcher.paths import Paths


def select_backend(paths: Paths, os_name: str | None = None) -> Backend:
    """The native backend, on Linux. Elsewhere the CLI forwards commands to a
    machine before any backend is needed (launcher.vm.forward), so reaching
    here off Linux (``--backend native``, a direct API call) is a clear error."""
    from launcher import host

    name = os_name or host.os_name()
    if name == "linux":
        from launcher.backend.linux.backend import NativeBackend

        return NativeBackend(paths)
    raise _unsupported(name)


def target(paths: Paths, host: object, backend: object) -> tuple[object, object]:
    """``--host`` and ``--backend`` (or their environment variables) where given,
    else launcher.toml's ("" there means unset). The CLI and the Python API
    (launcher.api) both decide here."""
    from launcher import settings

    if host is None:
        host = settings.value(paths, "host") or None
    if backend is None:
        backend = settings.value(paths, "backend") or None
    return host, backend


def use_vm(backend: object, platform: str | None = None) -> bool:
    """Whether containers run in a launcher machine: ``backend`` is ``native``,
    ``vm``, or unset (None/""): then hosts without a Linux kernel use the VM."""
    import sys

    from launcher.errors import UsageError

    linux = (platform or sys.platform).startswith("linux")
    if backend in (None, ""):
        return not linux
    if backend not in ("native", "vm"):
        raise UsageError(f"unknown backend {backend!r}: native or vm")
    if backend == "native" and not linux:
        raise UsageError("the native backend needs a Linux kernel: use --backend vm")
    return backend == "vm"


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
        f"the native backend needs a Linux kernel, and this is {name}: containers run in "
        "a launcher machine here (--backend vm, the default on this host)"
    )
