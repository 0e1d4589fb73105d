"""pytest fixtures for tests that need containers — testcontainers without Docker.

Installed with launcher (entry point ``pytest11``), so in any project:

    def test_db(container):
        pg = container("postgres:16", ports={5432: None}, wait_for_log="ready to accept")
        connect("127.0.0.1", pg.host_port(5432))

* ``launcher_client`` (session): a ``launcher.Client`` on the backend chosen
  as the CLI chooses it, or by ``--launcher-backend``/``--launcher-host``/
  ``--launcher-root`` (ini: ``launcher_backend``, ``launcher_host``,
  ``launcher_root``). At the end of the session it removes every container
  it started that is still there.
* ``container`` (per test): a factory, ``container(image, command=None, *,
  wait_for_log=None, wait_timeout=60, **run keywords)`` → a running
  ``Container``; every container it started is removed after the test,
  whatever the outcome. ``wait_for_log`` (a string, or a compiled regex)
  waits until the container's output has it; if the container exits first or
  the time runs out, the test errors with the output so far.
"""

from __future__ import annotations

import time

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from re import Pattern
    from typing import Any

    from launcher.api import Client, Container

_OPTIONS = (("backend", "native or vm (default: as the launcher CLI decides)"),
            ("host", "ssh://user@host to run the containers on"),
            ("root", "a private launcher root directory (storage, state)"))
POLL = 0.1


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("launcher", "launcher containers (the container fixture)")
    for name, text in _OPTIONS:
        group.addoption(f"--launcher-{name}", dest=f"launcher_{name}", default=None, help=text)
        parser.addini(f"launcher_{name}", text, default=None)


def _setting(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(f"launcher_{name}") or config.getini(f"launcher_{name}")
    return str(value) if value else None


@pytest.fixture(scope="session")
def launcher_client(pytestconfig: pytest.Config) -> Iterator[Client]:
    """A launcher Client for the session; removes what it started at the end."""
    from launcher.api import Client

    client = Client(backend=_setting(pytestconfig, "backend"),
                    host=_setting(pytestconfig, "host"), root=_setting(pytestconfig, "root"))
    with client:
        yield client


class ContainerFactory:
    """The ``container`` fixture's value: call it to start a container."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.started: list[Container] = []

    def __call__(self, image: str, command: str | Sequence[str] | None = None, *,
                 wait_for_log: str | Pattern[str] | None = None, wait_timeout: float = 60.0,
                 **run: Any) -> Container:
        run.pop("detach", None)
        c = self.client.containers.run(image, command, detach=True, **run)
        self.started.append(c)
        if wait_for_log is not None:
            wait_for_output(c, wait_for_log, wait_timeout)
        return c.reload()

    def remove_all(self) -> list[str]:
        """Remove every container started here; the problems, one line each."""
        from launcher.errors import NotFoundError

        problems: list[str] = []
        while self.started:
            c = self.started.pop()
            try:
                c.remove(force=True)
            except NotFoundError:
                pass
            except Exception as exc:
                problems.append(f"{c.short_id}: {exc}")
            if c.id in self.client.started:
                self.client.started.remove(c.id)
        return problems


def wait_for_output(c: Container, wanted: str | Pattern[str], timeout: float) -> None:
    """Until ``wanted`` is in the container's output (stdout or stderr)."""
    found: Callable[[str], bool] = (
        (lambda text: wanted in text) if isinstance(wanted, str)
        else (lambda text: wanted.search(text) is not None))
    deadline = time.monotonic() + timeout
    while True:
        text = c.logs().decode(errors="replace")
        if found(text):
            return
        state = c.reload().status
        if state not in ("running", "created", "restarting"):
            text = c.logs().decode(errors="replace")  # what it wrote just before exiting
            if found(text):
                return
            raise ContainerStartError(c, wanted, f"it exited ({state}, code {c.exit_code})",
                                      text)
        if time.monotonic() >= deadline:
            raise ContainerStartError(c, wanted, f"not seen after {timeout:g} s", text)
        time.sleep(POLL)


class ContainerStartError(Exception):
    """A container fixture's ``wait_for_log`` was not met."""

    def __init__(self, c: Container, wanted: object, why: str, output: str) -> None:
        shown = wanted.pattern if hasattr(wanted, "pattern") else wanted
        tail = "\n".join(output.splitlines()[-20:])
        super().__init__(f"container {c.short_id} ({c.image}): waiting for {shown!r} in its "
                         f"output: {why}\n--- its output (last 20 lines) ---\n{tail}")


@pytest.fixture
def container(launcher_client: Client) -> Iterator[ContainerFactory]:
    """A factory of containers for this test; all of them removed after it."""
    factory = ContainerFactory(launcher_client)
    try:
        yield factory
    finally:
        problems = factory.remove_all()
        if problems:
            pytest.fail("launcher: could not remove containers: " + "; ".join(problems),
                        pytrace=False)
