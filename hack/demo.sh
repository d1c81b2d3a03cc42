#!/usr/bin/env bash
# The embedded default: a local control plane with the operator, a simulated BOSH
# director; a backup, a disaster, a restore, and the proof that nothing was lost.
# With a terminal the cluster stays up for kubectl until Ctrl-C; --exit stops at the end.
# (To try things by hand: bash hack/playground.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/setup.sh
# where the real bosh and bbr come from, for anything this run starts (a clone of this
# checkout in the e2e test included): the sibling sources folder is found from here only
BOSH_TOOLS_SOURCES="$(bash tests/harness/build-bosh-tools.sh --sources)"
export BOSH_TOOLS_SOURCES
export PYTHONPATH="$PWD/tests"
exec .venv/bin/python -m harness.demo "$@"
