"""The parts of launcher that run on macOS and Windows hosts, with the platform
simulated (tests/unit/portable/sim.py): backend selection, accelerators, QEMU's
command lines for HVF/WHPX/TCG, Windows host paths in ``-v``, and the
per-user directories from platformdirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.portable.sim import run

MACHINE = """
from launcher.paths import Paths
from launcher.vm.machine import Machine
class M(Machine):
    __slots__ = ()
    def ssh_port(self):
        return 2222
    def fw_cfg_files(self):
        return {{}}
m = M(Paths("S", "T", "C"), "default")
m.arch, m.shares, m.image_dir, m.cmdline = {arch!r}, {shares!r}, "IMG", "console=ttyS0"
"""


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_the_cli_goes_to_the_vm_without_a_linux_kernel(platform: str) -> None:
    out = run(platform, """
from launcher.cli import main
from launcher.errors import UsageError
try:
    main._use_vm("native"); native = "allowed"
except UsageError as exc:
    native = str(exc)
emit([main._use_vm(None), main._use_vm("vm"), native])
""")
    assert out[0] is True and out[1] is True
    assert "needs a Linux kernel" in out[2]


def test_linux_stays_native() -> None:
    assert run("linux", "from launcher.cli import main\nemit(main._use_vm(None))") is False


@pytest.mark.parametrize(("platform", "best"), [("darwin", "hvf"), ("win32", "whpx"),
                                                ("linux", "kvm")])
def test_accelerators_best_first_then_tcg(platform: str, best: str) -> None:
    out = run(platform, "from launcher.vm import accel\nemit(accel.candidates())")
    assert out == [best, "tcg"]


def test_qemu_on_apple_silicon_with_hvf() -> None:
    argv = run("darwin", MACHINE.format(arch="aarch64", shares=["/Users/me"]) + """
from launcher.vm import qemu
emit(qemu.argv(m, "qemu-system-aarch64", "hvf"))
""")
    joined = " ".join(argv)
    assert "-machine virt,accel=hvf" in joined and "-cpu host" in joined
    assert "-daemonize" in argv and "unix:T/machines/default/qmp.sock,server=on,wait=off" in argv
    assert "local,path=/Users/me,mount_tag=share0,security_model=none,id=share0" in argv


def test_qemu_on_windows_with_whpx() -> None:
    argv = run("win32", MACHINE.format(arch="x86_64", shares=["C:\\\\Users\\\\me"]) + """
from launcher.vm import qemu
emit(qemu.argv(m, "qemu-system-x86_64.exe", "whpx", qmp_port=4444))
""")
    joined = " ".join(argv)
    assert "-machine q35 -accel whpx,kernel-irqchip=off" in joined
    assert "tcp:127.0.0.1:4444,server=on,wait=off" in argv
    assert "-daemonize" not in argv and "-virtfs" not in argv  # no 9p in QEMU for Windows


@pytest.mark.parametrize("platform", ["darwin", "win32", "linux"])
def test_qemu_under_tcg(platform: str) -> None:
    argv = run(platform, MACHINE.format(arch="x86_64", shares=[]) + """
from launcher.vm import qemu
emit(qemu.argv(m, "qemu-system-x86_64", "tcg", qmp_port=1))
""")
    assert "q35,accel=tcg" in argv and argv[argv.index("-cpu") + 1] == "max"


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_the_install_hint_names_the_platform_s_package_manager(platform: str) -> None:
    hint = run(platform, "from launcher.vm import qemu\nemit(qemu.install_hint())")
    assert ("brew" if platform == "darwin" else "winget") in hint


WINDOWS_RUN = """
from launcher.errors import UsageError
from launcher.vm import forward
out = []
for argv in {argvs!r}:
    try:
        out.append(forward.plan(m, argv).argv)
    except UsageError as exc:
        out.append(str(exc))
