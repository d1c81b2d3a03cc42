#!/usr/bin/env bash
# Installs everything the demo and the tests need, from scratch or incrementally:
# a virtualenv with this package and its test tools, the control plane binaries and
# the S3 server (built from Go modules, cached by version outside the repo), the real
# bosh CLI and bbr (built from pinned sources, cached by their hash), and Debian's
# OpenSSH server and sudo, which play the director VM that bbr reaches over SSH.
#
#   BOSH_TOOLS_SOURCES   a folder with the vendored bosh-cli and bbr source archives
#                        (see tests/harness/build-bosh-tools.sh); without it, a sibling
#                        ../shared/third_party is used if present, else `go install`
set -euo pipefail
cd "$(dirname "$0")/.."

# Runner pods run as a non-root user and execute this venv's Python, so its
# interpreter must be readable by everyone: Debian's /usr/bin/python3 is; a pyenv
# under /root (mode 0700) is not.
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PYTHON=/usr/bin/python3
    /usr/bin/python3 -c 'import ensurepip' 2>/dev/null || {
      echo "[setup] installing python3-venv"; apt-get update -qq && apt-get install -y -qq python3-venv; }
  else
    PYTHON=python3
  fi
fi
if [ -x .venv/bin/python ] && ! [ "$(readlink -f .venv/bin/python)" = "$(readlink -f "$(command -v "$PYTHON")")" ]; then
  echo "[setup] recreating .venv with $PYTHON"; rm -rf .venv
fi
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
missing_packages=()
[ -x /usr/sbin/sshd ] || missing_packages+=(openssh-server)
[ -x /usr/bin/sudo ] || missing_packages+=(sudo)
command -v chattr >/dev/null || missing_packages+=(e2fsprogs)
command -v shasum >/dev/null || missing_packages+=(perl)
command -v age >/dev/null || missing_packages+=(age)   # the README's recovery by hand, tested
command -v tmux >/dev/null || missing_packages+=(tmux)   # kubectl bosh-backup, tested in a real terminal
if [ "${#missing_packages[@]}" -gt 0 ]; then
  echo "[setup] installing ${missing_packages[*]} (the simulated director VM, the stock age CLI, a terminal)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing_packages[@]}" >/dev/null
fi
for tool in unshare go; do
  command -v "$tool" >/dev/null || { echo "[setup] missing required tool: $tool" >&2; exit 1; }
done
# assignments, so that a failed build stops set-up (inside `echo "$(...)"` it would not)
built="$(bash tests/harness/build-controlplane.sh)"; echo "[setup] control plane binaries: $built"
built="$(bash tests/harness/build-s3.sh)"; echo "[setup] S3 server: $built"
built="$(bash tests/harness/build-bosh-tools.sh)"; echo "[setup] bosh and bbr: $built"
