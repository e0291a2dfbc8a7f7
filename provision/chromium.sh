#!/usr/bin/env bash
# Makes Debian's chromium, the browser the dashboard's tests drive through playwright-core, ready:
# installed from the distribution's packages when it is missing (Debian/Ubuntu, as root: what CI
# runs as); otherwise it stops and says how to install it. The last line on stdout is the browser.
# Idempotent: returns at once when it is there.
#
# Usage: provision/chromium.sh
set -euo pipefail

tag=chromium
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

browser=/usr/bin/chromium
if [ ! -x "$browser" ]; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
    die "the dashboard's browser tests need Debian's chromium at $browser, which is not installed" "install it as root: apt-get install -y chromium"
  say "installing chromium from the distribution's packages"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
echo "$browser"
