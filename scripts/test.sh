#!/usr/bin/env bash
# The test command: installs what is missing, then lint, type-check and the whole suite (Azurite, devhost and
# devmodel are started by the tests themselves). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
. .venv/bin/activate
echo "== ruff"
ruff check .
echo "== mypy"
mypy
echo "== pytest"
set +e
python -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure for us, not a pass.
exit $rc
