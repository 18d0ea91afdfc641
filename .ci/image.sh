#!/usr/bin/env bash
# The container image, proven without Docker: build it (image/build.sh), read it
# back with skopeo, unpack it with umoci into an OCI runtime bundle and run its
# entrypoint with runc, as uid 65532 on a read-only root filesystem, as
# `serve --manifests /examples` (the repo's examples/ mounted read-only), then
# get a token from it with curl and introspect it. runc is the runtime here
# because crun 1.8 refuses this machine's hybrid cgroup v1/v2 layout.
#
# Needs root (runc, umoci's unpack keeps the image's owners). Installs umoci,
# runc and skopeo from Debian when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

missing=()
for t in umoci runc skopeo curl; do command -v "$t" >/dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

build_log=$(mktemp)
bash image/build.sh | tee "$build_log"
ref=$(sed -n 's/^image:  oci://p' "$build_log")
digest=$(sed -n 's/^digest: //p' "$build_log")
[ -n "$ref" ] && [ -n "$digest" ] || fail "image/build.sh printed no image"

work=$(mktemp -d)
id="keyward-image-test-$$"
runc_pid=""
cleanup() {
  if [ -n "$runc_pid" ]; then
    runc kill "$id" KILL >/dev/null 2>&1 || true
    wait "$runc_pid" 2>/dev/null || true
  fi
  runc delete --force "$id" >/dev/null 2>&1 || true
  rm -rf "$work" "$build_log"
}
trap cleanup EXIT

step "skopeo inspect"
skopeo inspect "oci:$ref" > "$work/inspect.json"
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Digest"])' "$work/inspect.json")" = "$digest" ] \
  || fail "skopeo reads another digest than image/build.sh wrote"

step "umoci unpack"
umoci unpack --image "$ref" "$work/bundle" >/dev/null
rootfs=$work/bundle/rootfs
for shell in bin/sh bin/bash usr/bin/sh bin/busybox; do
  [ ! -e "$rootfs/$shell" ] || fail "the image has /$shell"
done

# What the runtime makes of the image's config: user, entrypoint + cmd.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
issuer=http://127.0.0.1:$port
mkdir -m 0700 "$work/state"
chown 65532:65532 "$work/state"
python3 - "$work/bundle/config.json" "$PWD/examples" "$work/state" "$port" "$issuer" <<'PY'
import json, sys
path, examples, state, port, issuer = sys.argv[1:]
c = json.load(open(path))
p = c["process"]
assert p["user"]["uid"] == 65532 and p["user"]["gid"] == 65532, p["user"]
assert p["args"] == ["/keyward", "run"], p["args"]
# As `docker run IMAGE serve ...`: the entrypoint stays, the cmd is replaced.
p["args"] = ["/keyward", "--version"]
p["terminal"] = False
c["root"]["readonly"] = True
json.dump(c, open(path + ".version", "w"))
p["args"] = ["/keyward", "serve", "--manifests", "/examples", "--listen", f"127.0.0.1:{port}",
             "--state-dir", "/state", "--issuer", issuer, "--log-format", "json"]
# The host's network (docker run --network host), so curl reaches it.
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
c["mounts"] += [
    {"destination": "/examples", "type": "bind", "source": examples, "options": ["rbind", "ro"]},
    {"destination": "/state", "type": "bind", "source": state, "options": ["rbind", "rw"]},
]
json.dump(c, open(path, "w"))
PY

step "runc run: /keyward --version"
cp "$work/bundle/config.json" "$work/bundle/config.serve.json"
cp "$work/bundle/config.json.version" "$work/bundle/config.json"
runc run --bundle "$work/bundle" "$id"
cp "$work/bundle/config.serve.json" "$work/bundle/config.json"

step "runc run: /keyward serve --manifests /examples (port $port)"
runc run --bundle "$work/bundle" "$id" > "$work/serve.log" 2>&1 &
runc_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$issuer/readyz" >/dev/null 2>&1 && break
  kill -0 "$runc_pid" 2>/dev/null || { cat "$work/serve.log" >&2; fail "the container exited"; }
  sleep 0.2
done
curl -fsS "$issuer/readyz" >/dev/null || { cat "$work/serve.log" >&2; fail "not ready after 20 s"; }
pid=$(runc state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
uid=$(ps -o uid= -p "$pid" | tr -d ' ')
[ "$uid" = 65532 ] || fail "the entrypoint runs as uid $uid, not 65532"
echo "container pid $pid (host view) runs as uid $uid"

step "client_credentials token"
creds=$work/state/credentials/agents
secret=$(sed -n 's/^ *client_secret: //p' "$creds/billing-agent-credentials.yaml")
api_secret=$(sed -n 's/^ *client_secret: //p' "$creds/orders-api-server-credentials.yaml")
[ -n "$secret" ] && [ -n "$api_secret" ] || fail "no generated credentials in the state dir"
curl -fsS -u "billing-agent:$secret" "$issuer/token" -d grant_type=client_credentials \
  -d resource=https://api.example.internal/orders -d tenant=acme > "$work/token.json"
curl -fsS -u "orders-api-server:$api_secret" "$issuer/introspect" \
  --data-urlencode "token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$work/token.json")" \
  > "$work/introspect.json"
python3 - "$work/token.json" "$work/introspect.json" "$issuer" <<'PY'
import base64, json, sys
tok, intro, issuer = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
def part(i):
    s = tok["access_token"].split(".")[i]
    return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
head, claims = part(0), part(1)
assert tok["token_type"] == "Bearer", tok
assert head["typ"] == "at+jwt" and head["alg"] == "ES256", head
assert claims["iss"] == issuer and claims["aud"] == "https://api.example.internal/orders", claims
assert set(claims["scope"].split()) == {"orders:read", "orders:write", "orders:refund"}, claims
assert intro["active"] is True and intro["client_id"] == "billing-agent", intro
print(f"token: {head['alg']} {head['typ']}, iss {claims['iss']}, aud {claims['aud']}, "
      f"scope '{claims['scope']}', expires_in {tok['expires_in']}; introspection: active")
PY

step "SIGTERM (the binary is PID 1: no init in the image)"
runc kill "$id" TERM
for _ in $(seq 1 75); do kill -0 "$runc_pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$runc_pid" 2>/dev/null && fail "still running 15 s after SIGTERM"
rc=0; wait "$runc_pid" || rc=$?
runc_pid=""
[ "$rc" = 0 ] || { cat "$work/serve.log" >&2; fail "exit code $rc after SIGTERM"; }
echo "exited 0"

echo "image ok: oci:$ref $digest"
