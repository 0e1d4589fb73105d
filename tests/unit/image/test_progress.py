from __future__ import annotations

import io

import pytest

from launcher.image import progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_line_reporter_prints_docker_like_lines() -> None:
    out = io.StringIO()
    r = progress.LineReporter(out)
    digest = "sha256:" + "ab" * 32
    r.status("v1: Pulling from app")
    r.start(digest, 100)
    r.advance(digest, 50)  # byte counts are not printed
    r.layer(digest, "Pull complete")
    r.warn("slow")
    r.close()
    assert out.getvalue().splitlines() == [
        "v1: Pulling from app", "abababababab: Pulling fs layer",
        "abababababab: Pull complete", "WARNING: slow"]


def test_for_terminal_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(progress.for_terminal(True), progress.NullReporter)
    assert isinstance(progress.for_terminal(False, io.StringIO()), progress.LineReporter)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert isinstance(progress.for_terminal(False), progress.LineReporter)


def test_rich_reporter_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = Tty()
    monkeypatch.setattr("sys.stderr", tty)
    r = progress.for_terminal(False)
    assert isinstance(r, progress.RichReporter)
    digest = "sha256:" + "cd" * 32
    r.status("Pulling")
    r.start(digest, 10)
    r.advance(digest, 10)
    r.layer(digest, "Pull complete")
    r.layer("sha256:" + "ef" * 32, "Already exists")
    r.close()
    assert "cdcdcdcdcdcd: Pull complete" in tty.getvalue()
