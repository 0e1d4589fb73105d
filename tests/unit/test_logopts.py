"""--log-driver / --log-opt parsing and the limits they give the monitor."""

from __future__ import annotations

import pytest

from launcher import logopts


def test_drivers() -> None:
    assert logopts.log_driver("json-file") == "json-file"
    assert logopts.log_driver("none") == "none"
    with pytest.raises(ValueError, match="unknown log driver 'syslog'"):
        logopts.log_driver("syslog")


@pytest.mark.parametrize("text, pair", [
    ("max-size=10m", ("max-size", "10m")),
    ("max-size=-1", ("max-size", "-1")),
    ("max-file=5", ("max-file", "5")),
])
def test_good_options(text: str, pair: tuple[str, str]) -> None:
    assert logopts.log_opt(text) == pair


@pytest.mark.parametrize("text, message", [
    ("compress=true", "unknown log opt"),
    ("max-size", "unknown log opt"),
    ("max-size=lots", "invalid size"),
    ("max-size=0", "must be positive"),
    ("max-file=0", "at least 1"),
    ("max-file=x", "whole number"),
])
def test_bad_options(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        logopts.log_opt(text)


def test_limits() -> None:
    assert logopts.limits({}) == (10 << 20, 3)
    assert logopts.limits({"max-size": "1k", "max-file": "2"}) == (1024, 2)
    assert logopts.limits({"max-size": "-1"}) == (None, 3)
