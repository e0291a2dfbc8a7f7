#!/usr/bin/env bash
# Makes Gitea, the forge the pull-request tests post comments and statuses to, available in a
# cache outside the repository:
#   <cache>/gitea/<version>/bin/gitea       the server (SQLite built in)
#   <cache>/gitea/<version>/static/         its options/ (locales), templates/ and public/
# Built from the Go wrapper module tools/gitea through the Go module proxy (opt-in: only the
# tests under test/forge/ need it); the pin lives in tools/gitea/go.mod. Without the `bindata` tag
# the binary reads its locales and templates from disk, so they are copied next to it from the
# module's source (test/fixtures/gitea.ts sets STATIC_ROOT_PATH to static/).
# Progress goes to stderr; the last line on stdout is the bin directory. Idempotent: a warm cache
# whose stamp matches the inputs returns at once. See tools/README.md for the cold and warm times.
#
# Usage: provision/gitea.sh [--force]   (--force rebuilds even when the cache is warm)
set -euo pipefail

tag=gitea
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
force=false
[ "${1:-}" = "--force" ] && force=true

version=$(gomod_version gitea code.gitea.io/gitea)
[ -n "$version" ] || die "cannot read the pinned version from $tools/gitea/go.mod" "restore tools/ from git"

gitea_dir="$cache_root/gitea/$version"
bin="$gitea_dir/bin"
stamp=$({ cat "$tools"/gitea/go.{mod,sum}; code_of "$0"; } | sha256sum | cut -c1-16)

warm() {
  [ "$(cat "$gitea_dir/stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$bin/gitea" ] && [ -d "$gitea_dir/static/options/locale" ]
}

if ! $force && warm; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null ||
  die "Go is not installed, and the forge for the pull-request tests is built from Go modules" \
    "install Go 1.26.2+ (https://go.dev/dl/, or your distribution's golang package) with access to a Go module proxy, then run this again"
command -v gcc >/dev/null ||
  die "gcc is not installed, and Gitea's SQLite driver is C (cgo)" "install a C compiler (Debian: apt-get install gcc), then run this again"

mkdir -p "$cache_root/gitea"
# Assembled in a staging directory and renamed into place, so an interrupted build never leaves a
# half-filled cache that a later run would trust.
staging=$(mktemp -d "$cache_root/gitea/.staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT

t0=$SECONDS
say "building Gitea $version from Go modules (cold: about 4 minutes on 2 cores after the engine build)"
tags="sqlite sqlite_unlock_notify"
(cd "$tools/gitea" && CGO_ENABLED=1 GOFLAGS=-mod=mod go build -trimpath -tags "$tags" \
  -ldflags "-s -w -X 'main.Version=${version#v}' -X 'main.Tags=$tags'" -o "$staging/bin/gitea" code.gitea.io/gitea)
src=$(cd "$tools/gitea" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' code.gitea.io/gitea)
mkdir -p "$staging/static"
for d in options templates public; do cp -R "$src/$d" "$staging/static/"; done
# The module cache is read-only; the copies need not be.
chmod -R u+w "$staging/static"
say "built in $((SECONDS - t0)) s"

echo "$stamp" >"$staging/stamp"
rm -rf "$gitea_dir"
mv "$staging" "$gitea_dir"
trap - EXIT
"$bin/gitea" --version >/dev/null || die "the built gitea does not run: $bin/gitea" "run provision/gitea.sh --force"
say "Gitea ready: $bin/gitea ($("$bin/gitea" --version))"
echo "$bin"
