from __future__ import annotations

import getpass

import pytest

from launcher.errors import UsageError
from launcher.paths import Paths
from launcher.vm import target


@pytest.mark.parametrize(("url", "want"), [
    ("ssh://root@build.example:2222", ("root", "build.example", 2222)),
    ("ssh://build.example", (getpass.getuser(), "build.example", 22)),
    ("ssh://me@[::1]:2200/", ("me", "::1", 2200)),
    ("ssh://me@[fe80::1]", ("me", "fe80::1", 22)),
])
def test_parse_url(url: str, want: tuple[str, str, int]) -> None:
    assert target.parse_url(url) == want


@pytest.mark.parametrize("url", ["tcp://h:2375", "ssh://", "ssh://h:0", "ssh://h:99999",
                                 "ssh://h:port", "ssh://u@h/x"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(UsageError):
        target.parse_url(url)


def test_host_targets_get_their_own_agent_directory(paths: Paths) -> None:
    t = target.for_host(paths, "ssh://ci@10.0.0.5:2222")
    assert t.run_dir.endswith("/hosts/ci_10.0.0.5_2222") and t.machine is None
    assert t.command == "launcher-remote"
    assert t.agent_args[-2:] == ["host", "ssh://ci@10.0.0.5:2222"]
