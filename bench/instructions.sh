#!/usr/bin/env bash
# bench/instructions.sh — instructions per client_credentials token, counted
# by valgrind (callgrind) over the whole `keyward serve` process: the same
# count for the same binary whatever else the machine does, so an A/B of two
# commits is exact where bench/token.sh's wall-clock ratios are noisy.
#
#   bench/instructions.sh                         # this tree's release build
#   bench/instructions.sh /tmp/old/keyward /tmp/new/keyward
#   KEYWARD_ARGS='--audit-log off' bench/instructions.sh
#
# Per binary: one run with no requests and one with N (default 1000) tokens
# on one keep-alive connection; (total_N - total_0) / N is the cost of one
# token, start-up and shutdown cancelled out. Requires valgrind, python3, curl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here")
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind not found: apt-get install valgrind" >&2; exit 1; }
cache=${XDG_CACHE_HOME:-$HOME/.cache}/keyward
N=${N:-1000}; PORT=${PORT:-18631}
SECRET=bench-secret-0123456789abcdef0123456789abcdef
if [ $# -eq 0 ]; then
  (cd "$root" && CARGO_TARGET_DIR=$cache/target cargo build --release --locked -q --bin keyward)
  set -- "$cache/target/release/keyward"
fi
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
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
  grantTypes: {clientCredentials: {}}
  resources: [{name: orders, scopes: ["orders:read", "orders:write"]}]
---
apiVersion: v1
kind: Secret
metadata: {name: bench-credentials, namespace: bench}
stringData: {client_secret: $SECRET}
YAML
cat > "$work/load.py" <<'PY'
import base64, http.client, sys
n, port, secret = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
auth = "Basic " + base64.b64encode(f"bench:{secret}".encode()).decode()
body = "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.internal%2Forders&scope=orders:read"
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(n):
    c.request("POST", "/token", body, {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse(); r.read()
    if r.status != 200:
        sys.exit(f"token request failed: {r.status}")
PY

# Total instructions of one serve process that issued $2 tokens.
total() {
  local bin=$1 n=$2 state
  state=$(mktemp -d -p "$work")
  RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$state/cg.out" "$bin" serve \
    --manifests "$work/manifests" --state-dir "$state/s" --listen "127.0.0.1:$PORT" --workers 1 ${KEYWARD_ARGS:-} \
    > "$state/audit.jsonl" 2> "$state/log" &
  local pid=$!
  for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.2; done
  python3 "$work/load.py" "$n" "$PORT" "$SECRET"
  kill -INT "$pid"; wait "$pid" || true
  awk '/^totals:|^summary:/ {print $2; exit}' "$state/cg.out"
}

for bin in "$@"; do
  zero=$(total "$bin" 0); many=$(total "$bin" "$N")
  echo "$bin: $(( (many - zero) / N )) instructions per token (N=$N${KEYWARD_ARGS:+, $KEYWARD_ARGS})"
done
