from __future__ import annotations

import os

from launcher.paths import Paths
from launcher.vm import qemu
from launcher.vm.machine import Machine


def _machine(paths: Paths, tmp: str) -> Machine:
    m = Machine(paths, "dev")
    m.arch, m.cpus, m.memory_mb = "x86_64", 4, 3072
    m.image_dir, m.cmdline = os.path.join(tmp, "img,x"), "console=ttyS0 quiet"
    m.shares = ["/home/me", "/srv/a,b"]
    os.makedirs(m.run_dir)
    with open(os.path.join(m.run_dir, "ssh-port"), "w") as f:
        f.write("40022")
    return m


def _opt(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_argv_tcg(paths: Paths, tmp_path: object) -> None:
    m = _machine(paths, str(tmp_path))
    args = qemu.argv(m, "/usr/bin/qemu-system-x86_64", "tcg")
    assert _opt(args, "-machine") == ["q35,accel=tcg"]
    assert _opt(args, "-cpu") == ["max"]
    assert _opt(args, "-smp") == ["4"] and _opt(args, "-m") == ["3072M"]
    assert _opt(args, "-append") == ["console=ttyS0 quiet"]  # one argv word, no shell
    netdev = _opt(args, "-netdev")[0]
    assert "hostfwd=tcp:127.0.0.1:40022-:22" in netdev  # SSH on loopback only
    assert _opt(args, "-kernel")[0].endswith("img,x/vmlinuz")
    drive = _opt(args, "-drive")[0]
    assert drive.startswith("file=" + m.dir + "/disk.qcow2,format=qcow2,if=virtio")
    fw = _opt(args, "-fw_cfg")
    assert [f.split(",")[0] for f in fw] == [
        "name=opt/launcher/authorized_keys", "name=opt/launcher/hostname",
        "name=opt/launcher/shares", "name=opt/launcher/ssh_host_ed25519_key"]
    assert _opt(args, "-virtfs") == [
        "local,path=/home/me,mount_tag=share0,security_model=none,id=share0",
        "local,path=/srv/a,,b,mount_tag=share1,security_model=none,id=share1"]
    assert "-daemonize" in args and "-no-reboot" in args and "-nodefaults" in args
    assert _opt(args, "-pidfile") == [os.path.join(m.run_dir, "qemu.pid")]


def test_argv_kvm_uses_the_host_cpu(paths: Paths, tmp_path: object) -> None:
    args = qemu.argv(_machine(paths, str(tmp_path)), "qemu", "kvm")
    assert _opt(args, "-cpu") == ["host"]
    assert qemu.cpu_for("tcg", "aarch64") == "cortex-a72"


def test_alive_checks_the_process_is_this_machines_qemu(paths: Paths, tmp_path: object) -> None:
    m = _machine(paths, str(tmp_path))
    assert qemu.alive(m) is None  # no pid file
    with open(os.path.join(m.run_dir, "qemu.pid"), "w") as f:
        f.write(str(os.getpid()))  # alive, but pytest, not QEMU
    assert qemu.alive(m) is None
    with open(os.path.join(m.run_dir, "qemu.pid"), "w") as f:
        f.write("garbage")
    assert qemu.alive(m) is None
