"""A fake ``launcher.engine`` for the CLI tests: records calls, returns what it is told."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

import launcher
from launcher.paths import Paths
from launcher.spec.request import RunRequest


class FakeEngine(ModuleType):
    """Stands in for ``launcher.engine`` (the three calls the CLI makes)."""

    def __init__(self) -> None:
        super().__init__("launcher.engine")
        self.runs: list[tuple[Paths, RunRequest]] = []
        self.imports: list[tuple[Paths, str, str]] = []
        self.exit_code = 0
        self.error: BaseException | None = None
        self.info: dict[str, object] = {"backend": "fake", "host": {"os": "linux"}}

    def run_container(self, paths: Paths, req: RunRequest) -> int:
        self.runs.append((paths, req))
        if self.error is not None:
            raise self.error
        return self.exit_code

    def import_image(self, paths: Paths, source: str, ref: str) -> str:
        self.imports.append((paths, source, ref))
        if self.error is not None:
            raise self.error
        return "sha256:" + "0" * 64

    def system_info(self, paths: Paths) -> dict[str, object]:
        return {**self.info, "paths": {"storage": paths.storage, "state": paths.state}}


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEngine]:
    fake = FakeEngine()
    monkeypatch.setitem(sys.modules, "launcher.engine", fake)
    # `from launcher import engine` reads the package attribute first, if a real one exists
    monkeypatch.setattr(launcher, "engine", fake, raising=False)
    # the fake engine stands for a native backend on any host: only an explicit
    # vm backend (or a bad name, checked as usual) leaves it
    from launcher.cli import main

    real_use_vm = main._use_vm
    monkeypatch.setattr(main, "_use_vm", lambda backend: backend not in (None, "", "native")
                        and real_use_vm(backend))
    monkeypatch.delenv("LAUNCHER_ROOT", raising=False)
    monkeypatch.delenv("LAUNCHER_DEBUG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich help: no wrapping of option names
    yield fake
