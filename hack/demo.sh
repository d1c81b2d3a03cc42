#!/usr/bin/env bash
# The embedded default: a local control plane with the CRDs, the node agent and the
# operator (under its own RBAC), printing how to use kubectl on it. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/setup.sh
export PYTHONPATH="$PWD/tests"
exec .venv/bin/python -m harness up "$@"
