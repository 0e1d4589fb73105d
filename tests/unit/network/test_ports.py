"""The -p/-P grammar, the `launcher port` text, conflicts and host port reservation."""

from __future__ import annotations

import _socket
import errno

import pytest

from launcher.errors import ConflictError
from launcher.network import ports
from launcher.network.ports import (
    PortMapping,
    check_conflicts,
    parse_publish,
    publish_all,
    reserve,
)


def pm(ip: str, host: int, cport: int, proto: str = "tcp") -> PortMapping:
    return PortMapping(ip, host, cport, proto)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("80", [pm("", 0, 80)]),
        ("80/", [pm("", 0, 80)]),
        ("80/UDP", [pm("", 0, 80, "udp")]),
        ("8080:80", [pm("", 8080, 80)]),
        ("0:80", [pm("", 0, 80)]),
        ("127.0.0.1:8080:80/udp", [pm("127.0.0.1", 8080, 80, "udp")]),
        ("127.0.0.1::80", [pm("127.0.0.1", 0, 80)]),
        ("0.0.0.0:8080:80", [pm("0.0.0.0", 8080, 80)]),
        ("[::1]:8080:80", [pm("::1", 8080, 80)]),
        ("::1:8080:80", [pm("::1", 8080, 80)]),
        ("[0:0::1]::80/sctp", [pm("::1", 0, 80, "sctp")]),
        ("8080-8082:80-82/sctp",
         [pm("", 8080, 80, "sctp"), pm("", 8081, 81, "sctp"), pm("", 8082, 82, "sctp")]),
        ("80-81", [pm("", 0, 80), pm("", 0, 81)]),
        ("10.1.2.3::53-54/udp", [pm("10.1.2.3", 0, 53, "udp"), pm("10.1.2.3", 0, 54, "udp")]),
        ("65535:65535", [pm("", 65535, 65535)]),
    ],
)
def test_parse_publish(text: str, want: list[PortMapping]) -> None:
    assert parse_publish(text) == want


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no port specified: <empty>"),
        ("8080:", "no port specified: 8080:<empty>"),
        ("/tcp", "no port specified: /tcp<empty>"),
        ("abc", "invalid containerPort: abc"),
        ("0", "invalid containerPort: 0"),
        ("70000", "invalid containerPort: 70000"),
        ("82-80", "invalid containerPort: 82-80"),
        ("\uff18\uff10", "invalid containerPort: \uff18\uff10"),  # fullwidth "80"
        ("-80", "invalid containerPort: -80"),
        ("x:80", "invalid hostPort: x"),
        ("0-5:80-85", "invalid hostPort: 0-5"),
        ("127.0.0.1:80", "invalid hostPort: 127.0.0.1"),
        ("1.2.3:80:80", "invalid IP address: 1.2.3"),
        ("[::1:8080:80", "invalid IP address: [::1"),
        ("host:8080:80", "invalid IP address: host"),
        ("8080-8082:80-81", "invalid ranges specified for container and host Ports: 80-81 and "
                            "8080-8082"),
        ("8000-8010:80", "invalid ranges specified for container and host Ports: 80 and "
                         "8000-8010"),
        ("80/icmp", "invalid proto: icmp"),
    ],
)
def test_parse_publish_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_publish(text)
    assert str(info.value) == message


def test_port_text_is_dockers() -> None:
    assert str(pm("", 8080, 80)) == "80/tcp -> 0.0.0.0:8080"
    assert str(pm("127.0.0.1", 8081, 53, "udp")) == "53/udp -> 127.0.0.1:8081"
    assert str(pm("::1", 9090, 90)) == "90/tcp -> [::1]:9090"
    assert pm("", 8080, 80).host_address() == "0.0.0.0:8080"


@pytest.mark.parametrize(
    "text", ["80/tcp", "8080:80/udp", "127.0.0.1:8080:80/tcp", "127.0.0.1::80/tcp",
             "[::1]:8080:80/sctp", "[::1]::80/tcp"])
def test_spec_round_trips(text: str) -> None:
    (mapping,) = parse_publish(text)
    assert mapping.spec() == text
    assert parse_publish(mapping.spec()) == [mapping]


def test_mapping_equality_and_repr() -> None:
    assert pm("", 1, 2) == pm("", 1, 2)
    assert pm("", 1, 2) != pm("", 1, 2, "udp")
    assert len({pm("", 1, 2), pm("", 1, 2)}) == 1
    assert repr(pm("", 1, 2)) == "PortMapping('1:2/tcp')"


def test_publish_all_skips_explicit_and_duplicates() -> None:
    exposed = ["80/tcp", "53/udp", "8000-8001/tcp", "443", "80/tcp"]
    got = publish_all(exposed, skip=parse_publish("8080:80"))
    assert got == [pm("", 0, 53, "udp"), pm("", 0, 8000), pm("", 0, 8001), pm("", 0, 443)]


@pytest.mark.parametrize(("key", "message"), [("x/tcp", "invalid exposed port: x/tcp"),
                                               ("80/icmp", "invalid proto: icmp")])
