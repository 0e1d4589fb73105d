from __future__ import annotations

import hashlib
import io

import pytest

from launcher.errors import ImageError
from launcher.image import digest as dg

GOOD = "sha256:" + "0123456789abcdef" * 4


def test_validate_and_hex() -> None:
    assert dg.validate(GOOD) == GOOD
    assert dg.hex_of(GOOD) == GOOD[7:]
    assert dg.from_hex(GOOD[7:]) == GOOD
    assert dg.is_valid(GOOD)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        42,
        "",
        "sha256:",
        GOOD.upper(),
        "sha256:" + "0" * 63,
        "sha256:" + "0" * 65,
        "sha512:" + "0" * 64,
        "sha256:../../../../etc/passwd" + "0" * 40,
        "sha256:" + "0" * 62 + "/x",
        "sha256:" + "g" * 64,
    ],
)
def test_rejects(bad: object) -> None:
    assert not (isinstance(bad, str) and dg.is_valid(bad))
    with pytest.raises(ImageError, match="invalid layer digest"):
        dg.hex_of(bad, "layer digest")


def test_hashers() -> None:
    data = b"hello world" * 1000
    want = "sha256:" + hashlib.sha256(data).hexdigest()
    assert dg.of_bytes(data) == want
    h = dg.Hasher()
    h.update(data[:10])
    h.update(data[10:])
    assert (h.digest(), h.size) == (want, len(data))
    r = dg.HashingReader(io.BytesIO(data))
    assert r.read(5) == b"hello"
    r.drain(chunk=7)
    assert r.digest() == want
    seen: list[bytes] = []
    t = dg.TeeReader(io.BytesIO(data), seen.append)
    while t.read(4096):
        pass
    assert b"".join(seen) == data
