"""The pytest plugin (launcher.pytest_plugin), run by pytester in a fresh pytest.

The inner sessions override ``launcher_client`` with the recording fake of
tests/unit/api, so no backend is needed here; tests/integration/api runs the
plugin against real containers.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = '''
import pytest
from launcher.api import Client
from tests.unit.api.fakes import FakeService

FAKE = FakeService()

@pytest.fixture(scope="session")
def launcher_client():
    import os
    client = Client(root=os.path.join(os.getcwd(), "root"), backend="vm")
    client.service = FAKE
    with client:
        yield client

def pytest_sessionfinish(session):
    import json, os
    with open(os.environ["FAKE_REPORT"], "w") as f:
        json.dump({"left": list(FAKE.containers), "calls": [c[0] for c in FAKE.calls]}, f)
'''


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    import pathlib

    repo = pathlib.Path(__file__).resolve().parents[2]
    monkeypatch.syspath_prepend(str(repo))
    monkeypatch.setenv("FAKE_REPORT", str(pytester.path / "report.json"))
    pytester.makeconftest(CONFTEST)
    return pytester


def _report(p: pytest.Pytester) -> dict[str, list[str]]:
    import json

    return dict(json.loads((p.path / "report.json").read_text()))


def test_the_plugin_is_registered_by_its_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["launcher_client [[]session scope[]] -- *pytest_plugin.py:*"])
    result.stdout.fnmatch_lines(["container -- *pytest_plugin.py:*"])
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--launcher-backend*", "*--launcher-root*"])


def test_containers_are_removed_whatever_the_outcome(inner: pytest.Pytester) -> None:
    inner.makepyfile('''
        def test_passes(container):
            c = container("busybox", ["sleep", "60"], ports={80: None})
            assert c.status == "running"

        def test_fails(container):
            container("busybox")
            container("busybox", name="second")
            assert False, "the test fails"

        def test_removes_its_own(container):
            c = container("busybox")
            c.remove(force=True)
    ''')
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    report = _report(inner)
    assert report["left"] == [] and report["calls"].count("run") == 4


def test_wait_for_log(inner: pytest.Pytester) -> None:
    inner.makepyfile('''
        import re
        from conftest import FAKE

        def _say(c, text):
            FAKE.output[c.id].append(text)

        def test_seen(container, monkeypatch):
            real_run = FAKE.run
            def run(argv):
                cid = real_run(argv)
                FAKE.output[cid].append(b"database system is ready to accept connections\\n")
                return cid
            monkeypatch.setattr(FAKE, "run", run)
            c = container("postgres:16", ports={5432: None}, wait_for_log="ready to accept")
            c2 = container("postgres:16", wait_for_log=re.compile(r"ready to \\w+"))
            assert c.status == c2.status == "running"

        def test_exits_first(container, monkeypatch):
            real_run = FAKE.run
            def run(argv):
                cid = real_run(argv)
                FAKE.output[cid].append(b"FATAL: bad config\\n")
                FAKE.exit_after_logs[cid] = 1
                return cid
            monkeypatch.setattr(FAKE, "run", run)
            container("postgres:16", wait_for_log="ready")

        def test_times_out(container):
            container("busybox", wait_for_log="never", wait_timeout=0.3)
    ''')
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*waiting for 'ready' in its output: it exited*",
                                 "*FATAL: bad config*",
                                 "*waiting for 'never' in its output: not seen after 0.3 s*"])
    assert _report(inner)["left"] == []


def test_options_reach_the_client(pytester: pytest.Pytester, tmp_path: object) -> None:
    pytester.makepyfile('''
        def test_client(launcher_client):
            assert launcher_client.backend == "vm"
            assert launcher_client.paths.storage.endswith("myroot/storage")
    ''')
    root = pytester.path / "myroot"
    result = pytester.runpytest("-p", "no:cacheprovider", "--launcher-backend", "vm",
                                f"--launcher-root={root}")
    result.assert_outcomes(passed=1)
    pytester.makeini(f"[pytest]\nlauncher_backend = vm\nlauncher_root = {root}\n")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
