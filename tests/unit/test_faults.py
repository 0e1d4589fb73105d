"""Fault points die only where LAUNCHER_FAULT says (in a child interpreter)."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = "from launcher.faults import point; point('a.one'); print('past', flush=True)"


def run(fault: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LAUNCHER_FAULT"}
    if fault is not None:
        env["LAUNCHER_FAULT"] = fault
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True,
                          text=True, check=False)


def test_named_point_kills_the_process() -> None:
    res = run("a.one")
    assert (res.returncode, res.stdout) == (-9, "")


def test_other_or_no_point_runs_on() -> None:
    assert run("a.two").stdout == "past\n"
    assert run(None).stdout == "past\n"


def test_the_docstring_names_every_point() -> None:
    import re
    from pathlib import Path

    import launcher
    from launcher import faults

    root = Path(launcher.__file__).parent
    found = {m for f in root.rglob("*.py") if f.name != "faults.py"
             for m in re.findall(r"""\bpoint\(["']([a-z]+\.[a-z]+)["']\)""", f.read_text())}
    assert len(found) > 20
    listed = set(re.findall(r"\b[a-z]+\.[a-z]+\b", faults.__doc__ or ""))
    assert found <= listed, sorted(found - listed)
