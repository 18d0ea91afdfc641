#!/usr/bin/env bash
# The real-browser test of the hub's sign-in pages (interop/browser/README.md):
# Debian's chromium driven headless by playwright-core. Installs what it needs,
# then runs interop/browser/run.sh against the already built hub. Idempotent:
# on a warm machine both installs are skipped and the whole run takes seconds.
#
#   bash .ci/browser.sh        # KEYWARD_BIN defaults to the debug build
set -euo pipefail
cd "$(dirname "$0")/.."

cache=$HOME/.cache/keyward
export KEYWARD_BIN=${KEYWARD_BIN:-${CARGO_TARGET_DIR:-$cache/target}/debug/keyward}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
step() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "browser: chromium (Debian package)"
if [ -x /usr/bin/chromium ]; then
  echo "already installed"
else
  # Refresh the package lists first: a kept machine's lists may name a
  # chromium build the mirror no longer has.
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
fi
"$CHROMIUM" --version

step "browser: npm ci (interop/browser)"
. .ci/npm_ci.sh
npm_ci interop/browser

step "browser: interop/browser/run.sh"
bash interop/browser/run.sh "$@"
