import os

from launcher.backend.linux import cgroupmount


def test_v2_binds_the_one_unified_dir() -> None:
    assert cgroupmount.binds("v2", "/launcher/x", root="/sys/fs/cgroup") == [
        ("/sys/fs/cgroup/launcher/x", "")
    ]


def test_v1_binds_only_mounted_hierarchies_holding_the_cgroup(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from launcher import mountinfo

    root = tmp_path / "cg"
    for name in ("memory", "pids", "junk"):
        (root / name / "launcher" / "x").mkdir(parents=True)
    (root / "cpu").mkdir()  # mounted, but the container has no cgroup there
    entries = [
        mountinfo.MountEntry(str(root / n), "/", "cgroup", [], "rw," + n)
        for n in ("memory", "pids", "cpu")
    ] + [mountinfo.MountEntry(str(root / "junk"), "/", "tmpfs", [], "rw")]
    monkeypatch.setattr(mountinfo, "entries", lambda: entries)
    got = cgroupmount.binds("hybrid", "/launcher/x", root=str(root))
    assert got == [(os.path.join(root, "memory", "launcher/x"), "memory"),
                   (os.path.join(root, "pids", "launcher/x"), "pids")]
