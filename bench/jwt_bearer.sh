#!/usr/bin/env bash
# bench/jwt_bearer.sh — JWT bearer grant throughput of `keyward serve` on one
# server core: each request carries an RS256 assertion (verified against a
# JWKS on 127.0.0.1, cached) and gets an ES256 access token. Target: 10,000/s.
#
#   bench/jwt_bearer.sh        # ROUNDS=5 DUR=10
#
# The server is pinned to core 0 with one worker, wrk to core 1; tokens/s per
# server core = requests/s divided by the server's measured CPU. Loopback only,
# every run bounded. Requires: wrk, openssl, curl, python3, taskset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here")
command -v wrk >/dev/null || { echo "jwt_bearer.sh: wrk not found: apt-get install wrk" >&2; exit 1; }
cache=${XDG_CACHE_HOME:-$HOME/.cache}/keyward
ROUNDS=${ROUNDS:-5}; DUR=${DUR:-10}; CONNS=${CONNS:-32}
work=$(mktemp -d)
# Background jobs are subshells: kill their whole process groups.
cleanup() { for j in $(jobs -p); do pkill -P "$j" 2>/dev/null || true; kill "$j" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# KEYWARD_BIN: a binary built elsewhere (another commit, for an A/B run);
# KEYWARD_ARGS: extra `serve` flags (e.g. --audit-log off).
if [ -z "${KEYWARD_BIN:-}" ]; then
  (cd "$root" && CARGO_TARGET_DIR=$cache/target cargo build --release --locked -q --bin keyward)
fi
bin=${KEYWARD_BIN:-$cache/target/release/keyward}

# An RSA issuer: key, JWKS, and a long-lived assertion (no jti replay check).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/issuer.pem" 2>/dev/null
modulus=$(openssl rsa -in "$work/issuer.pem" -noout -modulus | cut -d= -f2)
mkdir -p "$work/www/bench"
python3 - "$modulus" > "$work/www/bench/jwks.json" <<'PY'
import base64, json, sys
n = base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).rstrip(b"=").decode()
print(json.dumps({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "bench", "n": n, "e": "AQAB"}]}))
PY
(cd "$work/www" && python3 -m http.server 18611 --bind 127.0.0.1 >/dev/null 2>&1) &
ISSUER=http://127.0.0.1:18611/bench
for _ in $(seq 1 50); do curl -s -o /dev/null "$ISSUER/jwks.json" && break; sleep 0.1; done
HUB=https://hub.bench.test
now=$(date +%s)
b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"RS256","kid":"bench","typ":"JWT"}' | b64)
payload=$(printf '{"iss":"%s","sub":"spiffe://bench/agent","aud":"%s","iat":%d,"exp":%d}' "$ISSUER" "$HUB" "$now" $((now + 7200)) | b64)
sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$work/issuer.pem" | b64)
ASSERTION="$header.$payload.$sig"

mkdir -p "$work/manifests"
cat > "$work/manifests/bench.yaml" <<YAML
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {name: orders, namespace: bench}
spec:
  type: api
  identifier: https://api.example.internal/orders
  displayName: Orders
  scopes: [{name: "orders:read"}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: wl, namespace: bench}
spec:
  displayName: Workload
  clientId: wl
  grantTypes:
    jwtBearer:
      trustedIssuers: [{issuer: "$ISSUER", jwksUri: "$ISSUER/jwks.json", algorithms: [RS256], maxLifetime: 3h, rejectReplay: false}]
  resources: [{name: orders, scopes: ["orders:read"]}]
YAML
RUST_LOG=warn taskset -c 0 "$bin" serve --manifests "$work/manifests" ${KEYWARD_ARGS:-} --state-dir "$work/state" \
  --listen 127.0.0.1:18612 --issuer "$HUB" --workers 1 --fetch-allow 127.0.0.1 --fetch-allow-http \
  > "$work/audit.jsonl" &
HUB_PID=$!
for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:18612/healthz && break; sleep 0.1; done
BODY="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&client_id=wl&assertion=$ASSERTION"
check=$(curl -s -w ' %{http_code}' -X POST -H 'Content-Type: application/x-www-form-urlencoded' --data "$BODY" http://127.0.0.1:18612/token)
case "$check" in *' 200') echo "check OK: $(echo "$check" | head -c 80)...";; *) echo "check failed: $check" >&2; exit 1;; esac

cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %d %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), summary.errors.status))
end
LUA
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$HUB_PID/stat"; }
WRK_BODY=$BODY timeout 20 taskset -c 1 wrk -t1 -c"$CONNS" -d2s -s "$work/post.lua" http://127.0.0.1:18612/token >/dev/null 2>&1 || true
: > "$work/raw"
for r in $(seq 1 "$ROUNDS"); do
  c0=$(ticks); t0=$(date +%s.%N)
  line=$(WRK_BODY=$BODY timeout $((DUR + 15)) taskset -c 1 wrk -t1 -c"$CONNS" -d"${DUR}s" -s "$work/post.lua" http://127.0.0.1:18612/token | grep '^RESULT')
  c1=$(ticks); t1=$(date +%s.%N)
  read -r _ rps p50 p99 non2xx <<<"$line"
  cpu=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" 'BEGIN{printf "%.2f",(b-a)/hz/(t1-t0)}')
  echo "run $r rps=$rps p50_us=$p50 p99_us=$p99 non2xx=$non2xx server_cpu=$cpu" | tee -a "$work/raw"
done
awk '{for(i=2;i<=NF;i++){split($i,kv,"="); v[kv[1]]=kv[2]} printf "%.0f\n", v["rps"]/v["server_cpu"]}' "$work/raw" \
  | sort -n | awk '{a[NR]=$1} END{printf "median tokens/s per server core: %.0f (of %d runs)\n", (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2, NR}'
