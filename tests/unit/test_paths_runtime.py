import os
from pathlib import Path

import pytest

from launcher import paths
from launcher.errors import StateError


def test_xdg_runtime_dir_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert paths.user_runtime_dir() == str(tmp_path)


def test_private_tmp_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    uid = 4242424
    monkeypatch.setattr(paths.os, "getuid", lambda: uid)
    target = f"/tmp/launcher-run-{uid}"
    try:
        if os.getuid() == 0:
            # Someone else's (here: root's) directory is refused, never reused.
            os.mkdir(target, 0o700)
            with pytest.raises(StateError, match="not a private directory of uid"):
                paths.user_runtime_dir()
            os.chown(target, uid, uid)
            assert paths.user_runtime_dir() == target
            os.chmod(target, 0o755)
            with pytest.raises(StateError, match="set XDG_RUNTIME_DIR"):
                paths.user_runtime_dir()
    finally:
        if os.path.isdir(target):
            os.rmdir(target)
