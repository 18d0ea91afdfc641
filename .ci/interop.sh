#!/usr/bin/env bash
# The MCP SDK interop suite (interop/README.md): installs what it needs, then
# runs interop/run.sh against the already built hub. Idempotent; on a warm
# machine the installs are no-ops (a few seconds) and the suite takes ~20 s.
#
#   bash .ci/interop.sh                  # KEYWARD_BIN defaults to the debug build
#   bash .ci/interop.sh --real-expiry    # arguments go to interop/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cache=$HOME/.cache/keyward
export KEYWARD_BIN=${KEYWARD_BIN:-${CARGO_TARGET_DIR:-$cache/target}/debug/keyward}
export INTEROP_VENV=${INTEROP_VENV:-$cache/interop-venv}
step() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

# npm ci deletes and reinstalls node_modules; skip it when the installed tree
# already matches the lock file (npm writes node_modules/.package-lock.json).
npm_ci() {
  local dir=$1
  step "interop: npm ci ($dir)"
  if [ -f "$dir/node_modules/.package-lock.json" ] &&
     node -e '
       const a = require(process.argv[1]).packages, b = require(process.argv[2]).packages;
       const strip = p => Object.fromEntries(Object.entries(p).filter(([k]) => k).map(([k, v]) => [k, v.version + (v.integrity || "")]));
       process.exit(JSON.stringify(strip(a)) === JSON.stringify(strip(b)) ? 0 : 1);
     ' "$PWD/$dir/package-lock.json" "$PWD/$dir/node_modules/.package-lock.json"; then
    echo "node_modules matches package-lock.json"
  else
    (cd "$dir" && npm ci --no-audit --no-fund --cache "$cache/npm" --prefer-offline)
  fi
}
npm_ci interop/mcp-ts      # @modelcontextprotocol/sdk (v1): the MCP server and the v1 clients
npm_ci interop/mcp-ts-v2   # @modelcontextprotocol/client (v2): the v2 clients

step "interop: Python venv ($INTEROP_VENV)"
req=interop/mcp-py/requirements.txt
stamp=$INTEROP_VENV/.interop-requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$INTEROP_VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "venv matches $req"
else
  [ -x "$INTEROP_VENV/bin/python" ] || python3 -m venv "$INTEROP_VENV"
  "$INTEROP_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

step "interop: keyward binary"
if [ ! -x "$KEYWARD_BIN" ]; then
  echo "no hub binary at $KEYWARD_BIN: build it first (cargo build), or set KEYWARD_BIN" >&2
  exit 1
fi
"$KEYWARD_BIN" --version

step "interop: interop/run.sh"
bash interop/run.sh "$@"
