#!/usr/bin/env bash
# The embedded default: a local control plane with the operator, a simulated BOSH
# director; a backup, a disaster, a restore, and the proof that nothing was lost.
# With a terminal the cluster stays up for kubectl until Ctrl-C; --exit stops at the end.
# (To try things by hand: bash hack/playground.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/prepare.sh
export PYTHONPATH="$PWD/tests"
exec .venv/bin/python -m harness.demo "$@"
