import os
import stat
from pathlib import Path

import pytest

from launcher.spec import privileged
from launcher.spec.caps import ALL, cap_number
from launcher.spec.defaults import default_linux, default_mounts, default_process


def test_privileged_widens_everything_but_namespaces(tmp_path: Path) -> None:
    process, linux, mounts = default_process(), default_linux(), default_mounts()
    namespaces = [ns.type for ns in linux.namespaces or []]
    privileged.apply(process, linux, mounts, nnp_asked=False, cap_drop=[],
                     dev_root=str(tmp_path))
    caps = process.capabilities
    assert caps is not None
    held = privileged._held_caps()
    every = [c for c in ALL if held is None or cap_number(c) in held]
    assert caps.bounding == every and caps.effective == every
    assert caps.inheritable == [] and caps.ambient == []
    assert process.no_new_privileges is False
    assert linux.seccomp is None and linux.masked_paths is None and linux.readonly_paths is None
    assert linux.resources is not None and linux.resources.devices is not None
    assert [(d.allow, d.access) for d in linux.resources.devices] == [(True, "rwm")]
    assert [ns.type for ns in linux.namespaces or []] == namespaces
    for m in mounts:
        if m.type in ("sysfs", "cgroup"):
            assert "ro" not in (m.options or [])


def test_cap_drop_and_nnp_still_apply(tmp_path: Path) -> None:
    process, linux = default_process(), default_linux()
    privileged.apply(process, linux, default_mounts(), nnp_asked=True,
                     cap_drop=["CAP_SYS_ADMIN"], dev_root=str(tmp_path))
    assert process.capabilities is not None
    assert "CAP_SYS_ADMIN" not in (process.capabilities.bounding or [])
    assert process.no_new_privileges is True


@pytest.mark.root
def test_host_devices_lists_nodes_without_following_links(tmp_path: Path) -> None:
    os.mknod(tmp_path / "sda", 0o660 | stat.S_IFBLK, os.makedev(8, 0))
    (tmp_path / "net").mkdir()
    os.mknod(tmp_path / "net/tun", 0o666 | stat.S_IFCHR, os.makedev(10, 200))
    os.mknod(tmp_path / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # every container's
    os.chmod(tmp_path / "sda", 0o660)
    os.chmod(tmp_path / "net/tun", 0o666)
    (tmp_path / "link").symlink_to("/dev/null")
    (tmp_path / "regular").write_text("x")
    devs = privileged.host_devices(str(tmp_path))
    assert [(d.path, d.type, d.major, d.minor, d.file_mode) for d in devs] == [
        ("/dev/net/tun", "c", 10, 200, 0o666), ("/dev/sda", "b", 8, 0, 0o660)]
