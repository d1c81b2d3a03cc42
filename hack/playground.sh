#!/usr/bin/env bash
# Optional: a playground to try the operator by hand. The operator, a simulated BOSH
# director reached by the real bosh CLI and bbr, and an S3 server; up until Ctrl-C or
# any stop signal, which stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/setup.sh
# where the real bosh and bbr come from, for anything this run starts (a clone of this
# checkout in the e2e test included): the sibling sources folder is found from here only
BOSH_TOOLS_SOURCES="$(bash tests/harness/build-bosh-tools.sh --sources)"
export BOSH_TOOLS_SOURCES
export PYTHONPATH="$PWD/tests"
exec .venv/bin/python -m harness.playground "$@"
