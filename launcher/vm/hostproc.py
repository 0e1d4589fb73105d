"""Host processes the VM backend starts and watches (QEMU), on POSIX and Windows.

``os.kill(pid, 0)`` asks a POSIX kernel whether a process exists; on Windows
``os.kill`` with any signal but the console events *terminates* the process,
so there liveness and termination go through ``OpenProcess``,
``GetExitCodeProcess`` and ``TerminateProcess`` (ctypes, kernel32), and a
detached QEMU is started with ``DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP``
(QEMU has no ``-daemonize`` there). Each function takes the host's
``sys.platform`` so both paths are unit-tested anywhere.
"""

from __future__ import annotations

import os
import sys

from launcher.vm.hostpath import is_windows

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
_PROCESS_TERMINATE = 0x0001
_STILL_ACTIVE = 259
_DETACHED_PROCESS = 0x00000008
_CREATE_NEW_PROCESS_GROUP = 0x00000200
_CREATE_NO_WINDOW = 0x08000000


def exists(pid: int, host: str | None = None, kernel32: Any = None) -> bool:
    """Whether process ``pid`` is running (a zombie counts on POSIX)."""
    if is_windows(host):
        k32 = kernel32 or _kernel32()
        handle = k32.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
        if not handle:
            return False
        try:
            import ctypes

            code = ctypes.c_ulong(0)
            if not k32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return False
            return code.value == _STILL_ACTIVE
        finally:
            k32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True


def terminate(pid: int, force: bool, host: str | None = None, kernel32: Any = None) -> bool:
    """SIGTERM (or SIGKILL with ``force``); Windows: TerminateProcess either way.
    False when the process was already gone."""
    if is_windows(host):
        k32 = kernel32 or _kernel32()
        handle = k32.OpenProcess(_PROCESS_TERMINATE, False, pid)
        if not handle:
            return False
        try:
            return bool(k32.TerminateProcess(handle, 1))
        finally:
            k32.CloseHandle(handle)
    import signal

    try:
        os.kill(pid, signal.SIGKILL if force else signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def spawn_flags(host: str | None = None) -> dict[str, Any]:
    """``subprocess.Popen`` keywords that detach a child from this console (Windows)
    or from this session (POSIX), so Ctrl-C here does not reach QEMU."""
    if is_windows(host):
        return {"creationflags": _DETACHED_PROCESS | _CREATE_NEW_PROCESS_GROUP
                | _CREATE_NO_WINDOW}
    return {"start_new_session": True}


def _kernel32() -> Any:
    import ctypes

    if sys.platform != "win32":
        raise OSError("kernel32 exists on Windows only")
    return ctypes.WinDLL("kernel32", use_last_error=True)
