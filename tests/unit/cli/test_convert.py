from __future__ import annotations

import pytest

from launcher.cli import convert


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1 << 20),
        ("100b", 100),
        ("512k", 512 << 10),
        ("64m", 64 << 20),
        ("64M", 64 << 20),
        ("64mb", 64 << 20),
        ("1g", 1 << 30),
        ("1GiB", 1 << 30),
        ("1.5g", 3 << 29),
        ("2 g", 2 << 30),
        ("1t", 1 << 40),
    ],
)
def test_memory_size(text: str, size: int) -> None:
    assert convert.memory_size(text) == size


@pytest.mark.parametrize(
    "text", ["", "m", "x", "1x", "-1m", "1..5m", "0", "0m", "1e3", "\u0661m", "9" * 30]
)
def test_memory_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        convert.memory_size(text)


def test_cpus() -> None:
    assert convert.cpus("0.5") == 0.5
    assert convert.cpus("2") == 2.0
    for bad in ("0", "-1", "nan", "inf", "x", ""):
        with pytest.raises(ValueError):
            convert.cpus(bad)


def test_pids_limit() -> None:
    assert convert.pids_limit("100") == 100
    assert convert.pids_limit("-1") == -1
    for bad in ("0", "-2", "1.5", "x"):
        with pytest.raises(ValueError):
            convert.pids_limit(bad)


def test_user_spec() -> None:
    for good in ("0", "1000", "1000:1000", "nobody", "app:staff", "4294967294"):
        assert convert.user_spec(good) == good
    for bad in ("", ":", "1000:", ":1", "a:b:c", "4294967295", "99999999999"):
        with pytest.raises(ValueError):
            convert.user_spec(bad)


def test_env_entry() -> None:
    assert convert.env_entry("A=1") == "A=1"
    assert convert.env_entry("A") == "A"
    assert convert.env_entry("A=") == "A="
    for bad in ("", "=1"):
        with pytest.raises(ValueError):
            convert.env_entry(bad)


def test_paths_names_networks() -> None:
    assert convert.abs_path("/srv") == "/srv"
    assert convert.network("host") == "host"
    assert convert.network("bridge") == "bridge"
    assert convert.network("default") == "bridge"
    assert convert.network("web.1") == "web.1"
    assert convert.network("container:db") == "container:db"
    assert convert.container_name("web-1.a_b") == "web-1.a_b"
    assert convert.hostname("box-1.local") == "box-1.local"
    for fn, bad in [
        (convert.abs_path, "srv"),
        (convert.network, "bad/net"),
        (convert.network, "container:"),
        (convert.network, "container:a/b"),
        (convert.network, "other:x"),
        (convert.network, "-x"),
        (convert.network, "a..b"),
        (convert.container_name, ""),
        (convert.container_name, "-x"),
        (convert.container_name, "a/b"),
        (convert.container_name, "a..b"),
        (convert.container_name, "x" * 129),
        (convert.hostname, ""),
        (convert.hostname, "a b"),
        (convert.hostname, "-a"),
        (convert.hostname, "a" * 65),
    ]:
        with pytest.raises(ValueError):
            fn(bad)


def test_network_flags() -> None:
    [mapping] = convert.publish("127.0.0.1:8080:80/udp")
    assert str(mapping) == "80/udp -> 127.0.0.1:8080"
    assert len(convert.publish("8000-8002:9000-9002")) == 3
    assert convert.ip_address("10.89.0.9") == "10.89.0.9"
    assert convert.nameserver(" 2001:DB8::1") == "2001:db8::1"
    assert convert.dns_search("example.com.") == "example.com"
    assert convert.dns_search(".") == "."
    assert convert.dns_option("ndots:2") == "ndots:2"
    assert convert.add_host("db:10.0.0.1") == ("db", "10.0.0.1")
    assert convert.add_host("gw=host-gateway") == ("gw", "host-gateway")
    assert convert.network_alias("db-1") == "db-1"
    for fn, bad in [
        (convert.publish, "80:80:80:80"),
        (convert.publish, "abc"),
        (convert.publish, "8080:80/icmp"),
        (convert.ip_address, "10.0.0"),
        (convert.ip_address, "::1"),
        (convert.nameserver, "dns.example"),
        (convert.dns_search, "a b"),
        (convert.dns_option, "nd ots"),
        (convert.add_host, "nohost"),
        (convert.add_host, "db:not-ip"),
        (convert.network_alias, "-x"),
    ]:
        with pytest.raises(ValueError):
            fn(bad)
