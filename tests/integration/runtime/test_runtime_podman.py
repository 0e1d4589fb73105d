"""podman driving launcher-runtime as its OCI runtime (conmon in between).

Every ``podman run`` passes ``--ulimit nofile/nproc``: podman's default
nofile (1048576) needs CAP_SYS_RESOURCE, which the test sandbox lacks.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
]

IMAGE = "localhost/launcher-test-busybox"
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096")


def podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def image(busybox_rootfs_tar):
    """The busybox image, imported for this module and removed after it."""
    res = podman("import", str(busybox_rootfs_tar), IMAGE)
    assert res.returncode == 0, res.stderr
    yield IMAGE
    podman("rmi", "--force", IMAGE)


@pytest.fixture
def prun(runtime_path, image):
    """``podman --runtime launcher-runtime run --rm <ulimits> IMAGE ARGS…``."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return podman("--runtime", runtime_path, "run", "--rm", *ULIMITS, image, *args)

    return run


def test_podman_run_echo(prun):
    res = prun("echo", "hi")
    assert (res.returncode, res.stdout) == (0, "hi\n"), res.stderr


def test_podman_exit_code(prun):
    res = prun("sh", "-c", "exit 3")
    assert res.returncode == 3, res.stderr


def test_podman_missing_command(prun):
    res = prun("no-such-command")
    assert res.returncode == 127, res.stderr
    assert "no-such-command" in res.stderr


def test_podman_detached_exec_stop_rm(runtime_path, image):
    name = f"lrt-podman-{secrets.token_hex(4)}"
    rt = ("--runtime", runtime_path)
    try:
        res = podman(*rt, "run", "-d", "--name", name, *ULIMITS, image, "sleep", "1000")
        assert res.returncode == 0, res.stderr
        full_id = res.stdout.strip()
        res = podman(*rt, "exec", name, "sh", "-c", "echo in-$$; exit 4")
        assert res.returncode == 4, res.stderr
        assert res.stdout.startswith("in-")
        res = podman(*rt, "stop", "-t", "1", name)
        assert res.returncode == 0, res.stderr
        res = podman(*rt, "rm", name)
        assert res.returncode == 0, res.stderr
    finally:
        podman(*rt, "rm", "--force", name)
    assert _cgroups_named(full_id) == []


def _cgroups_named(fragment: str, depth: int = 4) -> list[str]:
    found = []
    top = "/sys/fs/cgroup"
    base = top.count("/")
    for path, dirs, _files in os.walk(top):
        if fragment in os.path.basename(path):
            found.append(path)
        if path.count("/") - base >= depth:
            dirs.clear()
    return found
