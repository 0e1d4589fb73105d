"""Firewall scripts and handle bookkeeping, through a fake nft runner.

``nft_list_table.json`` is real ``nft -j list table inet launcher`` output (nft
1.0.6) after: base, network net0 (10.231.0.0/24 on br0), c1 publishing
8080:80 and 127.0.0.1:8081:81/udp at 10.231.0.2, c2 publishing 9090:90 at 10.231.0.3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher import fastjson
from launcher.errors import RuntimeFailure, UnsupportedError
from launcher.network import firewall
from launcher.network.firewall import (
    Firewall,
    Snapshot,
    base_script,
    network_script,
    publish_script,
    set_route_localnet,
)
from launcher.network.nft import NftError
from launcher.network.ports import PortMapping, parse_publish

CANNED = (Path(__file__).parent / "nft_list_table.json").read_text()
APPLY = ["-f", "-"]
LIST = ["-j", "list", "table", "inet", "launcher"]
MISSING = NftError("nft: Error: No such file or directory",
                   "Error: No such file or directory\nlist table inet launcher\n")


class FakeNft:
    """Records (args, stdin); answers listings with ``listing`` (None: no table)."""

    def __init__(self, listing: str | None = CANNED, fail: list[NftError] | None = None) -> None:
        self.listing = listing
        self.fail = fail or []
        self.calls: list[tuple[list[str], str]] = []

    def __call__(self, args: list[str], stdin: str) -> str:
        self.calls.append((args, stdin))
        if args == LIST:
            if self.listing is None:
                raise MISSING
            return self.listing
        assert args == APPLY
        if self.fail:
            raise self.fail.pop(0)
        return ""

    @property
    def scripts(self) -> list[str]:
        return [stdin for args, stdin in self.calls if args == APPLY]


def lines(script: str) -> list[str]:
    return script.splitlines()


def listing(rules: list[tuple[str, int, str]], chains: tuple[str, ...] = firewall.BASE_CHAINS,
            ) -> str:
    items: list[object] = [{"metainfo": {"version": "1.0.6"}},
                           {"table": {"family": "inet", "name": "launcher", "handle": 1}}]
    items += [{"chain": {"family": "inet", "table": "launcher", "name": c, "handle": i}}
              for i, c in enumerate(chains)]
    items += [{"rule": {"family": "inet", "table": "launcher", "chain": c, "handle": h,
                        "comment": text, "expr": []}} for c, h, text in rules]
    return fastjson.dumps({"nftables": items})


BASE_RULES = [("guard", 7, "launcher=base"), ("guard", 8, "launcher=base"),
              ("forward", 9, "launcher=base"), ("forward", 10, "launcher=base")]


# --- scripts ------------------------------------------------------------------

def test_base_script() -> None:
    assert lines(base_script()) == [
        "add table inet launcher",
        "add chain inet launcher guard { type filter hook prerouting priority raw; "
        "policy accept; }",
        "add chain inet launcher forward { type filter hook forward priority filter; "
        "policy accept; }",
        "add chain inet launcher prerouting { type nat hook prerouting priority dstnat; "
        "policy accept; }",
        "add chain inet launcher output { type nat hook output priority -100; policy accept; }",
        "add chain inet launcher postrouting { type nat hook postrouting priority srcnat; "
        "policy accept; }",
        "add chain inet launcher isolate",
        "flush chain inet launcher guard",
        "flush chain inet launcher forward",
        'add rule inet launcher guard iifname != "lo" ip daddr 127.0.0.0/8 drop '
        'comment "launcher=base"',
        'add rule inet launcher guard iifname != "lo" ip6 daddr ::1 drop comment "launcher=base"',
        'add rule inet launcher forward ct state established,related accept '
        'comment "launcher=base"',
        'add rule inet launcher forward jump isolate comment "launcher=base"',
    ]


def test_network_script() -> None:
    assert lines(network_script("net0", "10.231.0.0/24", "br0", internal=False)) == [
        'add rule inet launcher isolate oifname "br0" iifname != "br0" ct status & dnat == 0 '
        'drop comment "network=net0"',
        'add rule inet launcher postrouting ip saddr 10.231.0.0/24 oifname != "br0" masquerade '
        'comment "network=net0"',
        "add rule inet launcher postrouting ip saddr 10.231.0.0/24 ip daddr 10.231.0.0/24 "
        'ct status dnat masquerade comment "network=net0"',
        'add rule inet launcher postrouting oifname "br0" ip saddr 127.0.0.0/8 masquerade '
        'comment "network=net0"',
    ]


def test_internal_network_only_isolates() -> None:
    assert lines(network_script("quiet", "10.9.0.0/16", "br9", internal=True)) == [
        'add rule inet launcher isolate oifname "br9" iifname != "br9" drop '
        'comment "network=quiet"',
        'add rule inet launcher isolate iifname "br9" oifname != "br9" drop '
        'comment "network=quiet"',
    ]


def test_ipv6_network_has_no_loopback_masquerade() -> None:
    script = network_script("v6", "fd00:1::/64", "br6", internal=False)
    assert "ip6 saddr fd00:1::/64 oifname != \"br6\" masquerade" in script
    assert "127.0.0.0/8" not in script


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("net 0", "10.0.0.0/24", "br0"), "invalid network name"),
        (("-net", "10.0.0.0/24", "br0"), "invalid network name"),
        (('n"; flush ruleset; "', "10.0.0.0/24", "br0"), "invalid network name"),
        (("net0", "10.0.0.0/33", "br0"), "invalid subnet"),
        (("net0", "10.0.0/24", "br0"), "invalid subnet"),
        (("net0", "10.0.0.0/24", "bridge-name-too-long"), "invalid bridge name"),
        (("net0", "10.0.0.0/24", 'br0" accept'), "invalid bridge name"),
    ],
)
def test_network_script_validates(args: tuple[str, str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        network_script(*args, internal=False)


def test_publish_script_all_addresses_loopback_and_specific() -> None:
    maps = (parse_publish("8080:80") + parse_publish("127.0.0.1:8081:81/udp")
            + parse_publish("10.0.0.5:9000-9001:90-91/sctp"))
    assert lines(publish_script("c1", "10.231.0.2", maps)) == [
        "add rule inet launcher prerouting meta nfproto ipv4 fib daddr type local tcp dport 8080 "
        'dnat ip to 10.231.0.2:80 comment "container=c1"',
        "add rule inet launcher output meta nfproto ipv4 fib daddr type local tcp dport 8080 "
        'dnat ip to 10.231.0.2:80 comment "container=c1"',
        # loopback: for the host only, so no prerouting rule
        "add rule inet launcher output ip daddr 127.0.0.1 udp dport 8081 "
        'dnat ip to 10.231.0.2:81 comment "container=c1"',
        "add rule inet launcher prerouting ip daddr 10.0.0.5 sctp dport 9000 "
        'dnat ip to 10.231.0.2:90 comment "container=c1"',
        "add rule inet launcher output ip daddr 10.0.0.5 sctp dport 9000 "
        'dnat ip to 10.231.0.2:90 comment "container=c1"',
        "add rule inet launcher prerouting ip daddr 10.0.0.5 sctp dport 9001 "
        'dnat ip to 10.231.0.2:91 comment "container=c1"',
        "add rule inet launcher output ip daddr 10.0.0.5 sctp dport 9001 "
        'dnat ip to 10.231.0.2:91 comment "container=c1"',
    ]


@pytest.mark.parametrize("spec", ["[::]:8080:80", "8080:80"])
def test_publish_script_ipv6_container(spec: str) -> None:
    maps = parse_publish(spec) + parse_publish("[::1]:8081:81")
    assert lines(publish_script("c6", "fd00::2", maps)) == [
        "add rule inet launcher prerouting meta nfproto ipv6 fib daddr type local tcp dport 8080 "
        'dnat ip6 to [fd00::2]:80 comment "container=c6"',
        "add rule inet launcher output meta nfproto ipv6 fib daddr type local tcp dport 8080 "
        'dnat ip6 to [fd00::2]:80 comment "container=c6"',
        "add rule inet launcher output ip6 daddr ::1 tcp dport 8081 "
        'dnat ip6 to [fd00::2]:81 comment "container=c6"',
    ]


@pytest.mark.parametrize(
    ("spec", "ip", "error", "message"),
    [
        ("[::1]:8080:80", "10.0.0.2", UnsupportedError, "differ in IP version"),
        ("[::]:8080:80", "10.0.0.2", UnsupportedError, "the container has no IPv6 address"),
        ("0.0.0.0:8080:80", "fd00::2", UnsupportedError, "the container has no IPv4 address"),
        ("80", "10.0.0.2", ValueError, "no host port chosen"),
        ("8080:80", "10.0.0", ValueError, "invalid container IP"),
    ],
)
def test_publish_script_refuses(spec: str, ip: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        publish_script("c1", ip, parse_publish(spec))


@pytest.mark.parametrize("cid", ["", "a b", 'x" drop', "../x", "x" * 101])
def test_publish_script_validates_the_id(cid: str) -> None:
    with pytest.raises(ValueError, match="invalid container id"):
        publish_script(cid, "10.0.0.2", parse_publish("8080:80"))


def test_publish_script_refuses_a_bad_protocol() -> None:
    with pytest.raises(ValueError):
        publish_script("c1", "10.0.0.2", [PortMapping("", 1, 1, "icmp")])


# --- reading --------------------------------------------------------------------

def test_snapshot_parses_real_nft_json() -> None:
    snap = Snapshot.parse(CANNED)
    assert snap.chains == set(firewall.BASE_CHAINS)
    assert snap.handles("container=c1") == [("prerouting", 15), ("output", 16), ("output", 17)]
    assert snap.handles("network=net0") == [("postrouting", 12), ("postrouting", 13),
                                            ("postrouting", 14), ("isolate", 11)]
    assert snap.handles("container=c3") == []
    assert snap.intact()


def test_snapshot_ignores_other_tables() -> None:
    text = fastjson.dumps({"nftables": [
        {"chain": {"family": "ip", "table": "nat", "name": "guard", "handle": 1}},
        {"rule": {"family": "ip", "table": "nat", "chain": "guard", "handle": 2,
                  "comment": "container=c1"}}]})
    snap = Snapshot.parse(text)
    assert snap.chains == set() and snap.handles("container=c1") == []


@pytest.mark.parametrize(
    ("text", "intact"),
    [
        (None, False),
        (CANNED, True),
        (listing(BASE_RULES), True),
        (listing([]), False),  # `nft flush table inet launcher`: chains left, rules gone
        (listing(BASE_RULES[:3]), False),
        (listing(BASE_RULES, chains=("guard", "forward")), False),
    ],
)
def test_is_intact(text: str | None, intact: bool) -> None:
    fake = FakeNft(text)
    assert Firewall(fake).is_intact() is intact
    assert [args for args, _ in fake.calls] == [LIST]


def test_listing_errors_other_than_missing_are_failures() -> None:
    def runner(args: list[str], stdin: str) -> str:
        raise NftError("nft: Error: Operation not permitted", "Error: Operation not permitted\n")

    with pytest.raises(RuntimeFailure) as info:
        Firewall(runner).is_intact()
    assert str(info.value) == ("reading the launcher firewall table: "
                               "nft: Error: Operation not permitted")


# --- operations -----------------------------------------------------------------

def test_ensure_base_applies_the_base_script() -> None:
    fake = FakeNft()
    Firewall(fake).ensure_base()
    assert fake.calls == [(APPLY, base_script())]


def test_publish_replaces_old_rules_in_one_transaction() -> None:
    fake = FakeNft()
    maps = parse_publish("7070:70")
    Firewall(fake).publish("c1", "10.231.0.2", maps)
    (script,) = fake.scripts
    assert script == ("delete rule inet launcher prerouting handle 15\n"
                      "delete rule inet launcher output handle 16\n"
                      "delete rule inet launcher output handle 17\n"
                      + publish_script("c1", "10.231.0.2", maps))


def test_publish_builds_the_base_when_the_table_is_missing() -> None:
    fake = FakeNft(listing=None)
    maps = parse_publish("7070:70")
    Firewall(fake).publish("c3", "10.231.0.4", maps)
    assert fake.scripts == [base_script() + publish_script("c3", "10.231.0.4", maps)]


def test_unpublish_deletes_by_handle_and_leaves_others() -> None:
    fake = FakeNft()
    Firewall(fake).unpublish("c2")
    assert fake.scripts == ["delete rule inet launcher prerouting handle 18\n"
                            "delete rule inet launcher output handle 19\n"]


@pytest.mark.parametrize("text", [listing(BASE_RULES), None])
def test_unpublish_is_idempotent(text: str | None) -> None:
    fake = FakeNft(text)
    Firewall(fake).unpublish("c2")
    assert fake.scripts == []  # nothing tagged container=c2: nothing applied


def test_unpublish_retries_once_when_a_handle_vanished() -> None:
    gone = NftError("nft: /dev/stdin:1:1-40: Error: Could not process rule: "
                    "No such file or directory", "… No such file or directory\n")
    fake = FakeNft(fail=[gone])
    Firewall(fake).unpublish("c2")
    assert [args for args, _ in fake.calls] == [LIST, APPLY, LIST, APPLY]


def test_apply_failures_name_the_operation_and_nft_line() -> None:
    boom = NftError("nft: /dev/stdin:3:1-9: Error: syntax error [add rule …]", "...")
    fake = FakeNft(fail=[boom])
    with pytest.raises(RuntimeFailure) as info:
        Firewall(fake).publish("c9", "10.231.0.9", parse_publish("7070:70"))
    assert str(info.value) == ("publishing ports of c9: nft: /dev/stdin:3:1-9: "
                               "Error: syntax error [add rule …]")
    assert info.value.__cause__ is boom


def test_add_and_remove_network() -> None:
    fake = FakeNft()
    fw = Firewall(fake)
    fw.add_network("net0", "10.231.0.0/24", "br0", internal=True)
    fw.remove_network("net0")
    deletes = ("delete rule inet launcher postrouting handle 12\n"
               "delete rule inet launcher postrouting handle 13\n"
               "delete rule inet launcher postrouting handle 14\n"
               "delete rule inet launcher isolate handle 11\n")
    assert fake.scripts == [
        deletes + network_script("net0", "10.231.0.0/24", "br0", internal=True), deletes]


def test_remove_network_validates_before_running_nft() -> None:
    fake = FakeNft()
    with pytest.raises(ValueError):
        Firewall(fake).remove_network('x" ; flush ruleset')
    assert fake.calls == []


class Net:
    def __init__(self, name: str, subnet: str, bridge: str, internal: bool) -> None:
        self.name, self.subnet, self.bridge, self.internal = name, subnet, bridge, internal


NETS = [Net("net0", "10.231.0.0/24", "br0", False), Net("net1", "10.231.1.0/24", "br1", True)]
PUBS = [("c1", "10.231.0.2", parse_publish("8080:80")),
        ("c2", "10.231.0.3", parse_publish("127.0.0.1:9090:90/udp"))]


def test_restore_does_nothing_when_intact() -> None:
    fake = FakeNft()
    assert Firewall(fake).restore(NETS, PUBS) is False
    assert fake.scripts == []


@pytest.mark.parametrize("text", [None, listing([])])
def test_restore_rebuilds_everything_in_one_transaction(text: str | None) -> None:
    fake = FakeNft(text)
    assert Firewall(fake).restore(NETS, PUBS) is True
    assert fake.scripts == [
        "add table inet launcher\ndelete table inet launcher\n" + base_script()
        + network_script("net0", "10.231.0.0/24", "br0", False)
        + network_script("net1", "10.231.1.0/24", "br1", True)
        + publish_script("c1", "10.231.0.2", PUBS[0][2])
        + publish_script("c2", "10.231.0.3", PUBS[1][2])]


def test_restore_force() -> None:
    fake = FakeNft()
    assert Firewall(fake).restore([], [], force=True) is True
    assert [args for args, _ in fake.calls] == [APPLY]


# --- the sysctl -----------------------------------------------------------------

def test_set_route_localnet(tmp_path: Path) -> None:
    conf = tmp_path / "net/ipv4/conf/br0"
    conf.mkdir(parents=True)
    (conf / "route_localnet").write_text("0\n")
    set_route_localnet("br0", proc_sys=str(tmp_path))
    assert (conf / "route_localnet").read_text() == "1\n"
    set_route_localnet("br0", enabled=False, proc_sys=str(tmp_path))
    assert (conf / "route_localnet").read_text() == "0\n"
    with pytest.raises(RuntimeFailure, match="br1/route_localnet"):
        set_route_localnet("br1", proc_sys=str(tmp_path))
    with pytest.raises(ValueError):
        set_route_localnet("../../x", proc_sys=str(tmp_path))
