from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher import runopts
from launcher.runopts import RestartPolicy, VolumeSpec

# --env-file ---------------------------------------------------------------


def _env(tmp_path: Path, data: bytes) -> list[str]:
    path = tmp_path / "env"
    path.write_bytes(data)
    return runopts.env_file(str(path))


def test_env_file_lines(tmp_path: Path) -> None:
    data = (
        b"# a comment\n"
        b"\n"
        b"   \t\n"
        b"A=1\n"
        b"  B=two words  \n"
        b"C='quoted'\n"
        b'D="x"\n'
        b"E=\n"
        b"F\n"
        b"G=a=b\n"
        b"   # indented comment\n"
        b"H=#not a comment\n"
        b"I=caf\xc3\xa9"
    )
    assert _env(tmp_path, data) == [
        "A=1",
        "B=two words  ",
        "C='quoted'",
        'D="x"',
        "E=",
        "F",
        "G=a=b",
        "H=#not a comment",
        "I=café",
    ]


def test_env_file_crlf_and_bom(tmp_path: Path) -> None:
    assert _env(tmp_path, b"\xef\xbb\xbfA=1\r\nB\r\n\r\nC=x\ry\r\n") == ["A=1", "B", "C=x\ry"]


def test_env_file_empty(tmp_path: Path) -> None:
    assert _env(tmp_path, b"") == []


def test_env_file_splits_on_newline_only(tmp_path: Path) -> None:
    # str.splitlines() would also split on these; Docker does not.
    assert _env(tmp_path, "A=x\x0by\u2028z\n".encode()) == ["A=x\x0by\u2028z"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"A=1\n=2\n", "line 2: no variable name before '='"),
        (b"  =2\n", "line 1: no variable name before '='"),
        (b"A B=1\n", "line 1: variable name 'A B' contains whitespace"),
        (b"A\tB\n", "line 1: variable name 'A\\tB' contains whitespace"),
        (b"A =1\n", "line 1: variable name 'A' contains whitespace"),
        (b"\n\nA=\x00\n", "line 3: contains a NUL character"),
        (b"A=1\nB=\xff\n", "line 2: not valid UTF-8"),
    ],
)
def test_env_file_rejects(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ValueError) as info:
        _env(tmp_path, data)
    assert str(info.value) == f"{tmp_path / 'env'}, {message}"


def test_env_file_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ValueError, match=f"^cannot open {missing}: No such file"):
        runopts.env_file(str(missing))


def test_env_file_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"^{tmp_path} is not a regular file$"):
        runopts.env_file(str(tmp_path))


@pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs on Windows")
def test_env_file_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is not a regular file"):
        runopts.env_file(str(fifo))


def test_env_file_follows_symlink_to_regular_file(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("A=1\n")
    (tmp_path / "link").symlink_to("real")
    assert runopts.env_file(str(tmp_path / "link")) == ["A=1"]


def test_env_file_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runopts, "_ENV_FILE_MAX", 1 << 20)
    path = tmp_path / "big"
    path.write_bytes(b"A=" + b"x" * (1 << 20) + b"\n")
    with pytest.raises(ValueError, match="is larger than 1 MiB"):
        runopts.env_file(str(path))


