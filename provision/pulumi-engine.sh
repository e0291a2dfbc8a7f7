#!/usr/bin/env bash
# Makes the Pulumi engine available at the pinned versions in a cache outside the repository:
#   <cache>/engine/v<version>/bin/{pulumi,pulumi-language-nodejs,pulumi-resource-pulumi-nodejs}
#   <cache>/engine/v<version>/home/plugins/resource-kubernetes-v<k8s>/pulumi-resource-kubernetes
# The provider sits in a Pulumi home as an installed plugin rather than on PATH, where the engine
# would warn about an ambient plugin on every run.
# Order of preference: the warm cache; a pulumi already installed at the pinned version with its
# plugins; the official release archive (when the network allows it); a build from the Go wrapper
# modules under tools/ through the Go module proxy. Progress goes to stderr; the last line on
# stdout is the bin directory. See tools/README.md for how the pins were chosen.
#
# Usage: provision/pulumi-engine.sh [--force]   (--force rebuilds even when the cache is warm)
set -euo pipefail

tag=engine
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
force=false
[ "${1:-}" = "--force" ] && force=true

cli_version=$(gomod_version pulumi github.com/pulumi/pulumi/pkg/v3)
host_version=$(gomod_version pulumi-language-nodejs github.com/pulumi/pulumi/sdk/v3)
k8s_module_version=$(gomod_version pulumi-resource-kubernetes github.com/pulumi/pulumi-kubernetes/provider/v4)
# The Kubernetes plugin version the npm SDK asks for; the provider built from source reports it too.
k8s_version=$(node -p 'require(process.argv[1]).dependencies["@pulumi/kubernetes"]' "$repo/package.json")
[ -n "$cli_version" ] && [ -n "$host_version" ] && [ -n "$k8s_module_version" ] ||
  die "cannot read the pinned versions from $tools/*/go.mod" "restore tools/ from git"

engine_dir="$cache_root/engine/$cli_version"
bin="$engine_dir/bin"
# The stamp names every input; a change of pins or of the way they are built rebuilds the cache.
wrappers=(pulumi pulumi-language-nodejs pulumi-resource-kubernetes)
stamp_inputs=$(for w in "${wrappers[@]}"; do cat "$tools/$w/go.mod" "$tools/$w/go.sum"; done; code_of "$0"; echo "$k8s_version")
stamp=$(printf '%s' "$stamp_inputs" | sha256sum | cut -c1-16)
provider="home/plugins/resource-kubernetes-v$k8s_version/pulumi-resource-kubernetes"

warm() {
  [ "$(cat "$engine_dir/stamp" 2>/dev/null)" = "$stamp" ] || return 1
  for f in bin/pulumi bin/pulumi-language-nodejs bin/pulumi-resource-pulumi-nodejs "$provider"; do [ -x "$engine_dir/$f" ] || return 1; done
}

if ! $force && warm; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache_root/engine"
# Everything is assembled in a staging directory and renamed into place at the end, so an
# interrupted run never leaves a half-filled cache that a later run would trust.
staging=$(mktemp -d "$cache_root/engine/.staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/bin" "$(dirname "$staging/$provider")"

from_installed() {
  local p
  p=$(command -v pulumi 2>/dev/null) || return 1
  [ "$("$p" version 2>/dev/null)" = "$cli_version" ] || return 1
  local dir
  dir=$(dirname "$(readlink -f "$p")")
  [ -x "$dir/pulumi-language-nodejs" ] || return 1
  local k8s
  k8s=$(command -v pulumi-resource-kubernetes 2>/dev/null ||
    ls -d "${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-kubernetes-v$k8s_version/pulumi-resource-kubernetes" 2>/dev/null) || return 1
  say "using the installed pulumi $cli_version at $dir"
  ln -s "$(readlink -f "$p")" "$staging/bin/pulumi"
  ln -s "$dir/pulumi-language-nodejs" "$staging/bin/pulumi-language-nodejs"
  [ -x "$dir/pulumi-resource-pulumi-nodejs" ] || return 1
  ln -s "$dir/pulumi-resource-pulumi-nodejs" "$staging/bin/pulumi-resource-pulumi-nodejs"
  ln -s "$(readlink -f "$k8s")" "$staging/$provider"
}

from_release() {
  command -v curl >/dev/null || return 1
  local base=https://get.pulumi.com/releases
  local arch
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) return 1 ;; esac
  local os
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  say "trying the official release archive (gives up after 10 s offline)"
  curl -fsSL --connect-timeout 5 --max-time 10 -o /dev/null "$base/sdk/" 2>/dev/null || {
    say "the release site is not reachable"
    return 1
  }
  curl -fsSL --connect-timeout 5 --max-time 300 "$base/sdk/pulumi-$cli_version-$os-$arch.tar.gz" |
    tar -xz -C "$staging" || return 1
  mv "$staging/pulumi/pulumi" "$staging/pulumi/pulumi-language-nodejs" "$staging/pulumi/pulumi-resource-pulumi-nodejs" "$staging/bin/"
  curl -fsSL --connect-timeout 5 --max-time 300 \
    "$base/plugins/pulumi-resource-kubernetes-v$k8s_version-$os-$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/').tar.gz" |
    tar -xz -C "$(dirname "$staging/$provider")" pulumi-resource-kubernetes || return 1
  say "downloaded pulumi $cli_version and the Kubernetes provider $k8s_version"
}

