from __future__ import annotations

import pytest

from launcher.errors import UsageError
from launcher.image.reference import Reference, parse

HEX = "a" * 64


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
        ("user/sub/app", "docker.io/user/sub/app:latest", "user/sub/app:latest"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t"),
        ("quay.io/org/img:1.0-rc_1", "quay.io/org/img:1.0-rc_1", "quay.io/org/img:1.0-rc_1"),
        ("[::1]:5000/img", "[::1]:5000/img:latest", "[::1]:5000/img:latest"),
        ("Registry.Example/img", "Registry.Example/img:latest", "Registry.Example/img:latest"),
        ("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"),
        ("a__b/c-d---e/f.g_h", "docker.io/a__b/c-d---e/f.g_h:latest", "a__b/c-d---e/f.g_h:latest"),
        (
            f"busybox@sha256:{HEX}",
            f"docker.io/library/busybox@sha256:{HEX}",
            f"busybox@sha256:{HEX}",
        ),
        (
            f"busybox:1@sha256:{HEX}",
            f"docker.io/library/busybox:1@sha256:{HEX}",
            f"busybox:1@sha256:{HEX}",
        ),
    ],
)
def test_normalises(text: str, full: str, familiar: str) -> None:
    ref = parse(text)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert parse(full) == ref


def test_fields() -> None:
    ref = parse("localhost:5000/a/b:t")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("localhost:5000", "a/b", "t", None)
    assert ref.name == "localhost:5000/a/b"
    d = parse(f"x@sha256:{HEX}")
    assert d.tag is None and d.digest == f"sha256:{HEX}"
    assert parse("x", default_tag=False).tag is None
    assert parse("x").with_tag("y") == Reference("docker.io", "library/x", "y", None)
    assert {parse("x"), parse("docker.io/library/x:latest")} == {parse("x")}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "BusyBox",
        "docker.io/Library/busybox",
        "busybox:",
        "busybox:-tag",
        "busybox:" + "t" * 129,
        "busybox:t@g",
        "bad name",
        "a//b",
        "/a",
        "a/",
        "a..b",
        "a_-b",
        "-a",
        "a-",
        "a___b",
        "busybox@sha256:" + "A" * 64,
        "busybox@sha256:" + "a" * 63,
        "busybox@sha512:" + "a" * 128,
        "busybox@",
        HEX,
        "exa mple.com/a",
        "-bad.com/a",
        "bad-.com/a",
        "host:99999x/a",
        "host:/a",
        "[zz]:5000/a",
        "a/" + "b" * 300,
        "x" * 2000,
        "a\nb",
        "ümlaut",
    ],
)
def test_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="invalid reference"):
        parse(text)


def test_tag_charset_bounds() -> None:
    assert parse("a:_x.y-Z9").tag == "_x.y-Z9"
    assert parse("a:" + "t" * 128).tag == "t" * 128
