from launcher.backend.linux import mountopts
from launcher.backend.linux import syscalls as sc


def test_flags_and_data_are_separated() -> None:
    o = mountopts.parse(["nosuid", "noexec", "mode=755", "size=65536k", "strictatime"])
    assert o.flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_STRICTATIME
    assert o.data == "mode=755,size=65536k"
    assert not o.is_bind


def test_clearing_options_undo_earlier_ones() -> None:
    assert mountopts.parse(["ro", "rw"]).flags == 0
    assert mountopts.parse(["nodev", "dev"]).flags == 0


def test_rbind_and_propagation() -> None:
    o = mountopts.parse(["rbind", "ro", "rprivate", "slave"])
    assert o.is_bind
    assert o.flags == sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY
    assert o.propagation == [sc.MS_PRIVATE | sc.MS_REC, sc.MS_SLAVE]


def test_recursive_and_ignored_options() -> None:
    o = mountopts.parse(["rro", "tmpcopyup", "idmap"])
    assert o.recursive == ["rro"]
    assert o.flags == 0 and o.data == ""


def test_none_is_empty() -> None:
    o = mountopts.parse(None)
    assert (o.flags, o.propagation, o.data) == (0, [], "")
