#!/usr/bin/env bash
# A real browser signs in on the hub's pages (README.md beside this file).
#
# Starts `keyward serve` on a free loopback port with examples/resources.yaml
# and examples/people.yaml, starts the client's redirect URI (callback.mjs) on
# another free port, runs test.mjs (Debian's chromium, headless, driven by
# playwright-core), and exits non-zero if any check failed.
#
#   interop/browser/run.sh
#
# Needs /usr/bin/chromium and `npm ci` in interop/browser (.ci/browser.sh does
# both). Environment:
#   KEYWARD_BIN    the hub binary (default $HOME/.cache/keyward/target/debug/keyward)
#   CHROMIUM       the browser (default /usr/bin/chromium)
#   BROWSER_KEEP=1 keep the work folder (logs, trace, screenshots) even when all passed
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
KEYWARD_BIN=${KEYWARD_BIN:-$HOME/.cache/keyward/target/debug/keyward}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
case ${1:-} in
  -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
  "") ;;
  *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
esac

die() { echo "run.sh: $*" >&2; exit 2; }

# The binary may be briefly missing while it is being rebuilt.
for _ in $(seq 60); do [ -x "$KEYWARD_BIN" ] && break; sleep 1; done
[ -x "$KEYWARD_BIN" ] || die "no keyward binary at $KEYWARD_BIN (set KEYWARD_BIN)"
[ -x "$CHROMIUM" ] || die "no browser at $CHROMIUM: apt-get install chromium (or .ci/browser.sh)"
[ -f "$here/node_modules/playwright-core/package.json" ] || die "run 'npm ci' in $here first (or .ci/browser.sh)"

work=$(mktemp -d "${TMPDIR:-/tmp}/keyward-browser.XXXXXX")
pids=()
status=1
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ "$status" = 0 ] && [ "${BROWSER_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    echo "run.sh: hub.log, callback.log, trace.jsonl, console.jsonl and screens/ kept in $work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
HUB_PORT=$(free_port)
CB_PORT=$(free_port)
while [ "$CB_PORT" = "$HUB_PORT" ]; do CB_PORT=$(free_port); done
export HUB_ISSUER="http://127.0.0.1:$HUB_PORT" CB_PORT
export CB_LOG="$work/callback-requests.jsonl" BROWSER_OUT="$work"

# ---- the hub -----------------------------------------------------------------
mkdir -p "$work/manifests" "$work/state"
cp "$repo/examples/resources.yaml" "$repo/examples/people.yaml" "$work/manifests/"
"$KEYWARD_BIN" serve --manifests "$work/manifests" --listen "127.0.0.1:$HUB_PORT" \
  --state-dir "$work/state" --audit-log off > "$work/hub.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "$HUB_ISSUER/readyz" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/hub.log" >&2; die "keyward serve exited"; }
  sleep 0.2
done
curl -sf "$HUB_ISSUER/readyz" >/dev/null || { cat "$work/hub.log" >&2; die "hub not ready at $HUB_ISSUER"; }
for obj in OAuthClient.*shop/orders-desktop IdentityProvider.*shop/demo-users; do
  grep -Eq "ready.*kind=$obj" "$work/hub.log" || { cat "$work/hub.log" >&2; die "the hub did not accept ${obj/.\*/ }"; }
done

# ---- the client's redirect URI -------------------------------------------------
node "$here/callback.mjs" > "$work/callback.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$CB_PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "${pids[1]}" 2>/dev/null || { cat "$work/callback.log" >&2; die "callback.mjs exited"; }
  sleep 0.1
done

echo "hub $HUB_ISSUER ($("$KEYWARD_BIN" --version 2>/dev/null || echo keyward)), callback http://127.0.0.1:$CB_PORT/callback, node $(node --version)"

# ---- the browser -------------------------------------------------------------
node "$here/test.mjs"
status=$?
exit "$status"
