"""The cgroup ``release_agent`` escape (CVE-2022-0492) and its relatives.

A process that can write a hierarchy's ``release_agent`` and set
``notify_on_release`` makes the host kernel run a program of its choice as
root, on the host, when the cgroup empties. In a default container every step
must fail: mounting a cgroup filesystem (v1, a new v1 hierarchy, v2),
``unshare`` of user+mount+cgroup namespaces (the CVE's way to get
CAP_SYS_ADMIN), and every write under the read-only ``/sys/fs/cgroup``.

With ``--security-opt seccomp=unconfined`` the user namespace route opens (as
with Docker): the probe then mounts a v1 hierarchy inside its own user
namespace and tries ``release_agent`` there; the kernel must refuse it. In
both cases the host's ``release_agent`` files are unchanged.

tests/integration/runtime/test_runtime_mounts.py checks that /sys/fs/cgroup is
read-only from a bundle; here the whole attack runs through ``launcher run``.
"""

from __future__ import annotations

import json
import os

from tests.integration.attacks.kit import (
    EACCES,
    EINVAL,
    ENOENT,
    EPERM,
    EROFS,
    HOST_PY,
    HOST_PYTHON,
    HostFiles,
    Sentinel,
    needs_host_python,
)
from tests.integration.cli.conftest import CGROUP_ROOT, Cli

pytestmark = needs_host_python

PROBE = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def sc(rc):
    return 0 if rc >= 0 else ctypes.get_errno()
def err(f):
    try:
        f()
        return 0
    except OSError as e:
        return e.errno
def write(path, data, flags=os.O_WRONLY):
    def do():
        fd = os.open(path, flags, 0o755)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    return err(do)
out = {"mount": {}, "writes": {}, "userns": {}}
os.makedirs("/tmp/cg", exist_ok=True)
for fs, opts in (("cgroup", b"rdma"), ("cgroup", b"memory"), ("cgroup2", None)):
    out["mount"][f"{fs}:{opts}"] = sc(libc.mount(fs.encode(), b"/tmp/cg", fs.encode(), 0, opts))
dirs = ["/sys/fs/cgroup"] + [f"/sys/fs/cgroup/{d}" for d in sorted(os.listdir("/sys/fs/cgroup"))
                             if os.path.isdir(f"/sys/fs/cgroup/{d}")]
for d in dirs:
    out["writes"][f"{d}/notify_on_release"] = write(f"{d}/notify_on_release", b"1")
    out["writes"][f"{d}/release_agent"] = write(f"{d}/release_agent", b"/evil",
                                                os.O_WRONLY | os.O_CREAT)
    out["writes"][f"{d}/child"] = err(lambda: os.mkdir(f"{d}/child"))
out["ro"] = sorted({ln.split()[1]: ln.split()[3].split(",")[0] for ln in open("/proc/self/mounts")
                    if ln.split()[1].startswith("/sys/fs/cgroup")}.items())
out["unshare"] = sc(libc.unshare(0x10000000 | 0x00020000 | 0x02000000))  # USER|NS|CGROUP
if out["unshare"] == 0 and sys.argv[1:] == ["userns"]:
    write("/proc/self/setgroups", b"deny")
    write("/proc/self/uid_map", b"0 0 1")
    write("/proc/self/gid_map", b"0 0 1")
    for opts in (b"rdma", b"memory", b"pids"):
        r = sc(libc.mount(b"cgroup", b"/tmp/cg", b"cgroup", 0, opts))
        agent = None
        if r == 0:
            agent = write("/tmp/cg/release_agent", b"/evil", os.O_WRONLY | os.O_CREAT)
        out["userns"][opts.decode()] = [r, agent]
        libc.umount2(b"/tmp/cg", 2)
print(json.dumps(out))
"""


def _host_agents() -> dict[str, str]:
    """Every hierarchy's release_agent on the host, and notify_on_release of launcher's parent."""
    found = {}
    for h in sorted(os.listdir(CGROUP_ROOT)):
        for name in ("release_agent", "launcher/notify_on_release", "notify_on_release"):
            path = os.path.join(CGROUP_ROOT, h, name)
            if os.path.isfile(path):
                with open(path) as f:
                    found[path] = f.read()
    return found


def _probe(cli: Cli, *opts: str, arg: str = "") -> dict[str, object]:
    res = cli.run("run", "--rm", *opts, *HOST_PY, "busybox", HOST_PYTHON, "-c", PROBE,
                  *([arg] if arg else []))
    assert res.returncode == 0, res.stderr
    out: dict[str, object] = json.loads(res.stdout)
    return out


def test_default_container_cannot_reach_release_agent(cli: Cli, sentinel: Sentinel,
                                                      host_files: HostFiles) -> None:
    before = _host_agents()
    got = _probe(cli)
    assert got["mount"] == {"cgroup:b'rdma'": EPERM, "cgroup:b'memory'": EPERM,
                            "cgroup2:None": EPERM}
    assert got["unshare"] == EPERM
    writes = got["writes"]
    assert isinstance(writes, dict) and writes
    for path, errno in writes.items():
        # A v2 directory has no notify_on_release: ENOENT; everything else is read-only.
        want = {EROFS, ENOENT} if path.endswith("/notify_on_release") else {EROFS}
        assert errno in want, (path, errno)
    mounts = got["ro"]
    assert isinstance(mounts, list) and mounts, mounts
    assert all(flag == "ro" for _, flag in mounts), mounts
    assert _host_agents() == before
    sentinel.check()
    host_files.check()


def test_unconfined_user_namespace_route_is_refused(cli: Cli, sentinel: Sentinel) -> None:
    """seccomp=unconfined lets unshare(CLONE_NEWUSER) through; the kernel must still
    refuse a new v1 hierarchy, and release_agent in the one it lets the userns mount."""
    before = _host_agents()
    got = _probe(cli, "--security-opt", "seccomp=unconfined", arg="userns")
    assert got["mount"] == {"cgroup:b'rdma'": EPERM, "cgroup:b'memory'": EPERM,
                            "cgroup2:None": EPERM}  # still no CAP_SYS_ADMIN out here
    if got["unshare"] != 0:  # user namespaces are off on this host: the route is closed
        assert got["unshare"] in (EPERM, EINVAL, 28), got["unshare"]  # 28: ENOSPC, none left
        return
    userns = got["userns"]
    assert isinstance(userns, dict)
    for hierarchy, (mounted, agent) in userns.items():
        assert mounted != 0 or agent in (EACCES, EPERM), (hierarchy, mounted, agent)
    assert userns["rdma"][0] != 0  # a new hierarchy needs the initial user namespace
    assert _host_agents() == before
    sentinel.check()
