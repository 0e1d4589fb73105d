import gzip

import pytest

from launcher.vm import cpio


def _members(data: bytes) -> list[tuple[str, int, bytes]]:
    out, i = [], 0
    while True:
        assert data[i:i + 6] == b"070701"
        fields = [int(data[i + 6 + 8 * k: i + 14 + 8 * k], 16) for k in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[i + 110: i + 110 + namesize - 1].decode()
        i += 110 + namesize
        i += -i % 4
        body = data[i:i + size]
        i += size + (-size % 4)
        if name == "TRAILER!!!":
            return out
        out.append((name, mode, body))


def test_newc_round_trip_and_alignment() -> None:
    entries = [("bin", cpio.DIR, b""), ("bin/x", cpio.EXEC, b"abc"), ("init", cpio.FILE, b"12345")]
    data = cpio.newc(entries)
    assert len(data) % 4 == 0
    assert _members(data) == entries


def test_deterministic_and_gzip_has_no_time() -> None:
    a = cpio.initramfs([("f", cpio.FILE, b"x")])
    assert a == cpio.initramfs([("f", cpio.FILE, b"x")])
    assert a[4:8] == b"\0\0\0\0"  # gzip mtime
    assert _members(gzip.decompress(a)) == [("f", cpio.FILE, b"x")]


@pytest.mark.parametrize("name", ["/abs", "a/../b", ".."])
def test_refuses_unsafe_names(name: str) -> None:
    with pytest.raises(ValueError):
        cpio.newc([(name, cpio.FILE, b"")])


def test_marker_initramfs_prints_the_marker() -> None:
    members = dict((n, b) for n, _m, b in _members(gzip.decompress(
        cpio.marker_initramfs(b"BB", "MARK"))))
    assert members["bin/busybox"] == b"BB"
    assert b"echo MARK" in members["init"] and b"poweroff -f" in members["init"]
