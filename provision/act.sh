#!/usr/bin/env bash
# Makes act, which runs the shipped GitHub Actions workflows in the pipeline tests, available in a
# cache outside the repository:
#   <cache>/act/<version>/bin/act
# Built from the Go wrapper module tools/act through the Go module proxy (opt-in: only
# test/pipelines/ needs it); the pin lives in tools/act/go.mod. act's module has no `replace` lines
# and no cgo, so the wrapper builds what its release built.
# Progress goes to stderr; the last line on stdout is the bin directory. Idempotent: a warm cache
# whose stamp matches the inputs returns at once. See tools/README.md for the cold and warm times.
#
# Usage: provision/act.sh [--force]   (--force rebuilds even when the cache is warm)
set -euo pipefail

tag=act
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
force=false
[ "${1:-}" = "--force" ] && force=true

version=$(gomod_version act github.com/nektos/act)
[ -n "$version" ] || die "cannot read the pinned version from $tools/act/go.mod" "restore tools/ from git"

act_dir="$cache_root/act/$version"
bin="$act_dir/bin"
stamp=$({ cat "$tools"/act/go.{mod,sum}; code_of "$0"; } | sha256sum | cut -c1-16)

warm() {
  [ "$(cat "$act_dir/stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$bin/act" ]
}

if ! $force && warm; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null ||
  die "Go is not installed, and act, which runs the GitHub workflows in the pipeline tests, is built from Go modules" \
    "install Go 1.26.2+ (https://go.dev/dl/, or your distribution's golang package) with access to a Go module proxy, then run this again"

mkdir -p "$cache_root/act"
# Built in a staging directory and renamed into place, so an interrupted build never leaves a
# half-filled cache that a later run would trust.
staging=$(mktemp -d "$cache_root/act/.staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT

t0=$SECONDS
say "building act $version from Go modules (cold: about 2 minutes on 2 cores)"
# main.version is what `act --version` prints (act's Makefile sets it the same way).
(cd "$tools/act" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
  -ldflags "-s -w -X main.version=${version#v}" -o "$staging/bin/act" github.com/nektos/act)
say "built in $((SECONDS - t0)) s"

echo "$stamp" >"$staging/stamp"
rm -rf "$act_dir"
mv "$staging" "$act_dir"
trap - EXIT
"$bin/act" --version >/dev/null || die "the built act does not run: $bin/act" "run provision/act.sh --force"
say "act ready: $bin/act ($("$bin/act" --version))"
echo "$bin"
