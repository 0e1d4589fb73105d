"""The pure OCI → cgroup value conversions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from launcher.backend.linux.cgroups import convert
from launcher.backend.linux.cgroups.convert import UNLIMITED
from launcher.errors import ConfigError


@pytest.mark.parametrize(("shares", "weight"), [
    (2, 1), (1024, 39), (262144, 10000), (0, 1), (1, 1), (10**9, 10000),
])  # fmt: skip
def test_cpu_weight_from_shares(shares: int, weight: int) -> None:
    assert convert.cpu_weight(shares) == weight


@pytest.mark.parametrize(("blkio", "io"), [(10, 1), (1000, 10000), (500, 4950), (1, 1)])
def test_io_weight_from_blkio_weight(blkio: int, io: int) -> None:
    assert convert.io_weight(blkio) == io


@pytest.mark.parametrize(("limit", "text"), [(-1, "max"), (0, "max"), (100, "100")])
def test_pids_max(limit: int, text: str) -> None:
    assert convert.pids_max(limit) == text


@pytest.mark.parametrize(("swap", "limit", "out"), [
    (None, None, None),
    (None, 100, None),
    (0, 100, None),
    (300, 100, "200"),
    (100, 100, "0"),
    (-1, 100, "max"),
    (None, -1, "max"),  # unlimited memory and no swap given: both unlimited
    (-1, -1, "max"),
])  # fmt: skip
def test_swap_v2_is_swap_minus_limit(swap: int | None, limit: int | None, out: str | None) -> None:
    assert convert.swap_v2(swap, limit) == out


@pytest.mark.parametrize(("swap", "limit"), [(50, 100), (100, None), (100, -1)])
def test_swap_v2_rejects_impossible(swap: int, limit: int | None) -> None:
    with pytest.raises(ConfigError, match="memory"):
        convert.swap_v2(swap, limit)


@pytest.mark.parametrize(("quota", "period", "current", "out"), [
    (None, None, "max 100000", None),
    (50000, None, "max 100000", "50000 100000"),
    (50000, 20000, "max 100000", "50000 20000"),
    (-1, 20000, "50000 100000", "max 20000"),
    (None, 20000, "50000 100000", "50000 20000"),  # keeps the current quota
    (50000, None, None, "50000 100000"),
    (0, 0, "max 100000", None),
])  # fmt: skip
def test_cpu_max(
    quota: int | None, period: int | None, current: str | None, out: str | None
) -> None:
    assert convert.cpu_max(quota, period, current) == out


LIM, SW = "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"


def test_memory_v1_fresh_cgroup_shrinks_limit_first() -> None:
    # A fresh cgroup has an unlimited limit: memsw (200) < current limit, so
    # the limit must shrink first.
    assert convert.memory_v1(100, 200, UNLIMITED, True) == [(LIM, "100"), (SW, "200")]


def test_memory_v1_growing_writes_memsw_first() -> None:
    # current limit 100 (memsw 200) → limit 300, memsw 600: memsw first.
    assert convert.memory_v1(300, 600, 100, True) == [(SW, "600"), (LIM, "300")]


def test_memory_v1_unlimited_swap_goes_first() -> None:
    assert convert.memory_v1(100, -1, 50, True) == [(SW, "-1"), (LIM, "100")]


def test_memory_v1_unlimited_limit_lifts_memsw_too() -> None:
    assert convert.memory_v1(-1, None, 100, True) == [(SW, "-1"), (LIM, "-1")]


def test_memory_v1_without_memsw_ignores_swap() -> None:
    assert convert.memory_v1(100, 200, UNLIMITED, False) == [(LIM, "100")]
    assert convert.memory_v1(None, 200, UNLIMITED, False) == []


def test_memory_v1_only_one_of_them() -> None:
    assert convert.memory_v1(100, None, UNLIMITED, True) == [(LIM, "100")]
    assert convert.memory_v1(None, 200, 100, True) == [(SW, "200")]


@pytest.mark.parametrize(("limit", "swap"), [(200, 100), (-1, 100)])
def test_memory_v1_rejects_swap_below_limit(limit: int, swap: int) -> None:
    with pytest.raises(ConfigError, match=r"memory\.swap"):
        convert.memory_v1(limit, swap, UNLIMITED, True)


@pytest.mark.parametrize("size", ["2MB", "1GB", "64KB"])
def test_hugetlb_size_ok(size: str) -> None:
    assert convert.hugetlb_size(size) == size


@pytest.mark.parametrize("size", [None, "", "../x", "2MB/x", "2 MB", "\uff12MB"])
def test_hugetlb_size_rejects(size: str | None) -> None:
    with pytest.raises(ConfigError, match="pageSize"):
        convert.hugetlb_size(size)


def test_unified_items_verbatim() -> None:
    got = convert.unified_items({"memory.high": "1G", "cpu.weight.nice": "3"})
    assert got == [("memory.high", "1G"), ("cpu.weight.nice", "3")]
    assert convert.unified_items(None) == []


@pytest.mark.parametrize(
    "key", ["../memory.max", "a/memory.max", "memory..max", "max", "", ".max", "..", "x/../y.z"]
)
def test_unified_items_rejects_paths(key: str) -> None:
    with pytest.raises(ConfigError, match="unified"):
        convert.unified_items({key: "1"})


def dev(
    allow: bool,
    type: str | None = None,
    major: int | None = None,
    minor: int | None = None,
    access: str | None = None,
) -> SimpleNamespace:
    return SimpleNamespace(allow=allow, type=type, major=major, minor=minor, access=access)


def test_device_rules_v1_deny_all_first_then_rules_in_order() -> None:
    rules = [
        dev(False, access="rwm"),
        dev(True, "c", 1, 3, "rwm"),
        dev(True, "c", 136, None, "rw"),
        dev(False, "c", 1, 3, "m"),
    ]
    assert convert.device_rules_v1(rules) == [
        ("devices.deny", "a"),
        ("devices.deny", "a"),
        ("devices.allow", "c 1:3 rwm"),
        ("devices.allow", "c 136:* rw"),
        ("devices.deny", "c 1:3 m"),
    ]


def test_device_rules_v1_allow_all() -> None:
    assert convert.device_rules_v1([dev(True)]) == [("devices.deny", "a"), ("devices.allow", "a")]


def test_device_rules_v1_narrow_all_type_is_split() -> None:
    assert convert.device_rules_v1([dev(True, "a", 5, 1, "rw")])[1:] == [
        ("devices.allow", "c 5:1 rw"),
        ("devices.allow", "b 5:1 rw"),
    ]
    assert convert.device_rules_v1([dev(True, "a", None, None, "r")])[1:] == [
        ("devices.allow", "c *:* r"),
        ("devices.allow", "b *:* r"),
    ]


def test_device_rules_v1_unbuffered_and_fifo() -> None:
    assert convert.device_rules_v1([dev(True, "u", 4, 1), dev(True, "p")])[1:] == [
        ("devices.allow", "c 4:1 rwm")
    ]


@pytest.mark.parametrize(
    "rule", [dev(True, "x"), dev(True, "c", 1, 3, "rwx"), dev(True, "c", 1, 3, "r\nw")]
)
def test_device_rules_v1_rejects_bad_rules(rule: SimpleNamespace) -> None:
    with pytest.raises(ConfigError, match="devices"):
        convert.device_rules_v1([rule])
