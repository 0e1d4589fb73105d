"""Fixtures for the attack suite (SECURITY.md's "bad inputs and faults", end to end).

Every test drives the real CLI against a private ``--root`` and checks three
things: the exact outcome (exit code and the one error line, or an errno seen
inside the container), that a host sentinel outside every rootfs is untouched
(``sentinel``), and that nothing was left behind (``cli``'s leak check).

* ``cli`` / ``cli_root``: as in tests/integration/cli/conftest.py (one root per
  module with ``busybox`` built, a leak check per test), except that a new
  launcher cgroup counts as ours only if it is empty and stays: other engineers
  run container suites on this host at the same time.
* ``fresh_cli``: a root of the test's own, for tests that count what a failed
  pull or load left in storage.
* ``sentinel``: a host file and directory in ``tmp_path``; checked again at teardown.
* ``attack_registry``: docker-registry on loopback for one module; tests plant
  exactly the bytes they want in its storage (registryplant.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.attacks.kit import HostFiles, Sentinel
from tests.integration.cli.conftest import (  # noqa: F401  (cli_root: a fixture, re-exported)
    DEFAULT_NETWORK_ENV,
    Cli,
    LeakCheck,
    _listdir_procs,
    cli_root,
    remove_leftovers,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tests.integration.image.registryserver import RegistryServer


class OwnLeakCheck(LeakCheck):
    """``LeakCheck``, minus the launcher cgroups of other suites running meanwhile."""

    GRACE_S = 3.0

    def problems(self) -> list[str]:
        import time

        found = super().problems()
        cgroups = [p[len("cgroup "):] for p in found if p.startswith("cgroup ")]
        # Ours are gone by now (every test removes its containers): one with
        # processes, or one that disappears within the grace, is someone else's.
        deadline = time.monotonic() + self.GRACE_S
        while cgroups and time.monotonic() < deadline:
            cgroups = [c for c in cgroups if os.path.isdir(c) and not _listdir_procs(c)]
            time.sleep(0.1)
        return [p for p in found if not p.startswith("cgroup ")] + [f"cgroup {c}" for c in cgroups]


def _leak_checked(root: Path) -> Iterator[Cli]:
    check = OwnLeakCheck(root)
    yield Cli(root)
    problems = check.problems()
    if problems:
        remove_leftovers(root)
        pytest.fail("left behind:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def cli(cli_root: Path) -> Iterator[Cli]:  # noqa: F811  (the fixture imported above)
    """The CLI on the module's root (busybox built); fails the test if it leaves anything."""
    yield from _leak_checked(cli_root)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Sentinel]:
    """A host file (and its directory) no container may change; checked at teardown too."""
    s = Sentinel(tmp_path / "host-sentinel")
    yield s
    s.check()


@pytest.fixture(scope="module")
def host_files() -> HostFiles:
    """Host files an escape would hit first (/etc/passwd, the Python and launcher
    running the tests), recorded once per module."""
    return HostFiles()


@pytest.fixture
def fresh_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """An empty root of this test's own (no busybox built); leak-checked like ``cli``."""
    if os.geteuid() != 0:
        pytest.skip("needs root on Linux")
    monkeypatch.setenv(DEFAULT_NETWORK_ENV, "none")
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    yield from _leak_checked(root)
    remove_leftovers(root)


@pytest.fixture(scope="module")
def attack_registry() -> Iterator[RegistryServer]:
    """docker-registry on 127.0.0.1 for one module (tests use repositories of their own)."""
    try:
        from tests.integration.image.registryserver import RegistryServer, registry_binary
    except ImportError as exc:  # bcrypt, which the helper imports
        pytest.skip(f"needs the python package {exc.name}")
    if registry_binary() is None:
        pytest.skip("needs docker-registry (Debian: apt install docker-registry)")
    with RegistryServer() as server:
        yield server
