#!/usr/bin/env bash
# Makes gitlab-ci-local, which runs the shipped .gitlab-ci.yml in the pipeline tests, ready to run:
# the tool itself is a pinned devDependency (npm ci installs it); it copies the checkout with
# rsync before every pipeline, even in shell-executor mode, so rsync is installed from the
# distribution's packages when it is missing (Debian/Ubuntu, as root: what CI runs as).
# Opt-in: only test/pipelines/gitlab.test.ts needs it. The last line on stdout is the directory
# holding the gitlab-ci-local command. Idempotent: returns at once when both are there.
#
# Usage: provision/gitlab-ci-local.sh
set -euo pipefail

tag=gitlab-ci-local
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin="$repo/node_modules/.bin"
[ -x "$bin/gitlab-ci-local" ] || die "gitlab-ci-local is not installed in $repo/node_modules" "run npm ci in $repo"

if ! command -v rsync >/dev/null; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
    die "rsync is not installed, and gitlab-ci-local copies the checkout with it" "install rsync (Debian: apt-get install rsync), then run this again"
  say "installing rsync from the distribution's packages"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync >&2
fi
echo "$bin"
