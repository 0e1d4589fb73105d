"""Rootless launcher: the CLI run by an ordinary user the tests create.

``rootless_user`` makes (once per session) the user ``lt-rootless`` with a home
and a subordinate id range, and an install of launcher that user can run: the
package and its runtime dependencies copied into a world-readable directory,
started with a Python the user may execute (the venv's own interpreter often
lives under /root, out of reach). ``rl`` runs ``launcher`` as that user, with
the user's default paths (no ``--root``: storage under ~/.local/share, state in
the runtime dir), and checks after each test that the user has no process and
no container state left.
"""

from __future__ import annotations

import importlib.metadata
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "lt-rootless"
SUB_START, SUB_COUNT = 300000, 65536
CALL_TIMEOUT = 60.0
_SKIP_DISTS = {"paramiko", "cryptography", "bcrypt", "pynacl", "cffi", "pycparser", "invoke"}


def _closure(name: str) -> list[importlib.metadata.Distribution]:
    """``name``'s distribution and every runtime dependency (extras left out)."""
    import re

    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = [name]
    while todo:
        want = re.split(r"[\s<>=!~;\[(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if want in seen or want in _SKIP_DISTS:
            continue
        try:
            dist = importlib.metadata.distribution(want)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen[want] = dist
        todo += [r for r in dist.requires or [] if "extra ==" not in r]
    return list(seen.values())


def _install(dest: Path) -> None:
    """Copy launcher (from this checkout) and its dependencies' files to ``dest``."""
    repo = Path(__file__).resolve().parents[3]
    shutil.copytree(repo / "launcher", dest / "launcher",
                    ignore=shutil.ignore_patterns("__pycache__"))
    site = Path(sysconfig.get_paths()["purelib"])
    for dist in _closure("launcher"):
        if dist.metadata["Name"].lower() == "launcher":
            continue
        for f in dist.files or []:
            src = Path(str(dist.locate_file(f))).resolve()
            if not src.is_file() or not src.is_relative_to(site) or "__pycache__" in f.parts:
                continue
            out = dest / src.relative_to(site)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out)


def _python_for(user: str) -> str:
    """An interpreter of this minor version ``user`` can run."""
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    candidates = [base, f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"]
    for exe in candidates:
        res = subprocess.run(["su", user, "-s", "/bin/sh", "-c", f"exec {exe} -c pass"],
                             capture_output=True, check=False)
        if res.returncode == 0:
            return exe
    pytest.skip(f"no Python {sys.version_info[0]}.{sys.version_info[1]} that {user} can run")


def _ensure_user() -> pwd.struct_passwd:
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True)
        pw = pwd.getpwnam(USER)
    for path in ("/etc/subuid", "/etc/subgid"):
        text = Path(path).read_text() if os.path.exists(path) else ""
        if not any(line.split(":")[0] in (USER, str(pw.pw_uid)) for line in text.splitlines()):
            with open(path, "a", encoding="ascii") as f:
                f.write(f"{USER}:{SUB_START}:{SUB_COUNT}\n")
    return pw


def _subids(pw: pwd.struct_passwd) -> tuple[int, int]:
    """The user's first /etc/subuid range (useradd may have made one already)."""
    for line in Path("/etc/subuid").read_text().splitlines():
        parts = line.split(":")
        if len(parts) == 3 and parts[0] in (USER, str(pw.pw_uid)):
            return int(parts[1]), int(parts[2])
    raise AssertionError(f"{USER} has no /etc/subuid range")


