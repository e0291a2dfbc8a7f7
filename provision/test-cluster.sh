#!/usr/bin/env bash
# Makes a Kubernetes control plane for the live tests available in a cache outside the repository:
#   <cache>/cluster/v<k8s version>/bin/{kube-apiserver,kube-controller-manager,etcd}
# Built from the Go wrapper modules tools/kube-apiserver and tools/etcd through the Go module proxy
# (opt-in: only the live tests under test/cluster/ need it). The pins live in those go.mod files.
# Progress goes to stderr; the last line on stdout is the bin directory. Idempotent: a warm cache
# whose stamp matches the inputs returns at once. See tools/README.md for how the pins were chosen.
#
# Usage: provision/test-cluster.sh [--force]   (--force rebuilds even when the cache is warm)
set -euo pipefail

tag=cluster
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
force=false
[ "${1:-}" = "--force" ] && force=true

k8s_version=$(gomod_version kube-apiserver k8s.io/kubernetes)
etcd_version=$(gomod_version etcd go.etcd.io/etcd/server/v3)
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] ||
  die "cannot read the pinned versions from $tools/{kube-apiserver,etcd}/go.mod" "restore tools/ from git"

cluster_dir="$cache_root/cluster/$k8s_version"
bin="$cluster_dir/bin"
stamp_inputs=$(cat "$tools"/kube-apiserver/go.{mod,sum} "$tools"/etcd/go.{mod,sum}; code_of "$0")
stamp=$(printf '%s' "$stamp_inputs" | sha256sum | cut -c1-16)

warm() {
  [ "$(cat "$cluster_dir/stamp" 2>/dev/null)" = "$stamp" ] || return 1
  for f in kube-apiserver kube-controller-manager etcd; do [ -x "$bin/$f" ] || return 1; done
}

if ! $force && warm; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null ||
  die "Go is not installed, and the control plane for the live tests is built from Go modules" \
    "install Go 1.26+ (https://go.dev/dl/, or your distribution's golang package) with access to a Go module proxy, then run this again"

mkdir -p "$cache_root/cluster"
# Assembled in a staging directory and renamed into place, so an interrupted build never leaves a
# half-filled cache that a later run would trust.
staging=$(mktemp -d "$cache_root/cluster/.staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/bin"

go_build() { # <wrapper dir> <package> <output> <ldflags>
  (cd "$1" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w $4" -o "$3" "$2")
}

t0=$SECONDS
say "building the control plane from Go modules (cold: about 7 minutes on 2 cores, downloads included)"
say "1/3 etcd $etcd_version"
# etcd's version number is a constant in the api module; only the commit is a link-time variable.
go_build "$tools/etcd" go.etcd.io/etcd/server/v3 "$staging/bin/etcd" \
  "-X go.etcd.io/etcd/api/v3/version.GitSHA=module-$etcd_version"
say "2/3 kube-apiserver $k8s_version"
minor=${k8s_version#v1.}
minor=${minor%%.*}
go_build "$tools/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver "$staging/bin/kube-apiserver" \
  "-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
# The controller manager shares most packages with the API server, so it costs little more; it
# gives Deployments their ReplicaSets and lets deleted Namespaces go away.
say "3/3 kube-controller-manager $k8s_version"
go_build "$tools/kube-apiserver" k8s.io/kubernetes/cmd/kube-controller-manager "$staging/bin/kube-controller-manager" \
  "-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
say "built in $((SECONDS - t0)) s"

echo "$stamp" >"$staging/stamp"
rm -rf "$cluster_dir"
mv "$staging" "$cluster_dir"
trap - EXIT
say "control plane ready: $bin ($("$bin/kube-apiserver" --version), etcd $("$bin/etcd" --version | awk 'NR == 1 { print $3 }'))"
echo "$bin"
