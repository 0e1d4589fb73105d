"""What an image can smuggle in, and what the container can still reach from inside.

* Device nodes in a layer (the host's root disk, /dev/mem, /dev/kmsg) are
  applied as nodes, as Docker does, but the container cannot open them (the
  device cgroup) nor make new ones (no CAP_MKNOD).
* A setuid-root binary run as a non-root user leaves it unprivileged
  (no_new_privileges); a file capability gives back at most what the
  container's bounding set holds, in ``run`` and in ``exec``.
* Every masked path of SECURITY.md reads empty (or is absent on this kernel),
  every read-only path refuses writes, and none can be unmounted, also with
  seccomp unconfined.

tests/integration/cli/test_hardening.py checks the capability sets of root in
a default container and a few masked paths; these are the attacker's angles.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import pytest

from tests.integration.attacks.kit import (
    EPERM,
    EROFS,
    HOST_PY,
    HOST_PYTHON,
    Detached,
    HostFiles,
    Sentinel,
    build_from_tars,
    busybox_base,
    load_ok,
    needs_host_python,
)
from tests.integration.cli.conftest import Cli
from tests.integration.image import ocibuild
from tests.integration.image.layertar import Entry, device, dir_, file, layer_tar

pytestmark = needs_host_python

IMAGE = "attacks/smuggler:1"
ROOT_DEV = os.stat("/").st_dev
CAP_NET_BIND_SERVICE = 10  # in the container's bounding set
CAP_NET_RAW = 13  # not in it

MASKED = ("/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
          "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
          "/proc/timer_stats", "/sys/firmware", "/sys/devices/virtual/powercap")
READ_ONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
WRITABLE_ON_THE_HOST = ("/proc/sys/kernel/panic", "/proc/irq/default_smp_affinity",
                        "/proc/sysrq-trigger")

PROBE = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def err(f):
    try:
        f()
        return 0
    except OSError as e:
        return e.errno
out = {"open": {}, "mknod": {}, "masked": {}, "umount": {}, "ro": {}, "write": {}}
for node in ("/tmp/rootdisk", "/tmp/mem", "/tmp/kmsg"):
    out["open"][node] = err(lambda: os.close(os.open(node, os.O_RDONLY)))
import stat
for kind, dev in (("c", os.makedev(1, 1)), ("b", int(sys.argv[1]))):
    mode = (stat.S_IFCHR if kind == "c" else stat.S_IFBLK) | 0o600
    out["mknod"][kind] = err(lambda: os.mknod(f"/tmp/new-{kind}", mode, dev))
for path in json.loads(sys.argv[2]):
    if not os.path.lexists(path):
        out["masked"][path] = "absent"
    elif os.path.isdir(path):
        out["masked"][path] = f"dir:{len(os.listdir(path))}"
    else:
        with open(path, "rb") as f:
            out["masked"][path] = f"file:{len(f.read(1 << 16))}"
    if os.path.lexists(path):
        out["umount"][path] = 0 if libc.umount2(path.encode(), 2) == 0 else ctypes.get_errno()
for path in json.loads(sys.argv[3]):
    if os.path.lexists(path):
        out["ro"][path] = "ro" if os.statvfs(path).f_flag & os.ST_RDONLY else "rw"
for path in json.loads(sys.argv[4]):
    if os.path.lexists(path):
        out["write"][path] = err(lambda: os.close(os.open(path, os.O_WRONLY)))
print(json.dumps(out))
"""

IDS = "grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs):' /proc/self/status"


def _file_cap(cap: int) -> dict[str, str]:
    """The pax header of a ``security.capability`` xattr: ``cap``, permitted+effective."""
    raw = struct.pack("<IIIII", 0x02000001, 1 << cap, 0, 0, 0)
    return {"SCHILY.xattr.security.capability": raw.decode("utf-8", "surrogateescape")}


@pytest.fixture(scope="module")
def smuggler(cli_root: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    with open(ocibuild.BUSYBOX, "rb") as f:
        busybox = f.read()
    layer: list[Entry] = [
        device("tmp/rootdisk", "b", os.major(ROOT_DEV), os.minor(ROOT_DEV), 0o666),
        device("tmp/mem", "c", 1, 1, 0o666),
        device("tmp/kmsg", "c", 1, 11, 0o666),
        # busybox picks its applet from argv[0]: keep the name, change the directory
        dir_("opt/suid"), file("opt/suid/busybox", busybox, 0o4755),
        dir_("opt/fcap"), file("opt/fcap/busybox", busybox, 0o755),
        dir_("opt/fcap-raw"), file("opt/fcap-raw/busybox", busybox, 0o755),
    ]
    layout = tmp_path_factory.mktemp("smuggler")
    tar = layer_tar([*busybox_base(), *layer])
    # layer_tar writes no pax headers: add the file capability by hand.
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(tar)) as src, \
            tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as out:
        for member in src.getmembers():
            if member.name == "opt/fcap/busybox":
                member.pax_headers = _file_cap(CAP_NET_BIND_SERVICE)
            elif member.name == "opt/fcap-raw/busybox":
                member.pax_headers = _file_cap(CAP_NET_RAW)
            out.addfile(member, src.extractfile(member) if member.isfile() else None)
    build_from_tars(layout, IMAGE, [buf.getvalue()])
    load_ok(Cli(cli_root), layout)
    return IMAGE


