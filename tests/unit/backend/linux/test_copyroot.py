"""Which root ``cp`` opens for a container, and the mounts it makes for a stopped one
(through the recording syscalls seam: nothing is really mounted)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.backend.linux import copyroot
from launcher.backend.linux.containers import Container
from launcher.backend.linux.record import ContainerRecord
from launcher.errors import ConflictError, RuntimeFailure, StateError
from launcher.paths import Paths

from .conftest import RecordingSyscalls

LAYER = "a" * 64


@pytest.fixture(autouse=True)
def fresh_namespace_flag() -> Iterator[None]:
    copyroot._private_ns.clear()
    yield
    copyroot._private_ns.clear()


def make(tmp_path: Path, *, readonly: bool = False, layers: str = f"sha256:{LAYER}",
         status: str = "exited") -> tuple[Paths, Container, Path]:
    paths = Paths.from_root(str(tmp_path / "root"))
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    (Path(paths.layers) / LAYER).mkdir(parents=True)
    vol = tmp_path / "vol"
    vol.mkdir()
    config = {
        "ociVersion": "1.2.0", "root": {"path": "rootfs", "readonly": readonly},
        "process": {"args": ["sh"], "cwd": "/"},
        "annotations": {"io.launcher.image.layers": layers},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/v", "type": "bind", "source": str(vol),
                    "options": ["rbind", "ro"]}],
        "linux": {"namespaces": [{"type": "mount"}]},
    }
    (bundle / "config.json").write_text(json.dumps(config))
    return paths, Container(ContainerRecord("cid", str(bundle)), status, 0), bundle


def test_stopped_root_mounts_overlay_and_binds_then_detaches(tmp_path: Path) -> None:
    paths, c, bundle = make(tmp_path, readonly=True)
    sys_ = RecordingSyscalls()
    with copyroot.open_root(paths, c, "c", sys_) as root:
        assert not root.live and root.fd >= 0
        assert (bundle / "rootfs" / "v").is_dir()  # the mount point, made in the root
    calls = sys_.calls
    assert calls[0] == ("unshare", (0x20000,))  # CLONE_NEWNS, then "/" made rprivate
    assert calls[1][0] == "mount" and calls[1][1][3] == 0x4000 | 0x40000
    source, target, fstype, _flags, data = calls[2][1]
    assert (source, target, fstype) == ("overlay", str(bundle / "rootfs"), "overlay")
    assert data.startswith("lowerdir=/proc/self/fd/") and "upperdir=/proc/self/fd/" in data
    binds = [a for n, a in calls if n == "open_tree" and a[0] == str(tmp_path / "vol")]
    assert len(binds) == 1  # /proc is not rebuilt: only the volume
    ro = [a for n, a in calls if n == "mount_setattr" and a[3] & 0x1]  # MOUNT_ATTR_RDONLY
    assert len(ro) == 1  # the volume, read-only before it is attached
    remounts = [a for n, a in calls if n == "mount" and a[3] & 0x20]  # MS_REMOUNT
    assert len(remounts) == 1 and remounts[0][3] & 0x1  # the root
    assert calls[-1] == ("umount2", (str(bundle / "rootfs"), 2))  # MNT_DETACH, last
    assert (bundle / "upper").is_dir() and (bundle / "work").is_dir()


def test_private_namespace_is_entered_once(tmp_path: Path) -> None:
    paths, c, _ = make(tmp_path)
    sys_ = RecordingSyscalls()
    for _ in range(2):
        copyroot.open_root(paths, c, "c", sys_).close()
    assert sys_.names().count("unshare") == 1
    assert sys_.names().count("umount2") == 2


def test_a_failed_bind_leaves_nothing_mounted(tmp_path: Path) -> None:
    paths, c, bundle = make(tmp_path)
    (tmp_path / "vol").rmdir()  # the volume's source is gone
    sys_ = RecordingSyscalls()
    with pytest.raises(RuntimeFailure):
        copyroot.open_root(paths, c, "c", sys_)
    assert sys_.calls[-1] == ("umount2", (str(bundle / "rootfs"), 2))


def test_refused_mounts_are_clear_errors(tmp_path: Path) -> None:
    paths, c, _ = make(tmp_path)
    sys_ = RecordingSyscalls(fail={"mount": 19})
    with pytest.raises(RuntimeFailure, match="private mount namespace was refused"):
        copyroot.open_root(paths, c, "c", sys_)
    copyroot._private_ns.append(True)  # as if entered: now the overlay itself fails
    with pytest.raises(RuntimeFailure, match="mounting the filesystem of the stopped"):
        copyroot.open_root(paths, c, "c", sys_)
    assert "umount2" not in sys_.names()  # nothing was mounted: nothing to undo


def test_copy_fallback_rootfs_is_bound_not_overlaid(tmp_path: Path) -> None:
    paths, c, bundle = make(tmp_path)
    (bundle / "rootfs" / "bin").mkdir()  # layers copied in: no upper dir
    sys_ = RecordingSyscalls()
    copyroot.open_root(paths, c, "c", sys_).close()
    target = str(bundle / "rootfs")
    assert ("mount", (target, target, None, 0x1000, None)) in sys_.calls  # MS_BIND
    assert not any(a[2] == "overlay" for n, a in sys_.calls if n == "mount")


def test_bad_layer_annotation(tmp_path: Path) -> None:
    paths, c, _ = make(tmp_path, layers="sha256:../../etc")
    with pytest.raises(StateError, match="invalid layer"):
        copyroot.open_root(paths, c, "c", RecordingSyscalls())


@pytest.mark.parametrize("status", ["restarting", "dead"])
def test_refused_states(tmp_path: Path, status: str) -> None:
    paths, c, _ = make(tmp_path, status=status)
    with pytest.raises(ConflictError, match="cannot copy files of container c"):
        copyroot.open_root(paths, c, "c", RecordingSyscalls())


def test_live_root_checks_the_pid_start_time(tmp_path: Path) -> None:
    from launcher.backend.linux import procinfo
    from launcher.backend.linux.containers import runtime_root
    from launcher.backend.linux.state import ContainerState

    paths, c, _ = make(tmp_path, status="running")
    state_dir = Path(runtime_root(paths)) / "cid"
    state_dir.mkdir(parents=True)
    st = ContainerState("cid", str(state_dir))
    st.pid, st.pid_start = os.getpid(), procinfo.start_time(os.getpid())
    st.save()
    c.pid = os.getpid()
    with copyroot.open_root(paths, c, "c") as root:  # our own /proc/<pid>/root: "/"
        assert root.live and os.path.samestat(os.fstat(root.fd), os.stat("/"))
    st.pid_start = (st.pid_start or 0) + 1  # a recycled pid
    st.save()
    with pytest.raises(ConflictError, match="stopped"):
        copyroot.open_root(paths, c, "c")
