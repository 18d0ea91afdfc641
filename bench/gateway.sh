#!/usr/bin/env bash
# bench/gateway.sh — what `keyward gateway` adds in front of a server: the
# same request straight to the upstream, and through the gateway with a hub
# token (ES256 verified against the hub's JWKS, claims, headers rewritten,
# body relayed), in the same run, rounds interleaved.
#
#   latency     one connection, one request at a time: p50 and p99 (wrk --latency)
#   throughput  32 connections: requests/s
#
#   bench/gateway.sh                # ROUNDS=3 DUR=10
#
# The upstream is `keyward serve`'s /healthz (the cheapest answer there is,
# so the gateway's share is as large as it gets); the gateway protects the
# examples' docs MCP server. Upstream and gateway are pinned to core 0 with
# one worker each, wrk to core 1. Requires: wrk, curl, taskset, python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here")
command -v wrk >/dev/null || { echo "gateway.sh: wrk not found: apt-get install wrk" >&2; exit 1; }
cache=${XDG_CACHE_HOME:-$HOME/.cache}/keyward
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-10}; CONNS=${CONNS:-32}
HUB_PORT=18621; GW_PORT=18622
HUB=http://127.0.0.1:$HUB_PORT; GW=http://127.0.0.1:$GW_PORT

if [ -z "${KEYWARD_BIN:-}" ]; then
  (cd "$root" && CARGO_TARGET_DIR=$cache/target cargo build --release --locked -q --bin keyward)
fi
bin=${KEYWARD_BIN:-$cache/target/release/keyward}

RUST_LOG=warn taskset -c 0 "$bin" serve --manifests "$root/examples" --state-dir "$work/state" \
  --listen "127.0.0.1:$HUB_PORT" --audit-log off --workers 1 > "$work/hub.log" 2>&1 &
for _ in $(seq 100); do curl -sf "$HUB/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
secret=$(sed -n 's/^ *client_secret: //p' "$work/state/credentials/agents/billing-agent-credentials.yaml" | tr -d "\"'")
TOKEN=$(curl -sf -u "billing-agent:$secret" "$HUB/token" -d grant_type=client_credentials -d tenant=acme \
  --data-urlencode resource=https://mcp.example.internal/docs/mcp | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

RUST_LOG=warn taskset -c 0 "$bin" gateway --upstream "$HUB" --listen "127.0.0.1:$GW_PORT" --workers 1 \
  --resource-metadata "$HUB/protected-resources/shop/docs-mcp" --fetch-allow 127.0.0.1 --fetch-allow-http \
  > "$work/gateway.log" 2>&1 &
for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$GW/healthz")" = 401 ] && break; sleep 0.1; done
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$GW/healthz")" = 200 ] \
  || { cat "$work/gateway.log" >&2; echo "gateway.sh: the gateway does not pass the token" >&2; exit 1; }

cat > "$work/bearer.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
: > "$work/empty.lua"

# wrk's latency line ("50%  123.45us") in microseconds.
us() { awk -v q="$1" '$1 == q { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
  f = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : 1; printf "%.0f\n", v * f }'; }
rps() { awk '/^Requests\/sec/ { printf "%.0f\n", $2 }'; }

declare -A p50 p99 tput
for r in $(seq "$ROUNDS"); do
  for target in direct gateway; do
    if [ "$target" = direct ]; then url=$HUB/healthz; lua=$work/empty.lua; else url=$GW/healthz; lua=$work/bearer.lua; fi
    out=$(taskset -c 1 wrk -t1 -c1 -d"${DUR}s" --latency -s "$lua" "$url" 2>/dev/null)
    p50[$target]+=" $(us 50% <<<"$out")"; p99[$target]+=" $(us 99% <<<"$out")"
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DUR}s" -s "$lua" "$url" 2>/dev/null)
    tput[$target]+=" $(rps <<<"$out")"
    echo "round $r $target: p50 $(echo ${p50[$target]} | awk '{print $NF}') us, p99 $(echo ${p99[$target]} | awk '{print $NF}') us, $(echo ${tput[$target]} | awk '{print $NF}') req/s"
  done
done

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
d50=$(median "${p50[direct]}"); g50=$(median "${p50[gateway]}")
d99=$(median "${p99[direct]}"); g99=$(median "${p99[gateway]}")
dt=$(median "${tput[direct]}"); gt=$(median "${tput[gateway]}")
echo "== medians of $ROUNDS rounds (upstream and gateway on one core, $CONNS connections for throughput)"
printf '%-10s %10s %10s %12s\n' "" "p50 (us)" "p99 (us)" "req/s"
printf '%-10s %10s %10s %12s\n' direct "$d50" "$d99" "$dt"
printf '%-10s %10s %10s %12s\n' gateway "$g50" "$g99" "$gt"
python3 -c "print(f'added latency: p50 +{$g50-$d50:.0f} us, p99 +{$g99-$d99:.0f} us; throughput ratio {$gt/$dt:.2f}')"
