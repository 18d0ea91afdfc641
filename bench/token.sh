#!/usr/bin/env bash
# bench/token.sh — client_credentials tokens/s of `keyward serve` on one server
# core, against the same-run ceiling "axum + one ES256 signature" from the team's
# yardsticks (../shared/bench). Reports medians and the ratio keyward/ceiling;
# on a 2-core noisy machine only the ratio means anything.
#
#   bench/token.sh            # ROUNDS=5 DUR=10 by default
#   PEER=1 bench/token.sh     # also node-oidc-provider (needs node + npm)
#
# Both servers run pinned to core 0 with one worker thread; wrk runs on core 1.
# Loopback only; every run is bounded (the yardstick script enforces it).
# Requires: wrk (apt-get install wrk), openssl, curl, python3, taskset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here")
shared=${SHARED_BENCH:-$root/../shared/bench}
[ -d "$shared/ceiling" ] || { echo "token.sh: $shared/ceiling not found (set SHARED_BENCH)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "token.sh: wrk not found: apt-get install wrk" >&2; exit 1; }
cache=${XDG_CACHE_HOME:-$HOME/.cache}/keyward
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
SECRET=bench-secret-0123456789abcdef0123456789abcdef

echo "== building keyward and the ceiling (release)"
# KEYWARD_BIN: a binary built elsewhere (another commit, for an A/B run);
# KEYWARD_ARGS: extra `serve` flags (e.g. --audit-log off).
if [ -z "${KEYWARD_BIN:-}" ]; then
  (cd "$root" && CARGO_TARGET_DIR=$cache/target cargo build --release --locked -q --bin keyward)
fi
bin=${KEYWARD_BIN:-$cache/target/release/keyward}
(cd "$shared/ceiling" && CARGO_TARGET_DIR=$cache/bench-target cargo build --release -q)
"$shared/keys.sh" "$cache/bench-keys" >/dev/null

mkdir -p "$work/manifests"
cat > "$work/manifests/bench.yaml" <<YAML
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {name: orders, namespace: bench}
spec:
  type: api
  identifier: https://api.example.internal/orders
  displayName: Orders
  scopes: [{name: "orders:read"}, {name: "orders:write"}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: bench, namespace: bench}
spec:
  displayName: Bench
  clientId: bench
  grantTypes: {clientCredentials: {allowedTenants: [team-payments]}}
  resources: [{name: orders, scopes: ["orders:read", "orders:write"]}]
---
apiVersion: v1
kind: Secret
metadata: {name: bench-credentials, namespace: bench}
stringData: {client_secret: $SECRET}
YAML

KEYS_DIR=$cache/bench-keys PORT=18602 WORKERS=1 taskset -c 0 "$cache/bench-target/release/httpfloor" 2>/dev/null &
CEIL_PID=$!
RUST_LOG=warn taskset -c 0 "$bin" serve --manifests "$work/manifests" ${KEYWARD_ARGS:-} \
  --state-dir "$work/state" --listen 127.0.0.1:18601 --workers 1 > "$work/audit.jsonl" &
HUB_PID=$!
# The audit trail (one line per token, on stdout) goes to a file, as it would
# to a log collector: its cost is part of what is measured.
for port in 18601 18602; do
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

echo "== keyward (B) against the ceiling (A)"
GRANT_BODY='grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.internal%2Forders' \
SCOPE=orders:read WRK_CPUS=1 TOKEN_PATH_A=/token/es256 PID_A=$CEIL_PID PID_B=$HUB_PID \
ROUNDS=${ROUNDS:-5} DUR=${DUR:-10} \
  "$shared/bench_token.sh" http://127.0.0.1:18602 bench $SECRET http://127.0.0.1:18601 bench $SECRET

if [ "${PEER:-0}" = 1 ]; then
  echo "== node-oidc-provider (B) against the ceiling (A)"
  mkdir -p "$cache/peer" && cp "$shared/peer/package.json" "$shared/peer/package-lock.json" "$shared/peer/provider.js" "$cache/peer/"
  (cd "$cache/peer" && [ -d node_modules ] || npm ci --silent)
  (cd "$cache/peer" && NODE_ENV=production PORT=18603 ALG=ES256 taskset -c 0 node provider.js >/dev/null 2>&1) &
  sleep 2; PEER_PID=$(pgrep -f "node provider.js" | head -1)
  GRANT_BODY='grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.internal%2Forders' \
  SCOPE=orders:read WRK_CPUS=1 TOKEN_PATH_A=/token/es256 PID_A=$CEIL_PID PID_B=$PEER_PID \
  ROUNDS=${ROUNDS:-3} DUR=${DUR:-10} \
    "$shared/bench_token.sh" http://127.0.0.1:18602 bench $SECRET http://127.0.0.1:18603 bench $SECRET
fi