def _probe(cli: Cli, image: str, *opts: str) -> dict[str, dict[str, object]]:
    res = cli.run("run", "--rm", *opts, *HOST_PY, image, HOST_PYTHON, "-c", PROBE,
                  str(ROOT_DEV), json.dumps(MASKED), json.dumps(READ_ONLY),
                  json.dumps(WRITABLE_ON_THE_HOST))
    assert res.returncode == 0, res.stderr
    out: dict[str, dict[str, object]] = json.loads(res.stdout)
    return out


def test_smuggled_device_nodes_stay_closed(cli: Cli, smuggler: str, sentinel: Sentinel,
                                           host_files: HostFiles) -> None:
    got = _probe(cli, smuggler)
    assert got["open"] == {"/tmp/rootdisk": EPERM, "/tmp/mem": EPERM, "/tmp/kmsg": EPERM}
    assert got["mknod"] == {"c": EPERM, "b": EPERM}
    sentinel.check()
    host_files.check()


@pytest.mark.parametrize("opts", [(), ("--security-opt", "seccomp=unconfined")],
                         ids=["default", "unconfined"])
def test_masked_and_read_only_paths_hold(cli: Cli, smuggler: str, sentinel: Sentinel,
                                         opts: tuple[str, ...]) -> None:
    got = _probe(cli, smuggler, *opts)
    for path, seen in got["masked"].items():  # as on the host, but empty
        if not os.path.lexists(path):
            assert seen == "absent", (path, seen)
        else:
            assert seen == ("dir:0" if os.path.isdir(path) else "file:0"), (path, seen)
    assert got["masked"]["/proc/keys"] == got["masked"]["/proc/timer_list"] == "file:0"
    assert got["umount"] and set(got["umount"].values()) == {EPERM}, got["umount"]
    on_host = [p for p in READ_ONLY if os.path.lexists(p)]
    assert got["ro"] == dict.fromkeys(on_host, "ro"), got["ro"]
    writable = [p for p in WRITABLE_ON_THE_HOST if os.path.lexists(p)]
    assert got["write"] == dict.fromkeys(writable, EROFS), got["write"]
    sentinel.check()


def _status(text: str) -> dict[str, str]:
    return {k: " ".join(v.split()) for k, _, v in (ln.partition(":") for ln in text.splitlines())}


NOBODY_1000 = {"Uid": "1000 1000 1000 1000", "Gid": "1000 1000 1000 1000",
               "CapInh": "0000000000000000", "CapPrm": "0000000000000000",
               "CapEff": "0000000000000000", "CapAmb": "0000000000000000", "NoNewPrivs": "1"}


def test_setuid_and_file_caps_do_not_raise_a_user(cli: Cli, smuggler: str,
                                                  sentinel: Sentinel) -> None:
    """A setuid-root binary leaves the user as it is (no_new_privileges). A file
    capability can only give back what the container's sets hold for that user
    already (as with runc: the 11 caps stay permitted until execve), and one
    outside the bounding set makes the exec fail."""
    raw_refused = 'launcher: exec: "/opt/fcap-raw/busybox": Operation not permitted\n'
    with Detached(cli, "atk-suid", smuggler, "sleep", "60") as c:
        for verb in ("run", "exec"):
            def start(*argv: str, verb: str = verb) -> subprocess.CompletedProcess[str]:
                if verb == "run":
                    return cli.run("run", "--rm", "-u", "1000:1000", smuggler, *argv)
                return c.exec("-u", "1000:1000", "--", *argv)

            res = start("/opt/suid/busybox", "sh", "-c", IDS)
            assert (res.returncode, _status(res.stdout)) == (0, NOBODY_1000), (verb, res)
            res = start("/opt/fcap/busybox", "sh", "-c", IDS)
            st = _status(res.stdout)
            # run keeps the permitted set until execve (as runc does), exec clears it:
            # either way nothing but the file's own, bounded capability.
            bind = f"{1 << CAP_NET_BIND_SERVICE:016x}"
            assert st["CapPrm"] == st["CapEff"] and st["CapPrm"] in (bind, "0" * 16), (verb, st)
            assert {**st, "CapPrm": "0" * 16, "CapEff": "0" * 16} == NOBODY_1000, (verb, st)
            res = start("/opt/fcap-raw/busybox", "true")
            assert (res.returncode, res.stderr) == (126, raw_refused), verb
    sentinel.check()
