"""The keeper lock: ``rm`` waits for a container's monitor to finish writing into
the bundle before removing it (else a record saved in between is left behind)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launcher.backend.linux import containers, layout
from launcher.backend.linux.containers import Container
from launcher.backend.linux.record import ContainerRecord
from launcher.paths import Paths

HOLD = """
import sys, time
from launcher.backend.linux import layout
layout.hold_keeper_lock(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _holder(bundle: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(bundle), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_wait_returns_once_the_keeper_is_gone(tmp_path: Path) -> None:
    proc = _holder(tmp_path, 0.4)
    t = time.monotonic()
    assert layout.wait_for_keeper(str(tmp_path))
    assert time.monotonic() - t > 0.2  # it did wait (a lower bound, not a timing claim)
    proc.wait()


def test_wait_gives_up_after_its_timeout(tmp_path: Path) -> None:
    proc = _holder(tmp_path, 30)
    try:
        assert not layout.wait_for_keeper(str(tmp_path), timeout=0.1)
    finally:
        proc.kill()
        proc.wait()


def test_no_keeper_or_our_own_lock_never_waits(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert layout.wait_for_keeper(str(tmp_path / "missing"), timeout=0)
    monkeypatch.setattr(layout, "_HELD", {})
    layout.hold_keeper_lock(str(tmp_path))  # a monitor removing its own --rm container
    try:
        assert layout.wait_for_keeper(str(tmp_path), timeout=0)
    finally:
        os.close(layout._HELD.pop(str(tmp_path)))


def test_rm_marks_stopped_kills_then_waits_then_removes(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    paths = Paths.from_root(str(tmp_path / "root"))
    cid = "c" * 64
    bundle = os.path.join(containers.bundles_dir(paths), cid)
    os.makedirs(bundle)
    rec = ContainerRecord(cid, bundle)
    rec.save()
    steps: list[str] = []
    from launcher.backend.linux import teardown
    from launcher.image import rootfs
    from launcher.network import container as network

    monkeypatch.setattr(teardown, "delete", lambda *a, **k: steps.append(
        "kill, stopped marker there" if os.path.exists(os.path.join(bundle, "stopped-by-user"))
        else "kill"))
    monkeypatch.setattr(network, "teardown", lambda *a, **k: None)
    monkeypatch.setattr(rootfs, "release_rootfs", lambda *a, **k: None)
    real_remove = layout.remove_tree

    def wait(bundle: str, timeout: float = 10.0) -> bool:
        steps.append("wait")
        return True

    def remove(bundle: str) -> None:
        steps.append("remove")
        real_remove(bundle)

    monkeypatch.setattr(layout, "wait_for_keeper", wait)
    monkeypatch.setattr(layout, "remove_tree", remove)
    containers.remove(paths, Container(rec, "running", 1), force=True)
    assert steps == ["kill, stopped marker there", "wait", "remove"]
    assert not os.path.exists(bundle)
