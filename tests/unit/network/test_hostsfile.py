"""/etc/hosts as Docker writes it, --add-host parsing, and the in-place rewrite."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launcher.errors import RuntimeFailure
from launcher.network.hostsfile import (
    HOST_GATEWAY,
    LOCK_SUFFIX,
    hosts_file,
    parse_add_host,
    rewrite_hosts,
)

REPO = Path(__file__).resolve().parents[3]
LOCALHOST = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)

# -- content --------------------------------------------------------------------


def test_golden_default_bridge() -> None:
    assert hosts_file(hostname="3f4a1c9e2b7d", ip="172.17.0.2") == (
        LOCALHOST + "172.17.0.2\t3f4a1c9e2b7d\n"
    )


def test_golden_user_network_with_everything() -> None:
    text = hosts_file(
        hostname="web",
        ip="172.18.0.2",
        ip6="fd00::2",
        domainname="corp.example",
        aliases=["web-1", "web", "frontend"],
        extra_hosts=[("db.example", "10.0.0.1"), ("host.docker.internal", HOST_GATEWAY)],
        peers=[
            ("172.18.0.3", ["cache", "cache-alias"]),
            ("fd00::3", ["cache", "cache-alias"]),
            ("172.18.0.2", ["web"]),  # itself: skipped
            ("172.18.0.4", []),  # no names: skipped
        ],
        network_mode="mynet",
        host_gateway="172.18.0.1",
    )
    assert text == LOCALHOST + (
        "10.0.0.1\tdb.example\n"
        "172.18.0.1\thost.docker.internal\n"
        "172.18.0.2\tweb.corp.example web web-1 frontend\n"
        "fd00::2\tweb.corp.example web web-1 frontend\n"
        "172.18.0.3\tcache cache-alias\n"
        "fd00::3\tcache cache-alias\n"
    )


def test_golden_no_network_no_ipv6() -> None:
    text = hosts_file(hostname="box", ip=None, network_mode="none", ipv6=False)
    assert text == "127.0.0.1\tlocalhost\n"


def test_host_network_is_the_host_file_plus_add_host() -> None:
    host = "127.0.0.1\tlocalhost\n127.0.1.1\tmymachine"
    text = hosts_file(
        hostname="ignored",
        ip=None,
        extra_hosts=[("db", "10.0.0.1")],
        network_mode="host",
        host_text=host,
    )
    assert text == host + "\n10.0.0.1\tdb\n"


def test_host_gateway_needs_a_gateway() -> None:
    with pytest.raises(ValueError, match="needs the network's gateway"):
        hosts_file(hostname="a", ip="10.0.0.2", extra_hosts=[("gw", HOST_GATEWAY)])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hostname": "bad host"},
        {"ip": "10.0.0"},
        {"aliases": ["ok", "bad\n6.6.6.6 evil"]},
        {"aliases": ["#comment"]},
        {"extra_hosts": [("db", "not-an-ip")]},
        {"extra_hosts": [("d b", "10.0.0.1")]},
        {"peers": [("10.0.0.9", ["-x"])]},
        {"peers": [("nope", ["x"])]},
        {"domainname": "bad_domain"},
        {"host_gateway": "gw", "extra_hosts": [("g", HOST_GATEWAY)]},
    ],
)
def test_bad_values_are_refused(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"hostname": "web", "ip": "10.0.0.2"} | kwargs
    with pytest.raises(ValueError):
        hosts_file(**args)  # type: ignore[arg-type]


def test_container_network_mode_is_not_generated() -> None:
    with pytest.raises(ValueError, match="that one's hosts file"):
        hosts_file(hostname="a", ip=None, network_mode="container:abc")


# -- --add-host -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("db:10.0.0.1", ("db", "10.0.0.1")),
        ("db=10.0.0.1", ("db", "10.0.0.1")),
        ("db:::1", ("db", "::1")),
        ("db=::1", ("db", "::1")),
        ("db:[::1]", ("db", "::1")),
        ("db=[2001:db8::1]", ("db", "2001:db8::1")),
        ("db:[10.0.0.1]", ("db", "10.0.0.1")),
        ("db:0:0:0:0:0:0:0:1", ("db", "0:0:0:0:0:0:0:1")),  # kept as written
        ("host.docker.internal:host-gateway", ("host.docker.internal", HOST_GATEWAY)),
        ("my_db.local=host-gateway", ("my_db.local", HOST_GATEWAY)),
    ],
)
def test_parse_add_host(text: str, expected: tuple[str, str]) -> None:
    assert parse_add_host(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("db", "expected NAME:IP or NAME=IP"),
        (":10.0.0.1", "expected NAME:IP or NAME=IP"),
        ("=10.0.0.1", "expected NAME:IP or NAME=IP"),
        ("a:b=10.0.0.1", "expected NAME:IP or NAME=IP"),
        ("db:", "is not an IP address"),
        ("db:10.0.0.256", "is not an IP address"),
        ("db:[::1", "is not an IP address"),
        ("db:example.com", "is not an IP address"),
        ("db:Host-Gateway", "is not an IP address"),
        ("d b:10.0.0.1", "invalid --add-host name"),
        ("-db:10.0.0.1", "invalid --add-host name"),
        ("db\n1.1.1.1 x:10.0.0.1", "invalid --add-host name"),
    ],
)
def test_parse_add_host_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_add_host(text)


# -- rewriting in place -----------------------------------------------------------


def test_rewrite_creates_then_replaces_in_place(tmp_path: Path) -> None:
    path = str(tmp_path / "hosts")
    rewrite_hosts(path, "old old old old\n")
    assert (tmp_path / "hosts").stat().st_mode & 0o777 == 0o644
    # The bind mount inside a container holds the inode open, like this fd.
    seen = os.open(path, os.O_RDONLY)
    try:
        inode = os.fstat(seen).st_ino
        rewrite_hosts(path, "new\n")
        assert os.pread(seen, 100, 0) == b"new\n"
        assert os.stat(path).st_ino == inode
    finally:
        os.close(seen)


def test_rewrite_refuses_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    (tmp_path / "hosts").symlink_to(target)
    with pytest.raises(RuntimeFailure, match="symlink"):
        rewrite_hosts(str(tmp_path / "hosts"), "evil\n")
    assert target.read_text() == "precious\n"
    (tmp_path / "dangling").symlink_to(tmp_path / "created")
    with pytest.raises(RuntimeFailure, match="symlink"):
        rewrite_hosts(str(tmp_path / "dangling"), "evil\n")
    assert not (tmp_path / "created").exists()


def test_rewrite_refuses_a_symlinked_lock(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    (tmp_path / ("hosts" + LOCK_SUFFIX)).symlink_to(target)
    with pytest.raises(RuntimeFailure, match="symlink"):
        rewrite_hosts(str(tmp_path / "hosts"), "x\n")
    assert not (tmp_path / "hosts").exists()


def test_rewrite_refuses_a_fifo_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "hosts")
    with pytest.raises(RuntimeFailure, match="hosts"):
        rewrite_hosts(str(tmp_path / "hosts"), "x\n")


def _writer(path: str, content_char: str, size: int, rounds: int) -> subprocess.Popen[bytes]:
    code = (
        "import sys\n"
        "from launcher.network.hostsfile import rewrite_hosts\n"
        "path, ch, size, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])\n"
        "print('ready', flush=True)\n"
        "for _ in range(rounds):\n"
        "    rewrite_hosts(path, ch * size)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-c", code, path, content_char, str(size), str(rounds)],
        env=env,
        stdout=subprocess.PIPE,
    )


def _blocked_on_flock(pid: int) -> bool:
    with open("/proc/locks") as f:
        return any(
            fields[1] == "->" and fields[2] == "FLOCK" and fields[5] == str(pid)
            for fields in (line.split() for line in f)
            if len(fields) > 5
        )


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="needs /proc/locks")
def test_a_writer_waits_for_the_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "hosts")
    rewrite_hosts(path, "before\n")
    lock = os.open(path + LOCK_SUFFIX, os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)
    proc = _writer(path, "x", 10, 1)
    try:
        deadline = time.monotonic() + 60  # a bound for a broken host, not a timing check
        while not _blocked_on_flock(proc.pid):
            assert proc.poll() is None, "the writer finished while the lock was held"
            assert time.monotonic() < deadline, "the writer never waited on the lock"
            time.sleep(0.01)
        assert Path(path).read_text() == "before\n"
    finally:
        os.close(lock)
        proc.communicate()
    assert proc.returncode == 0
    assert Path(path).read_text() == "x" * 10


def test_concurrent_rewrites_do_not_interleave(tmp_path: Path) -> None:
    """Two writers of different sizes; a reader holding the same lock must only
    ever see one whole version (unlocked, it sees empty and half-written files)."""
    path = str(tmp_path / "hosts")
    initial = "i" * 1000
    rewrite_hosts(path, initial)
    whole = {initial, "a" * 300_000, "b" * 70_000}
    procs = [_writer(path, "a", 300_000, 150), _writer(path, "b", 70_000, 150)]
    lock = os.open(path + LOCK_SUFFIX, os.O_RDWR)
    try:
        while any(p.poll() is None for p in procs):
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                text = Path(path).read_text()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
            assert text in whole, f"torn file: {len(text)} bytes"
    finally:
        os.close(lock)
        for p in procs:
            p.communicate()
    assert [p.returncode for p in procs] == [0, 0]
    assert Path(path).read_text() in whole - {initial}
