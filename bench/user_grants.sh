#!/usr/bin/env bash
# bench/user_grants.sh — the user grants of `keyward serve` on one server core,
# against client_credentials in the same run (the ratio is what means
# anything on a 2-core noisy machine):
#
#   cc       client_credentials (Basic), the reference
#   refresh  refresh_token with rotation: every request spends one refresh
#            token and gets its successor (embedded store: a conditional
#            write of the old token and a create of the new one)
#   code     the authorization code pair: GET /authorize with a signed-in
#            session and a given consent (303 with a code), then the code's
#            exchange at /token; tokens/s = requests/s / 2
#
#   bench/user_grants.sh            # ROUNDS=3 DUR=10
#
# The hub runs pinned to core 0 with one worker thread; wrk on core 1.
# Requires: wrk, curl, taskset, python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here")
command -v wrk >/dev/null || { echo "user_grants.sh: wrk not found: apt-get install wrk" >&2; exit 1; }
cache=${XDG_CACHE_HOME:-$HOME/.cache}/keyward
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-10}; CONNS=${CONNS:-32}
PORT=18611; BASE=http://127.0.0.1:$PORT
SECRET=bench-secret-0123456789abcdef0123456789abcdef
VERIFIER=bench-verifier-0123456789abcdef0123456789abcdef
CHALLENGE=$(printf %s "$VERIFIER" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')
REDIRECT=http://127.0.0.1/callback
RES=https://api.example.internal/orders

if [ -z "${KEYWARD_BIN:-}" ]; then
  (cd "$root" && CARGO_TARGET_DIR=$cache/target cargo build --release --locked -q --bin keyward)
fi
bin=${KEYWARD_BIN:-$cache/target/release/keyward}

mkdir -p "$work/manifests"
# The demo IdentityProvider and its password Secret: the first two documents.
python3 -c 'import sys; print("\n---\n".join(open(sys.argv[1]).read().split("\n---\n")[:2]))' \
  "$root/examples/people.yaml" > "$work/manifests/people.yaml"
cat >> "$work/manifests/people.yaml" <<YAML
---
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {name: orders, namespace: shop}
spec:
  type: api
  identifier: $RES
  displayName: Orders
  scopes: [{name: "orders:read"}, {name: "orders:write"}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: bench, namespace: shop}
spec:
  displayName: Bench
  clientId: bench
  grantTypes: {clientCredentials: {}}
  resources: [{name: orders, scopes: ["orders:read", "orders:write"]}]
---
apiVersion: v1
kind: Secret
metadata: {name: bench-credentials, namespace: shop}
stringData: {client_secret: $SECRET}
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: bench-app, namespace: shop}
spec:
  displayName: Bench app
  clientId: bench-app
  tokenEndpointAuthMethod: none
  identityProvider: {name: demo-users}
  grantTypes: {authorizationCode: {redirectUris: ["$REDIRECT"]}}
  resources: [{name: orders, scopes: ["orders:read"]}]
YAML

RUST_LOG=warn taskset -c 0 "$bin" serve --manifests "$work/manifests" --audit-log off \
  --state-dir "$work/state" --listen 127.0.0.1:$PORT --workers 1 &
HUB=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "$BASE/readyz" && break; sleep 0.1; done

# Sign in once (cookie jar), consent once: later /authorize calls answer at once.
jar=$work/jar
auth="$BASE/authorize?response_type=code&client_id=bench-app&redirect_uri=$(python3 -c "import urllib.parse;print(urllib.parse.quote('$REDIRECT',''))")&code_challenge=$CHALLENGE&code_challenge_method=S256&resource=$(python3 -c "import urllib.parse;print(urllib.parse.quote('$RES',''))")&scope=orders%3Aread"
login=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$auth")
page=$(curl -s -c "$jar" -b "$jar" "$login")
flow=$(sed -n 's/.*name="flow" value="\([^"]*\)".*/\1/p' <<<"$page" | head -1)
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page" | head -1)
consent=$(curl -s -c "$jar" -b "$jar" --data-urlencode "flow=$flow" --data-urlencode "csrf=$csrf" \
  --data-urlencode username=alice --data-urlencode password=alice-demo-password "$BASE/login")
curl -s -c "$jar" -b "$jar" -o /dev/null --data-urlencode "flow=$flow" --data-urlencode "csrf=$csrf" \
  --data-urlencode decision=allow "$BASE/consent"
