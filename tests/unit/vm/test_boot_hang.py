"""A boot that hangs names the guest's console log; ``--debug`` shows its end."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from launcher import log
from launcher.errors import RuntimeFailure
from launcher.vm import sshconn


@pytest.fixture
def console(tmp_path: Path) -> Path:
    path = tmp_path / "console.log"
    path.write_text("".join(f"boot line {i}\n" for i in range(100))
                    + "Kernel panic - not syncing: VFS: Unable to mount root fs\n")
    return path


def test_a_hang_names_the_console_log(console: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log, "level", lambda: log.WARNING)
    with pytest.raises(RuntimeFailure, match=r"^sshd did not start in the guest in time \(see "
                                             rf"the console log {console}; --debug"):
        sshconn.wait_banner(1, time.monotonic() - 1, None, str(console))
    assert "Kernel panic" not in capsys.readouterr().err


def test_debug_shows_the_end_of_the_console(console: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log, "level", lambda: log.DEBUG)
    with pytest.raises(RuntimeFailure, match="the machine stopped while booting"):
        sshconn.wait_banner(1, time.monotonic() + 60, lambda: False, str(console))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == sshconn.CONSOLE_TAIL
    assert err[-1].endswith("console: Kernel panic - not syncing: VFS: Unable to mount root fs")