# -v / --volume ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/data", VolumeSpec("anonymous", "", "/data")),
        ("/data:ro", VolumeSpec("anonymous", "", "/data", read_only=True)),
        ("/data:nocopy,rw", VolumeSpec("anonymous", "", "/data", no_copy=True)),
        ("/srv:/data", VolumeSpec("bind", "/srv", "/data")),
        ("/srv:/data:ro", VolumeSpec("bind", "/srv", "/data", read_only=True)),
        ("/srv:/data:rw", VolumeSpec("bind", "/srv", "/data")),
        ("/srv:/data:z", VolumeSpec("bind", "/srv", "/data")),
        ("/srv:/data:Z,ro", VolumeSpec("bind", "/srv", "/data", read_only=True)),
        ("/srv:/data:cached", VolumeSpec("bind", "/srv", "/data")),
        ("/srv:/data:rshared", VolumeSpec("bind", "/srv", "/data", propagation="rshared")),
        (
            "/srv:/data:ro,slave",
            VolumeSpec("bind", "/srv", "/data", read_only=True, propagation="slave"),
        ),
        ("//srv/./a/../b/:/data//x/./", VolumeSpec("bind", "/srv/b", "/data/x")),
        ("/:/host", VolumeSpec("bind", "/", "/host")),
        ("vol:/data", VolumeSpec("volume", "vol", "/data")),
        ("my_vol.1-x:/data:ro", VolumeSpec("volume", "my_vol.1-x", "/data", read_only=True)),
        ("0v:/data:nocopy", VolumeSpec("volume", "0v", "/data", no_copy=True)),
        (r"C:\Users\me:/data", VolumeSpec("bind", r"C:\Users\me", "/data")),
        ("d:/work:/data:ro", VolumeSpec("bind", "d:/work", "/data", read_only=True)),
        (r"C:\:/c", VolumeSpec("bind", "C:\\", "/c")),
        # One-letter volume names stay volumes, as Docker on Linux reads them.
        ("c:/data", VolumeSpec("volume", "c", "/data")),
        ("c:/data:ro", VolumeSpec("volume", "c", "/data", read_only=True)),
    ],
)
def test_volume_spec(text: str, expected: VolumeSpec) -> None:
    assert runopts.volume_spec(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty volume specification"),
        ("/a:/b\0", "contains a NUL character"),
        ("/a:/b:ro:x", "too many ':' (expected [SRC:]DST[:OPTS])"),
        (":/data", "empty source before ':'"),
        ("::ro", "empty source before ':'"),
        ("/src:", "empty destination"),
        ("/src:/dst:", "empty volume option"),
        ("/src:/dst:ro,", "empty volume option"),
        ("/src:/dst:bogus", "unknown volume option 'bogus'"),
        ("/src:/dst:RO", "unknown volume option 'RO'"),
        ("/src:/dst:ro,rw", "option 'rw' conflicts with 'ro'"),
        ("/src:/dst:ro,ro", "option 'ro' given twice"),
        ("/src:/dst:z,Z", "option 'Z' conflicts with 'z'"),
        ("/src:/dst:shared,slave", "option 'slave' conflicts with 'shared'"),
        ("/data:ro,rw", "option 'rw' conflicts with 'ro'"),
        ("/src:/dst:nocopy", "option 'nocopy' applies only to volumes, not to host paths"),
        ("vol:/dst:rshared", "option 'rshared' applies only to host paths"),
        ("/data:private", "option 'private' applies only to host paths"),
        ("data", "destination 'data' must be an absolute path"),
        ("/src:dst", "destination 'dst' must be an absolute path"),
        ("/src:/a/../b", "destination '/a/../b' must not contain '..'"),
        ("/src:/..", "destination '/..' must not contain '..'"),
        ("/src:/", "destination cannot be '/'"),
        ("/src://./", "destination cannot be '/'"),
        ("vol..x:/d", "volume name 'vol..x' must not contain '..'"),
        ("./rel:/d", "'./rel' is neither an absolute host path nor a volume name"),
        ("rel/dir:/d", "'rel/dir' is neither an absolute host path nor a volume name"),
        ("_v:/d", "'_v' is neither"),
        ("-v:/d", "'-v' is neither"),
        ("~/x:/d", "'~/x' is neither"),
        ("völ:/d", "'völ' is neither"),
        (r"C:\data", r"'C:\\data': a host path needs a destination (SRC:DST)"),
        (r"C:\data:rel", "destination 'rel' must be an absolute path"),
    ],
)
def test_volume_spec_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        runopts.volume_spec(text)
    assert str(info.value).startswith(message)


def test_volume_spec_options_for_oci_mount() -> None:
    assert runopts.volume_spec("/a:/b").options == ["rbind", "rw", "rprivate"]
    assert runopts.volume_spec("/a:/b:ro,rslave").options == ["rbind", "ro", "rslave"]
    assert runopts.volume_spec("v:/b:ro").options == ["rbind", "ro", "rprivate"]


