#!/usr/bin/env bash
# The official MCP SDK clients (TypeScript v1 and v2, Python) against Keyward.
#
# Starts `keyward serve` on a free loopback port with the manifests of
# interop/manifests/ and interop/mcp-ts-v2/manifests.yaml (plus the demo
# IdentityProvider of examples/people.yaml),
# starts the SDK-built MCP server interop/mcp-ts/server.mjs, runs every client
# script, prints a summary table and exits non-zero if any step failed.
#
#   interop/run.sh                 # everything, refresh shown with the server's test hook
#   interop/run.sh --real-expiry   # also wait out real access-token expiry (1m tokens; ~5 min)
#
# Needs: `npm ci` in interop/mcp-ts and interop/mcp-ts-v2, and a venv with
# interop/mcp-py/requirements.txt (.ci/interop.sh does all three). Environment:
#   KEYWARD_BIN       the hub binary (default $HOME/.cache/keyward/target/debug/keyward)
#   INTEROP_VENV      the Python venv (default $HOME/.cache/keyward/interop-venv)
#   INTEROP_CLIENTS   which client scripts to run (default: all of them, see CLIENTS below)
#   INTEROP_KEEP=1    keep the work folder (logs, manifests, state) even when all passed
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
KEYWARD_BIN=${KEYWARD_BIN:-$HOME/.cache/keyward/target/debug/keyward}
VENV=${INTEROP_VENV:-$HOME/.cache/keyward/interop-venv}
CLIENTS=${INTEROP_CLIENTS:-"ts-user ts-dcr ts-cimd ts-machine ts-gateway ts-gateway-cimd ts2-user ts2-dcr ts2-cimd ts2-machine ts2-gateway ts2-gateway-cimd py-user py-dcr py-cimd py-machine py-gateway py-gateway-cimd"}
LIFETIME=5m
export INTEROP_REAL_EXPIRY=0
for arg in "$@"; do
  case $arg in
    --real-expiry) LIFETIME=1m; INTEROP_REAL_EXPIRY=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

die() { echo "run.sh: $*" >&2; exit 2; }

# The binary may be briefly missing while it is being rebuilt.
for _ in $(seq 60); do [ -x "$KEYWARD_BIN" ] && break; sleep 1; done
[ -x "$KEYWARD_BIN" ] || die "no keyward binary at $KEYWARD_BIN (set KEYWARD_BIN)"
[ -d "$here/mcp-ts/node_modules/@modelcontextprotocol/sdk" ] || die "run 'npm ci' in $here/mcp-ts first (or .ci/interop.sh)"
case " $CLIENTS " in
  *" ts2-"*) [ -d "$here/mcp-ts-v2/node_modules/@modelcontextprotocol/client" ] ||
    die "run 'npm ci' in $here/mcp-ts-v2 first (or .ci/interop.sh)" ;;
esac
[ -x "$VENV/bin/python" ] || die "no venv at $VENV: python3 -m venv $VENV && $VENV/bin/pip install -r $here/mcp-py/requirements.txt"