def test_publish_all_errors(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        publish_all([key])


@pytest.mark.parametrize(
    ("new", "old"),
    [
        (pm("", 8080, 80), pm("", 8080, 81)),
        (pm("127.0.0.1", 8080, 80), pm("", 8080, 81)),
        (pm("", 8080, 80), pm("::1", 8080, 81)),
        (pm("127.0.0.1", 8080, 80), pm("0.0.0.0", 8080, 81)),
        (pm("::1", 8080, 80), pm("::", 8080, 81)),
        (pm("10.0.0.1", 8080, 80, "udp"), pm("10.0.0.1", 8080, 81, "udp")),
    ],
)
def test_conflicts(new: PortMapping, old: PortMapping) -> None:
    with pytest.raises(ConflictError) as info:
        check_conflicts([new], [old])
    assert str(info.value) == f"Bind for {new.host_address()} failed: port is already allocated"


@pytest.mark.parametrize(
    ("new", "old"),
    [
        (pm("", 8080, 80), pm("", 8081, 80)),
        (pm("", 8080, 80), pm("", 8080, 80, "udp")),
        (pm("127.0.0.1", 8080, 80), pm("127.0.0.2", 8080, 80)),
        (pm("0.0.0.0", 8080, 80), pm("::1", 8080, 80)),
        (pm("", 0, 80), pm("", 0, 80)),
    ],
)
def test_no_conflict(new: PortMapping, old: PortMapping) -> None:
    check_conflicts([new], [old])


def test_conflict_within_one_request() -> None:
    with pytest.raises(ConflictError, match=r"0\.0\.0\.0:8080"):
        check_conflicts(parse_publish("8080:80") + parse_publish("8080:81"), [])


def _bound(port: int, kind: int = _socket.SOCK_STREAM) -> bool:
    """Whether 127.0.0.1:port is taken (a bind without SO_REUSEADDR fails)."""
    sock = _socket.socket(_socket.AF_INET, kind, 0)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        assert exc.errno == errno.EADDRINUSE
        return True
    finally:
        sock.close()
    return False


def test_reserve_chooses_and_holds_ephemeral_ports() -> None:
    wanted = parse_publish("127.0.0.1::80-81") + parse_publish("127.0.0.1::53/udp")
    got, reservation = reserve(wanted)
    with reservation:
        assert [m.container_port for m in got] == [80, 81, 53]
        assert all(m.host_port for m in got) and got[0].host_port != got[1].host_port
        assert len(reservation.fds()) == 3
        assert _bound(got[0].host_port) and _bound(got[1].host_port)
        assert _bound(got[2].host_port, _socket.SOCK_DGRAM)
    assert not _bound(got[0].host_port)  # closed: free again
    assert reservation.fds() == []


def test_reserve_keeps_fixed_ports_and_order() -> None:
    probe = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM, 0)
    probe.bind(("127.0.0.1", 0))
    free = probe.getsockname()[1]
    probe.close()
    wanted = [pm("127.0.0.1", 0, 81), pm("127.0.0.1", free, 80)]
    got, reservation = reserve(wanted)
    with reservation:
        assert got[1] == wanted[1] and got[0].host_port not in (0, free)
        assert _bound(free)


def test_reserve_refuses_a_port_a_host_service_holds() -> None:
    holder = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM, 0)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        with pytest.raises(ConflictError) as info:
            reserve([pm("127.0.0.1", port, 80), pm("127.0.0.1", 0, 81)])
        assert str(info.value) == f"cannot publish 127.0.0.1:{port}/tcp: address already in use"
    finally:
        holder.close()


def test_reserve_refuses_a_foreign_address() -> None:
    with pytest.raises(ConflictError, match=r"192\.0\.2\.1 is not an address of this host"):
        reserve([pm("192.0.2.1", 0, 80)])


class FakeSocket:
    def __init__(self, port: int) -> None:
        self.port = port
        self.closed = False

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def fileno(self) -> int:
        return 1000 + self.port

    def close(self) -> None:
        self.closed = True


def test_reserve_skips_ports_live_containers_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DNAT rule holds no socket: a kernel offer it uses is skipped (and released)."""
    offers = [FakeSocket(40000), FakeSocket(40001), FakeSocket(40002)]
    pending = list(offers)
    monkeypatch.setattr(ports, "_bind", lambda mapping, port: pending.pop(0))
    existing = [pm("", 40000, 80), pm("10.0.0.1", 40001, 90, "tcp")]
    got, reservation = reserve([pm("", 0, 80)], existing)
    assert got == [pm("", 40002, 80)]
    assert reservation.fds() == [41002]
    assert [s.closed for s in offers] == [True, True, False]


def test_reserve_gives_up_after_many_collisions(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[FakeSocket] = []

    def fake_bind(mapping: PortMapping, port: int) -> FakeSocket:
        made.append(FakeSocket(40000))
        return made[-1]

    monkeypatch.setattr(ports, "_bind", fake_bind)
    with pytest.raises(ConflictError, match="no free host port for 80/tcp"):
        reserve([pm("", 0, 80)], [pm("", 40000, 80)])
    assert made and all(s.closed for s in made)
