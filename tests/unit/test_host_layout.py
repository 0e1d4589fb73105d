import sys

import pytest

from launcher import host, mountinfo


def _mounts(*pairs: tuple[str, str]) -> list[mountinfo.MountEntry]:
    return [mountinfo.MountEntry(mp, "/", t, [], "rw") for mp, t in pairs]


@pytest.mark.parametrize(
    ("mounts", "layout"),
    [
        ([("/sys/fs/cgroup", "cgroup2")], "v2"),
        ([("/sys/fs/cgroup", "tmpfs"), ("/sys/fs/cgroup/memory", "cgroup"),
          ("/sys/fs/cgroup/unified", "cgroup2")], "hybrid"),
        ([("/sys/fs/cgroup", "tmpfs"), ("/sys/fs/cgroup/memory", "cgroup")], "v1"),
        ([("/", "ext4")], "none"),
    ],
)
def test_cgroup_layout_from_mount_types(monkeypatch, mounts, layout) -> None:  # type: ignore[no-untyped-def]
    if not sys.platform.startswith("linux"):
        pytest.skip("cgroup layouts exist on Linux only")
    monkeypatch.setattr(mountinfo, "entries", lambda: _mounts(*mounts))
    assert host.cgroup_layout() == layout
