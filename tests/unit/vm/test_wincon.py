"""launcher.vm.wincon against a fake kernel32: the console modes and code page
it sets for -t and for UTF-8 output, and that each undo restores them."""

from __future__ import annotations

from typing import Any

from launcher.vm import wincon


class FakeKernel32:
    def __init__(self, cp: int = 437, console: bool = True) -> None:
        self.modes = {-10: 0x01F7, -11: 0x0003} if console else {}
        self.cp = cp

    def GetStdHandle(self, which: int) -> int:
        return which

    def GetConsoleMode(self, handle: int, mode: Any) -> int:
        if handle not in self.modes:
            return 0
        mode._obj.value = self.modes[handle]
        return 1

    def SetConsoleMode(self, handle: int, mode: int) -> int:
        self.modes[handle] = mode
        return 1

    def GetConsoleOutputCP(self) -> int:
        return self.cp

    def SetConsoleOutputCP(self, cp: int) -> int:
        self.cp = cp
        return 1


def test_raw_vt_mode_and_back() -> None:
    k = FakeKernel32()
    undo = wincon.raw_vt(k)
    stdin_mode, stdout_mode = k.modes[-10], k.modes[-11]
    assert stdin_mode & wincon.ENABLE_VIRTUAL_TERMINAL_INPUT
    assert not stdin_mode & (wincon.ENABLE_PROCESSED_INPUT | wincon.ENABLE_LINE_INPUT
                             | wincon.ENABLE_ECHO_INPUT)  # Ctrl-C arrives as a byte
    assert stdout_mode & wincon.ENABLE_VIRTUAL_TERMINAL_PROCESSING
    assert k.cp == wincon.CP_UTF8
    undo()
    assert k.modes == {-10: 0x01F7, -11: 0x0003} and k.cp == 437


def test_utf8_output_only_when_needed() -> None:
    k = FakeKernel32(cp=wincon.CP_UTF8)
    wincon.utf8_output(k)()
    assert k.cp == wincon.CP_UTF8
    k = FakeKernel32(cp=1252)
    undo = wincon.utf8_output(k)
    assert k.cp == wincon.CP_UTF8
    undo()
    assert k.cp == 1252


def test_no_console_nothing_changes() -> None:
    k = FakeKernel32(cp=0, console=False)  # output redirected: no console at all
    wincon.raw_vt(k)()
    assert k.modes == {} and k.cp == 0