go_build() { # <wrapper dir> <package> <output> <ldflags>
  (cd "$1" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w $4" -o "$3" "$2")
}

# module_dir <module dir> <module>: where the module's source is, downloading it first (`go list -m`
# alone prints an empty Dir for a module that is not in the cache yet, as on a cold machine).
module_dir() {
  local dir
  dir=$(cd "$1" && GOFLAGS=-mod=mod go mod download -json "$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -n "$dir" ] && [ -d "$dir" ] || { say "cannot find the source of $2"; return 1; }
  echo "$dir"
}

# complete: every file the engine needs is in the staging directory (a step that failed inside
# `if` does not stop the script, so the result is checked, not assumed).
complete() {
  for f in bin/pulumi bin/pulumi-language-nodejs bin/pulumi-resource-pulumi-nodejs "$provider"; do
    [ -x "$staging/$f" ] || { say "missing after the build: $f"; return 1; }
  done
}

from_modules() {
  command -v go >/dev/null || return 1
  local t0=$SECONDS
  say "building from Go modules through the module proxy (cold: about 9 minutes on 2 cores, downloads included)"
  say "1/3 pulumi $cli_version"
  go_build "$tools/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$staging/bin/pulumi" \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$cli_version" || return 1
  say "2/3 pulumi-language-nodejs (sdk $host_version)"
  go_build "$tools/pulumi-language-nodejs" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs \
    "$staging/bin/pulumi-language-nodejs" \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$host_version" || return 1
  # Programs with dynamic providers need the Node.js SDK's provider launcher, a script that release
  # archives ship next to the CLI; the CLI's own SDK module holds the same file.
  local sdk
  sdk=$(module_dir "$tools/pulumi" github.com/pulumi/pulumi/sdk/v3) || return 1
  install -m 755 "$sdk/nodejs/dist/pulumi-resource-pulumi-nodejs" "$staging/bin/" || return 1
  say "3/3 pulumi-resource-kubernetes $k8s_version (source $k8s_module_version)"
  # The provider's main package embeds files that its generate.go writes; build a copy of that
  # package inside a scratch copy of the wrapper module.
  local work="$staging/k8s"
  mkdir -p "$work"
  cp "$tools/pulumi-resource-kubernetes/go.mod" "$tools/pulumi-resource-kubernetes/go.sum" "$work/"
  local src
  src=$(module_dir "$work" github.com/pulumi/pulumi-kubernetes/provider/v4) || return 1
  cp "$src"/cmd/pulumi-resource-kubernetes/{main.go,generate.go,schema.json,terraform-mapping.json} "$work/" || return 1
  chmod u+w "$work"/*
  (cd "$work" && VERSION="$k8s_version" GOFLAGS=-mod=mod go run generate.go) || return 1
  go_build "$work" . "$staging/$provider" \
    "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$k8s_version" || return 1
  rm -rf "$work"
  say "built in $((SECONDS - t0)) s"
}

if { from_installed || from_release || from_modules; } && complete; then
  echo "$stamp" >"$staging/stamp"
  rm -rf "$engine_dir"
  mv "$staging" "$engine_dir"
  trap - EXIT
  say "engine ready: $bin ($("$bin/pulumi" version))"
  echo "$bin"
else
  die "no Pulumi engine: pulumi $cli_version is not installed, the release site is unreachable, and the build from Go modules failed (see above) or Go is not installed" \
    "fix what the build printed and run this again, or install Pulumi $cli_version (https://www.pulumi.com/docs/install/) or Go 1.24+ with access to a Go module proxy, then run this again"
fi
