"""Namespaces: new ones by default, shared when left out, joined by path, user maps."""

from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = pytest.mark.root

PROC_NAMES = {"pid": "pid", "uts": "uts", "ipc": "ipc", "mount": "mnt", "network": "net",
              "cgroup": "cgroup"}  # fmt: skip


def host_ns(typ: str, pid: str = "self") -> str:
    return os.readlink(f"/proc/{pid}/ns/{PROC_NAMES[typ]}")


def probe_ns(bundle) -> dict[str, str]:
    script = "".join(f"readlink /proc/self/ns/{n}; " for n in PROC_NAMES.values())
    return dict(zip(PROC_NAMES, bundle.probe(script).split(), strict=True))


def test_every_default_namespace_is_new(bundle):
    inside = probe_ns(bundle)
    for typ in PROC_NAMES:
        assert inside[typ] != host_ns(typ), f"{typ} namespace is the host's"


@pytest.mark.parametrize("typ", ["ipc", "uts", "network", "cgroup", "pid"])
def test_namespace_left_out_is_the_hosts(bundle, typ):
    bundle.linux["namespaces"] = [ns for ns in bundle.linux["namespaces"] if ns["type"] != typ]
    if typ == "uts":
        del bundle.config["hostname"]  # setting it needs a UTS namespace of its own
    inside = probe_ns(bundle)
    assert inside[typ] == host_ns(typ)
    assert inside["mount"] != host_ns("mount")


def test_pid_namespace(bundle):
    out = bundle.probe("echo $$; sleep 100 & ps -o pid,args; kill %1")
    first, _header, *procs = out.splitlines()
    assert first == "1"
    pids = sorted(int(line.split()[0]) for line in procs)
    assert pids[0] == 1
    assert len(pids) == 3, procs  # sh, sleep and ps: nothing from the host


def test_uts_namespace(bundle):
    before = os.uname().nodename
    bundle.config["hostname"] = "inside"
    assert bundle.probe("hostname inside2 2>/dev/null; hostname") in ("inside\n", "inside2\n")
    assert os.uname().nodename == before


def test_ipc_namespace_has_no_host_objects(bundle):
    out = bundle.probe("cat /proc/sysvipc/shm /proc/sysvipc/msg /proc/sysvipc/sem | wc -l")
    assert out.strip() == "3"  # the three header lines only


def test_mount_namespace_keeps_container_mounts_private(bundle, rt, tmp_path):
    bundle.config["mounts"].append(
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}
    )
    bundle.probe("grep -c ' /scratch ' /proc/self/mountinfo")
    assert rt.mounts_under(tmp_path) == []


def test_network_namespace_has_only_loopback(bundle):
    out = bundle.probe("ls /sys/class/net; tail -n +3 /proc/net/dev | cut -d: -f1")
    assert out.split() == ["lo", "lo"]


def test_loopback_is_up(bundle):
    """runc and crun bring ``lo`` up in a new network namespace."""
    flags = int(bundle.probe("cat /sys/class/net/lo/flags"), 16)
    assert flags & 0x1, f"lo is down (flags {flags:#x})"


def test_cgroup_namespace(bundle):
    out = bundle.probe("cat /proc/self/cgroup")
    lines = out.splitlines()
    assert lines
    for line in lines:
        assert line.rsplit(":", 1)[1] == "/", line


def test_user_namespace_with_mappings(open_bundle):
    b = open_bundle
    b.linux["namespaces"].append({"type": "user"})
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    b.config["root"]["readonly"] = False
    owned = b.rootfs / "etc" / "owned"
    owned.write_text("x")
    os.chown(owned, 100005, 200007)
    out = b.probe(
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; "
        "stat -c '%u:%g' /etc/owned /bin/busybox; touch /tmp/made"
    )
    lines = [ln.split() for ln in out.splitlines()]
    assert lines[0] == ["0", "100000", "65536"]
    assert lines[1] == ["0", "200000", "65536"]
    assert lines[2] == ["0"]
    assert lines[3] == ["5:7"]
    assert lines[4] == ["65534:65534"]  # host root is unmapped: the overflow ids
    made = os.stat(b.rootfs / "tmp" / "made")
    assert (made.st_uid, made.st_gid) == (100000, 200000)


@pytest.fixture
def helper_ns(rt):
    """A sleeping process in its own network and IPC namespaces."""
    proc = subprocess.Popen(["unshare", "--net", "--ipc", "sleep", "1000"])
    try:
        # unshare execs sleep in place: the pid is the same once the namespace changed.
        rt.wait_for(
            lambda: host_ns("network", str(proc.pid)) != host_ns("network"),
            "unshare to enter a new network namespace",
        )
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_join_existing_namespaces_by_path(bundle, helper_ns):
    for ns in bundle.linux["namespaces"]:
        if ns["type"] in ("network", "ipc"):
            ns["path"] = f"/proc/{helper_ns}/ns/{PROC_NAMES[ns['type']]}"
    inside = probe_ns(bundle)
    assert inside["network"] == host_ns("network", str(helper_ns))
    assert inside["ipc"] == host_ns("ipc", str(helper_ns))
    assert inside["network"] != host_ns("network")


def test_join_missing_namespace_path_fails(bundle, rt):
    for ns in bundle.linux["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = "/proc/0/ns/net"
    bundle.set_script("true")
    bundle.write()
    cid = rt.new_id()
    err = rt.fails("run", "--bundle", str(bundle.path), cid)
    assert "/proc/0/ns/net" in err
    assert rt.leftovers(cid) == []


def test_no_mount_namespace_uses_chroot(bundle):
    """Without a mount namespace pivot_root is impossible: the process is
    chrooted into the rootfs (and everything after it must work there)."""
    bundle.linux["namespaces"] = [ns for ns in bundle.linux["namespaces"]
                                  if ns["type"] != "mount"]
    bundle.config["mounts"] = []
    for key in ("maskedPaths", "readonlyPaths"):  # need a mount namespace (validator)
        bundle.linux.pop(key, None)
    bundle.process["cwd"] = "/newdir"  # made inside the root, after the chroot
    out = bundle.probe("pwd; ls /bin/busybox")
    assert out.split() == ["/newdir", "/bin/busybox"]
    assert os.readlink("/proc/self/ns/mnt")  # the host's mount namespace is untouched
