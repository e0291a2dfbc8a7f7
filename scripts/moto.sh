#!/usr/bin/env bash
# Makes moto's S3-compatible server available for the live state-backend tests, in a Python venv in
# a cache outside the repository:
#   <cache>/moto/<version>/bin/moto_server
# Opt-in: only test/cluster/s3-backend.test.ts needs it. Progress goes to stderr; the last line on
# stdout is the venv's bin directory. Idempotent: a warm venv whose stamp matches returns at once.
#
# Usage: scripts/moto.sh [--force]   (--force reinstalls even when the cache is warm)
set -euo pipefail

# The pin. moto[server] pulls in flask and werkzeug for the standalone server.
moto_version=5.2.5
force=false
[ "${1:-}" = "--force" ] && force=true

say() { printf '[moto] %s\n' "$*" >&2; }
die() { printf '[moto] error: %s\n[moto] hint: %s\n' "$1" "$2" >&2; exit 1; }

cache_root=${PULUMI_GITOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-gitops}
venv="$cache_root/moto/$moto_version"
bin="$venv/bin"
stamp=$(sha256sum "$0" | cut -c1-16)

warm() {
  [ "$(cat "$venv/stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$bin/moto_server" ]
}

if ! $force && warm; then
  echo "$bin"
  exit 0
fi

python=$(command -v python3 || true)
[ -n "$python" ] && "$python" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))' 2>/dev/null ||
  die "moto $moto_version needs Python 3.9+ with the venv module" \
    "install python3 and python3-venv (Debian: apt-get install python3 python3-venv), then run this again"

mkdir -p "$cache_root/moto"
# Built in a staging venv and renamed into place, so an interrupted install is never trusted. A
# venv's console scripts name their interpreter by absolute path; they are rewritten after the rename.
staging=$(mktemp -d "$cache_root/moto/.staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
t0=$SECONDS
say "installing moto[server]==$moto_version from PyPI into $venv"
"$python" -m venv "$staging"
"$staging/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$moto_version"
echo "$stamp" >"$staging/stamp"
rm -rf "$venv"
mv "$staging" "$venv"
trap - EXIT
# Console scripts carry the staging path in their shebang; point them at the final interpreter.
grep -rlI --null "^#!$staging/bin/python" "$bin" | xargs -0 -r sed -i "1s|^#!$staging/bin/python|#!$venv/bin/python|"
sed -i "s|$staging|$venv|g" "$bin/activate" "$venv/pyvenv.cfg" 2>/dev/null || true
"$bin/moto_server" --help >/dev/null ||
  die "moto_server does not start from $bin" "run scripts/moto.sh --force"
say "moto $moto_version ready in $((SECONDS - t0)) s: $bin/moto_server"
echo "$bin"
