#!/usr/bin/env bash
# Makes the Node.js that .node-version pins (the tested runtime) available in a cache outside the
# repository, whatever Node this machine has: <cache>/node/v<version>/bin/node.
# Order of preference: the warm cache; a `node` on PATH at exactly the pinned version (linked); the
# official binary as the npm registry serves it (package node-<os>-<arch>, fetched with `npm pack`,
# so it goes through npm's own registry, proxy and cache settings and is checked against the
# registry's integrity hash). That package holds `node` only: npm stays the machine's, which runs on
# whichever `node` is first on PATH.
#
# Usage: provision/node.sh                       the last line on stdout is the bin directory
#        provision/node.sh <command> [args...]   runs the command with that directory first on PATH
# Progress goes to stderr. See tools/README.md for the times.
set -euo pipefail

tag=node
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

version=$(tr -d '[:space:]v' <"$repo/.node-version")
[ -n "$version" ] || die "cannot read the pinned Node.js version from $repo/.node-version" "restore .node-version from git"
node_dir="$cache_root/node/v$version"
bin="$node_dir/bin"
stamp=$(printf '%s\n%s' "$version" "$(code_of "$0")" | sha256sum | cut -c1-16)

warm() { [ "$(cat "$node_dir/stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$bin/node" ]; }

provision() {
  mkdir -p "$cache_root/node"
  # Assembled in a staging directory and renamed into place, so an interrupted run never leaves a
  # half-filled cache that a later run would trust.
  local staging
  staging=$(mktemp -d "$cache_root/node/.staging.XXXXXX")
  trap 'rm -rf "$staging"' EXIT
  mkdir -p "$staging/bin"
  local installed
  installed=$(command -v node 2>/dev/null) || true
  if [ -n "$installed" ] && [ "$("$installed" --version 2>/dev/null)" = "v$version" ]; then
    say "using the installed Node.js v$version at $installed"
    ln -s "$(readlink -f "$installed")" "$staging/bin/node"
  else
    local os arch
    os=$(uname -s | tr '[:upper:]' '[:lower:]')
    case "$(uname -m)" in x86_64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
    local package="node-$os-$arch@$version"
    say "fetching Node.js v$version from the npm registry ($package)"
    local tarball
    tarball=$(cd "$staging" && npm pack --silent --prefer-offline "$package" | tail -n 1) ||
      die "npm could not fetch $package" "check that npm reaches its registry (npm ping), or install Node.js $version yourself and put it first on PATH"
    tar -xzf "$staging/$tarball" -C "$staging" package/bin/node package/LICENSE
    mv "$staging/package/bin/node" "$staging/package/LICENSE" "$staging/bin/"
    rm -rf "$staging/package" "${staging:?}/$tarball"
  fi
  [ "$("$staging/bin/node" --version)" = "v$version" ] || die "the Node.js fetched as v$version does not run or reports another version" "remove $cache_root/node and run this again"
  echo "$stamp" >"$staging/stamp"
  rm -rf "$node_dir"
  mv "$staging" "$node_dir"
  trap - EXIT
  say "Node.js ready: $bin/node (v$version)"
}

warm || provision
if [ $# -gt 0 ]; then
  PATH="$bin:$PATH" exec "$@"
fi
echo "$bin"
