#!/usr/bin/env bash
# Builds versitygw (an S3 gateway over a POSIX folder, used in production) from its Go
# module into a cache folder keyed by version, and prints the binary's path.
#   VERSITYGW_VERSION   release to build (default below)
#   CONTROLPLANE_CACHE  cache root, shared with build-controlplane.sh
set -euo pipefail
VERSION="${VERSITYGW_VERSION:-v1.8.0}"
CACHE_ROOT="${CONTROLPLANE_CACHE:-$HOME/.cache/bosh-backup-operator}"
BIN="$CACHE_ROOT/versitygw-$VERSION/versitygw"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
echo "[build-s3] go install github.com/versity/versitygw/cmd/versitygw@$VERSION" >&2
mkdir -p "$CACHE_ROOT"
tmp="$(mktemp -d "$CACHE_ROOT/.versitygw-XXXXXX")"
GOBIN="$tmp" go install "github.com/versity/versitygw/cmd/versitygw@$VERSION" >&2
chmod 755 "$tmp"
rm -rf "$(dirname "$BIN")"; mv "$tmp" "$(dirname "$BIN")"
echo "$BIN"
