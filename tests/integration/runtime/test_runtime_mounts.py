"""The container's filesystem: default mounts, /dev, binds, tmpfs, masks, read-only paths."""

from __future__ import annotations

import os

import pytest

from launcher.spec.defaults import MASKED_PATHS

pytestmark = pytest.mark.root

# What the probe prints for /proc/self/mountinfo: mount point → (per-mount options, fs type,
# super options, optional fields).
MOUNTINFO = "cat /proc/self/mountinfo"


def parse_mountinfo(text: str) -> dict[str, tuple[set[str], str, set[str], list[str]]]:
    out = {}
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        fstype, _source, sb_opts = right.split(" ", 2)
        out[fields[4]] = (set(fields[5].split(",")), fstype, set(sb_opts.split(",")), fields[6:])
    return out


def test_proc_is_a_fresh_procfs(bundle):
    mounts = parse_mountinfo(bundle.probe(MOUNTINFO))
    opts, fstype, _sb, _tags = mounts["/proc"]
    assert fstype == "proc"
    assert {"nosuid", "nodev", "noexec"} <= opts


def test_dev_has_exactly_the_default_nodes(bundle):
    out = bundle.probe(
        "ls -A /dev; echo ==; "
        "stat -c '%n %F %t:%T %a' /dev/null /dev/zero /dev/full /dev/random "
        "/dev/urandom /dev/tty; echo ==; "
        "for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done"
    )
    names, nodes, links = (part.strip().splitlines() for part in out.split("=="))
    assert sorted(names) == sorted([
        "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
        "stdout", "tty", "urandom", "zero",
    ])  # fmt: skip
    # stat prints major:minor in hex.
    assert nodes == [
        "/dev/null character special file 1:3 666",
        "/dev/zero character special file 1:5 666",
        "/dev/full character special file 1:7 666",
        "/dev/random character special file 1:8 666",
        "/dev/urandom character special file 1:9 666",
        "/dev/tty character special file 5:0 666",
    ]
    assert links == [
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        "pts/ptmx",
    ]


def test_dev_is_a_tmpfs_with_the_spec_options(bundle):
    mounts = parse_mountinfo(bundle.probe(MOUNTINFO))
    opts, fstype, sb, _ = mounts["/dev"]
    assert fstype == "tmpfs"
    assert "nosuid" in opts
    assert {"mode=755", "size=65536k"} <= sb


def test_dev_pts_is_a_new_instance(bundle):
    out = bundle.probe(f"stat -c %d /dev/pts; ls /dev/pts; {MOUNTINFO}")
    dev, listing, *rest = out.splitlines()
    assert int(dev) != os.stat("/dev/pts").st_dev  # not the host's devpts
    assert listing == "ptmx"  # no host terminals in sight
    opts, fstype, sb, _ = parse_mountinfo("\n".join(rest))["/dev/pts"]
    assert fstype == "devpts"
    assert {"nosuid", "noexec"} <= opts
    assert {"ptmxmode=666", "mode=620", "gid=5"} <= sb


def test_dev_shm_and_mqueue(bundle):
    out = bundle.probe(f"echo x > /dev/shm/f && cat /dev/shm/f; {MOUNTINFO}")
    written, *rest = out.splitlines()
    assert written == "x"
    mounts = parse_mountinfo("\n".join(rest))
    assert mounts["/dev/shm"][1] == "tmpfs"
    assert {"nosuid", "nodev", "noexec"} <= mounts["/dev/shm"][0]
    assert mounts["/dev/mqueue"][1] == "mqueue"


def test_sys_is_read_only(bundle):
    mounts = parse_mountinfo(bundle.probe(MOUNTINFO))
    opts, fstype, _sb, _ = mounts["/sys"]
    assert fstype == "sysfs"
    assert {"ro", "nosuid", "nodev", "noexec"} <= opts


def test_sys_fs_cgroup_is_read_only_and_the_containers_own(bundle):
    bundle.resources["pids"] = {"limit": 321}
    out = bundle.probe(f"cat /sys/fs/cgroup/pids/pids.max; ls /sys/fs/cgroup/pids; {MOUNTINFO}")
    pids_max, *rest = out.splitlines()
    assert pids_max == "321"  # the container's cgroup, not the host's root
    listing = [ln for ln in rest if not ln[0].isdigit()]
    assert "launcher-runtime" not in listing  # nothing above the container's cgroup
    mounts = parse_mountinfo("\n".join(ln for ln in rest if ln[0].isdigit()))
    cgroup_mounts = {k: v for k, v in mounts.items() if k.startswith("/sys/fs/cgroup")}
    assert cgroup_mounts
    for point, (opts, _t, _sb, _) in cgroup_mounts.items():
        assert "ro" in opts, f"{point} is writable"