def test_volume_spec_repr_and_equality() -> None:
    spec = runopts.volume_spec("v:/b:ro")
    assert repr(spec) == (
        "VolumeSpec('volume', 'v', '/b', read_only=True, propagation='rprivate', no_copy=False)"
    )
    assert spec != runopts.volume_spec("v:/b")
    assert spec != "v:/b:ro"


# --restart ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "retries", "shown"),
    [
        ("", "no", 0, "no"),
        ("no", "no", 0, "no"),
        ("always", "always", 0, "always"),
        ("unless-stopped", "unless-stopped", 0, "unless-stopped"),
        ("on-failure", "on-failure", 0, "on-failure"),
        ("on-failure:0", "on-failure", 0, "on-failure"),
        ("on-failure:5", "on-failure", 5, "on-failure:5"),
        ("on-failure:007", "on-failure", 7, "on-failure:7"),
    ],
)
def test_restart_policy(text: str, name: str, retries: int, shown: str) -> None:
    policy = runopts.restart_policy(text)
    assert (policy.name, policy.max_retries, str(policy)) == (name, retries, shown)
    assert policy == RestartPolicy(name, retries)
    assert hash(policy) == hash(RestartPolicy(name, retries))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yes", "must be one of: no, always, unless-stopped, on-failure[:N]"),
        ("Always", "must be one of"),
        (" always", "must be one of"),
        (":3", "must be one of"),
        ("always:3", "a maximum retry count cannot be used with 'always'"),
        ("no:1", "a maximum retry count cannot be used with 'no'"),
        ("unless-stopped:1", "a maximum retry count cannot be used with 'unless-stopped'"),
        ("on-failure:", "the retry count must be a non-negative integer"),
        ("on-failure:-1", "the retry count must be a non-negative integer"),
        ("on-failure:+1", "the retry count must be a non-negative integer"),
        ("on-failure: 1", "the retry count must be a non-negative integer"),
        ("on-failure:1.5", "the retry count must be a non-negative integer"),
        ("on-failure:1:2", "the retry count must be a non-negative integer"),
        ("on-failure:\u0663", "the retry count must be a non-negative integer"),
        ("on-failure:2147483648", "the retry count is too large"),
    ],
)
def test_restart_policy_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        runopts.restart_policy(text)
    assert str(info.value).startswith(message)


def test_restart_policy_repr() -> None:
    assert repr(RestartPolicy("on-failure", 3)) == "RestartPolicy('on-failure', 3)"
    assert RestartPolicy() == RestartPolicy("no", 0)
    assert RestartPolicy() != "no"


@pytest.mark.parametrize("exit_code", [0, 1, 137])
@pytest.mark.parametrize("count", [0, 1, 100])
def test_should_restart_no_always_unless_stopped(exit_code: int, count: int) -> None:
    assert not RestartPolicy("no").should_restart(exit_code, count, False)
    assert RestartPolicy("always").should_restart(exit_code, count, False)
    assert RestartPolicy("unless-stopped").should_restart(exit_code, count, False)


@pytest.mark.parametrize("policy", ["no", "always", "unless-stopped", "on-failure"])
def test_stopped_by_user_never_restarts(policy: str) -> None:
    assert not runopts.restart_policy(policy).should_restart(1, 0, True)
    assert not runopts.restart_policy(policy).should_restart(0, 0, True)


def test_should_restart_on_failure() -> None:
    unlimited = RestartPolicy("on-failure")
    assert not unlimited.should_restart(0, 0, False)
    assert unlimited.should_restart(1, 0, False)
    assert unlimited.should_restart(-9, 10_000, False)

    three = runopts.restart_policy("on-failure:3")
    assert not three.should_restart(0, 0, False)
    assert [three.should_restart(2, n, False) for n in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_restart_on_boot() -> None:
    assert RestartPolicy("always").restart_on_boot(stopped_by_user=True)
    assert RestartPolicy("always").restart_on_boot(stopped_by_user=False)
    assert RestartPolicy("unless-stopped").restart_on_boot(stopped_by_user=False)
    assert not RestartPolicy("unless-stopped").restart_on_boot(stopped_by_user=True)
    for name in ("no", "on-failure"):
        assert not RestartPolicy(name).restart_on_boot(stopped_by_user=False)


def test_backoff() -> None:
    delays = [runopts.backoff(n) for n in range(12)]
    assert delays == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 60.0, 60.0]
    )
    assert runopts.backoff(10**9) == 60.0
    assert runopts.BACKOFF_RESET_AFTER == 10.0
    with pytest.raises(ValueError, match="restart count must be >= 0"):
        runopts.backoff(-1)