emit(out)
"""


def test_windows_bind_mounts_become_the_machine_s_paths() -> None:
    argvs = [
        ["run", "--rm", "-v", "C:\\Users\\me\\src:/src", "busybox", "ls", "/src"],
        ["run", "-v", "c:/users/ME/My Src:/src:ro", "-it", "busybox"],
        ["run", "--volume=C:\\Users\\me\\a\\..\\b:/b", "busybox"],
        ["run", "-v", "data:/data", "busybox"],  # a named volume: untouched
        ["run", "-v", "D:\\elsewhere:/x", "busybox"],
        ["run", "-v", "\\\\server\\share\\dir:/x", "busybox"],
    ]
    machine = MACHINE.format(arch="x86_64", shares=["C:\\Users\\me"])
    out = run("win32", machine + WINDOWS_RUN.format(argvs=argvs))
    assert out[0] == ["run", "--rm", "-v", "/mnt/c/Users/me/src:/src", "busybox", "ls", "/src"]
    assert out[1] == ["run", "-v", "/mnt/c/users/ME/My Src:/src:ro", "-it", "busybox"]
    assert out[2] == ["run", "-v", "/mnt/c/Users/me/b:/b", "busybox"]
    assert out[3] == ["run", "-v", "data:/data", "busybox"]
    assert "cannot bind D:\\elsewhere: it is not shared with machine default" in out[4]
    assert "not shared" in out[5] or "UNC" in out[5]


def test_windows_shares_are_mounted_under_mnt_in_the_guest() -> None:
    out = run("win32", """
from launcher.vm.hostpath import guest_path, split_bind, contains
emit([guest_path("C:\\\\Users\\\\me"), guest_path("C:\\\\"), guest_path("e:/Work Dir/x/"),
      split_bind("C:\\\\a:b:/c:ro"), split_bind("C:\\\\a"), contains("C:\\\\Users", "c:/users/x")])
""")
    assert out == ["/mnt/c/Users/me", "/mnt/c", "/mnt/e/Work Dir/x", ["C:\\a", ":b:/c:ro"],
                   ["C:\\a", ""], True]


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_per_user_directories_from_platformdirs(platform: str) -> None:
    env = {"LOCALAPPDATA": "C:\\Users\\me\\AppData\\Local",
           "APPDATA": "C:\\Users\\me\\AppData\\Roaming", "HOME": "/Users/me",
           "LAUNCHER_ROOT": ""}
    out = run(platform, """
from launcher.paths import Paths
p = Paths.from_root(None)
emit([p.storage, p.state, p.config])
""", env)
    storage, state, config = out
    if platform == "darwin":
        assert storage == "/Users/me/Library/Application Support/launcher"
        assert config.startswith("/Users/me/Library/") and config.endswith("launcher")
    else:
        assert storage.startswith("C:\\Users\\me\\AppData\\Local") and "launcher" in storage
        assert config.startswith("C:\\Users\\me\\AppData") and "launcher" in config
    assert "launcher" in state


def test_env_files_are_read_on_the_windows_host(tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_bytes(b"\xef\xbb\xbfA=1\r\n# comment\r\nB=two words \r\nHOSTVAR\r\nUNSET\r\n")
    out = run("win32", f"""
import os
os.environ["HOSTVAR"] = "from host"
os.environ.pop("UNSET", None)
from launcher.cli import options
from launcher.vm import rewrite
emit(rewrite.environment(options.HOT["run"], ["--env-file", {str(env_file)!r}, "-e", "HOSTVAR",
                                               "-eX=y", "busybox", "env"]))
""")
    assert out == ["-e", "A=1", "-e", "B=two words ", "-e", "HOSTVAR=from host",
                   "-e", "HOSTVAR=from host", "-e", "X=y", "busybox", "env"]


def test_windows_console_is_set_up_and_restored() -> None:
    out = run("win32", """
import sys
from launcher.cli import main
from launcher.vm import wincon
calls = []
wincon.utf8_output = lambda: (calls.append("utf8"), lambda: calls.append("restored"))[1]
restore = main._windows_console()
restore()
emit([calls, sys.stdout.errors])
""")
    assert out == [["utf8", "restored"], "replace"]