def test_bind_mount_read_only(bundle, tmp_path):
    src = tmp_path / "data"
    src.mkdir()
    (src / "f").write_text("from the host\n")
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "bind", "source": str(src), "options": ["rbind", "ro"]}
    )
    res = bundle.run("cat /data/f; touch /data/new")
    assert res.returncode == 1
    assert res.stdout == "from the host\n"
    assert "Read-only" in res.stderr
    assert not (src / "new").exists()


def test_bind_mount_read_write(bundle, tmp_path):
    src = tmp_path / "data"
    src.mkdir()
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "bind", "source": str(src), "options": ["rbind", "rw"]}
    )
    bundle.probe("echo written > /data/new")
    assert (src / "new").read_text() == "written\n"


def test_bind_mount_of_a_file(bundle, tmp_path):
    src = tmp_path / "hosts"
    src.write_text("127.0.0.1 example\n")
    bundle.config["mounts"].append(
        {"destination": "/etc/hosts", "type": "bind", "source": str(src),
         "options": ["bind", "ro"]})  # fmt: skip
    assert bundle.probe("cat /etc/hosts") == "127.0.0.1 example\n"


def test_tmpfs_with_options(bundle):
    bundle.config["mounts"].append(
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=1770"]})  # fmt: skip
    out = bundle.probe(f"stat -c %a /scratch; touch /scratch/f; {MOUNTINFO}")
    mode, *rest = out.splitlines()
    assert mode == "1770"
    opts, fstype, sb, _ = parse_mountinfo("\n".join(rest))["/scratch"]
    assert fstype == "tmpfs"
    assert {"nosuid", "nodev", "noexec"} <= opts
    assert {"size=1024k", "mode=1770"} <= sb


def test_masked_paths_read_empty(bundle):
    files = [p for p in MASKED_PATHS if os.path.isfile(p)]
    dirs = [p for p in MASKED_PATHS if os.path.isdir(p)]
    if not files and not dirs:
        pytest.skip("this host has none of the masked paths")
    script = "".join(f"echo {p} $(cat {p} | wc -c); " for p in files)
    script += "".join(f"echo {p} $(ls -A {p} | wc -l); " for p in dirs)
    out = bundle.probe(script)
    assert out.splitlines() == [f"{p} 0" for p in files + dirs]


def test_masked_paths_cannot_be_unmounted(bundle):
    target = next((p for p in MASKED_PATHS if os.path.isfile(p)), None)
    if target is None:
        pytest.skip("this host has none of the masked files")
    res = bundle.run(f"umount {target} || umount -l {target}; cat {target} | wc -c")
    assert res.stdout.strip() == "0"


def test_readonly_paths(bundle):
    # kernel.hostname is per UTS namespace: harmless even if the write went through.
    res = bundle.run(f"echo changed > /proc/sys/kernel/hostname; hostname; {MOUNTINFO}")
    assert "Read-only file system" in res.stderr
    name, *rest = res.stdout.splitlines()
    assert name == bundle.config["hostname"]
    mounts = parse_mountinfo("\n".join(rest))
    for path in ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"):
        if os.path.exists(path):
            assert "ro" in mounts[path][0], f"{path} is writable"


def test_readonly_root(bundle):
    res = bundle.run("touch /x")
    assert res.returncode == 1
    assert "Read-only file system" in res.stderr
    assert not (bundle.rootfs / "x").exists()


def test_writable_root(bundle):
    bundle.config["root"]["readonly"] = False
    bundle.probe("echo hi > /x")
    assert (bundle.rootfs / "x").read_text() == "hi\n"


@pytest.mark.parametrize(("propagation", "tag"), [
    ("private", None), ("rslave", None), ("shared", "shared:"), ("rshared", "shared:"),
])  # fmt: skip
def test_rootfs_propagation(bundle, propagation, tag):
    """On this host (private mounts) only a shared root gets a peer-group tag."""
    bundle.linux["rootfsPropagation"] = propagation
    root = parse_mountinfo(bundle.probe(MOUNTINFO))["/"]
    tags = root[3]
    if tag is None:
        assert not any(t.startswith("shared:") for t in tags), tags
    else:
        assert any(t.startswith(tag) for t in tags), tags
