"""Shell completion through typer for bash, zsh, fish and PowerShell: the scripts
``--show-completion SHELL`` prints, and the completions those scripts ask for."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ENTRY = "import sys; from launcher.cli.main import main; sys.argv[0] = 'launcher'; main()"


def _launcher(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("LAUNCHER_", "_LAUNCHER"))}
    full.update(env)
    return subprocess.run([sys.executable, "-c", ENTRY, *argv], capture_output=True, text=True,
                          timeout=60, check=False, env=full)


@pytest.mark.parametrize(("shell", "env", "expected"), [
    ("bash", {"COMP_WORDS": "launcher ru", "COMP_CWORD": "1"}, "run"),
    ("zsh", {"_TYPER_COMPLETE_ARGS": "launcher ru"}, '"run":"Run a command'),
    ("fish", {"_TYPER_COMPLETE_ARGS": "launcher ru", "_TYPER_COMPLETE_FISH_ACTION": "get-args"},
     "run\tRun a command"),
    ("powershell", {"_TYPER_COMPLETE_ARGS": "launcher ru",
                    "_TYPER_COMPLETE_WORD_TO_COMPLETE": "ru"}, "run:::Run a command"),
])
def test_commands_complete(shell: str, env: dict[str, str], expected: str) -> None:
    res = _launcher(_LAUNCHER_COMPLETE=f"complete_{shell}", **env)
    assert res.returncode == 0, res.stderr
    assert expected in res.stdout


def test_subcommands_and_options_complete() -> None:
    res = _launcher(_LAUNCHER_COMPLETE="complete_bash", COMP_WORDS="launcher network l",
                    COMP_CWORD="2")
    assert res.stdout.split() == ["ls"], res.stderr
    res = _launcher(_LAUNCHER_COMPLETE="complete_bash", COMP_WORDS="launcher ps --for",
                    COMP_CWORD="2")
    assert res.stdout.split() == ["--format"], res.stderr


@pytest.mark.parametrize(("shell", "marker"), [
    ("bash", "complete -o default -F"), ("zsh", "compdef"),
    ("fish", "complete --command launcher"), ("pwsh", "Register-ArgumentCompleter")])
def test_completion_scripts(shell: str, marker: str) -> None:
    # typer detects the user's shell from the process tree; here it is named instead
    res = _launcher("--show-completion", shell, _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert res.returncode == 0, res.stderr
    assert marker in res.stdout and "_LAUNCHER_COMPLETE" in res.stdout
