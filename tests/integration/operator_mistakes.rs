//! What a careless operator does to the manifests, and what the hub says back:
//! a secret pasted into the wrong field never comes back out (log, `keyward
//! check`, status), a typo is named where it is, and what a mode cannot do is
//! refused rather than accepted and broken.

use std::sync::Arc;

use keyward::controller::inputs::{Objects, inputs};
use keyward_api::v1alpha1::{AccessPolicy, OAuthClient, Resource};
use keyward_core::compile;
use keyward_core::snapshot::{HubSettings, Lifetimes, Runtime};

use crate::support::*;

/// Looks like a pasted secret: mixed case, so it is no valid name either.
const CANARY: &str = "Kw9CanaryZQx4";

/// A secret pasted into every kind of field: a Secret whose data is a string,
/// a client whose `spec.secret` is the value, and every string field of the
/// three kinds holding it.
fn canary_manifests() -> String {
    r#"
apiVersion: v1
kind: Secret
metadata: {name: pasted-credentials, namespace: agents}
stringData: 'client_secret: CANARY'
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: inlined, namespace: agents}
spec:
  displayName: Inlined
  secret: CANARY
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: enum-field, namespace: agents}
spec:
  displayName: Enum
  tokenEndpointAuthMethod: CANARY
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: every-field, namespace: agents}
spec:
  displayName: Every field
  clientId: "x:CANARY"
  logoUri: "ftp://CANARY"
  tags: ["CANARY !"]
  secret:
    name: CANARY
    labels: {"CANARY key": v, ok: "CANARY value!"}
    rotation: {id: "CANARY!", gracePeriod: CANARY}
  grantTypes:
    clientCredentials: {allowedTenants: ["CANARY !"]}
    jwtBearer:
      trustedIssuers:
        - {issuer: "http://CANARY.example", jwksUri: "CANARY", algorithms: [CANARY], subjects: ["CANARY"]}
  resources:
    - {name: CANARY, namespace: CANARY, scopes: ["CANARY scope"]}
    - {name: orders, namespace: shop, scopes: [CANARY, CANARY]}
  session: {refreshTokenTimeout: CANARY}
---
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {name: bad-resource, namespace: shop}
spec:
  type: api
  identifier: "CANARY#fragment"
  displayName: Bad
  scopes:
    - {name: "CANARY scope", roles: ["CANARY role"]}
    - {name: dup}
    - {name: dup}
  accessTokenLifetime: CANARY
---
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {name: bad-mcp, namespace: shop}
spec:
  type: mcpServer
  identifier: "http://CANARY.example/mcp"
  displayName: Bad MCP
  scopes: [{name: "tools:x", connectionScopes: [CANARY]}]
---
apiVersion: keyward.dev/v1alpha1
kind: AccessPolicy
metadata: {name: bad-policy, namespace: shop}
spec:
  effect: allow
  resources: {names: [CANARY], matchLabels: {"CANARY key": x}}
  clients: {names: [CANARY], tags: ["CANARY !"], namespaces: [CANARY]}
  subjects: {names: ["CANARY\u0001"], serviceAccounts: [CANARY], roles: ["CANARY role"]}
  tenants: ["CANARY !"]
  scopes: ["CANARY scope"]
"#
    .replace("CANARY", CANARY)
}

/// The canaries that are well typed, as a cluster's watches would hold them.
fn typed_objects() -> Objects {
    let mut objects = Objects::default();
    for doc in serde_yaml::Deserializer::from_str(&canary_manifests()) {
        let v: serde_yaml::Value = serde::Deserialize::deserialize(doc).unwrap();
        match v["kind"].as_str() {
            Some("OAuthClient") => {
                if let Ok(c) = serde_yaml::from_value::<OAuthClient>(v) {
                    objects.clients.push(Arc::new(c));
                }
            }
            Some("Resource") => objects.resources.push(Arc::new(serde_yaml::from_value::<Resource>(v).unwrap())),
            Some("AccessPolicy") => objects.policies.push(Arc::new(serde_yaml::from_value::<AccessPolicy>(v).unwrap())),
            _ => {}
        }
    }
    objects
}

