"""One machine for the whole session, booted under whatever accelerator works
(TCG here), with a shared directory; removed at the end.

The guest image is built by provision/ into a cache shared across runs
(``LAUNCHER_VM_IMAGES``, keyed by the recipe's hash), so only the first run on
a host pays for the build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

LAUNCHER = str(Path(sys.executable).with_name("launcher.exe" if os.name == "nt" else "launcher"))
IMAGE_CACHE = (os.path.join(tempfile.gettempdir(), "launcher-test-vm-images") if os.name == "nt"
               else "/var/tmp/launcher-test-vm-images")
# A guest image built elsewhere (a directory with image.json): CI's macOS and
# Windows jobs take the one the Linux job built with provision/.
IMAGE_ENV = "LAUNCHER_TEST_VM_IMAGE"
TIMEOUT = 600


class Vm:
    """The CLI against one machine: ``cli`` runs launcher's own commands
    (``machine …``), ``run`` forwards through ``--backend vm``."""

    def __init__(self, root: Path, share: Path) -> None:
        self.root, self.share = root, share
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHER_")}
        self.env["LAUNCHER_VM_IMAGES"] = IMAGE_CACHE

    def __repr__(self) -> str:
        return f"Vm({self.root})"

    def cli(self, *argv: str, timeout: float = TIMEOUT, **kw: object
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([LAUNCHER, "--root", str(self.root), *argv], env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False,
                              **kw)  # type: ignore[call-overload]

    def vm(self, *argv: str, timeout: float = TIMEOUT, **kw: object
           ) -> subprocess.CompletedProcess[str]:
        return self.cli("--backend", "vm", *argv, timeout=timeout, **kw)

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen([LAUNCHER, "--root", str(self.root), "--backend", "vm", *argv],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    @property
    def run_dir(self) -> Path:
        return self.root / "state" / "machines" / "default"

    def qemu_pid(self) -> int | None:
        try:
            pid = int((self.run_dir / "qemu.pid").read_text())
            from launcher.vm import hostproc

            return pid if hostproc.exists(pid) else None
        except (OSError, ValueError):
            return None


@pytest.fixture(scope="session")
def vm() -> Iterator[Vm]:
    yield from booted("lt-vm-", "share", {})


def booted(prefix: str, share_name: str, env: dict[str, str]) -> Iterator[Vm]:
    """A machine sharing a fresh directory, booted; removed afterwards (the
    directory too, unless LAUNCHER_TEST_KEEP=1). ``env``: more for the CLI."""
    image = os.environ.get(IMAGE_ENV)
    tools = ("qemu-img",) if image else ("qemu-img", "mkfs.ext4", "depmod", "apt-get")
    for tool in (_qemu_system(), *tools):
        if shutil.which(tool) is None:
            pytest.skip(f"the VM tests need {tool}")
    os.makedirs(IMAGE_CACHE, mode=0o700, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix=prefix))
    share = base / share_name
    share.mkdir()
    v = Vm(base / "root", share)
    v.env.update(env)
    try:
        res = v.cli("machine", "init", "--memory", "1g", "--cpus", "2", "-v", str(share),
                    *(["--image", image] if image else []))
        assert res.returncode == 0, res.stderr
        res = v.cli("machine", "start")
        assert res.returncode == 0, res.stderr
        assert "ssh banner:" in res.stderr and "started in" in res.stdout
        yield v
    finally:
        v.cli("machine", "rm", "-f", timeout=120)
        if os.environ.get("LAUNCHER_TEST_KEEP") != "1":
            shutil.rmtree(base, ignore_errors=True)


def _qemu_system() -> str:
    """The QEMU the default machine uses: the host's own architecture."""
    from launcher.host import oci_arch

    return "qemu-system-aarch64" if oci_arch() == "arm64" else "qemu-system-x86_64"


LIBVIRT_SOCKETS = (("virtlogd", "/run/libvirt/virtlogd-sock"),
                   ("libvirtd", "/run/libvirt/libvirt-sock"))


@pytest.fixture(scope="session")
def libvirtd() -> Iterator[None]:
    """virtlogd and libvirtd answering on their sockets. There is no systemd here:
    a daemon whose socket does not answer is started (``-d``) and, at the end,
    stopped again; one already running is left alone."""
    import pwd
    import signal

    for tool in ("libvirtd", "virtlogd", "qemu-system-x86_64", "qemu-img"):
        if shutil.which(tool) is None:
            pytest.skip(f"the libvirt tests need {tool} (scripts/setup.sh installs it)")
    pytest.importorskip("libvirt", reason="libvirt-python (pip install -e '.[libvirt]')")
    try:
        pwd.getpwnam("libvirt-qemu")
    except KeyError:
        pytest.skip("libvirtd's QEMU driver needs the user libvirt-qemu (scripts/setup.sh)")
    os.makedirs("/var/log/libvirt", mode=0o700, exist_ok=True)  # libvirtd -d logs there
    piddir = Path(tempfile.mkdtemp(prefix="lt-libvirtd-"))
    started: list[int] = []
    try:
        for daemon, sock in LIBVIRT_SOCKETS:
            if _answers(sock):
                continue
            pidfile = piddir / f"{daemon}.pid"
            res = subprocess.run([daemon, "-d", "-p", str(pidfile)], capture_output=True,
                                 text=True, timeout=120, check=False)
            assert res.returncode == 0, f"{daemon}: {res.stderr}"
            started.append(int(pidfile.read_text()))
            assert _wait(lambda s=sock: _answers(s), 60), f"{daemon} does not answer on {sock}"
        yield
    finally:
        for pid in reversed(started):
            os.kill(pid, signal.SIGTERM)
            _wait(lambda p=pid: not _exists(p), 60)
        shutil.rmtree(piddir, ignore_errors=True)


def _answers(path: str) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _wait(ok: Callable[[], bool], timeout: float) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str, within: float) -> str:
    """GET ``url``, retried for ``within`` seconds (a forward or server coming up)."""
    import time
    import urllib.request

    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return str(resp.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
