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

# mcp-ts: @modelcontextprotocol/sdk (v1), the MCP server and the v1 clients;
# mcp-ts-v2: @modelcontextprotocol/client (v2), the v2 clients.
. .ci/npm_ci.sh
for dir in interop/mcp-ts interop/mcp-ts-v2; do
  step "interop: npm ci ($dir)"
  npm_ci "$dir"
done

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

# openssl makes the run's CA and the metadata documents' certificate.
step "interop: openssl"
if ! command -v openssl >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl
fi
openssl version

step "interop: keyward binary"
if [ ! -x "$KEYWARD_BIN" ]; then
  echo "no hub binary at $KEYWARD_BIN: build it first (cargo build), or set KEYWARD_BIN" >&2
  exit 1
fi
"$KEYWARD_BIN" --version

step "interop: interop/run.sh"
bash interop/run.sh "$@"
