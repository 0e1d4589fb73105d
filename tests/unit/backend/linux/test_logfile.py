"""Tests for launcher.backend.linux.logfile (json-file logs, rotation, reading)."""

from __future__ import annotations

import datetime
import itertools
import json
import os
import threading
from pathlib import Path

import pytest

from launcher.backend.linux import logfile
from launcher.backend.linux.logfile import (
    PARTIAL_MAX,
    LogWriter,
    format_time,
    parse_size,
    parse_time,
    read_logs,
)

T0 = 1714557600.5  # 2024-05-01T10:00:00.5Z


def records(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text("ascii").splitlines()]


def log_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + "*"))


def numbered(n: int, start: int = 0) -> list[bytes]:
    return [f"line {i:06d}\n".encode() for i in range(start, start + n)]


def test_record_format_is_docker_json_file(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    with LogWriter(str(p), None) as w:
        w.write("stdout", b"hello\n", now=T0)
        w.write("stderr", b"oops\n", now=T0 + 1)
    lines = p.read_text().splitlines()
    assert lines[0] == '{"log":"hello\\n","stream":"stdout","time":"2024-05-01T10:00:00.5Z"}'
    assert records(p)[1] == {"log": "oops\n", "stream": "stderr",
                             "time": "2024-05-01T10:00:01.5Z"}
    assert p.stat().st_mode & 0o777 == 0o600


def test_file_is_private_append_and_cloexec(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    p.write_bytes(b"")
    p.chmod(0o644)
    w = LogWriter(str(p), None)
    try:
        assert p.stat().st_mode & 0o777 == 0o600
        assert not os.get_inheritable(w._fd)
        fdinfo = Path(f"/proc/self/fdinfo/{w._fd}").read_text().split()
        assert os.O_APPEND & int(fdinfo[3], 8)
    finally:
        w.close()
    w.close()  # a second close is harmless


def test_splits_at_newlines_and_holds_partial_lines(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    w = LogWriter(str(p), None)
    w.write("stdout", b"a\n\nb\nc", now=T0)
    w.write("stderr", b"err", now=T0)
    assert [r["log"] for r in records(p)] == ["a\n", "\n", "b\n"]
    w.write("stdout", b"d\ne", now=T0)
    assert records(p)[-1] == {"log": "cd\n", "stream": "stdout", "time": records(p)[0]["time"]}
    w.flush("stdout", now=T0)
    assert records(p)[-1]["log"] == "e"
    w.close()
    last = records(p)[-1]  # close() stamps with the clock
    assert (last["log"], last["stream"]) == ("err", "stderr")


def test_long_partial_line_is_flushed_at_16k(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    data = bytes(range(32, 127)) * 500  # 47500 bytes, no newline
    w = LogWriter(str(p), None)
    w.write("stdout", data[:20000], now=T0)
    w.write("stdout", data[20000:], now=T0)
    logs = [r["log"] for r in records(p)]
    assert [len(x) for x in logs] == [PARTIAL_MAX, PARTIAL_MAX]
    w.write("stdout", b"!\n", now=T0)
    w.close()
    logs = [r["log"] for r in records(p)]
    assert len(logs) == 3 and logs[2].endswith("!\n")
    assert b"".join(d for _, d in read_logs(str(p))) == data + b"!\n"


def test_non_utf8_bytes_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    raw = b"\xff\xfe bad \xe2\x82\xac euro \xe2\x82\n"
    with LogWriter(str(p), None) as w:
        w.write("stdout", raw, now=T0)
    p.read_bytes().decode("ascii")  # all escapes: the file is pure ASCII
    assert records(p)[0]["log"].startswith("\udcff\udcfe bad \u20ac euro")
    assert list(read_logs(str(p))) == [("stdout", raw)]


def test_bad_arguments(tmp_path: Path) -> None:
    p = str(tmp_path / "c.log")
    with pytest.raises(ValueError, match="stream"):
        LogWriter(p, None).write("stdin", b"x\n")
    with pytest.raises(ValueError, match="positive"):
        LogWriter(p, 0)
    with pytest.raises(ValueError, match="at least 1"):
        LogWriter(p, 100, 0)
    with pytest.raises(ValueError, match="negative"):
        read_logs(p, tail=-1)


def test_rotation_keeps_disk_use_bounded(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    max_size, max_files = 64 * 1024, 3
    w = LogWriter(str(p), max_size, max_files)
    chunk = b"".join(numbered(1000))  # 12 KB per write
    written = 0
    i = 0
    while written < 10 * 1024 * 1024:
        w.write("stdout", chunk, now=T0 + i)
        written += len(chunk)
        i += 1
        sizes = [f.stat().st_size for f in log_files(p)]
        assert len(sizes) <= max_files
        assert all(s <= max_size for s in sizes)
        assert sum(sizes) <= max_size * max_files
    w.close()
    assert [f.name for f in log_files(p)] == ["c.log", "c.log.1", "c.log.2"]
    got = [d for _, d in read_logs(str(p))]
    # What is left is an unbroken run of the newest records.
    assert got[-1] == b"line 000999\n"
    nums = [int(d.split()[1]) for d in got]
    assert all((b - a) % 1000 == 1 for a, b in itertools.pairwise(nums))


def test_single_file_is_truncated_and_never_exceeds_max(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    with LogWriter(str(p), 4096, 1) as w:
        for i, line in enumerate(numbered(2000)):
            w.write("stdout", line, now=T0 + i)
            assert p.stat().st_size <= 4096
    assert [f.name for f in log_files(p)] == ["c.log"]
    assert list(read_logs(str(p)))[-1] == ("stdout", b"line 001999\n")


def test_reopening_counts_existing_size(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    with LogWriter(str(p), 1000, 2) as w:
        w.write("stdout", b"x" * 500 + b"\n", now=T0)
    with LogWriter(str(p), 1000, 2) as w:
        w.write("stdout", b"y" * 500 + b"\n", now=T0)
    assert [f.name for f in log_files(p)] == ["c.log", "c.log.1"]


def write_rotated(p: Path, n: int) -> None:
    with LogWriter(str(p), 2048, 10) as w:
        for i, line in enumerate(numbered(n)):
            w.write("stdout" if i % 2 else "stderr", line, now=T0 + i)


def test_tail_counts_records_across_files(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    write_rotated(p, 500)
    assert len(log_files(p)) > 3
    assert [d for _, d in read_logs(str(p), tail=100)] == numbered(100, start=400)
    assert [d for _, d in read_logs(str(p), tail=1)] == [b"line 000499\n"]
    assert list(read_logs(str(p), tail=0)) == []
    all_ = [d for _, d in read_logs(str(p))]
    assert [d for _, d in read_logs(str(p), tail=10**6)] == all_
    assert all_ == numbered(len(all_), start=500 - len(all_))
    assert [s for s, _ in read_logs(str(p), tail=2)] == ["stderr", "stdout"]


def test_tail_skips_corrupt_lines_when_counting(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    with LogWriter(str(p), None) as w:
        w.write("stdout", b"a\nb\n", now=T0)
    with open(p, "ab") as f:
        f.write(b"garbage\n")
    r = read_logs(str(p), tail=2)
    assert [d for _, d in r] == [b"a\n", b"b\n"]
    assert r.corrupt == 1


def test_since_and_timestamps(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    with LogWriter(str(p), None) as w:
        for i in range(3):
            w.write("stdout", f"{i}\n".encode(), now=100.0 * (i + 1))
    assert [d for _, d in read_logs(str(p), since=200.0)] == [b"1\n", b"2\n"]
    assert list(read_logs(str(p), since=250.0, timestamps=True)) == [
        ("stdout", b"1970-01-01T00:05:00.000000000Z 2\n")]
    assert list(read_logs(str(p), tail=2, since=250.0)) == [("stdout", b"2\n")]


def test_corrupt_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    good = '{"log":"ok\\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}\n'
    bad = [
        "not json",
        '{"log":1,"stream":"stdout","time":"2024-05-01T10:00:00Z"}',
        '{"log":"x","stream":"stdin","time":"2024-05-01T10:00:00Z"}',
        '{"log":"x","stream":"stdout","time":"yesterday"}',
        '{"log":"x","stream":"stdout"}',
        "[1, 2]",
        "",
        "\xff",
    ]
    p.write_bytes((good + "\n".join(bad) + "\n" + good).encode("latin-1"))
    r = read_logs(str(p))
    assert list(r) == [("stdout", b"ok\n")] * 2
    assert r.corrupt == len(bad)


def test_unterminated_last_line(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    rec = '{"log":"ok","stream":"stdout","time":"2024-05-01T10:00:00Z"}'
    p.write_text(rec)  # whole record, newline not yet written: shown
    assert list(read_logs(str(p))) == [("stdout", b"ok")]
    p.write_text(rec + "\n" + rec[:20])  # a record being written: left out, not corrupt
    r = read_logs(str(p))
    assert list(r) == [("stdout", b"ok")]
    assert r.corrupt == 0


def test_missing_log(tmp_path: Path) -> None:
    p = str(tmp_path / "none.log")
    assert list(read_logs(p)) == []
    assert list(read_logs(p, follow=True, stop=lambda: True, poll=0.001)) == []


def test_follow_survives_rotation(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    expected = numbered(3000)
    done = threading.Event()
    started = threading.Event()

    def writer() -> None:
        # Enough files that nothing is dropped before the reader gets to it.
        with LogWriter(str(p), 4096, 100) as w:
            w.write("stdout", expected[0], now=T0)
            started.wait()
            for i, line in enumerate(expected[1:]):
                w.write("stdout", line, now=T0 + i)
        done.set()  # after the last write

    t = threading.Thread(target=writer)
    t.start()
    try:
        r = read_logs(str(p), follow=True, stop=done.is_set, poll=0.0005)
        got = []
        for _, data in r:
            got.append(data)
            started.set()
    finally:
        started.set()
        t.join()
    assert got == expected
    assert r.corrupt == 0
    assert len(log_files(p)) > 10


def test_follow_after_tail_sees_new_records_and_truncation(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    w = LogWriter(str(p), 200, 1)
    w.write("stdout", b"old 1\nold 2\n", now=T0)
    before = p.stat().st_size
    polls = iter(range(100_000))  # a safety net against a hang, not a timing
    r = read_logs(str(p), tail=1, follow=True, stop=lambda: next(polls) > 50_000, poll=0.0001)
    assert next(r) == ("stdout", b"old 2\n")
    # Past max_size: the file is truncated to a smaller one; the reader starts over at 0.
    w.write("stdout", b"x" * 50 + b"\n", now=T0)
    assert p.stat().st_size < before
    assert next(r) == ("stdout", b"x" * 50 + b"\n")
    w.close()
    r.close()
    assert r._fds == []


def test_close_releases_files(tmp_path: Path) -> None:
    p = tmp_path / "c.log"
    write_rotated(p, 300)
    r = read_logs(str(p))
    next(r)
    assert len(r._fds) >= 1
    r.close()
    assert r._fds == []


@pytest.mark.parametrize(("text", "size"), [
    ("10m", 10 * 1024 * 1024), ("1k", 1024), ("2g", 2 << 30), ("100", 100), ("100b", 100),
    ("10MB", 10 << 20), ("10mib", 10 << 20), ("1.5m", 3 << 19), (" 4K ", 4096), ("0", 0),
])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "m", "10x", "-1", "1.2.3", "k10", "1e3", "\u0661\u0660"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


UTC = datetime.UTC


@pytest.mark.parametrize(("text", "dt", "ns"), [
    ("2024-05-01T10:00:00Z", datetime.datetime(2024, 5, 1, 10, tzinfo=UTC), 0),
    ("1999-12-31T23:59:59.999999999Z",
     datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), 999999999),
    ("2024-02-29T00:00:00.1+02:00", datetime.datetime(2024, 2, 28, 22, tzinfo=UTC), 10**8),
    ("1970-01-01T00:00:00-05:30", datetime.datetime(1970, 1, 1, 5, 30, tzinfo=UTC), 0),
    ("2100-03-01T12:34:56.000001Z", datetime.datetime(2100, 3, 1, 12, 34, 56, tzinfo=UTC), 1000),
])
def test_parse_time(text: str, dt: datetime.datetime, ns: int) -> None:
    assert parse_time(text) == int(dt.timestamp()) * 10**9 + ns


@pytest.mark.parametrize("text", [
    "", "2024-05-01", "2024-05-01T10:00:00", "2024-13-01T10:00:00Z", "2024-05-01T10:00:00.Z",
    "2024-05-01 10:00:00Z", "2024-05-01T10:00:00+0200", "+024-05-01T10:00:00Z",
])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_format_time() -> None:
    assert format_time(0) == "1970-01-01T00:00:00Z"
    assert format_time(1_500_000_000) == "1970-01-01T00:00:01.5Z"
    assert format_time(1_500_000_000, fixed=True) == "1970-01-01T00:00:01.500000000Z"
    ns = 1714557600_123456789
    assert parse_time(format_time(ns)) == ns


def test_module_stays_light() -> None:
    import sys

    src = Path(logfile.__file__).read_text()
    for heavy in ("import json", "import re\n", "import typing", "import dataclasses"):
        assert heavy not in src
    assert "launcher.backend.linux.logfile" in sys.modules
