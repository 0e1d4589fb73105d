"""The machine's launcher follows the host's: digest, the package's tar, the
guest's atomic swap, and the agent's check-then-update exchange."""

from __future__ import annotations

import io
import os
import sys
import tarfile
from pathlib import Path

import pytest

from launcher import fastjson
from launcher.errors import RuntimeFailure
from launcher.vm import selfsync


def _package(root: Path, version: str) -> Path:
    pkg = root / "launcher"
    (pkg / "cli" / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"__version__ = {version!r}\n")
    (pkg / "cli" / "main.py").write_text("def main(): pass\n")
    (pkg / "cli" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"junk")
    return pkg


def test_the_digest_covers_the_sources_not_the_caches(tmp_path: Path) -> None:
    a, b = _package(tmp_path / "a", "1"), _package(tmp_path / "b", "1")
    assert selfsync.files(a) == ["__init__.py", "cli/main.py"]
    (b / "cli" / "__pycache__" / "other.pyc").write_bytes(b"more junk")
    assert selfsync.digest(a) == selfsync.digest(b)
    (b / "cli" / "main.py").write_text("def main(): return 1\n")
    assert selfsync.digest(a) != selfsync.digest(b)


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the guest side: renameat2(RENAME_EXCHANGE) is Linux's")
def test_install_swaps_in_the_new_package(tmp_path: Path) -> None:
    host = _package(tmp_path / "host", "2")
    site = tmp_path / "site"
    guest = _package(site, "1")
    digest_file = tmp_path / "launcher.digest"
    selfsync.install(io.BytesIO(selfsync.pack(host)), selfsync.digest(host), str(guest),
                     str(digest_file))
    assert (guest / "__init__.py").read_text() == "__version__ = '2'\n"
    assert digest_file.read_text().strip() == selfsync.digest(host)
    assert sorted(os.listdir(site)) == ["launcher"]  # the old one and the temp dir went


def test_a_wrong_digest_or_entry_changes_nothing(tmp_path: Path) -> None:
    host = _package(tmp_path / "host", "2")
    site = tmp_path / "site"
    guest = _package(site, "1")
    with pytest.raises(RuntimeFailure, match="digest"):
        selfsync.install(io.BytesIO(selfsync.pack(host)), "0" * 64, str(guest),
                         str(tmp_path / "d"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("launcher/../../evil.py")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(RuntimeFailure, match="unexpected entry"):
        selfsync.install(io.BytesIO(buf.getvalue()), "0" * 64, str(guest), str(tmp_path / "d"))
    assert (guest / "__init__.py").read_text() == "__version__ = '1'\n"
    assert sorted(os.listdir(site)) == ["launcher"] and not (tmp_path / "d").exists()


class _Chan:
    def __init__(self, guest: _Guest) -> None:
        self.guest, self.sent, self.out, self.command = guest, b"", b"", ""

    def set_combine_stderr(self, on: bool) -> None:
        pass

    def exec_command(self, command: str) -> None:
        self.command = command

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def shutdown_write(self) -> None:
        self.code, self.out = self.guest.answer(self.command, self.sent)

    def recv(self, n: int) -> bytes:
        out, self.out = self.out[:n], self.out[n:]
        return out

    def recv_exit_status(self) -> int:
        return self.code

    def close(self) -> None:
        pass


class _Guest:
    def __init__(self, digest: str) -> None:
        self.digest, self.updates = digest, 0

    def open_session(self) -> _Chan:
        return _Chan(self)

    def answer(self, command: str, stdin: bytes) -> tuple[int, bytes]:
        if command == selfsync.READ_DIGEST:
            return 0, self.digest.encode() + b"\n"
        line, _, payload = stdin.partition(b"\n")
        req = fastjson.loads(line)
        assert command == "guest" and req["op"] == "update"
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
            assert "launcher/vm/selfsync.py" in tar.getnames()
        self.digest, self.updates = req["digest"], self.updates + 1
        return 0, b""


def test_the_agent_updates_only_a_different_guest() -> None:
    guest = _Guest("stale")
    assert selfsync.ensure(guest, "guest") is True  # type: ignore[arg-type]
    assert guest.digest == selfsync.digest(selfsync.package_dir()) and guest.updates == 1
    assert selfsync.ensure(guest, "guest") is False  # type: ignore[arg-type]
    assert guest.updates == 1