cookies=$(awk '!/^#/ && NF>=7 {printf "%s=%s; ", $6, $7}' "$jar")
code() { curl -s -b "$jar" -o /dev/null -w '%{redirect_url}' "$auth" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p'; }
[ -n "$(code)" ] || { echo "user_grants.sh: no code after signing in" >&2; exit 1; }

# A pool of refresh tokens, one chain per connection and some spare; minted
# again before every refresh run (a run spends the tokens it starts with).
mint() {
: > "$work/refresh"
for _ in $(seq 1 $((CONNS * 2))); do
  c=$(code)
  # (echo: the JSON has no final newline, which sed would not add either)
  { curl -s -d grant_type=authorization_code -d "code=$c" --data-urlencode "redirect_uri=$REDIRECT" \
    -d "code_verifier=$VERIFIER" -d client_id=bench-app "$BASE/token"; echo; } \
    | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' >> "$work/refresh"
done

n=$(grep -c . "$work/refresh" || true)
[ "$n" -ge "$CONNS" ] || { echo "user_grants.sh: only $n refresh tokens minted" >&2; exit 1; }
}
mint

cat > "$work/cc.lua" <<LUA
wrk.method = "POST"
wrk.path = "/token"
wrk.body = "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.internal%2Forders&scope=orders%3Aread"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf 'bench:%s' "$SECRET" | base64 -w0)"
LUA
cat > "$work/refresh.lua" <<LUA
local pool = {}
for line in io.lines("$work/refresh") do pool[#pool + 1] = line end
local h = { ["Content-Type"] = "application/x-www-form-urlencoded" }
request = function()
  local t = table.remove(pool)
  if t == nil then return wrk.format("GET", "/readyz") end
  return wrk.format("POST", "/token", h, "grant_type=refresh_token&client_id=bench-app&refresh_token=" .. t)
end
response = function(status, headers, body)
  local t = body:match('"refresh_token":"([^"]+)"')
  if t then pool[#pool + 1] = t elseif status ~= 200 then errors = (errors or 0) + 1 end
end
LUA
cat > "$work/code.lua" <<LUA
local codes = {}
local get = { ["Cookie"] = "$cookies" }
local post = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local authorize = "${auth#$BASE}"
request = function()
  local c = table.remove(codes)
  if c == nil then return wrk.format("GET", authorize, get) end
  return wrk.format("POST", "/token", post, "grant_type=authorization_code&client_id=bench-app&code_verifier=$VERIFIER&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&code=" .. c)
end
response = function(status, headers, body)
  local loc = headers["Location"] or headers["location"]
  if loc then local c = loc:match("[?&]code=([^&]+)") if c then codes[#codes + 1] = c end end
end
LUA

# CPU seconds the hub has used (every thread: workers, blocking pool, the
# store's writer), from /proc.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f\n", ($14 + $15) / hz}' "/proc/$HUB/stat"; }
run() { # $1 script → requests/s, non-2xx/3xx, requests per hub CPU second
  local c0 c1 out
  c0=$(cpu)
  out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DUR}s" -s "$work/$1.lua" "$BASE" 2>/dev/null)
  c1=$(cpu)
  awk -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')" -v d="$DUR" '
    /Requests\/sec/ {rps=$2} /Non-2xx/ {bad=$5}
    END {printf "%s %s %.1f\n", rps, bad+0, (c > 0) ? rps * d / c : 0}' <<<"$out"
}
declare -A all percore
for r in $(seq 1 "$ROUNDS"); do
  for k in cc refresh code; do
    [ "$k" = refresh ] && [ "$r" -gt 1 ] && mint
    read -r rps bad pc < <(run "$k")
    all[$k]="${all[$k]:-} $rps"
    percore[$k]="${percore[$k]:-} $pc"
    printf 'round %d  %-8s %10.1f req/s  %10.1f req per hub CPU second  (non-2xx/3xx: %s)\n' "$r" "$k" "$rps" "$pc" "$bad"
  done
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
cc=$(median "${all[cc]}"); rf=$(median "${all[refresh]}"); cd=$(median "${all[code]}")
pcc=$(median "${percore[cc]}"); prf=$(median "${percore[refresh]}"); pcd=$(median "${percore[code]}")
echo "== medians of $ROUNDS rounds, hub pinned to one core ($CONNS connections)"
echo "                    tokens/s  ratio   tokens per hub CPU second  ratio"
awk -v cc="$cc" -v rf="$rf" -v cd="$cd" -v pcc="$pcc" -v prf="$prf" -v pcd="$pcd" 'BEGIN {
  printf "client_credentials  %8.0f  1.00    %8.0f                   1.00\n", cc, pcc
  printf "refresh_token       %8.0f  %.2f    %8.0f                   %.2f\n", rf, rf / cc, prf, prf / pcc
  printf "authorization_code  %8.0f  %.2f    %8.0f                   %.2f   (authorize + exchange: 2 requests per token)\n", cd / 2, cd / 2 / cc, pcd / 2, pcd / 2 / pcc
}'
