"""Run a test body in a network namespace of its own, and make "container" ones.

``in_netns(body, *args)`` runs ``body(*args)`` (a module-level function of a
test module) in a fresh interpreter under ``unshare --net``: every interface,
address, route and sysctl it makes lives in that namespace and goes when the
process exits — the host's interfaces are never touched. A failed assertion
inside fails the test with the body's traceback.

Inside a body, ``new_netns()`` makes one more namespace (standing in for a
container's) and returns an fd to it; ``inside(fd)`` opens an IPRoute there.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute  # type: ignore[import-untyped]

REPO = str(Path(__file__).resolve().parents[3])
CLONE_NEWNET = 0x40000000
LOADER = ("import importlib.util, sys\n"
           "spec = importlib.util.spec_from_file_location('_netns_body', sys.argv[1])\n"
           "mod = importlib.util.module_from_spec(spec)\n"
           "spec.loader.exec_module(mod)\n"
           "getattr(mod, sys.argv[2])(*sys.argv[3:])\n")


def in_netns(body: Callable[..., None], *args: str, timeout: float = 120) -> str:
    """Run ``body(*args)`` in a new network namespace; its stdout."""
    module = sys.modules[body.__module__].__file__
    assert module is not None
    env = {**os.environ, "PYTHONPATH": REPO, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("LAUNCHER_FAULT", None)
    proc = subprocess.run(["unshare", "--net", "--", sys.executable, "-c", LOADER, module,
                           body.__name__, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=REPO)
    if proc.returncode != 0:
        pytest.fail(f"{body.__name__} failed in its network namespace "
                    f"(exit {proc.returncode}):\n{proc.stderr}", pytrace=False)
    return proc.stdout


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def new_netns() -> int:
    """A new network namespace (kept alive by the returned fd); this process stays put."""
    libc = _libc()
    home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        assert libc.unshare(CLONE_NEWNET) == 0, os.strerror(ctypes.get_errno())
        fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        assert libc.setns(home, CLONE_NEWNET) == 0, os.strerror(ctypes.get_errno())
    finally:
        os.close(home)
    return fd


class entered:
    """``with entered(fd):`` this thread in namespace ``fd``, back home after."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.home = -1

    def __enter__(self) -> None:
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        assert _libc().setns(self.fd, CLONE_NEWNET) == 0

    def __exit__(self, *exc: object) -> None:
        assert _libc().setns(self.home, CLONE_NEWNET) == 0
        os.close(self.home)


def inside(fd: int) -> Any:
    """An IPRoute whose socket lives in namespace ``fd``."""
    with entered(fd):
        return IPRoute()


def here() -> Any:
    return IPRoute()


def link_names(ipr: Any) -> list[str]:
    return sorted(str(m.get("ifname")) for m in ipr.get_links())


def addresses(ipr: Any, ifname: str) -> list[str]:
    index = ipr.link("get", ifname=ifname)[0]["index"]
    return sorted(f"{a.get('address')}/{a.get('prefixlen')}"
                  for a in ipr.addr("dump", family=2, index=index))


def default_routes(ipr: Any) -> list[str]:
    return [str(r.get("gateway")) for r in ipr.route("dump", family=2)
            if r.get("dst_len") == 0 and r.get("table") == 254]


def read_in(fd: int, path: str) -> str:
    """A file (a sysctl) as seen from namespace ``fd``."""
    with entered(fd), open(path) as f:
        return f.read().strip()
