"""The README's promises that code can check: its configuration block is the
settings' own defaults_toml(), and it starts with the two commands CI runs."""

from __future__ import annotations

from pathlib import Path

from launcher.settings import defaults_toml

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_configuration_block_is_defaults_toml() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("## Configuration", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    assert block == defaults_toml()


def test_it_starts_with_the_two_commands_ci_runs() -> None:
    first = README.read_text(encoding="utf-8").split("```sh\n", 1)[1].split("```", 1)[0]
    assert first.splitlines() == [
        "./scripts/setup.sh && .venv/bin/launcher run --rm busybox echo hello from launcher",
        "./scripts/test.sh"]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "./scripts/setup.sh" in ci and "./scripts/test.sh" in ci
