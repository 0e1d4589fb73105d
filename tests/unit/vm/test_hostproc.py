"""launcher.vm.hostproc: liveness and termination without os.kill on Windows."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from launcher.vm import hostproc


class FakeKernel32:
    """OpenProcess/GetExitCodeProcess/TerminateProcess/CloseHandle over a table."""

    def __init__(self, running: dict[int, bool]) -> None:
        self.running, self.closed = running, 0
        self.terminated: list[int] = []

    def OpenProcess(self, access: int, inherit: bool, pid: int) -> int:
        return pid if pid in self.running else 0

    def GetExitCodeProcess(self, handle: int, code: Any) -> int:
        code._obj.value = 259 if self.running[handle] else 0
        return 1

    def TerminateProcess(self, handle: int, exit_code: int) -> int:
        self.terminated.append(handle)
        self.running[handle] = False
        return 1

    def CloseHandle(self, handle: int) -> int:
        self.closed += 1
        return 1


def test_windows_liveness_and_termination_go_through_kernel32() -> None:
    k32 = FakeKernel32({10: True, 11: False})
    assert hostproc.exists(10, "win32", k32) and not hostproc.exists(11, "win32", k32)
    assert not hostproc.exists(12, "win32", k32)  # no such process
    assert hostproc.terminate(10, False, "win32", k32) and k32.terminated == [10]
    assert not hostproc.exists(10, "win32", k32)
    assert not hostproc.terminate(12, True, "win32", k32)
    assert k32.closed == 4  # every handle opened (4 of 6 calls found one) is closed


def test_posix_liveness_and_termination() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert hostproc.exists(child.pid, "linux")
        assert hostproc.terminate(child.pid, False, "linux")
        child.wait(timeout=30)
        assert not hostproc.exists(child.pid, "linux")
        assert not hostproc.terminate(child.pid, True, "linux")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_detaching_flags() -> None:
    assert hostproc.spawn_flags("linux") == {"start_new_session": True}
    flags = hostproc.spawn_flags("win32")["creationflags"]
    assert flags & 0x8 and flags & 0x200  # DETACHED_PROCESS, CREATE_NEW_PROCESS_GROUP
