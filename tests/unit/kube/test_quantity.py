"""Kubernetes quantities: parsing (memory → bytes, cpu → CPUs) and formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from launcher.kube import quantity


@pytest.mark.parametrize(("text", "value"), [
    ("256Mi", 256 << 20), ("1Gi", 1 << 30), ("1.5Ki", 1536), ("1G", 10**9), ("500m", "0.5"),
    ("0.5", "0.5"), ("1e3", 1000), ("12E-2", "0.12"), ("1E", 10**18), ("+2k", 2000),
    (".5", "0.5"), (128, 128), (0.25, "0.25"), ("100n", "1E-7"), ("3u", "0.000003"),
])
def test_parse(text: object, value: object) -> None:
    assert quantity.parse(text) == Decimal(str(value))


@pytest.mark.parametrize("bad", ["", "x", "1Q", "1e", "1ee3", "--1", "-1", "1.2.3", ".", "Mi",
                                 True, None, [1], float("inf"), float("nan"), "1" * 70])
def test_parse_refuses(bad: object) -> None:
    with pytest.raises(ValueError):
        quantity.parse(bad)


def test_memory_and_cpus() -> None:
    assert quantity.memory_bytes("256Mi") == 256 << 20
    assert quantity.memory_bytes("1.5") == 2  # rounded up to whole bytes
    assert quantity.cpus("500m") == 0.5 and quantity.cpus(2) == 2.0
    for bad_memory in ("0", "1e30"):
        with pytest.raises(ValueError):
            quantity.memory_bytes(bad_memory)
    for bad_cpu in ("0", "9m", "1e9"):
        with pytest.raises(ValueError):
            quantity.cpus(bad_cpu)


@pytest.mark.parametrize(("size", "text"), [
    (256 << 20, "256Mi"), (1 << 30, "1Gi"), (3 << 40, "3Ti"), (1536, "1536"), (1000, "1000"),
    (5 << 10, "5Ki"),
])
def test_format_memory(size: int, text: str) -> None:
    assert quantity.format_memory(size) == text
    assert quantity.memory_bytes(text) == size


@pytest.mark.parametrize(("cores", "text"), [(0.5, "500m"), (2.0, "2"), (1.25, "1250m"),
                                             (0.0001, "1m")])
def test_format_cpus(cores: float, text: str) -> None:
    assert quantity.format_cpus(cores) == text
