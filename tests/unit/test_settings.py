"""launcher.conf and LAUNCHER_DEFAULT_NETWORK: the default network of `run`."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.errors import ConfigError
from launcher.paths import Paths
from launcher.settings import DEFAULT_NETWORK_ENV, default_network, read_settings


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    monkeypatch.delenv(DEFAULT_NETWORK_ENV, raising=False)
    (tmp_path / "config").mkdir()
    return Paths(str(tmp_path / "storage"), str(tmp_path / "state"), str(tmp_path / "config"))


def write(paths: Paths, text: str) -> None:
    Path(paths.settings_file).write_text(text)


def test_bridge_without_a_file(paths: Paths) -> None:
    assert default_network(paths) == "bridge"


def test_the_file_sets_it(paths: Paths) -> None:
    write(paths, "# launcher settings\n\n  default_network =  none  \n")
    assert default_network(paths) == "none"
    write(paths, "default_network=web\n")
    assert default_network(paths) == "web"


def test_the_environment_wins_over_the_file(paths: Paths,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    write(paths, "default_network = host\n")
    monkeypatch.setenv(DEFAULT_NETWORK_ENV, "none")
    assert default_network(paths) == "none"
    monkeypatch.setenv(DEFAULT_NETWORK_ENV, "")  # empty: unset
    assert default_network(paths) == "host"


@pytest.mark.parametrize(("text", "needle"), [
    ("default_network = a/b\n", "launcher.conf:1: default_network 'a/b'"),
    ("\ndefault_netwrok = none\n", "launcher.conf:2: unknown setting 'default_netwrok'"),
    ("default_network\n", "launcher.conf:1: expected 'key = value'"),
])
def test_mistakes_are_errors_naming_file_and_line(paths: Paths, text: str, needle: str) -> None:
    write(paths, text)
    with pytest.raises(ConfigError, match=needle):
        default_network(paths)


def test_a_bad_environment_value_is_named(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEFAULT_NETWORK_ENV, "container:")
    with pytest.raises(ConfigError, match=DEFAULT_NETWORK_ENV):
        default_network(paths)


def test_read_settings_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "launcher.conf"
    path.write_text("# c\ndefault_network = none\n")
    assert read_settings(str(path)) == {"default_network": ("none", 2)}
    assert read_settings(str(tmp_path / "missing.conf")) == {}


def test_rootless_default_is_slirp4netns_where_installed(paths: Paths,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from launcher import settings

    monkeypatch.delenv(DEFAULT_NETWORK_ENV, raising=False)
    monkeypatch.setattr(settings.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    assert default_network(paths) == "slirp4netns"
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert default_network(paths) == "none"
