#!/usr/bin/env bash
# Runs every check CI runs: ruff and mypy over launcher/, actionlint and zizmor over
# the workflows, then the pytest suite. All of them always run; the script exits
# non-zero if any of them failed, and also when pytest collected no test (its exit
# code 5), so "nothing ran" is never green.
#
# As root on Linux the root-only integration tests run too; otherwise they skip.
# Arguments go to pytest (default: tests/), e.g. scripts/test.sh tests/unit -x
#
# Environment: LAUNCHER_VENV (default .venv), LAUNCHER_TEST_TIMEOUT (seconds for
# pytest, default 4200, so a hang fails inside CI's 90 minutes with a clear message).
set -uo pipefail

say() { printf '==> %s\n' "$*"; }

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
VENV=${LAUNCHER_VENV:-$(pwd)/.venv}
PY=$VENV/bin/python
if [ ! -x "$PY" ]; then
    printf 'test.sh: error: %s not found: run scripts/setup.sh first\n' "$PY" >&2
    exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    say "not root: tests marked 'root' will be skipped"
fi

failed=()

say "ruff check launcher tests bench"
"$PY" -m ruff check launcher tests bench || failed+=(ruff)

say "mypy launcher (strict, configured in pyproject.toml)"
"$PY" -m mypy launcher || failed+=(mypy)

say "actionlint and zizmor: .github/workflows and action.yml"
./scripts/lint-workflows.sh || failed+=(workflows)

[ $# -gt 0 ] || set -- tests
say "pytest $*"
# importlib mode: test files in different folders may share a basename without
# __init__.py files. faulthandler dumps every thread's stack if one test hangs.
# At a terminal, --foreground keeps pytest in the terminal's process group so
# Ctrl-C reaches it (without it timeout moves pytest to a group of its own).
timeout_args=(--kill-after=60)
[ -t 0 ] && timeout_args+=(--foreground)
timeout "${timeout_args[@]}" "${LAUNCHER_TEST_TIMEOUT:-4200}" \
    "$PY" -m pytest --import-mode=importlib -o faulthandler_timeout=600 "$@" </dev/null
rc=$?
case $rc in
    0) ;;
    5) say "pytest collected no tests: that counts as a failure"; failed+=(pytest) ;;
    124 | 137) say "pytest ran past ${LAUNCHER_TEST_TIMEOUT:-4200}s and was stopped"; failed+=(pytest) ;;
    *) failed+=(pytest) ;;
esac

if [ ${#failed[@]} -gt 0 ]; then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "all checks passed"