# --label, --stop-signal, --stop-timeout -----------------------------------


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("k=v", ("k", "v")),
        ("k", ("k", "")),
        ("k=", ("k", "")),
        ("com.example.x=a=b", ("com.example.x", "a=b")),
        ("k= spaced value ", ("k", " spaced value ")),
    ],
)
def test_label(text: str, pair: tuple[str, str]) -> None:
    assert runopts.label(text) == pair


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty label name"),
        ("=v", "empty label name"),
        ("a b=v", "label name 'a b' contains whitespace"),
        (" k=v", "label name ' k' contains whitespace"),
        ("k\t", "label name 'k\\t' contains whitespace"),
        ("k=v\0", "contains a NUL character"),
    ],
)
def test_label_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        runopts.label(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("TERM", 15),
        ("SIGTERM", 15),
        ("sigterm", 15),
        ("term", 15),
        ("KILL", 9),
        ("SIGQUIT", 3),
        ("HUP", 1),
        ("USR1", 10),
        ("IOT", 6),
        ("CLD", 17),
        ("PWR", 30),
        ("SYS", 31),
        ("1", 1),
        ("15", 15),
        ("64", 64),
        ("RTMIN", 34),
        ("SIGRTMIN", 34),
        ("RTMIN+0", 34),
        ("RTMIN+3", 37),
        ("rtmin+30", 64),
        ("RTMAX", 64),
        ("RTMAX-1", 63),
        ("SIGRTMAX-30", 34),
    ],
)
def test_stop_signal(text: str, number: int) -> None:
    assert runopts.stop_signal(text) == number


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "signal number must be 1-64"),
        ("65", "signal number must be 1-64"),
        ("-1", "unknown signal '-1'"),
        ("+15", "unknown signal '+15'"),
        (" 15", "unknown signal ' 15'"),
        ("", "unknown signal ''"),
        ("SIG", "unknown signal 'SIG'"),
        ("FOO", "unknown signal 'FOO'"),
        ("SIGSIGTERM", "unknown signal 'SIGSIGTERM'"),
        ("SIG_DFL", "unknown signal 'SIG_DFL'"),
        ("RTMIN+31", "real-time signal out of range (RTMIN+31)"),
        ("RTMIN-1", "real-time signal out of range (RTMIN-1)"),
        ("RTMAX+1", "real-time signal out of range (RTMAX+1)"),
        ("RTMAX-31", "real-time signal out of range (RTMAX-31)"),
        ("RTMIN+", "unknown signal 'RTMIN+'"),
        ("RTMIN+x", "unknown signal 'RTMIN+x'"),
        ("RTMINX", "unknown signal 'RTMINX'"),
    ],
)
def test_stop_signal_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        runopts.stop_signal(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("text", "value"), [("-1", -1), ("0", 0), ("10", 10), ("3600", 3600)])
def test_stop_timeout(text: str, value: int) -> None:
    assert runopts.stop_timeout(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-2", "must be >= 0, or -1 to wait forever"),
        ("", "expected an integer"),
        ("-", "expected an integer"),
        ("1.5", "expected an integer"),
        ("+5", "expected an integer"),
        (" 5", "expected an integer"),
        ("1_0", "expected an integer"),
        ("--1", "expected an integer"),
        ("2147483648", "too large"),
    ],
)
def test_stop_timeout_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        runopts.stop_timeout(text)
    assert str(info.value) == message


# start path ---------------------------------------------------------------


def test_import_stays_light() -> None:
    """Importing runopts (and parsing a signal number) loads no heavy module."""
    code = (
        "import sys; import launcher.runopts as r; r.stop_signal('9'); "
        "r.volume_spec('/a:/b:ro'); r.restart_policy('always'); "
        "heavy = {'typing', 'dataclasses', 'json', 're', 'enum', 'signal', 'socket'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
