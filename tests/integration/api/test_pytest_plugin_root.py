"""The pytest plugin with real containers: a test in a fresh pytest session
(pytester) starts a server with the ``container`` fixture, waits for its log
line, talks to it through the published port; everything is removed after."""

from __future__ import annotations

import os
import pathlib

import pytest

from launcher import Client

pytest_plugins = ["pytester"]


def test_container_fixture_end_to_end(pytester: pytest.Pytester, launcher_root: pathlib.Path,
                                      no_leaks: None) -> None:
    pytester.makepyfile('''
        import urllib.request

        def test_server(container, tmp_path):
            (tmp_path / "index.html").write_text("served\\n")
            web = container("busybox",
                            ["sh", "-c", "echo listening; exec httpd -f -v -p 8080 -h /www"],
                            ports={8080: None}, volumes={str(tmp_path): "/www"},
                            wait_for_log="listening")
            port = web.host_port(8080)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
                assert r.read() == b"served\\n"

        def test_fails_but_cleans(container):
            container("busybox", ["sleep", "60"])
            assert False

        def test_exits_before_ready(container):
            container("busybox", ["sh", "-c", "echo dying; exit 2"], wait_for_log="ready")
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           f"--launcher-root={launcher_root}",
                                           "--launcher-backend=native")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*waiting for 'ready' in its output: it exited*", "*dying*"])
    assert os.path.isdir(launcher_root / "storage")  # the session ran on this root
    assert Client(root=launcher_root, backend="native").containers.list(all=True) == []
