"""Fixtures for the spec tests: sample configs and the official JSON schemas."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
SCHEMA_DIR = Path("/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema")


@pytest.fixture
def spec_data() -> Callable[[str], Any]:
    """``spec_data("runc-spec.json")`` → the decoded file from ``data/``."""
    return lambda name: json.loads((DATA / name).read_text())


@pytest.fixture
def runtime_spec(tmp_path: Path) -> Callable[[str], str]:
    """``runtime_spec("runc")`` → what ``runc spec`` writes; skips if not installed."""

    def run(runtime: str) -> str:
        exe = shutil.which(runtime)
        if exe is None:
            pytest.skip(f"{runtime} is not installed")
        workdir = tmp_path / runtime
        workdir.mkdir()
        subprocess.run([exe, "spec"], cwd=workdir, check=True, capture_output=True, timeout=30)
        return (workdir / "config.json").read_text()

    return run


@pytest.fixture(scope="session")
def schema_validate() -> Callable[[str, Any], list[str]]:
    """``schema_validate("config-schema.json", obj)`` → the schema's error messages."""
    if not SCHEMA_DIR.is_dir():
        pytest.skip(f"runtime-spec JSON schemas not found in {SCHEMA_DIR}")
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    # The schemas have no ids and $ref each other by relative file name
    # ("defs.json#/definitions/..."): key each one by its file URI.
    resources = []
    for name in os.listdir(SCHEMA_DIR):
        if name.endswith(".json"):
            contents = json.loads((SCHEMA_DIR / name).read_text())
            resource = Resource.from_contents(contents, default_specification=DRAFT4)
            resources.append(((SCHEMA_DIR / name).as_uri(), resource))
    registry: Registry[Any] = Registry().with_resources(resources)

    def validate(schema_file: str, obj: Any) -> list[str]:
        validator = jsonschema.Draft4Validator(
            {"$ref": (SCHEMA_DIR / schema_file).as_uri()}, registry=registry
        )
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(obj)]  # fmt: skip

    return validate
