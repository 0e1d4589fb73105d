from __future__ import annotations

import pytest

from launcher.cli import fmt
from launcher.errors import UsageError


@pytest.mark.parametrize(("n", "want"), [(0, "0B"), (999, "999B"), (1000, "1kB"),
                                         (4_260_000, "4.26MB"), (1_234_567_890, "1.235GB")])
def test_size(n: int, want: str) -> None:
    assert fmt.size(n) == want


def test_parse_time_nanoseconds_and_offsets() -> None:
    a = fmt.parse_time("2024-05-01T12:00:00.123456789Z")
    b = fmt.parse_time("2024-05-01T14:00:00+02:00")
    assert a is not None and b is not None and int(a) == int(b)
    assert fmt.parse_time("") is None and fmt.parse_time("yesterday") is None


@pytest.mark.parametrize(("secs", "want"), [(0.2, "Less than a second ago"), (1, "1 second ago"),
                                            (30, "30 seconds ago"), (90, "About a minute ago"),
                                            (3600, "About an hour ago"), (3 * 86400, "3 days ago"),
                                            (800 * 86400, "2 years ago")])
def test_ago(secs: float, want: str) -> None:
    assert fmt.ago(secs) == want


def test_since_unknown() -> None:
    assert fmt.since("") == "N/A"


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    fmt.table(["A", "LONGER"], [["x", "y"], ["wide-cell", "z"]])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "A           LONGER"
    assert out[2] == "wide-cell   z"


def test_check_format() -> None:
    assert fmt.check_format("json") == "json"
    with pytest.raises(UsageError, match="must be one of: table, json"):
        fmt.check_format("yaml")
