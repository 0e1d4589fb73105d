"""Property-based fuzzing of the config parsers and validator (issue 7).

Inputs: arbitrary JSON whose object keys are mostly the model's own (so the
parser goes deep), and valid documents with 1-4 mutations (a key deleted, a
value replaced by a wrong type, a huge or negative int, NaN, a long or NUL
string, deep nesting, garbage). Properties:

* ``Spec.from_json`` / ``ImageConfig.from_json`` return a record or raise the
  project's own error (ConfigError / ImageError) with a message; never
  TypeError, KeyError, RecursionError...
* ``validate.problems`` on anything that parsed returns messages, never raises;
* a parsed document re-serializes and parses back to an equal record, and a
  document without nulls comes back exactly as it went in;
* ``load_spec`` on any bytes: a Spec, ConfigError or NotFoundError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from launcher import fastjson
from launcher.errors import ConfigError, ImageError
from launcher.spec import validate
from launcher.spec.image_config import ImageConfig
from launcher.spec.model import Spec, load_spec
from launcher.spec.record import Record

from ..fuzz import fuzz_settings, has_null_or_nan, json_values, mutated

DATA = Path(__file__).parent / "data"


def _record_keys(cls: type[Record] = Record) -> set[str]:
    keys = {key for key, _kind in cls.FIELDS}
    for sub in cls.__subclasses__():
        keys |= _record_keys(sub)
    return keys


SPEC_KEYS = sorted(_record_keys())
IMAGE_KEYS = ["config", "rootfs", "diff_ids", "type", "architecture", "os", "history", "Env",
              "Entrypoint", "Cmd", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
              "StopSignal"]  # fmt: skip


def refused(exc: Exception) -> None:
    """The project's own error, with something to say."""
    assert str(exc)
    if isinstance(exc, ConfigError):
        assert exc.problems and all(type(p) is str and p for p in exc.problems)


def json_round_trip(doc: Any) -> Any:
    return fastjson.loads(fastjson.dumps(doc))


# -- runtime config ------------------------------------------------------------------------


def check_spec(obj: Any) -> None:
    try:
        spec = Spec.from_json(obj)
    except ConfigError as exc:
        refused(exc)
        event("refused by the parser")
        return
    found = validate.problems(spec, bundle="/nonexistent-bundle")
    assert all(type(p) is str and p for p in found)
    event(f"parsed, {'invalid' if found else 'valid'}")
    out = spec.to_json()
    if not has_null_or_nan(obj):
        assert out == obj  # unknown keys kept, known keys in spec order
    again = Spec.from_json(json_round_trip(out))
    assert fastjson.dumps(again.to_json()) == fastjson.dumps(out)
    if not has_null_or_nan(out):
        assert again == spec


def _base(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@fuzz_settings(300)
@given(obj=json_values(SPEC_KEYS) | st.dictionaries(st.sampled_from(SPEC_KEYS),
                                                     json_values(SPEC_KEYS)))  # fmt: skip
def test_spec_from_arbitrary_json(obj: Any) -> None:
    check_spec(obj)


@fuzz_settings(300)
@given(obj=st.sampled_from(["full-config.json", "runc-spec.json"]).flatmap(
    lambda name: mutated(_base(name), SPEC_KEYS)))  # fmt: skip
def test_spec_from_mutated_config(obj: Any) -> None:
    check_spec(obj)


def _texts() -> st.SearchStrategy[bytes]:
    doc = json_values(SPEC_KEYS).map(lambda v: fastjson.dumps(v).encode())
    full = (DATA / "full-config.json").read_bytes()
    return (
        doc
        | st.binary(max_size=64)
        | st.integers(1, 50_000).map(lambda n: b"[" * n + b"]" * n)
        | st.integers(1, 50_000).map(lambda n: b'{"linux":' * n + b"{}" + b"}" * n)
        | st.integers(0, len(full)).map(lambda n: full[:n])
        | st.sampled_from([b"1" * 5000, b"\xff\xfe", b'{"ociVersion": NaN}', b"\0"])
    )


@fuzz_settings(200)
@given(data=_texts())
def test_load_spec_on_any_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(data)
    try:
        spec = load_spec(str(path))
    except ConfigError as exc:
        refused(exc)
        assert str(path) in str(exc)
        return
    validate.problems(spec)


# -- image config --------------------------------------------------------------------------

IMAGE_CONFIG: dict[str, Any] = {
    "architecture": "amd64",
    "os": "linux",
    "config": {
        "Env": ["PATH=/usr/bin:/bin"], "Entrypoint": ["/entry.sh"], "Cmd": ["run"],
        "WorkingDir": "/srv", "User": "101:101", "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/data": {}}, "Labels": {"a": "b"}, "StopSignal": "SIGQUIT",
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]},
    "history": [{"created_by": "x"}],
}  # fmt: skip


def check_image_config(obj: Any) -> None:
    try:
        config = ImageConfig.from_json(obj)
    except ImageError as exc:
        refused(exc)
        event("refused")
        return
    event("parsed")
    out = config.to_json()
    again = ImageConfig.from_json(json_round_trip(out))
    assert fastjson.dumps(again.to_json()) == fastjson.dumps(out)
    if not has_null_or_nan(out):
        assert again == config


@fuzz_settings(300)
@given(obj=json_values(IMAGE_KEYS) | mutated(IMAGE_CONFIG, IMAGE_KEYS))
def test_image_config_from_any_json(obj: Any) -> None:
    check_image_config(obj)
