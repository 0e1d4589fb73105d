from __future__ import annotations

from pathlib import Path

import pytest

from launcher.errors import UsageError
from launcher.spec import caps


def test_numbers_follow_the_kernel_header() -> None:
    assert caps.cap_number("CAP_CHOWN") == 0
    assert caps.cap_number("CAP_KILL") == 5
    assert caps.cap_number("CAP_NET_BIND_SERVICE") == 10
    assert caps.cap_number("CAP_SYS_ADMIN") == 21
    assert caps.cap_number("CAP_SETFCAP") == 31
    assert caps.cap_number("CAP_CHECKPOINT_RESTORE") == 40
    assert len(caps.ALL) == 41
    assert all(caps.cap_name(i) == name for i, name in enumerate(caps.ALL))


def test_cap_name_rejects_unknown_numbers() -> None:
    with pytest.raises(ValueError):
        caps.cap_name(41)
    with pytest.raises(ValueError):
        caps.cap_name(-1)


def test_podman_defaults() -> None:
    names = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
             "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT")  # fmt: skip
    assert sorted(caps.PODMAN_DEFAULT_CAPS) == sorted("CAP_" + n for n in names)
    assert set(caps.PODMAN_DEFAULT_CAPS) <= set(caps.ALL)


@pytest.mark.parametrize("name", ["net_admin", "NET_ADMIN", "cap_net_admin", " CAP_NET_ADMIN "])
def test_normalize(name: str) -> None:
    assert caps.normalize_cap(name) == "CAP_NET_ADMIN"


@pytest.mark.parametrize("name", ["", "cap_", "NET_ADMINX", "all", "CAP_LAST_CAP"])
def test_normalize_rejects_unknown(name: str) -> None:
    with pytest.raises(UsageError, match="unknown capability"):
        caps.normalize_cap(name)


def test_expand_caps() -> None:
    assert caps.expand_caps(["kill", "CAP_KILL", "chown"]) == ["CAP_KILL", "CAP_CHOWN"]
    assert caps.expand_caps(["ALL"]) == list(caps.ALL)
    with pytest.raises(UsageError):
        caps.expand_caps(["nope"])


def test_last_cap_reads_the_kernel(tmp_path: Path) -> None:
    f = tmp_path / "cap_last_cap"
    f.write_text("37\n")
    assert caps.last_cap(str(f)) == 37
    f.write_text("garbage")
    assert caps.last_cap(str(f)) == 40
    assert caps.last_cap(str(tmp_path / "missing")) == 40
    assert caps.last_cap() >= 30  # the running kernel
