"""launcher.toml under the environment and flags: defaults, checks, the documented text."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher import settings
from launcher.errors import ConfigError
from launcher.paths import Paths
from launcher.settings import DEFAULT_NETWORK_ENV, default_network, effective, machine_defaults

REPO = Path(__file__).resolve().parents[2]
ENVS = [s.env for s in settings.SETTINGS if s.env]


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    settings.reset_cache()
    yield
    settings.reset_cache()


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    for env in ENVS:
        monkeypatch.delenv(env, raising=False)
    (tmp_path / "config").mkdir()
    return Paths(str(tmp_path / "storage"), str(tmp_path / "state"), str(tmp_path / "config"))


def write(paths: Paths, text: str) -> None:
    Path(paths.settings_file).write_text(text)
    settings.reset_cache()  # the process reads the file once; here it changes


def test_the_file_is_launcher_toml_in_the_config_dir(paths: Paths) -> None:
    assert paths.settings_file == os.path.join(paths.config, "launcher.toml")


def test_defaults_without_a_file(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings.os, "geteuid", lambda: 0)
    assert default_network(paths) == "bridge"
    assert settings.log_level(paths) == "warning"
    assert settings.value(paths, "backend") == ""
    assert settings.value(paths, "host") == ""
    assert machine_defaults(paths) == {"cpus": 2, "memory": "2g", "disk_size": "10g"}


def test_the_file_sets_them(paths: Paths) -> None:
    write(paths, textwrap.dedent("""\
        # launcher settings
        default_network = "none"
        log_level = "INFO"
        backend = "vm"
        host = "ssh://me@box:2222"

        [machine]
        cpus = 4
        memory = "512m"
    """))
    assert default_network(paths) == "none"
    assert settings.log_level(paths) == "info"  # canonical spelling
    assert settings.value(paths, "backend") == "vm"
    assert settings.value(paths, "host") == "ssh://me@box:2222"
    assert machine_defaults(paths) == {"cpus": 4, "memory": "512m", "disk_size": "10g"}
    write(paths, 'default_network = "web"\n')
    assert default_network(paths) == "web"


def test_the_environment_wins_over_the_file(paths: Paths,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    write(paths, 'default_network = "host"\nlog_level = "error"\nbackend = "vm"\n')
    monkeypatch.setenv(DEFAULT_NETWORK_ENV, "none")
    monkeypatch.setenv("LAUNCHER_LOG_LEVEL", "debug")
    assert default_network(paths) == "none"
    assert settings.log_level(paths) == "debug"
    assert settings.lookup(paths, "backend") == ("vm", "file")
    monkeypatch.setenv(DEFAULT_NETWORK_ENV, "")  # empty: unset
    assert default_network(paths) == "host"


def test_the_file_is_read_once_per_process(paths: Paths) -> None:
    write(paths, 'log_level = "info"\n')
    assert settings.log_level(paths) == "info"
    Path(paths.settings_file).write_text('log_level = "error"\n')
    assert settings.log_level(paths) == "info"
    settings.reset_cache()
    assert settings.log_level(paths) == "error"


@pytest.mark.parametrize(("text", "needle"), [
    ('default_network = "a/b"\n', "launcher.toml: default_network = 'a/b': expected"),
    ('default_netwrok = "none"\n', "launcher.toml: unknown setting 'default_netwrok'"),
    ("[machine]\ncpu = 2\n", "launcher.toml: unknown setting 'machine.cpu'"),
    ("[network]\nname = 'x'\n", "launcher.toml: unknown setting 'network'"),
    ("[machine.disk]\nsize = '1g'\n", "launcher.toml: unknown setting 'machine.disk'"),
    ("machine = 2\n", r"launcher.toml: machine: expected a table"),
    ("log_level = 1\n", "launcher.toml: log_level: expected a string, got int 1"),
    ("[machine]\ncpus = '4'\n", "launcher.toml: machine.cpus: expected an integer, got str"),
    ("[machine]\ncpus = true\n", "launcher.toml: machine.cpus: expected an integer, got bool"),
    ("[machine]\ncpus = 0\n", "launcher.toml: machine.cpus = 0: expected a whole number"),
    ("[machine]\nmemory = 'lots'\n", "launcher.toml: machine.memory = 'lots': expected a size"),
    ("[machine]\ndisk_size = 'infg'\n", "launcher.toml: machine.disk_size = 'infg': expected"),
    ("[machine]\ndisk_size = '0g'\n", "launcher.toml: machine.disk_size = '0g': expected"),
    ('log_level = "loud"\n', "launcher.toml: log_level = 'loud': expected debug, info"),
    ('backend = "docker"\n', "launcher.toml: backend = 'docker': expected"),
    ('host = "box:22"\n', "launcher.toml: host = 'box:22': expected ssh://"),
    ("default_network = none\n", "launcher.toml: Invalid value"),  # TOML wants quotes
])
def test_mistakes_are_errors_naming_file_and_key(paths: Paths, text: str, needle: str) -> None:
    write(paths, text)
    with pytest.raises(ConfigError, match=needle):
        settings.load(paths.settings_file)
    with pytest.raises(ConfigError, match=needle):  # whichever setting is asked for
        machine_defaults(paths)


def test_unreadable_files_are_named(paths: Paths) -> None:
    Path(paths.settings_file).write_bytes(b'host = "\xff"\n')
    with pytest.raises(ConfigError, match=r"launcher\.toml: not UTF-8"):
        settings.load(paths.settings_file)
    Path(paths.settings_file).write_bytes(b"#" * (70 << 10))
    with pytest.raises(ConfigError, match="larger than"):
        settings.load(paths.settings_file)


def test_a_bad_environment_value_is_named(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEFAULT_NETWORK_ENV, "container:")
    with pytest.raises(ConfigError, match=DEFAULT_NETWORK_ENV):
        default_network(paths)


def test_rootless_default_is_slirp4netns_where_installed(paths: Paths,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    monkeypatch.setattr(settings.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    assert default_network(paths) == "slirp4netns"
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert default_network(paths) == "none"


def test_effective_names_each_source(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    write(paths, 'backend = "vm"\n[machine]\ncpus = 8\n')
    monkeypatch.setenv("LAUNCHER_LOG_LEVEL", "info")
    got = effective(paths, {"host": "ssh://h", "backend": None})
    assert set(got) == set(settings.BY_KEY)
    assert got["default_network"] == {"value": "", "source": "default"}
    assert got["log_level"] == {"value": "info", "source": "env"}
    assert got["backend"] == {"value": "vm", "source": "file"}
    assert got["host"] == {"value": "ssh://h", "source": "flag"}
    assert got["machine.cpus"] == {"value": 8, "source": "file"}
    assert got["machine.memory"] == {"value": "2g", "source": "default"}


def test_defaults_toml_is_the_defaults_and_the_docstring() -> None:
    text = settings.defaults_toml()
    assert tomllib.loads(text) == settings.defaults()
    assert settings.defaults() == {
        "default_network": "", "log_level": "warning", "backend": "", "host": "",
        "machine": {"cpus": 2, "memory": "2g", "disk_size": "10g"},
    }
    for setting in settings.SETTINGS:  # every key says where else it can be set
        assert setting.help and (setting.env or setting.flag)
    documented = textwrap.indent(text, "    ", lambda line: bool(line.strip()))
    assert settings.__doc__ is not None
    assert documented in settings.__doc__


def test_the_defaults_file_is_accepted_as_written(paths: Paths) -> None:
    write(paths, settings.defaults_toml())
    assert {k: settings.lookup(paths, k)[1] for k in settings.BY_KEY} == dict.fromkeys(
        settings.BY_KEY, "file")


PROBE = """
import sys
from launcher import settings
from launcher.paths import Paths
paths = Paths.from_root(sys.argv[1])
settings.default_network(paths), settings.log_level(paths), settings.machine_defaults(paths)
print("tomllib" in sys.modules)
"""


def _tomllib_loaded(root: Path) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHER_")}
    out = subprocess.run([sys.executable, "-c", PROBE, str(root)], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True).stdout
    return out.strip() == "True"


def test_tomllib_is_imported_only_for_a_file_beyond_plain_toml(tmp_path: Path) -> None:
    assert not _tomllib_loaded(tmp_path)  # no file
    (tmp_path / "config").mkdir()
    conf = tmp_path / "config" / "launcher.toml"
    conf.write_text(settings.defaults_toml())
    assert not _tomllib_loaded(tmp_path)  # quicktoml reads it
    conf.write_text('log_level = "\\u0069nfo"  # an escape: tomllib\n')
    assert _tomllib_loaded(tmp_path)


def test_full_toml_is_read_too(paths: Paths) -> None:
    write(paths, 'log_level = "\\u0069nfo"\nmachine = { cpus = 3 }\n')
    assert settings.log_level(paths) == "info"
    assert machine_defaults(paths)["cpus"] == 3
