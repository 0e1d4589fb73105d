from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from launcher.errors import ImageError, RuntimeFailure
from launcher.image import rootfs as rf


class Recorder:
    """Stands in for the syscalls seam: records calls, optionally fails."""

    def __init__(self, fail: int | None = None) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.fail = fail
        self.fd_targets: dict[str, str] = {}

    def mount(self, source: str, target: str, fstype: str, flags: int, data: str) -> None:
        self.calls.append(("mount", source, target, fstype, flags, data))
        for opt in data.split(","):  # resolve /proc/self/fd/N while the fds are open
            for p in opt.partition("=")[2].split(":"):
                if p.startswith("/proc/self/fd/"):
                    self.fd_targets[p] = os.readlink(p)
        if self.fail is not None:
            raise OSError(self.fail, os.strerror(self.fail))

    def umount(self, target: str, flags: int) -> None:
        self.calls.append(("umount", target, flags))
        if self.fail is not None:
            raise OSError(self.fail, os.strerror(self.fail))


def layers(base: Path, n: int, name: str = "layer") -> list[str]:
    out = []
    for i in range(n):
        d = base / f"{name}{i:03d}"
        d.mkdir(parents=True)
        (d / f"file{i}").write_text(str(i))
        out.append(str(d))
    return out


@pytest.fixture
def cdir(tmp_path: Path) -> Path:
    d = tmp_path / "ctr"
    d.mkdir(mode=0o700)
    return d


def test_overlay_options_and_dirs(tmp_path: Path, cdir: Path) -> None:
    ls = layers(tmp_path / "layers", 3)
    os.chmod(ls[-1], 0o751)
    rec = Recorder()
    root = rf.prepare_rootfs(ls, str(cdir), rec.mount)
    assert root == str(cdir / "rootfs")
    assert rec.calls == [
        (
            "mount",
            "overlay",
            root,
            "overlay",
            0,
            f"lowerdir={ls[2]}:{ls[1]}:{ls[0]},upperdir={cdir}/upper,workdir={cdir}/work",
        )
    ]
    for name in ("rootfs", "work"):
        assert stat.S_IMODE((cdir / name).stat().st_mode) == 0o700
    assert stat.S_IMODE((cdir / "upper").stat().st_mode) == 0o751  # the merged root's mode


@pytest.mark.parametrize("count", [1, 80])
def test_long_lowerdir_uses_fd_paths(tmp_path: Path, cdir: Path, count: int) -> None:
    base = tmp_path / ("x" * 120)
    ls = layers(base, count, name="l" * 60)
    rec = Recorder()
    before = set(os.listdir("/proc/self/fd"))
    rf.prepare_rootfs(ls, str(cdir), rec.mount)
    data = str(rec.calls[0][5])
    plain = rf.overlay_options(ls[::-1], f"{cdir}/upper", f"{cdir}/work")
    if len(plain) < os.sysconf("SC_PAGE_SIZE"):
        assert data == plain
        return
    assert len(data) < os.sysconf("SC_PAGE_SIZE")
    lower = data.split(",")[0].removeprefix("lowerdir=").split(":")
    assert [rec.fd_targets[p] for p in lower] == ls[::-1]
    assert set(os.listdir("/proc/self/fd")) == before  # every O_PATH fd closed


def test_special_characters_use_fd_paths(tmp_path: Path, cdir: Path) -> None:
    ls = layers(tmp_path / "we,ird:dir", 2)
    rec = Recorder()
    rf.prepare_rootfs(ls, str(cdir), rec.mount)
    assert "we,ird" not in str(rec.calls[0][5])
    assert sorted(rec.fd_targets.values()) == sorted([*ls, f"{cdir}/upper", f"{cdir}/work"])


@pytest.mark.parametrize("err", [errno.EPERM, errno.EINVAL, errno.ENODEV])
def test_copy_fallback(tmp_path: Path, cdir: Path, err: int) -> None:
    ls = layers(tmp_path / "layers", 2)
    (Path(ls[1]) / "file0").write_text("overridden")
    notes: list[str] = []
    root = rf.prepare_rootfs(ls, str(cdir), Recorder(fail=err).mount, note=notes.append)
    assert sorted(os.listdir(root)) == ["file0", "file1"]
    assert (Path(root) / "file0").read_text() == "overridden"
    assert len(notes) == 1 and "copying 2 layer(s)" in notes[0]
    assert sorted(os.listdir(cdir)) == ["rootfs"]


def test_too_many_layers_fall_back(tmp_path: Path, cdir: Path) -> None:
    ls = layers(tmp_path / ("y" * 100), 300)
    notes: list[str] = []
    rec = Recorder()
    root = rf.prepare_rootfs(ls, str(cdir), rec.mount, note=notes.append)
    assert rec.calls == [] and "do not fit" in notes[0]
    assert len(os.listdir(root)) == 300


def test_other_mount_errors_are_failures(tmp_path: Path, cdir: Path) -> None:
    with pytest.raises(RuntimeFailure, match="mount overlay"):
        rf.prepare_rootfs(layers(tmp_path / "l", 1), str(cdir), Recorder(errno.EBUSY).mount)


def test_no_layers(cdir: Path) -> None:
    with pytest.raises(ImageError, match="no layers"):
        rf.prepare_rootfs([], str(cdir), Recorder().mount)


def test_release(tmp_path: Path, cdir: Path) -> None:
    rec = Recorder()
    rf.prepare_rootfs(layers(tmp_path / "l", 1), str(cdir), rec.mount)
    (cdir / "upper" / "written").write_text("x")
    (cdir / "keep.json").write_text("{}")
    rf.release_rootfs(str(cdir), Recorder(fail=errno.EINVAL).umount)
    assert os.listdir(cdir) == ["keep.json"]
    rec2 = Recorder()
    rf.release_rootfs(str(cdir), rec2.umount)  # idempotent
    assert rec2.calls == [("umount", str(cdir / "rootfs"), rf.MNT_DETACH)]


def test_release_refuses_while_mounted(
    tmp_path: Path, cdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rf.prepare_rootfs(layers(tmp_path / "l", 1), str(cdir), Recorder().mount)
    monkeypatch.setattr(rf, "_mounted_under", lambda path: True)
    with pytest.raises(RuntimeFailure, match="still mounted"):
        rf.release_rootfs(str(cdir), Recorder().umount)
    assert (cdir / "rootfs").is_dir()
    with pytest.raises(RuntimeFailure, match="umount"):
        rf.release_rootfs(str(cdir), Recorder(fail=errno.EBUSY).umount)


def test_mounted_under() -> None:
    assert not rf._mounted_under("/nonexistent/launcher/test")
    assert rf._mounted_under("/proc")
