from __future__ import annotations

import io
import threading

import pytest

from launcher.errors import ImageError
from launcher.image.prefetch import Prefetch


def test_reads_everything_in_order() -> None:
    data = bytes(range(256)) * 10_000
    with Prefetch(io.BytesIO(data), depth=2, chunk=4096) as p:
        got = bytearray()
        while chunk := p.read(1000):
            got += chunk
        assert p.read() == b""
    assert bytes(got) == data


def test_error_in_thread_is_raised_by_read() -> None:
    class Broken:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise ImageError("gzip layer: corrupt")
            return b"x" * 10

    with Prefetch(Broken()) as p:
        assert p.read() == b"x" * 10
        assert p.read() == b"x" * 10
        with pytest.raises(ImageError, match="corrupt"):
            p.read()
        with pytest.raises(ImageError):  # stays failed
            p.read()


def test_close_early_joins_the_thread() -> None:
    endless = type("Endless", (), {"read": lambda self, n=-1: b"y" * 65536})()
    before = threading.active_count()
    p = Prefetch(endless, depth=1)
    assert p.read(5) == b"yyyyy"
    p.close()
    assert threading.active_count() == before