#[test]
fn a_pasted_secret_never_reaches_the_log_check_output_or_status() {
    // The log of a real `keyward serve` start on the canaries, captured on
    // this thread (the first load runs on it, in a current-thread runtime).
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let h = hub().file("world.yaml", WORLD).file("canary.yaml", &canary_manifests()).start().await;
        // Still serving the rest.
        assert_eq!(h.bot_token(&[("resource", "https://api.example.test/orders")]).await.status, 200);
        h.hub.unwrap().stop();
    });
    drop(guard);
    let log = logs.text();
    assert!(log.contains("not ready"), "{log}");
    assert!(log.contains("stringData: expected a map, found a string"), "{log}");
    assert!(log.contains("spec.secret: expected struct ClientSecretSpec, found a string"), "{log}");
    assert!(!log.contains(CANARY), "a canary reached the log:\n{log}");

    // `keyward check`.
    let (ok, out) = check(&[("world.yaml", WORLD), ("canary.yaml", &canary_manifests())]);
    assert!(!ok);
    assert!(out.contains("OAuthClient      agents/every-field"), "{out}");
    assert!(!out.contains(CANARY), "a canary reached check's output:\n{out}");

    // Status conditions and events in a cluster carry the same messages.
    let settings =
        HubSettings { issuer: "https://hub.example".into(), defaults: Lifetimes::default(), runtime: Runtime::Cluster };
    let built = inputs(&typed_objects(), settings);
    let compiled = compile(built.input);
    let messages: Vec<String> = built.rejected.iter().chain(&compiled.statuses).map(|s| s.message()).collect();
    assert_eq!(messages.len(), 4, "the four objects that do not convert: {messages:?}");
    for m in &messages {
        assert!(!m.contains(CANARY), "a canary reached a status message: {m}");
    }
}

#[test]
fn keyward_check_counts_a_file_it_cannot_read() {
    let (ok, out) = check(&[("world.yaml", WORLD), ("broken.yaml", "apiVersion: [\n")]);
    assert!(!ok);
    let last = out.lines().last().unwrap();
    assert_eq!(last, "6 objects, 0 not ready, 1 file with errors", "{out}");
    assert!(out.starts_with("note: broken.yaml: "), "{out}");
}

const TYPO_RESOURCE: &str = r#"
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {name: billing, namespace: shop}
spec:
  type: api
  identifier: https://api.example.test/billing
  displayName: Billing
  scopes: [{name: "billing:read", rolez: [x]}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: biller, namespace: agents}
spec:
  displayName: Biller
  clientId: biller
  grantTypes: {clientCredentials: {}}
  resources:
    - {name: billing, namespace: shop, scopes: ["billing:read"]}
    - {name: bllling, namespace: shop, scopes: ["billing:read"]}
---
apiVersion: keyward.dev/v1alpha1
kind: AccessPolicy
metadata: {name: typos, namespace: shop}
spec:
  effect: allow
  resources: {names: [orders, ordres]}
  clients: {names: [agents/bot, agents/bto]}
  scopes: ["orders:read"]
"#;

/// `keyward check` on a folder of these files: whether all is Ready, and
/// what it printed.
fn check(files: &[(&str, &str)]) -> (bool, String) {
    check_for(files, Runtime::Cluster)
}

fn check_for(files: &[(&str, &str)], runtime: Runtime) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let mut out = Vec::new();
    let opts = keyward::check::CheckOptions { manifests: dir.path().to_owned(), namespace: "default".into(), runtime };
    let ok = keyward::check::run(&opts, &mut out).unwrap();
    (ok, String::from_utf8(out).unwrap())
}

fn line<'a>(out: &'a str, object: &str) -> &'a str {
    out.lines().find(|l| l.contains(object)).unwrap_or_else(|| panic!("no line for {object} in\n{out}"))
}

#[test]
fn a_reference_to_an_invalid_object_says_invalid_and_a_missing_one_says_missing() {
    let (_, out) = check(&[("world.yaml", WORLD), ("typo.yaml", TYPO_RESOURCE)]);
    let biller = line(&out, "agents/biller");
    assert!(
        biller.contains(
            "spec.resources[0].name: the Resource named here is not valid: fix that object; spec.resources[1].name: no Resource of this name exists"
        ),
        "{biller}"
    );
    assert!(line(&out, "shop/billing").contains("unknown field spec.scopes[0].rolez"), "{out}");
}

#[test]
fn a_policy_naming_what_does_not_exist_is_ready_with_a_warning() {
    let (_, out) = check(&[("world.yaml", WORLD), ("typo.yaml", TYPO_RESOURCE)]);
    let policy = line(&out, "shop/typos");
    assert!(policy.contains(" Ready "), "{policy}");
    assert!(
        policy.contains("warning: spec.resources.names[1]: no Resource of this name exists; warning: spec.clients.names[1]: no OAuthClient of this name exists"),
        "{policy}"
    );
}