work=$(mktemp -d "${TMPDIR:-/tmp}/keyward-interop.XXXXXX")
pids=()
status=1
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ "$status" = 0 ] && [ "${INTEROP_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    echo "run.sh: logs, manifests and exchanges kept in $work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
HUB_PORT=$(free_port)
MCP_PORT=$(free_port)
while [ "$MCP_PORT" = "$HUB_PORT" ]; do MCP_PORT=$(free_port); done
DOCS_PORT=$(free_port)
while [ "$DOCS_PORT" = "$HUB_PORT" ] || [ "$DOCS_PORT" = "$MCP_PORT" ]; do DOCS_PORT=$(free_port); done
export DOCS_PORT
# keyward gateway, and the unprotected MCP server behind it.
GATEWAY_PORT=$(free_port)
UPSTREAM_PORT=$(free_port)
while [ "$UPSTREAM_PORT" = "$GATEWAY_PORT" ]; do UPSTREAM_PORT=$(free_port); done
export GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT/mcp" UPSTREAM_URL="http://127.0.0.1:$UPSTREAM_PORT/mcp"
export HUB_ISSUER="http://127.0.0.1:$HUB_PORT"
export MCP_URL="http://127.0.0.1:$MCP_PORT/mcp"
export MCP_PORT
export INTEROP_TRACE_FILE="$work/exchanges.jsonl"

# ---- manifests -------------------------------------------------------------
mkdir -p "$work/manifests" "$work/state"
# Client ID Metadata Documents are https only: a CA for this run, and a
# certificate for 127.0.0.1 that documents.mjs serves with. The hub trusts
# the CA and may fetch from 127.0.0.1 through two flags meant for tests.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$work/ca.key" -out "$work/ca.pem" -subj /CN=keyward-interop-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign >/dev/null 2>&1 || die "openssl: no CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
  -keyout "$work/docs.key" -out "$work/docs.csr" >/dev/null 2>&1 || die "openssl: no key"
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$work/docs.ext"
openssl x509 -req -in "$work/docs.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 1 \
  -extfile "$work/docs.ext" -out "$work/docs.pem" >/dev/null 2>&1 || die "openssl: no certificate"
export DOCS_CERT="$work/docs.pem" DOCS_KEY="$work/docs.key"
read -r JWK_X JWK_Y < <(node "$here/mcp-ts/keygen.mjs" "$work/client-key.pem") || die "key generation failed"
export JWT_CLIENT_KEY="$work/client-key.pem"
# The demo IdentityProvider and its password Secret, as examples/people.yaml has them.
awk 'function flush() { if (doc ~ /\nkind: (IdentityProvider|Secret)\n/) printf "---\n%s", doc; doc = "\n" }
     BEGIN { doc = "\n" } /^---/ { flush(); next } { doc = doc $0 "\n" } END { flush() }' \
  "$repo/examples/people.yaml" > "$work/manifests/people.yaml"
grep -q 'kind: IdentityProvider' "$work/manifests/people.yaml" || die "no IdentityProvider found in examples/people.yaml"
sed -e "s|@MCP_URL@|$MCP_URL|" -e "s|@GATEWAY_URL@|$GATEWAY_URL|" -e "s|@ACCESS_TOKEN_LIFETIME@|$LIFETIME|" \
    -e "s|@JWK_X@|$JWK_X|" -e "s|@JWK_Y@|$JWK_Y|" \
  "$here/manifests/interop.yaml" > "$work/manifests/interop.yaml"
# The v2 clients' own public client (mcp-app-ts2), so alice consents to it afresh.
cp "$here/mcp-ts-v2/manifests.yaml" "$work/manifests/interop-ts2.yaml"

# ---- the hub -----------------------------------------------------------------
"$KEYWARD_BIN" serve --manifests "$work/manifests" --listen "127.0.0.1:$HUB_PORT" \
  --state-dir "$work/state" --audit-log off \
  --metadata-document-ca "$work/ca.pem" --metadata-document-allow 127.0.0.1 > "$work/hub.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "$HUB_ISSUER/readyz" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/hub.log" >&2; die "keyward serve exited"; }
  sleep 0.2
done
curl -sf "$HUB_ISSUER/readyz" >/dev/null || { cat "$work/hub.log" >&2; die "hub not ready at $HUB_ISSUER"; }
if grep -q 'not ready' "$work/hub.log"; then
  grep 'not ready' "$work/hub.log" >&2
  die "the hub did not accept every interop manifest"
fi
secret() {
  local f="$work/state/credentials/shop/$1-credentials.yaml"
  for _ in $(seq 50); do [ -s "$f" ] && break; sleep 0.1; done
  sed -n 's/^ *client_secret: *//p' "$f" | tr -d "\"'"
}
export MACHINE_SECRET MACHINE_POST_SECRET
MACHINE_SECRET=$(secret mcp-machine)
MACHINE_POST_SECRET=$(secret mcp-machine-post)
[ -n "$MACHINE_SECRET" ] && [ -n "$MACHINE_POST_SECRET" ] || { ls -R "$work/state" >&2; die "no generated client secrets under $work/state/credentials"; }

# ---- the MCP server ----------------------------------------------------------
node "$here/mcp-ts/server.mjs" > "$work/mcp-server.log" 2>&1 &
pids+=($!)
node "$here/mcp-ts/documents.mjs" > "$work/documents.log" 2>&1 &
pids+=($!)
MCP_PORT=$UPSTREAM_PORT MCP_BEHIND_GATEWAY=1 node "$here/mcp-ts/server.mjs" > "$work/mcp-upstream.log" 2>&1 &
pids+=($!)
"$KEYWARD_BIN" gateway --upstream "http://127.0.0.1:$UPSTREAM_PORT" --listen "127.0.0.1:$GATEWAY_PORT" \
  --resource-metadata "$HUB_ISSUER/protected-resources/shop/interop-gateway-mcp" \
  --fetch-allow 127.0.0.1 --fetch-allow-http > "$work/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -s "http://127.0.0.1:$GATEWAY_PORT/.well-known/oauth-protected-resource/mcp" 2>/dev/null | grep -q resource && break
  sleep 0.2
done
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$MCP_PORT/.well-known/oauth-protected-resource/mcp" >/dev/null 2>&1 && break
  kill -0 "${pids[1]}" 2>/dev/null || { cat "$work/mcp-server.log" >&2; die "server.mjs exited"; }
  sleep 0.2
done

