"""``launcher cp``'s arguments, shared by the native copy (launcher.copyops) and
the VM backend's translation (launcher.vm.hostcopy); portable (no Linux-only
imports), so macOS and Windows hosts can read them too."""

from __future__ import annotations


def split_arg(arg: str) -> tuple[str, str]:
    """``CONTAINER:PATH`` → (container, path); a local path → ("", path). A local
    path with a ``:`` must start with ``/`` or ``.`` (``./a:b``), as in Docker."""
    if arg.startswith("/"):
        return "", arg
    ref, sep, path = arg.partition(":")
    if not sep or ref.startswith("."):
        return "", arg
    return ref, path