const ROTATING: &str = r#"
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: rotating, namespace: agents}
spec:
  displayName: Rotating
  clientId: rotating
  secret: {rotation: {id: "2026-12"}}
  grantTypes: {clientCredentials: {}}
  resources: [{name: orders, namespace: shop, scopes: ["orders:read"]}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: workload, namespace: agents}
spec:
  displayName: Workload
  clientId: workload
  grantTypes: {jwtBearer: {trustedIssuers: [{kubernetes: true}]}}
  resources: [{name: orders, namespace: shop, scopes: ["orders:read"]}]
"#;

#[tokio::test]
async fn what_only_a_cluster_can_do_is_not_ready_in_serve_and_says_why() {
    let h = hub().file("world.yaml", WORLD).file("rotating.yaml", ROTATING).start().await;
    let (_, out) = check_for(&[("world.yaml", WORLD), ("rotating.yaml", ROTATING)], Runtime::Folder);
    // Rotation is the same in both (assembly::client_secret).
    let rotating = line(&out, "agents/rotating");
    assert!(rotating.contains(" Ready "), "{rotating}");
    let workload = line(&out, "agents/workload");
    assert!(workload.contains("NotReady  Unsupported"), "{workload}");
    assert!(
        workload.contains("spec.grantTypes.jwtBearer.trustedIssuers[0].kubernetes: keyward serve has no cluster"),
        "{workload}"
    );
    // `keyward check` for a cluster (its default) accepts both.
    let (_, out) = check(&[("world.yaml", WORLD), ("rotating.yaml", ROTATING)]);
    assert!(out.ends_with("8 objects, 0 not ready, 0 files with errors\n"), "{out}");
    // And the hub serving the same folder does not know the workload.
    let r = h
        .post(
            "/token",
            None,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("client_id", "workload"),
                ("assertion", "x"),
            ],
        )
        .await;
    r.assert_error(401, "invalid_client", "unknown client 'workload'");
}

fn rotation(id: &str) -> String {
    format!(
        r#"
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: rotating, namespace: agents}}
spec:
  displayName: Rotating
  clientId: rotating
  secret: {{rotation: {{id: "{id}", gracePeriod: 10m}}}}
  grantTypes: {{clientCredentials: {{}}}}
  resources: [{{name: orders, namespace: shop, scopes: ["orders:read"]}}]
"#
    )
}

/// `keyward serve` rotates a generated secret as a cluster does: a new
/// `spec.secret.rotation.id` gives a new secret, the previous one keeps
/// working until the grace period ends, and the credentials file holds what
/// a cluster's Secret holds.
#[tokio::test]
async fn serve_rotates_a_secret_with_a_grace_period_like_a_cluster() {
    const ORDERS: &str = "https://api.example.test/orders";
    let h = hub().file("world.yaml", WORLD).file("rotating.yaml", &rotation("2026-11")).start().await;
    let first = h.credentials("agents", "rotating-credentials");
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(keys, ["audiences", "client_id", "client_secret", "discovery_url", "issuer", "token_endpoint"]);
    assert_eq!(first["audiences"], ORDERS);
    assert_eq!(first["discovery_url"], format!("{}/.well-known/oauth-authorization-server", h.issuer()));
    let old = first["client_secret"].clone();
    let token = |secret: String| {
        let h = &h;
        async move { h.post("/token", Some(("rotating", &secret)), &[("grant_type", "client_credentials")]).await }
    };
    assert_eq!(token(old.clone()).await.status, 200);

    h.write("rotating.yaml", &rotation("2026-12"));
    h.eventually("the secret rotated", || async {
        h.credentials("agents", "rotating-credentials")["client_secret"] != old
    })
    .await;
    let new = h.credentials("agents", "rotating-credentials")["client_secret"].clone();
    // The file is written before the new snapshot is served.
    h.eventually("the new secret is served", || async { token(new.clone()).await.status == 200 }).await;
    let during = h.credentials("agents", "rotating-credentials");
    assert_eq!(during["previous_client_secret"], old);
    assert_eq!(token(old.clone()).await.status, 200, "the previous secret works during the grace period");
    assert_eq!(token(new.clone()).await.status, 200);

    h.advance(10 * 60 + 1);
    token(old).await.assert_error(401, "invalid_client", "client authentication failed");
    assert_eq!(token(new).await.status, 200);
}
