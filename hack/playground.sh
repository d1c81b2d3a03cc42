#!/usr/bin/env bash
# Optional: a playground to try the operator by hand. The operator, a simulated BOSH
# director reached by the real bosh CLI and bbr, and an S3 server; up until Ctrl-C or
# any stop signal, which stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/prepare.sh
export PYTHONPATH="$PWD/tests"
exec .venv/bin/python -m harness.playground "$@"
