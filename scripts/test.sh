#!/usr/bin/env bash
# Runs every check CI runs: ruff and mypy over launcher/, actionlint and zizmor over
# the workflows, the pytest suite, then the unit suite again with the platform
# simulated as darwin and as win32. All of them always run; the script exits
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

# When the whole suite ran: the unit suite again as if on macOS, and the parts
# that run on a Windows host as if on Windows (tests/unit/portable/sim.py:
# sys.platform switched, what the platform lacks taken away). All of tests/unit
# cannot run as win32 on Linux: the standard library's own Windows branches (ssl,
# msvcrt, pytest's console) need Windows itself; CI's windows job runs them there.
WIN32_UNITS=(tests/unit/portable tests/unit/cli tests/unit/doctor tests/unit/ci
             tests/unit/vm/test_wincon.py tests/unit/vm/test_hostproc.py
             tests/unit/vm/test_shares_via.py tests/unit/vm/test_target.py
             tests/unit/test_settings.py tests/unit/test_runopts.py tests/unit/test_log.py
             tests/unit/test_quicktoml.py tests/unit/api tests/unit/test_public_api.py
             tests/unit/test_pytest_plugin.py)
if [ "$*" = "tests" ]; then
    for plat in darwin win32; do
        units=(tests/unit)
        [ "$plat" = darwin ] || units=("${WIN32_UNITS[@]}")
        say "unit tests with the platform simulated as $plat: ${units[*]}"
        timeout --kill-after=60 1800 "$PY" -m tests.unit.portable.run_simulated "$plat" -q \
            -m "not slow" -p no:cacheprovider "${units[@]}" </dev/null \
            || failed+=("simulated-$plat")
    done
fi

if [ ${#failed[@]} -gt 0 ]; then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "all checks passed"
