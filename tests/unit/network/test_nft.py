"""The nft runner, with stand-in programs for nft (no root, no nftables needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from launcher.errors import UnsupportedError
from launcher.network.nft import NftBinary, NftError


def test_nft_binary_missing_means_unsupported() -> None:
    with pytest.raises(UnsupportedError) as info:
        NftBinary(["/nonexistent/nft"])(["-f", "-"], "")
    assert str(info.value) == "networking needs nftables (apt install nftables)"


def test_nft_binary_passes_stdin_and_reads_big_output() -> None:
    echo = NftBinary([sys.executable, "-c",
                      "import sys; sys.stdout.write(sys.stdin.read() * 2)"])
    script = "add rule inet launcher output tcp dport 1 drop\n" * 4000  # > a pipe buffer
    assert echo(["-f", "-"], script) == script * 2


def test_nft_binary_reports_the_first_stderr_line_and_offending_command() -> None:
    fail = NftBinary([sys.executable, "-c",
                      "import sys; sys.stdin.read(); sys.stderr.write("
                      "'/dev/stdin:2:1-4: Error: syntax error\\n\\nnope x\\n^^^^\\n'); "
                      "sys.exit(1)"])
    with pytest.raises(NftError) as info:
        fail(["-f", "-"], "add table inet launcher\nnope x\n")
    assert str(info.value) == "nft: /dev/stdin:2:1-4: Error: syntax error [nope x]"
    assert "^^^^" in info.value.stderr


def test_nft_binary_without_stderr_reports_the_exit_status() -> None:
    fail = NftBinary([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(NftError, match="nft: exit status 3"):
        fail(["-f", "-"], "")


def test_nft_binary_is_found_outside_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under sudo/cron PATH often lacks /usr/sbin; the runner still finds nft."""
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("launcher.network.nft._SEARCH_PATH", (str(Path(sys.executable).parent),))
    echo = NftBinary([Path(sys.executable).name, "-c", "print('found')"])
    assert echo([], "") == "found\n"
