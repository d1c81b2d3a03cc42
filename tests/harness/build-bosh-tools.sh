#!/usr/bin/env bash
# Builds the real bosh CLI and bbr at the versions pinned in bosh-tools.versions, caches
# each binary by what it was built from, and prints a PATH fragment (two folders) with them.
#
#   BOSH_TOOLS_SOURCES  a folder holding the vendored source archives named in
#                       bosh-tools.versions; each archive's sha256 must match the pin, and
#                       the build runs with GOPROXY=off. Without it (or when a sibling
#                       ../shared/third_party of the checkout does not hold them), the tools
#                       come from `go install` of the same versions, which needs ordinary
#                       access to the Go module proxy.
#   CONTROLPLANE_CACHE  cache root, shared with build-controlplane.sh
#
#   --sources           print the folder of vendored sources that would be used (or nothing)
set -euo pipefail
shopt -s inherit_errexit  # a failed build inside $(...) must stop the script, not publish nothing
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
source <(grep -E '^[A-Z_0-9]+=' "$here/bosh-tools.versions")
CACHE_ROOT="${CONTROLPLANE_CACHE:-$HOME/.cache/bosh-backup-operator}"
log() { echo "[build-bosh-tools] $*" >&2; }

sources="${BOSH_TOOLS_SOURCES:-}"
if [ -z "$sources" ] && [ -f "$here/../../../shared/third_party/$BOSH_CLI_ARCHIVE" ]; then
  sources="$(cd "$here/../../../shared/third_party" && pwd)"
fi
if [ "${1:-}" = "--sources" ]; then echo "$sources"; exit 0; fi

publish() {  # publish FOLDER_IN_CACHE BUILT_BINARY: atomically, so a killed build leaves no half cache
  local dest="$1" built="$2" tmp
  mkdir -p "$CACHE_ROOT"
  tmp="$(mktemp -d "$CACHE_ROOT/.tool-XXXXXX")"
  cp "$built" "$tmp/"; chmod 755 "$tmp" "$tmp/$(basename "$built")"
  rm -rf "$dest"; mv "$tmp" "$dest"
}

# build_tool NAME VERSION ARCHIVE SHA256 SRC_DIR PACKAGE LDFLAGS MODULE_FOR_GO_INSTALL
build_tool() {
  local name="$1" version="$2" archive="$3" sha="$4" src_dir="$5" pkg="$6" ldflags="$7" module="$8"
  local dest work
  if [ -n "$sources" ]; then
    dest="$CACHE_ROOT/$name-$version-src-${sha:0:16}"
    if [ -x "$dest/$name" ]; then echo "$dest"; return; fi
    [ -f "$sources/$archive" ] || { log "missing $sources/$archive"; exit 1; }
    local got; got="$(sha256sum "$sources/$archive" | cut -d' ' -f1)"
    if [ "$got" != "$sha" ]; then
      log "$archive has sha256 $got, but bosh-tools.versions pins $sha: refusing to build it"; exit 1
    fi
    work="$(mktemp -d)"
    log "building $name $version from $archive (GOPROXY=off)"
    tar xzf "$sources/$archive" -C "$work"
    GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0 go build -C "$work/$src_dir" -trimpath \
      -ldflags "$ldflags" -o "$work/out/$name" "$pkg" >&2
  else
    dest="$CACHE_ROOT/$name-$version-goinstall"
    if [ -x "$dest/$name" ]; then echo "$dest"; return; fi
    work="$(mktemp -d)"
    log "go install $module@v$version"
    if ! GOBIN="$work/gobin" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "$module@v$version" >&2; then
      log "go install of $module failed. Where the Go module proxy refuses it, point BOSH_TOOLS_SOURCES"
      log "at a folder holding $archive (sha256 $sha) and run again."
      exit 1
    fi
    mkdir -p "$work/out"; mv "$work/gobin/"* "$work/out/$name"
  fi
  [ -x "$work/out/$name" ] || { log "building $name produced no binary"; exit 1; }
  publish "$dest" "$work/out/$name"
  rm -rf "$work"
  echo "$dest"
}

bosh_dir="$(build_tool bosh "$BOSH_CLI_VERSION" "$BOSH_CLI_ARCHIVE" "$BOSH_CLI_SHA256" bosh-cli-src . \
  "-X 'github.com/cloudfoundry/bosh-cli/v7/cmd.VersionLabel=$BOSH_CLI_VERSION'" \
  github.com/cloudfoundry/bosh-cli/v7)"
bbr_dir="$(build_tool bbr "$BBR_VERSION" "$BBR_ARCHIVE" "$BBR_SHA256" bbr-src ./cmd/bbr \
  "-X main.version=$BBR_VERSION" \
  github.com/cloudfoundry/bosh-backup-and-restore/cmd/bbr)"
echo "$bosh_dir:$bbr_dir"