echo "hub $HUB_ISSUER ($("$KEYWARD_BIN" --version 2>/dev/null || echo keyward)), MCP server $MCP_URL, access tokens $LIFETIME"
echo "TypeScript SDK @modelcontextprotocol/sdk $(node -p 'require(process.argv[1]).version' "$here/mcp-ts/node_modules/@modelcontextprotocol/sdk/package.json"), node $(node --version)"
if [ -d "$here/mcp-ts-v2/node_modules/@modelcontextprotocol/client" ]; then
  echo "TypeScript SDK v2 @modelcontextprotocol/client $(node -p 'require(process.argv[1]).version' "$here/mcp-ts-v2/node_modules/@modelcontextprotocol/client/package.json") (core $(node -p 'require(process.argv[1]).version' "$here/mcp-ts-v2/node_modules/@modelcontextprotocol/core/package.json"))"
fi
echo "Python SDK mcp $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))'), $("$VENV/bin/python" --version)"
echo

# ---- the clients -------------------------------------------------------------
results="$work/results.txt"
: > "$results"
failed_scripts=0
run_client() {
  local name=$1; shift
  echo "== $name"
  "$@" 2>> "$work/$name.stderr.log" | tee -a "$results"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" != 0 ]; then
    failed_scripts=$((failed_scripts + 1))
    echo "   ($name exited $rc; its stderr: $work/$name.stderr.log)"
  fi
}
for c in $CLIENTS; do
  case $c in
    ts-user)    run_client ts-user    node "$here/mcp-ts/client-user.mjs" ;;
    ts-dcr)     run_client ts-dcr env INTEROP_DCR=1 node "$here/mcp-ts/client-user.mjs" ;;
    ts-cimd)    run_client ts-cimd env INTEROP_CIMD=1 CIMD_URL="https://127.0.0.1:$DOCS_PORT/clients/ts.json" node "$here/mcp-ts/client-user.mjs" ;;
    ts-machine) run_client ts-machine node "$here/mcp-ts/client-machine.mjs" ;;
    ts-gateway) run_client ts-gateway node "$here/mcp-ts/client-gateway.mjs" ;;
    ts-gateway-cimd) run_client ts-gateway-cimd env CIMD_URL="https://127.0.0.1:$DOCS_PORT/clients/ts.json" node "$here/mcp-ts/client-gateway.mjs" ;;
    ts2-user)    run_client ts2-user    node "$here/mcp-ts-v2/client-user.mjs" ;;
    ts2-dcr)     run_client ts2-dcr env INTEROP_DCR=1 node "$here/mcp-ts-v2/client-user.mjs" ;;
    ts2-cimd)    run_client ts2-cimd env INTEROP_CIMD=1 CIMD_URL="https://127.0.0.1:$DOCS_PORT/clients/ts2.json" node "$here/mcp-ts-v2/client-user.mjs" ;;
    ts2-gateway) run_client ts2-gateway node "$here/mcp-ts-v2/client-gateway.mjs" ;;
    ts2-gateway-cimd) run_client ts2-gateway-cimd env CIMD_URL="https://127.0.0.1:$DOCS_PORT/clients/ts2.json" node "$here/mcp-ts-v2/client-gateway.mjs" ;;
    ts2-machine) run_client ts2-machine node "$here/mcp-ts-v2/client-machine.mjs" ;;
    py-user)    run_client py-user    "$VENV/bin/python" "$here/mcp-py/client_user.py" ;;
    py-dcr)     run_client py-dcr env INTEROP_DCR=1 "$VENV/bin/python" "$here/mcp-py/client_user.py" ;;
    py-cimd)    run_client py-cimd env INTEROP_CIMD=1 CIMD_URL="https://127.0.0.1:$DOCS_PORT/clients/py.json" "$VENV/bin/python" "$here/mcp-py/client_user.py" ;;
    py-machine) run_client py-machine "$VENV/bin/python" "$here/mcp-py/client_machine.py" ;;
    py-gateway) run_client py-gateway "$VENV/bin/python" "$here/mcp-py/client_gateway.py" ;;
    py-gateway-cimd) run_client py-gateway-cimd env CIMD_URL="https://127.0.0.1:$DOCS_PORT/clients/py.json" "$VENV/bin/python" "$here/mcp-py/client_gateway.py" ;;
    *) die "unknown client $c" ;;
  esac
done

# ---- summary -------------------------------------------------------------------
echo
echo "== summary (SDK x flow x step)"
{
  printf 'SDK\tFLOW\tSTEP\tRESULT\n'
  awk '/^(PASS|FAIL|SKIP) / { step = $4; sub(/:$/, "", step); printf "%s\t%s\t%s\t%s\n", $2, $3, step, $1 }' "$results"
} | if command -v column >/dev/null; then column -t -s "$(printf '\t')"; else cat; fi
pass=$(grep -c '^PASS ' "$results")
fail=$(grep -c '^FAIL ' "$results")
skip=$(grep -c '^SKIP ' "$results")
echo
echo "interop: $pass passed, $fail failed, $skip skipped"
if [ "$fail" = 0 ] && [ "$skip" = 0 ] && [ "$failed_scripts" = 0 ] && [ "$pass" -gt 0 ]; then
  status=0
fi
exit "$status"
