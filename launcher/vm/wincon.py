"""The Windows console, for the VM backend's client: UTF-8 output, and a raw
VT mode for ``-t`` (keys, Ctrl-C included, go to the container's terminal as
bytes, and its escape sequences are drawn).

Everything goes through kernel32's console API (``GetStdHandle``,
``Get/SetConsoleMode``, ``Get/SetConsoleOutputCP``); each function takes the
kernel32 object so that the logic is unit-tested on any host with a fake.
Every change is undone by the function it returns.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

STD_INPUT, STD_OUTPUT = -10, -11
CP_UTF8 = 65001
# input modes
ENABLE_PROCESSED_INPUT, ENABLE_LINE_INPUT, ENABLE_ECHO_INPUT = 0x0001, 0x0002, 0x0004
ENABLE_VIRTUAL_TERMINAL_INPUT = 0x0200
# output modes
ENABLE_PROCESSED_OUTPUT, ENABLE_VIRTUAL_TERMINAL_PROCESSING = 0x0001, 0x0004
DISABLE_NEWLINE_AUTO_RETURN = 0x0008


def kernel32() -> Any:
    import ctypes

    return ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]


def _mode(k32: Any, handle: int) -> int | None:
    import ctypes

    mode = ctypes.c_ulong(0)
    return mode.value if k32.GetConsoleMode(handle, ctypes.byref(mode)) else None


def utf8_output(k32: Any = None) -> Callable[[], None]:
    """Make the console show UTF-8 output (what the guest sends) while launcher
    runs, on legacy code pages too; returns the undo. No console: nothing."""
    k32 = k32 if k32 is not None else kernel32()
    before = k32.GetConsoleOutputCP()
    if not before or before == CP_UTF8:
        return lambda: None
    k32.SetConsoleOutputCP(CP_UTF8)
    return lambda: k32.SetConsoleOutputCP(before)


def raw_vt(k32: Any = None) -> Callable[[], None]:
    """Console input as raw VT bytes (no echo, no line editing, Ctrl-C as ``\\x03``)
    and output that interprets VT sequences; returns the undo."""
    k32 = k32 if k32 is not None else kernel32()
    hin, hout = k32.GetStdHandle(STD_INPUT), k32.GetStdHandle(STD_OUTPUT)
    old_in, old_out = _mode(k32, hin), _mode(k32, hout)
    if old_in is not None:
        k32.SetConsoleMode(hin, (old_in & ~(ENABLE_PROCESSED_INPUT | ENABLE_LINE_INPUT
                                            | ENABLE_ECHO_INPUT))
                           | ENABLE_VIRTUAL_TERMINAL_INPUT)
    if old_out is not None:
        k32.SetConsoleMode(hout, old_out | ENABLE_PROCESSED_OUTPUT
                           | ENABLE_VIRTUAL_TERMINAL_PROCESSING | DISABLE_NEWLINE_AUTO_RETURN)
    undo_cp = utf8_output(k32)

    def undo() -> None:
        if old_in is not None:
            k32.SetConsoleMode(hin, old_in)
        if old_out is not None:
            k32.SetConsoleMode(hout, old_out)
        undo_cp()

    return undo
