"""An aarch64 guest on any host: the image built by provision/ for the other
architecture (its own package lists from the host's apt sources), booted under
TCG with the `virt` machine, a container run in it. One boot for the module."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.vm.conftest import Vm

pytestmark = [pytest.mark.vm, pytest.mark.slow]

NAME = "lt-arm"


@pytest.fixture(scope="module")
def avm() -> Iterator[Vm]:
    if shutil.which("qemu-system-aarch64") is None:
        pytest.skip("needs qemu-system-aarch64 (Debian's qemu-system-arm)")
    base = Path(tempfile.mkdtemp(prefix="lt-arm-"))
    share = base / "share"
    share.mkdir()
    v = Vm(base / "root", share)
    v.env["LAUNCHER_MACHINE"] = NAME
    try:
        res = v.cli("machine", "init", "--arch", "aarch64", "--memory", "1g", "-v", str(share),
                    NAME, timeout=900)
        assert res.returncode == 0, res.stderr
        res = v.cli("machine", "start", NAME)
        assert res.returncode == 0, res.stderr
        yield v
    finally:
        v.cli("machine", "rm", "-f", NAME, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def test_an_aarch64_guest_runs_containers(avm: Vm) -> None:
    res = avm.cli("machine", "inspect", NAME)
    assert json.loads(res.stdout)[0]["Arch"] == "aarch64", res.stdout
    (avm.share / "f").write_text("from an x86 host, maybe\n")
    res = avm.vm("run", "--rm", "-v", f"{avm.share}:/s", "busybox", "sh", "-c",
                 "uname -m; cat /s/f")
    assert (res.returncode, res.stdout) == (0, "aarch64\nfrom an x86 host, maybe\n"), res.stderr
