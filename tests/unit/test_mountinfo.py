from launcher import mountinfo


def test_unescape() -> None:
    assert mountinfo.unescape(b"/a\\040b\\134c") == b"/a b\\c"
    assert mountinfo.unescape(b"/plain") == b"/plain"


def test_entries_and_containing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "mi"
    f.write_text(
        "22 1 0:21 / / rw shared:1 - ext4 /dev/vda rw\n"
        "30 22 0:30 / /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory\n"
        "31 22 0:31 /x /a\\040b rw - tmpfs tmpfs rw\n"
    )
    es = mountinfo.entries(str(f))
    assert [e.mount_point for e in es] == ["/", "/sys/fs/cgroup/memory", "/a b"]
    assert es[1].fstype == "cgroup" and es[1].super_options == "rw,memory"
    assert es[2].root == "/x" and es[2].optional == []
    c = mountinfo.containing("/sys/fs/cgroup/memory/x", es)
    assert c is not None and c.mount_point == "/sys/fs/cgroup/memory"
    assert mountinfo.containing("/etc", es).mount_point == "/"  # type: ignore[union-attr]
    assert mountinfo.mounted_under("/sys", es)
    assert not mountinfo.mounted_under("/etc", es)
