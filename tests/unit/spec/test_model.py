from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from launcher.errors import ConfigError, NotFoundError
from launcher.spec import model
from launcher.spec.record import Record, snake_case

REPO = Path(__file__).resolve().parents[3]


def _walk(record: Record, seen: set[tuple[str, str]]) -> None:
    """Add (class, json key) for every field set anywhere in a record tree."""
    for attr, (key, _kind) in zip(record._attrs, record.FIELDS, strict=True):
        value = getattr(record, attr)
        if value is None:
            continue
        seen.add((type(record).__name__, key))
        items = [value] if isinstance(value, Record) else []
        if isinstance(value, list | dict):
            items = list(value.values() if isinstance(value, dict) else value)
        for item in items:
            if isinstance(item, Record):
                _walk(item, seen)


@pytest.mark.parametrize("name", ["runc-spec.json", "crun-spec.json", "full-config.json"])
def test_stored_configs_round_trip_exactly(name: str, spec_data: Callable[[str], Any]) -> None:
    obj = spec_data(name)
    out = model.Spec.from_json(obj).to_json()
    assert out == obj
    assert json.dumps(out) == json.dumps(obj)  # key order too


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_runtime_spec_output_round_trips_byte_for_byte(
    runtime: str, runtime_spec: Callable[[str], str]
) -> None:
    text = runtime_spec(runtime)
    obj = json.loads(text)
    out = model.Spec.from_json(obj).to_json()
    assert out == obj
    # Both runtimes indent with tabs; crun writes a leading blank and an empty list oddly.
    assert json.dumps(out, indent="\t") == json.dumps(obj, indent="\t")


def test_full_config_sets_every_field_of_every_record(spec_data: Callable[[str], Any]) -> None:
    spec = model.Spec.from_json(spec_data("full-config.json"))
    seen: set[tuple[str, str]] = set()
    _walk(spec, seen)
    records = [c for c in vars(model).values() if isinstance(c, type) and issubclass(c, Record)]
    every = {(c.__name__, key) for c in records if c is not model.State for key, _ in c.FIELDS}
    assert sorted(every - seen) == []
    assert spec.extra == {"org.example.future": {"x": 1}}


def test_typed_access(spec_data: Callable[[str], Any]) -> None:
    spec = model.Spec.from_json(spec_data("full-config.json"))
    assert spec.process is not None and spec.process.io_priority is not None
    assert spec.process.io_priority.class_ == "IOPRIO_CLASS_BE"
    assert spec.linux is not None and spec.linux.resources is not None
    blkio = spec.linux.resources.block_io
    assert blkio is not None and blkio.throttle_read_iops_device is not None
    assert blkio.throttle_read_iops_device[0].rate == 100
    assert spec.linux.uid_mappings == [model.IDMapping(container_id=0, host_id=100000, size=65536)]
    assert spec.linux.time_offsets is not None
    assert spec.linux.time_offsets["boottime"] == model.TimeOffset(secs=-3600)
    assert spec.linux.resources.memory is not None
    assert spec.linux.resources.memory.disable_oom_killer is False
    assert spec.windows == {"layerFolders": ["C:\\layers\\1"]}


def test_every_attribute_is_the_snake_case_of_its_key_or_renamed() -> None:
    records = [c for c in vars(model).values() if isinstance(c, type) and issubclass(c, Record)]
    assert len(records) > 30
    for cls in records:
        if cls is Record:
            continue
        for attr, (key, _kind) in zip(cls._attrs, cls.FIELDS, strict=True):
            assert attr == cls.RENAMES.get(key, snake_case(key)), (cls.__name__, key)


def test_wrong_shape_names_the_path(spec_data: Callable[[str], Any]) -> None:
    obj = spec_data("runc-spec.json")
    obj["linux"]["namespaces"][2]["type"] = 7
    with pytest.raises(ConfigError) as info:
        model.Spec.from_json(obj)
    assert info.value.problems == ["linux.namespaces[2].type: expected a string"]


def test_state_round_trip(schema_validate: Callable[[str, Any], list[str]]) -> None:
    obj = {"ociVersion": "1.2.0", "id": "c1", "status": "running", "pid": 42,
           "bundle": "/b", "annotations": {"a": "b"}}  # fmt: skip
    state = model.State.from_json(obj)
    assert (state.id, state.status, state.pid) == ("c1", "running", 42)
    assert state.to_json() == obj
    assert schema_validate("state-schema.json", state.to_json()) == []


# -- files -----------------------------------------------------------------------------------


def test_dump_then_load(tmp_path: Path, spec_data: Callable[[str], Any]) -> None:
    spec = model.Spec.from_json(spec_data("full-config.json"))
    path = tmp_path / "config.json"
    model.dump_spec(spec, str(path))
    assert model.load_spec(str(path)) == spec
    assert json.loads(path.read_text()) == spec.to_json()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["config.json"]  # no temp file left


def test_dump_replaces_atomically_and_honours_mode(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("old")
    model.dump_spec(model.Spec(oci_version="1.2.0"), str(path), 0o644)
    assert json.loads(path.read_text()) == {"ociVersion": "1.2.0"}
    assert os.listdir(tmp_path) == ["config.json"]


def test_dump_failure_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    target.mkdir()  # rename onto a directory fails
    with pytest.raises(OSError):
        model.dump_spec(model.Spec(oci_version="1.2.0"), str(target))
    assert sorted(os.listdir(tmp_path)) == ["config.json"]


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"config\.json: no such file"):
        model.load_spec(str(tmp_path / "config.json"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "invalid JSON"),
        ("", "invalid JSON"),
        ("{} x", "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        ("[]", "(top level): expected an object"),
        ('{"process": {"args": "sh"}}', "process.args: expected a list of strings"),
        # found by fuzzing: RecursionError escaped from the JSON decoder
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"x":' * 100_000 + "0" + "}" * 100_000, "nested too deeply"),
    ],
)
def test_load_bad_file_names_it(tmp_path: Path, text: str | bytes, message: str) -> None:
    path = tmp_path / "config.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConfigError) as info:
        model.load_spec(str(path))
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_load_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        model.load_spec(str(tmp_path))  # a directory


# -- start-path hygiene ----------------------------------------------------------------------


START_PATH_MODULES = ["launcher.spec.model", "launcher.spec.build", "launcher.spec.validate",
                      "launcher.spec.image_config"]  # fmt: skip


@pytest.mark.parametrize("module", START_PATH_MODULES)
def test_no_heavy_imports(module: str) -> None:
    code = f"import {module}, sys; print(' '.join(sorted(sys.modules)))"
    # -S: the editable install's .pth hook imports re and pathlib itself.
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=REPO, check=True,
                         capture_output=True, text=True, timeout=60).stdout.split()  # fmt: skip
    heavy = {"dataclasses", "typing", "json", "re", "enum", "inspect", "logging", "subprocess",
             "shutil", "tempfile", "pathlib", "datetime", "socket", "signal"}  # fmt: skip
    assert module in out
    assert sorted(heavy & set(out)) == []
