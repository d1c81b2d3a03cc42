#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl from the
# Kubernetes Go modules into a cache folder keyed by version, and prints that folder.
#
# Why a throwaway module: k8s.io/kubernetes points its staging modules at
# ./staging/src/..., which only works inside its own repository. We require it as
# a module and replace each staging module with its published v0.X.Y twin.
#
#   KUBE_VERSION   Kubernetes release to build (default below)
#   CONTROLPLANE_CACHE  where built binaries live (default ~/.cache/bosh-backup-operator)
#   KUBEBUILDER_ASSETS  if it holds ready binaries, they are used and nothing is built
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
CACHE_ROOT="${CONTROLPLANE_CACHE:-$HOME/.cache/bosh-backup-operator}"
BIN_DIR="$CACHE_ROOT/controlplane-$KUBE_VERSION"
BINARIES=(etcd kube-apiserver kube-controller-manager kubectl)

have_all() {
  local dir="$1" b
  for b in "${BINARIES[@]}"; do [ -x "$dir/$b" ] || return 1; done
}

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have_all "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"; exit 0
fi
if have_all "$BIN_DIR"; then echo "$BIN_DIR"; exit 0; fi

log() { echo "[build-controlplane] $*" >&2; }
staging_version="v0.${KUBE_VERSION#v1.}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

log "fetching k8s.io/kubernetes@$KUBE_VERSION"
kube_gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"

{
  echo "module controlplane.local/build"
  echo
  echo "go $(awk '/^go /{print $2; exit}' "$kube_gomod")"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  echo "replace ("
  # every "k8s.io/X => ./staging/src/k8s.io/X" becomes "k8s.io/X => k8s.io/X v0.N.P"
  sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*#\t\1 => \1 '"$staging_version"'#p' "$kube_gomod"
  echo ")"
} > go.mod

cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
mkdir -p cmd/etcd
cat > cmd/etcd/main.go <<'GO'
// etcd's own main, as in go.etcd.io/etcd/server/v3/main.go.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO

log "resolving modules (go mod tidy)"
go mod tidy -e >&2
# etcd must match the version kubernetes itself was tested with
etcd_version="$(awk '/go.etcd.io\/etcd\/server\/v3 /{print $2; exit}' "$kube_gomod")"
go get "go.etcd.io/etcd/server/v3@$etcd_version" >&2
go mod tidy >&2

minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"

out="$work/out"; mkdir -p "$out"
build() { log "go build $2"; go build -trimpath -ldflags "$ldflags" -o "$out/$1" "$2" >&2; }
build etcd ./cmd/etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kubectl k8s.io/kubernetes/cmd/kubectl

mkdir -p "$CACHE_ROOT"
# publish atomically so a killed build never leaves a half-filled cache folder
tmp_dir="$(mktemp -d "$CACHE_ROOT/.controlplane-XXXXXX")"
cp "$out"/* "$tmp_dir"/
chmod 755 "$tmp_dir"; rm -rf "$BIN_DIR"; mv "$tmp_dir" "$BIN_DIR"
log "built into $BIN_DIR"
echo "$BIN_DIR"
