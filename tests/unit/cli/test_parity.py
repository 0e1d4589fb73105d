"""The same table, two parsers: the fast path and the generated typer command agree.

Each argv goes (1) through ``main.run_cli`` with the typer route forbidden and
(2) straight into the typer app; both must give the same request, exit code
and message.
"""

from __future__ import annotations

import pytest

from launcher.cli import app, main
from launcher.errors import LauncherError

from .conftest import FakeEngine

GOOD = [
    ["run", "busybox"],
    ["run", "busybox", "ls", "-l"],
    ["run", "-it", "--rm", "busybox", "sh"],
    ["run", "-i", "-t", "busybox"],
    ["run", "-itm64m", "busybox"],
    ["run", "-e", "A=1", "--env", "B=2", "-eC=3", "--env=D", "busybox", "env"],
    ["run", "--memory=1g", "--cpus", "0.5", "--pids-limit=100", "busybox"],
    ["run", "-m", "512k", "--cpus=2", "--pids-limit", "-1", "busybox"],
    ["run", "-m", "1.5GiB", "busybox"],
    ["run", "-w/tmp", "-u", "1000:1000", "-h", "box", "--name=web-1", "busybox"],
    ["run", "--entrypoint", "", "busybox", "echo", "hi"],
    ["run", "--entrypoint=/bin/sh", "busybox", "-c", "echo $X"],
    ["run", "--network", "host", "--read-only", "busybox"],
    ["run", "--net=none", "busybox"],
    ["run", "--network", "web", "--ip", "10.89.0.9", "--network-alias", "db", "busybox"],
    ["run", "-p", "8080:80", "-p", "127.0.0.1::53/udp", "-P", "busybox"],
    ["run", "--dns", "1.1.1.1", "--dns-search", "example.com", "--dns-option", "ndots:2",
     "--add-host", "db:10.0.0.1", "busybox"],
    ["run", "--", "busybox", "ls"],
    ["run", "busybox", "--", "ls"],
    ["run", "busybox", "--rm", "--help", "-x", "-h"],
    ["run", "-e", "--help", "busybox"],
    ["run", "-m", "64m", "-m", "128m", "busybox"],
    ["run", "--name", "a", "--name", "b", "busybox"],
    ["--root", "/tmp/r1", "run", "busybox"],
    ["--root=/tmp/r2", "--debug", "run", "--rm", "busybox", "true"],
    ["import", "rootfs.tar", "app:1"],
    ["import", "-", "app"],
]

BAD = [
    ["run"],
    ["run", "--rm"],
    ["run", "--foo", "busybox"],
    ["run", "--foo=1", "busybox"],
    ["run", "-x", "busybox"],
    ["run", "-itx", "busybox"],
    ["run", "--memory"],
    ["run", "-e", "A", "-m"],
    ["run", "-m"],
    ["run", "-it", "-e"],
    ["run", "--rm=yes", "busybox"],
    ["run", "-m", "lots", "busybox"],
    ["run", "-m=64m", "busybox"],  # the value is "=64m", as with click and getopt
    ["run", "--cpus", "0", "busybox"],
    ["run", "--pids-limit", "x", "busybox"],
    ["run", "-w", "rel", "busybox"],
    ["run", "-u", "a:b:c", "busybox"],
    ["run", "-u", "4294967295", "busybox"],
    ["run", "--network", "bad/net", "busybox"],
    ["run", "--network", "container:", "busybox"],
    ["run", "-p", "80:80:80:80", "busybox"],
    ["run", "-p", "70000", "busybox"],
    ["run", "--dns", "not-an-ip", "busybox"],
    ["run", "--add-host", "nohost", "busybox"],
    ["run", "--ip", "10.0.0.256", "busybox"],
    ["run", "--name", "../x", "busybox"],
    ["run", "-e", "=V", "busybox"],
    ["run", "-e=X", "busybox"],
    ["run", "-h", "bad host", "busybox"],
    ["run", "-m", "1x", "--cpus", "0", "busybox"],  # first bad option in table order
    ["import", "rootfs.tar"],
    ["import", "a", "b", "c"],
    ["import", "--foo", "a", "b"],
    ["import", "-x", "a", "b"],
    ["--nope", "run", "busybox"],
    ["--root"],
]


Outcome = tuple[int, "str | None", list[str]]


def _fast(argv: list[str], engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> Outcome:
    code = main.run_cli(argv)
    err = [
        line
        for line in capsys.readouterr().err.splitlines()
        if not line.startswith("launcher: debug:")
    ]
    assert len(err) <= 1, err  # one line, or nothing
    message = err[0].removeprefix("launcher: ") if err else None
    return code, message, _calls(engine)


def _typer(argv: list[str], engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> Outcome:
    try:
        code, message = app.invoke(argv), None
    except LauncherError as err:
        code, message = err.exit_code, str(err)
    capsys.readouterr()
    return code, message, _calls(engine)


def _calls(engine: FakeEngine) -> list[str]:
    calls = [f"run {p.storage} {r!r}" for p, r in engine.runs]
    calls += [f"import {p.storage} {s} {r}" for p, s, r in engine.imports]
    engine.runs.clear()
    engine.imports.clear()
    return calls


def _forbid_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(argv: list[str]) -> int:
        raise AssertionError(f"fast path expected, typer asked for {argv}")

    monkeypatch.setattr(main, "_typer", forbidden)


@pytest.mark.parametrize("argv", GOOD, ids=" ".join)
def test_good_argv_same_request(
    argv: list[str],
    engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine.exit_code = 3
    typer_result = _typer(argv, engine, capsys)
    _forbid_typer(monkeypatch)
    fast_result = _fast(argv, engine, capsys)
    assert fast_result == typer_result
    assert fast_result[:2] == (0 if "import" in argv else 3, None)
    assert len(fast_result[2]) == 1


@pytest.mark.parametrize("argv", BAD, ids=" ".join)
def test_bad_argv_same_error(
    argv: list[str],
    engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    typer_result = _typer(argv, engine, capsys)
    if not argv[0].startswith("--"):  # a bad *global* flag is left to typer to word
        _forbid_typer(monkeypatch)
    fast_result = _fast(argv, engine, capsys)
    assert fast_result == typer_result
    code, message, calls = fast_result
    assert code == 125 and message and calls == []


def test_request_fields(engine: FakeEngine) -> None:
    argv = [
        "--root",
        "/tmp/rr",
        "run",
        "-itm64m",
        "--rm",
        "-e",
        "A=1",
        "-eB",
        "--cpus=1.5",
        "--pids-limit",
        "50",
        "-w",
        "/w",
        "-u",
        "1:2",
        "-h",
        "h1",
        "--entrypoint",
        "",
        "--read-only",
        "--net",
        "host",
        "--name",
        "n1",
        "img",
        "cmd",
        "-l",
    ]
    assert main.run_cli(argv) == 0
    paths, req = engine.runs[0]
    assert paths.storage == "/tmp/rr/storage"
    assert (req.image, req.command) == ("img", ["cmd", "-l"])
    assert (req.interactive, req.tty, req.remove, req.read_only) == (True, True, True, True)
    assert req.memory == 64 << 20 and req.cpus == 1.5 and req.pids_limit == 50
    assert req.env == ["A=1", "B"]
    assert (req.workdir, req.user, req.hostname, req.entrypoint) == ("/w", "1:2", "h1", "")
    assert (req.network, req.name) == ("host", "n1")