class Rootless:
    """``launcher`` as the test user; ``home`` is that user's home."""

    def __init__(self, pw: pwd.struct_passwd, wrapper: str) -> None:
        self.pw = pw
        self.uid = pw.pw_uid
        self.home = Path(pw.pw_dir)
        self.wrapper = wrapper
        self.storage = self.home / ".local/share/launcher"
        self.state = Path(f"/tmp/launcher-run-{self.uid}/launcher")
        self.sub_start, self.sub_count = _subids(pw)

    def run(self, *args: str, timeout: float = CALL_TIMEOUT, input: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.sh(" ".join(_quote(a) for a in (self.wrapper, *args)), timeout, input, env)

    def sh(self, command: str, timeout: float = CALL_TIMEOUT, input: str | None = None,
           extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """A shell command as the user, in its home, with a login-like environment
        (no network unless asked: ``extra`` replaces LAUNCHER_DEFAULT_NETWORK)."""
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home),
               "USER": USER, "LOGNAME": USER, "LANG": "C.UTF-8",
               "LAUNCHER_DEFAULT_NETWORK": "none", **(extra or {})}
        env = {k: v for k, v in env.items() if v}
        return subprocess.run(
            ["setpriv", f"--reuid={self.uid}", f"--regid={self.pw.pw_gid}", "--init-groups",
             "--reset-env", "--", "env", *(f"{k}={v}" for k, v in env.items()),
             "sh", "-c", f"cd && {command}"],
            input=input, stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True, text=True, timeout=timeout, check=False)

    def processes(self) -> list[int]:
        """Pids of processes running as the user or its subordinate ids."""
        out = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                uid = os.stat(f"/proc/{name}").st_uid
            except OSError:
                continue
            if uid == self.uid or self.sub_start <= uid < self.sub_start + self.sub_count:
                out.append(int(name))
        return out

    def containers(self) -> list[str]:
        """Runtime state dirs and bundles of containers."""
        out = []
        for d in (self.state / "containers", self.storage / "containers"):
            out += [f"{d}/{n}" for n in sorted(os.listdir(d))] if d.is_dir() else []
        return out


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


@pytest.fixture(scope="session")
def tun_for_users() -> Iterator[None]:
    """/dev/net/tun as distributions ship it (0666: udev's default rule), which
    slirp4netns needs; some sandboxes tighten it to 0600."""
    mode = stat.S_IMODE(os.stat("/dev/net/tun").st_mode)
    if mode & 0o006 != 0o006:
        os.chmod("/dev/net/tun", 0o666)
    try:
        yield
    finally:
        os.chmod("/dev/net/tun", mode)


@pytest.fixture(scope="session")
def rootless_user() -> Iterator[Rootless]:
    if shutil.which("newuidmap") is None:
        pytest.skip("newuidmap missing (the uidmap package)")
    pw = _ensure_user()
    tmp = Path(tempfile.mkdtemp(prefix="lt-rootless-install-"))
    os.chmod(tmp, 0o755)
    _install(tmp / "site")
    python = _python_for(USER)
    wrapper = tmp / "launcher"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH={tmp / 'site'} PYTHONDONTWRITEBYTECODE=1 exec {python} -c "
        "'import sys; from launcher.cli.main import main; sys.argv[0] = \"launcher\"; "
        "sys.exit(main())' \"$@\"\n")
    subprocess.run(["chmod", "-R", "a+rX", str(tmp)], check=True)
    wrapper.chmod(0o755)
    rl = Rootless(pw, str(wrapper))
    try:
        yield rl
    finally:
        _kill_all(rl)
        rl.sh("rm -rf ~/.local/share/launcher ~/.config/launcher")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(f"/tmp/launcher-run-{rl.uid}", ignore_errors=True)
        shutil.rmtree(rl.storage, ignore_errors=True)


def _kill_all(rl: Rootless) -> None:
    for pid in rl.processes():
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


@pytest.fixture
def rl(rootless_user: Rootless) -> Iterator[Rootless]:
    before = set(rootless_user.containers())
    yield rootless_user
    deadline = time.monotonic() + 10
    while rootless_user.processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    left = rootless_user.processes()
    stale = sorted(set(rootless_user.containers()) - before)
    _kill_all(rootless_user)
    assert not left, f"processes of {USER} left running: {left}"
    assert not stale, f"container state left: {stale}"
