"""``-v`` (bind, named, anonymous) and ``launcher volume``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .conftest import Cli
from .test_run_detached import wait_for


def test_bind_named_and_anonymous(cli: Cli, tmp_path: Path) -> None:
    host = tmp_path / "made-by-run"  # missing: -v creates it, as docker does
    res = cli.run("run", "--rm", "--read-only", "-v", f"{host}:/h", "-v", "cfg:/etc",
                  "-v", "/scratch", "busybox", "sh", "-c",
                  "echo h > /h/f && grep -q root /etc/passwd && echo v > /etc/mine "
                  "&& echo a > /scratch/a && echo ok")
    assert (res.returncode, res.stdout) == (0, "ok\n"), res.stderr
    assert (host / "f").read_text() == "h\n"
    (vol,) = json.loads(cli.run("volume", "inspect", "cfg").stdout)
    data = Path(vol["Mountpoint"])
    assert (data / "mine").read_text() == "v\n"
    assert (data / "passwd").is_file()  # seeded from the image while it was empty
    ro = cli.run("run", "--rm", "-v", "cfg:/etc:ro", "busybox", "sh", "-c",
                 "cat /etc/mine; touch /etc/no")
    assert ro.returncode != 0 and ro.stdout == "v\n" and "Read-only" in ro.stderr
    assert cli.run("volume", "ls", "-q").stdout == "cfg\n"


def test_volume_commands_and_in_use(cli: Cli) -> None:
    assert cli.run("volume", "create", "--label", "a=b", "v1").stdout == "v1\n"
    anon = cli.run("volume", "create").stdout.strip()
    assert len(anon) == 64
    (doc,) = json.loads(cli.run("volume", "inspect", "v1").stdout)
    assert doc["Labels"] == {"a": "b"} and doc["Driver"] == "local"
    assert cli.run("run", "-d", "--name", "user", "-v", "v1:/d", "busybox", "sleep",
                   "60").returncode == 0
    wait_for(cli, "user", "running")
    busy = cli.run("volume", "rm", "-f", "v1")
    assert busy.returncode == 125 and "in use" in busy.stderr
    assert cli.run("rm", "-f", "user").returncode == 0
    assert cli.run("volume", "rm", "v1", anon).stdout == f"v1\n{anon}\n"
    assert cli.run("volume", "rm", "v1").returncode == 125
    assert cli.run("volume", "rm", "-f", "v1").returncode == 0
    bad = cli.run("volume", "create", "../x")
    assert bad.returncode == 125 and "invalid volume name" in bad.stderr
    left = os.listdir(cli.root / "storage" / "volumes")
    assert "v1" not in left and anon not in left and not any(n.startswith(".") for n in left)
