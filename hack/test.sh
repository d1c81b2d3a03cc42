#!/usr/bin/env bash
# The test command (README, and .ci/run): set-up, lint, type-check, then every test tier.
# Extra arguments go to pytest, e.g. `bash hack/test.sh tests/unit -k crds`.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/prepare.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "[test] crds/ up to date"; python -m bosh_backup_operator.api.crdgen --check crds
echo "[test] ruff";  ruff check operator tests
echo "[test] mypy";  mypy
echo "[test] pytest"
set +e
python -m pytest "${@:-tests}"
code=$?
set -e
if [ "$code" -eq 5 ]; then echo "[test] pytest collected no tests: failing" >&2; exit 1; fi
exit "$code"
