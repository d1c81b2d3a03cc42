#!/usr/bin/env bash
# Installs everything the demo and the tests need, from scratch or incrementally:
# a virtualenv with this package and its test tools, and the control plane binaries
# (built from the Kubernetes Go modules, cached by version outside the repo).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing Python packages"
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -c constraints.txt -e '.[test]'
  rm -f .venv/.installed-*; touch "$stamp"
fi
for tool in unshare go; do
  command -v "$tool" >/dev/null || { echo "[setup] missing required tool: $tool" >&2; exit 1; }
done
echo "[setup] control plane binaries: $(bash tests/harness/build-controlplane.sh)"
