//! The controller against kube-apiserver + controller-manager 1.20: Secrets,
//! status, events, owner GC, leader election, rotation. Each test has its own
//! namespaces and hub namespace, so tests run side by side.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use keyward_api::v1alpha1::OAuthClient;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};

use crate::support::*;

const VAR: &str = "KEYWARD_TEST_KUBECONFIG";

fn world(ns: &str) -> String {
    format!(
        r#"
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {{name: orders, namespace: {ns}}}
spec:
  type: api
  identifier: https://orders.{ns}.example.test
  displayName: Orders
  scopes: [{{name: "orders:read"}}, {{name: "orders:write"}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: bot, namespace: {ns}}}
spec:
  displayName: Bot
  grantTypes: {{clientCredentials: {{}}}}
  resources: [{{name: orders, scopes: ["orders:read"]}}]
"#
    )
}

async fn setup(test: &str) -> Option<(Client, String, String)> {
    setup_namespaces(VAR, test).await
}

async fn ready(client: &Client, ns: &str, name: &str) -> Option<OAuthClient> {
    let c = Api::<OAuthClient>::namespaced(client.clone(), ns).get_opt(name).await.ok()??;
    let ok = c.status.as_ref()?.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    ok.then_some(c)
}

async fn condition(client: &Client, ns: &str, name: &str, type_: &str) -> Option<(String, String, String)> {
    let c = Api::<OAuthClient>::namespaced(client.clone(), ns).get_opt(name).await.ok()??;
    let cond = c.status?.conditions.into_iter().find(|c| c.type_ == type_)?;
    Some((cond.status, cond.reason, cond.message))
}

fn secret_text(s: &Secret, key: &str) -> String {
    String::from_utf8(s.data.as_ref().unwrap()[key].0.clone()).unwrap()
}

async fn secret(client: &Client, ns: &str, name: &str) -> Option<Secret> {
    Api::<Secret>::namespaced(client.clone(), ns).get_opt(name).await.ok()?
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn a_client_becomes_ready_and_its_secret_gets_a_verifiable_token() {
    let Some((client, ns, hub)) = setup("a_client_becomes_ready").await else { return };
    apply_yaml(&client, &world(&ns)).await;
    let replica = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    let bot = eventually(30, "bot Ready", || ready(&client, &ns, "bot")).await;
    let status = bot.status.unwrap();
    assert_eq!(status.client_id.as_deref(), Some(format!("bot.{ns}").as_str()));
    assert_eq!(status.secret_ref.unwrap().name, "bot-credentials");
    assert_eq!(status.observed_generation, bot.metadata.generation);

    let s = secret(&client, &ns, "bot-credentials").await.unwrap();
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("OAuthClient", Some(true)));
    assert_eq!(secret_text(&s, "issuer"), ISSUER);
    assert_eq!(secret_text(&s, "token_endpoint"), format!("{ISSUER}/token"));
    assert_eq!(secret_text(&s, "audiences"), format!("https://orders.{ns}.example.test"));
    let (id, value) = (secret_text(&s, "client_id"), secret_text(&s, "client_secret"));
    let (code, body) = replica.token(&id, &value, &[]).await;
    assert_eq!(code, 200, "{body}");

    // Verified against the JWKS the leader published in its ConfigMap.
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &hub).get("keyward-jwks").await.unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&cm.data.unwrap()["jwks.json"]).unwrap();
    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[format!("https://orders.{ns}.example.test")]);
    v.set_issuer(&[ISSUER]);
    v.validate_exp = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).unwrap().claims;
    assert_eq!(claims["client_id"], id);

    // Events tell the story.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    let reasons = eventually(10, "events", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        let r: Vec<String> = list.items.into_iter().filter_map(|e| e.reason).collect();
        (r.contains(&"SecretCreated".to_owned()) && r.contains(&"Ready".to_owned())).then_some(r)
    })
    .await;
    assert!(!reasons.is_empty());
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn deleting_a_client_refuses_its_token_within_a_second_and_gc_removes_its_secret() {
    let Some((client, ns, hub)) = setup("deleting_a_client").await else { return };
    apply_yaml(&client, &world(&ns)).await;
    let replica = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    eventually(30, "bot Ready", || ready(&client, &ns, "bot")).await;
    let s = secret(&client, &ns, "bot-credentials").await.unwrap();
    let (id, value) = (secret_text(&s, "client_id"), secret_text(&s, "client_secret"));
    eventually(10, "token works", || async { (replica.token(&id, &value, &[]).await.0 == 200).then_some(()) }).await;

    let started = Instant::now();
    Api::<OAuthClient>::namespaced(client.clone(), &ns).delete("bot", &DeleteParams::default()).await.unwrap();
    eventually(5, "token refused", || async { (replica.token(&id, &value, &[]).await.0 == 401).then_some(()) }).await;
    let refused_after = started.elapsed();
    eprintln!("delete -> refused token: {} ms", refused_after.as_millis());
    assert!(refused_after < Duration::from_secs(1), "{refused_after:?}");
    // The garbage collector learns of a new CRD's kind at its discovery
    // resync (every 30 s in kube-controller-manager 1.20): on a cluster that
    // just started, the first collection can take that long again.
    eventually(90, "Secret garbage-collected", || async {
        secret(&client, &ns, "bot-credentials").await.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn a_dangling_reference_is_stalled_with_its_field_path_and_the_rest_keep_working() {
    let Some((client, ns, hub)) = setup("a_dangling_reference").await else { return };
    apply_yaml(&client, &world(&ns)).await;
    apply_yaml(
        &client,
        &format!(
            "apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata: {{name: lost, namespace: {ns}}}\nspec:\n  displayName: Lost\n  grantTypes: {{clientCredentials: {{}}}}\n  resources: [{{name: orders, scopes: [\"orders:delete\"]}}]\n"
        ),
    )
    .await;
    let _replica = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    eventually(30, "bot Ready", || ready(&client, &ns, "bot")).await;
    let (status, reason, message) =
        eventually(30, "lost has a Ready condition", || condition(&client, &ns, "lost", "Ready")).await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "ScopeNotInCatalog"));
    assert_eq!(
        message,
        "spec.resources[0].scopes[0]: is not in the catalog of the Resource named at spec.resources[0].name"
    );
    let stalled = condition(&client, &ns, "lost", "Stalled").await.unwrap();
    assert_eq!(stalled.0, "True");
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn secrets_are_adopted_awaited_or_refused_but_never_overwritten() {
    let Some((client, ns, hub)) = setup("secrets_are_adopted").await else { return };
    apply_yaml(&client, &world(&ns)).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let byo = |name: &str, value: Option<&str>| {
        let mut s = Secret::default();
        s.metadata.name = Some(name.into());
        s.string_data = value.map(|v| BTreeMap::from([("client_secret".to_owned(), v.to_owned())]));
        s
    };
    // Brought by the user before the client exists: adopted.
    secrets.create(&PostParams::default(), &byo("adopt-me", Some("users-own-secret"))).await.unwrap();
    // Not ours and without a client_secret: a conflict.
    secrets.create(&PostParams::default(), &byo("taken", None)).await.unwrap();
    let clients = format!(
        r#"
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: adopter, namespace: {ns}}}
spec: {{displayName: A, clientId: adopter-{ns}, secret: {{name: adopt-me}}, grantTypes: {{clientCredentials: {{}}}}, resources: [{{name: orders, scopes: ["orders:read"]}}]}}
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: waiter, namespace: {ns}}}
spec: {{displayName: W, clientId: waiter-{ns}, secret: {{name: later, provided: true}}, grantTypes: {{clientCredentials: {{}}}}, resources: [{{name: orders, scopes: ["orders:read"]}}]}}
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: clash, namespace: {ns}}}
spec: {{displayName: C, secret: {{name: taken}}, grantTypes: {{clientCredentials: {{}}}}}}
"#
    );
    apply_yaml(&client, &clients).await;
    let replica = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;

    eventually(30, "adopter Ready", || ready(&client, &ns, "adopter")).await;
    let adopted = secret(&client, &ns, "adopt-me").await.unwrap();
    assert_eq!(adopted.metadata.labels.as_ref().unwrap()["keyward.dev/oauthclient"], "adopter");
    assert!(adopted.metadata.owner_references.is_none(), "a user's Secret gets no owner");
    assert_eq!(secret_text(&adopted, "client_secret"), "users-own-secret");
    assert_eq!(replica.token(&format!("adopter-{ns}"), "users-own-secret", &[]).await.0, 200);

    let (s, reason, message) = eventually(30, "waiter pending", || condition(&client, &ns, "waiter", "Ready")).await;
    assert_eq!((s.as_str(), reason.as_str()), ("False", "SecretPending"));
    assert!(message.contains("does not exist yet"), "{message}");
    assert_eq!(condition(&client, &ns, "waiter", "Reconciling").await.unwrap().0, "True");
    assert!(secret(&client, &ns, "later").await.is_none(), "a provided Secret is never generated");
    secrets.create(&PostParams::default(), &byo("later", Some("arrived"))).await.unwrap();
    eventually(30, "waiter Ready once its Secret exists", || ready(&client, &ns, "waiter")).await;
    assert_eq!(replica.token(&format!("waiter-{ns}"), "arrived", &[]).await.0, 200);

    let (s, reason, _) = eventually(30, "clash refused", || condition(&client, &ns, "clash", "Ready")).await;
    assert_eq!((s.as_str(), reason.as_str()), ("False", "SecretConflict"));
    let taken = secret(&client, &ns, "taken").await.unwrap();
    assert!(taken.data.is_none() && taken.metadata.labels.is_none(), "untouched");
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn a_rotation_keeps_the_previous_secret_working_until_the_grace_period_ends() {
    let Some((client, ns, hub)) = setup("a_rotation").await else { return };
    apply_yaml(&client, &world(&ns)).await;
    let replica = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    eventually(30, "bot Ready", || ready(&client, &ns, "bot")).await;
    let s = secret(&client, &ns, "bot-credentials").await.unwrap();
    let (id, old) = (secret_text(&s, "client_id"), secret_text(&s, "client_secret"));

    let rotate = serde_json::json!({"spec": {"secret": {"rotation": {"id": "2026-11", "gracePeriod": "1h"}}}});
    Api::<OAuthClient>::namespaced(client.clone(), &ns)
        .patch("bot", &PatchParams::default(), &Patch::Merge(&rotate))
        .await
        .unwrap();
    let new = eventually(30, "rotated", || async {
        let s = secret(&client, &ns, "bot-credentials").await?;
        let v = secret_text(&s, "client_secret");
        (v != old).then_some(v)
    })
    .await;
    eventually(10, "new secret works", || async { (replica.token(&id, &new, &[]).await.0 == 200).then_some(()) }).await;
    assert_eq!(replica.token(&id, &old, &[]).await.0, 200, "the previous secret works during the grace period");
    replica.clock.fetch_add(3599, Ordering::SeqCst);
    assert_eq!(replica.token(&id, &old, &[]).await.0, 200, "one second before the grace ends");
    replica.clock.fetch_add(1, Ordering::SeqCst);
    assert_eq!(replica.token(&id, &old, &[]).await.0, 401, "at the end of the grace period");
    assert_eq!(replica.token(&id, &new, &[]).await.0, 200);
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn two_replicas_elect_one_writer_and_the_other_takes_over() {
    let Some((client, ns, hub)) = setup("two_replicas").await else { return };
    apply_yaml(&client, &world(&ns)).await;
    let mut a = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    let b = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    eventually(30, "bot Ready", || ready(&client, &ns, "bot")).await;
    let leaders = eventually(15, "exactly one leader", || async {
        let n = [a.is_leader(), b.is_leader()].iter().filter(|l| **l).count();
        (n == 1).then_some(n)
    })
    .await;
    assert_eq!(leaders, 1);
    // Both serve, from the same Secret.
    let s = secret(&client, &ns, "bot-credentials").await.unwrap();
    let (id, value) = (secret_text(&s, "client_id"), secret_text(&s, "client_secret"));
    for r in [&a, &b] {
        eventually(10, "replica serves", || async { (r.token(&id, &value, &[]).await.0 == 200).then_some(()) }).await;
    }
    // The leader goes away: the other takes over within the lease duration.
    let mut b = b;
    let (gone, stays) = if a.is_leader() { (&mut a, &b) } else { (&mut b, &a) };
    gone.stop();
    let started = Instant::now();
    eventually(30, "the other replica leads", || async { stays.is_leader().then_some(()) }).await;
    eprintln!("leader takeover after {} ms (lease 4 s)", started.elapsed().as_millis());
    // And it writes: a new client gets its Secret.
    apply_yaml(
        &client,
        &format!("apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata: {{name: late, namespace: {ns}}}\nspec: {{displayName: L, grantTypes: {{clientCredentials: {{}}}}, resources: [{{name: orders, scopes: [\"orders:read\"]}}]}}\n"),
    )
    .await;
    eventually(30, "late Ready under the new leader", || ready(&client, &ns, "late")).await;
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn status_is_not_rewritten_when_nothing_changed() {
    let Some((client, ns, hub)) = setup("status_is_not_rewritten").await else { return };
    apply_yaml(&client, &world(&ns)).await;
    let _replica = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    let bot = eventually(30, "bot Ready", || ready(&client, &ns, "bot")).await;
    let before = bot.metadata.resource_version.clone();
    // A change elsewhere makes every replica recompile and the leader run a pass.
    apply_yaml(
        &client,
        &format!("apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata: {{name: other, namespace: {ns}}}\nspec: {{displayName: O}}\n"),
    )
    .await;
    eventually(30, "other Ready", || ready(&client, &ns, "other")).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = Api::<OAuthClient>::namespaced(client.clone(), &ns).get("bot").await.unwrap().metadata.resource_version;
    assert_eq!(before, after, "bot's status was rewritten though nothing about it changed");
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// `KEYWARD_SCALE_CLIENTS` OAuthClients already in the cluster when a replica
/// starts: time until every one is Ready (Secret written, status patched), the
/// process's RSS, and time from `delete` to a refused token.
#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn many_clients_all_become_ready() {
    let Some(n) = std::env::var("KEYWARD_SCALE_CLIENTS").ok().and_then(|v| v.parse::<usize>().ok()) else {
        eprintln!(
            "SKIP many_clients_all_become_ready: set KEYWARD_SCALE_CLIENTS (CI sets 200; docs/operator.md reports 1000)"
        );
        return;
    };
    let Some((client, ns, hub)) = setup("many_clients").await else { return };
    apply_yaml(&client, &world(&ns)).await;
    let api: Api<OAuthClient> = Api::namespaced(client.clone(), &ns);
    let created = Instant::now();
    futures::stream::iter(0..n)
        .for_each_concurrent(16, |i| {
            let api = api.clone();
            async move {
                let c: OAuthClient = serde_json::from_value(serde_json::json!({
                    "apiVersion": "keyward.dev/v1alpha1", "kind": "OAuthClient",
                    "metadata": {"name": format!("agent-{i}")},
                    "spec": {"displayName": format!("Agent {i}"), "grantTypes": {"clientCredentials": {}},
                             "resources": [{"name": "orders", "scopes": ["orders:read"]}]}
                }))
                .unwrap();
                api.create(&PostParams::default(), &c).await.unwrap();
            }
        })
        .await;
    eprintln!("created {n} OAuthClients in {:.1} s", created.elapsed().as_secs_f64());
    let rss_before = rss_mib();
    let started = Instant::now();
    let replica = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;

    eventually(600, "every client Ready", || async {
        let list = api.list(&Default::default()).await.ok()?;
        let ready = list
            .items
            .iter()
            .filter(|c| {
                c.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        (ready == n + 1).then_some(())
    })
    .await;
    let all_ready = started.elapsed();
    let s = secret(&client, &ns, "agent-0-credentials").await.unwrap();
    let (id, value) = (secret_text(&s, "client_id"), secret_text(&s, "client_secret"));
    eventually(10, "token works", || async { (replica.token(&id, &value, &[]).await.0 == 200).then_some(()) }).await;
    let deleted = Instant::now();
    api.delete("agent-0", &DeleteParams::default()).await.unwrap();
    eventually(10, "token refused", || async { (replica.token(&id, &value, &[]).await.0 == 401).then_some(()) }).await;
    eprintln!(
        "SCALE {n} clients: all Ready {:.1} s after the replica started; RSS {:.0} MiB (process, {:.0} MiB before the replica); delete -> refused token {} ms",
        all_ready.as_secs_f64(),
        rss_mib(),
        rss_before,
        deleted.elapsed().as_millis()
    );
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn an_api_server_outage_keeps_the_last_snapshot_serving_and_the_watches_resume() {
    let Some((client, ns, hub)) = setup("an_api_server_outage").await else { return };
    apply_yaml(&client, &world(&ns)).await;
    let mut relay = Relay::start(api_server_addr(VAR).await).await;
    let through_relay = client_via(VAR, relay.port).await;
    let replica = start_replica(&through_relay, ReplicaOptions::new(&hub, &[&ns])).await;
    eventually(30, "bot Ready", || ready(&client, &ns, "bot")).await;
    let s = secret(&client, &ns, "bot-credentials").await.unwrap();
    let (id, value) = (secret_text(&s, "client_id"), secret_text(&s, "client_secret"));
    eventually(10, "token works", || async { (replica.token(&id, &value, &[]).await.0 == 200).then_some(()) }).await;

    relay.cut();
    // Meanwhile the cluster changes without the replica seeing it.
    apply_yaml(
        &client,
        &format!("apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata: {{name: during, namespace: {ns}}}\nspec: {{displayName: D, grantTypes: {{clientCredentials: {{}}}}, resources: [{{name: orders, scopes: [\"orders:read\"]}}]}}\n"),
    )
    .await;
    for _ in 0..20 {
        assert_eq!(replica.token(&id, &value, &[]).await.0, 200, "tokens keep flowing from the last snapshot");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let readyz = reqwest::get(format!("http://{}/readyz", replica.running.as_ref().unwrap().admin_addr)).await.unwrap();
    assert_eq!(readyz.status(), 200, "a replica that serves correctly from its snapshot stays ready");

    relay.restore().await;
    eventually(60, "the watches resume and the leader catches up", || ready(&client, &ns, "during")).await;
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn a_contested_client_id_and_a_deleted_secret_are_handled_without_harm() {
    let Some((client, ns, hub)) = setup("a_contested_client_id").await else { return };
    let other = unique("kw");
    create_namespace(&client, &other).await;
    apply_yaml(&client, &world(&ns)).await;
    let shared_id = format!("shared-{ns}");
    let with_id = |namespace: &str| {
        format!(
            "apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata: {{name: dup, namespace: {namespace}}}\nspec: {{displayName: D, clientId: {shared_id}, grantTypes: {{clientCredentials: {{}}}}}}\n"
        )
    };
    apply_yaml(&client, &with_id(&ns)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // creation timestamps have second precision
    apply_yaml(&client, &with_id(&other)).await;
    let replica = start_replica(&client, ReplicaOptions::new(&hub, &[&ns, &other])).await;
    eventually(30, "the older one is Ready", || ready(&client, &ns, "dup")).await;
    let (s, reason, message) =
        eventually(30, "the newer one is refused", || condition(&client, &other, "dup", "Ready")).await;
    assert_eq!((s.as_str(), reason.as_str()), ("False", "DuplicateClientId"));
    assert_eq!(message, format!("spec.clientId: this client id is already used by OAuthClient {ns}/dup"));

    // A user deletes the generated Secret: a new one is written, the old value is gone.
    eventually(30, "bot Ready", || ready(&client, &ns, "bot")).await;
    let old = secret_text(&secret(&client, &ns, "bot-credentials").await.unwrap(), "client_secret");
    Api::<Secret>::namespaced(client.clone(), &ns).delete("bot-credentials", &DeleteParams::default()).await.unwrap();
    let new = eventually(60, "Secret written again", || async {
        let s = secret(&client, &ns, "bot-credentials").await?;
        Some(secret_text(&s, "client_secret"))
    })
    .await;
    assert_ne!(old, new);
    let id = format!("bot.{ns}");
    eventually(10, "the new secret works", || async { (replica.token(&id, &new, &[]).await.0 == 200).then_some(()) })
        .await;
    assert_eq!(replica.token(&id, &old, &[]).await.0, 401);
}

/// A real projected service-account token, as `kubectl create token` makes it.
async fn sa_token(client: &Client, ns: &str, sa: &str, audience: &str) -> String {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let req = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![audience.to_owned()],
            expiration_seconds: Some(3600),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create_token_request(sa, &PostParams::default(), &req).await.unwrap().status.unwrap().token
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn service_account_tokens_buy_scoped_tokens_by_jwks_and_by_token_review() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let Some((client, ns, hub)) = setup("service_account_tokens").await else { return };
    apply_yaml(&client, &world(&ns)).await;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let sa: ServiceAccount = serde_json::from_value(serde_json::json!({"metadata": {"name": "agent"}})).unwrap();
    sas.create(&PostParams::default(), &sa).await.unwrap();
    let clients = format!(
        r#"
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: sa-jwks, namespace: {ns}}}
spec:
  displayName: By JWKS
  grantTypes: {{jwtBearer: {{trustedIssuers: [{{kubernetes: true, subjects: ["system:serviceaccount:{ns}:*"]}}]}}}}
  resources: [{{name: orders, scopes: ["orders:read"]}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: sa-review, namespace: {ns}}}
spec:
  displayName: By TokenReview
  grantTypes: {{jwtBearer: {{trustedIssuers: [{{kubernetes: true, tokenReview: true, subjects: ["system:serviceaccount:{ns}:*"]}}]}}}}
  resources: [{{name: orders, scopes: ["orders:read"]}}]
"#
    );
    apply_yaml(&client, &clients).await;
    let o = ReplicaOptions::new(&hub, &[&ns]);
    // Service-account tokens carry the real time.
    o.clock
        .store(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), Ordering::SeqCst);
    let replica = start_replica(&client, o).await;
    eventually(30, "sa-jwks Ready", || ready(&client, &ns, "sa-jwks")).await;
    eventually(30, "sa-review Ready", || ready(&client, &ns, "sa-review")).await;

    let grant = |client_id: String, token: String| {
        let base = replica.base.clone();
        async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/token"))
                .form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("client_id", client_id.as_str()),
                    ("assertion", token.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (jwks_id, review_id) = (format!("sa-jwks.{ns}"), format!("sa-review.{ns}"));
    let token = sa_token(&client, &ns, "agent", ISSUER).await;
    // The issuer is discovered in the background: the first attempts may find
    // the issuer unknown.
    let body = eventually(30, "JWKS mode accepts the token", || async {
        let (s, b) = grant(jwks_id.clone(), token.clone()).await;
        (s == 200).then_some(b)
    })
    .await;
    let claims = {
        use base64::Engine;
        let p = body["access_token"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
        serde_json::from_slice::<serde_json::Value>(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(claims["sub"], format!("system:serviceaccount:{ns}:agent"));
    assert_eq!(claims["client_id"], jwks_id);
    assert_eq!(claims["scope"], "orders:read");
    let (s, b) = grant(review_id.clone(), token.clone()).await;
    assert_eq!(s, 200, "TokenReview mode: {b}");

    // A token minted for another audience.
    let other = sa_token(&client, &ns, "agent", "https://other.example.test").await;
    let (s, b) = grant(jwks_id.clone(), other.clone()).await;
    assert_eq!(
        (s, b["error"].as_str(), b["error_description"].as_str()),
        (400, Some("invalid_grant"), Some("the assertion is not for this hub (aud)"))
    );
    let (s, b) = grant(review_id.clone(), other).await;
    assert_eq!(
        (s, b["error_description"].as_str()),
        (400, Some("the Kubernetes API did not authenticate the token (TokenReview)"))
    );

    // The ServiceAccount is deleted: TokenReview notices, JWKS-only cannot.
    sas.delete("agent", &DeleteParams::default()).await.unwrap();
    eventually(30, "TokenReview refuses a deleted service account", || async {
        (grant(review_id.clone(), token.clone()).await.0 == 400).then_some(())
    })
    .await;
    let (s, _) = grant(jwks_id.clone(), token.clone()).await;
    assert_eq!(s, 200, "JWKS-only validation cannot see the deletion (docs/jwt-bearer.md)");
}

/// Workload identity federation (`federated_jwt`): a pod's projected
/// service-account token is its client authentication for every grant, so it
/// gets a token and hops to the next Resource by token exchange with no
/// secret anywhere; another service account's token is `invalid_client`.
#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn a_federated_client_authenticates_with_its_service_account_token_for_every_grant() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let Some((client, ns, hub)) = setup("federated_jwt").await else { return };
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    for name in ["agent", "intruder"] {
        let sa: ServiceAccount = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
        sas.create(&PostParams::default(), &sa).await.unwrap();
    }
    let (docs, orders) = (format!("https://docs.{ns}.example.test/mcp"), format!("https://orders.{ns}.example.test"));
    apply_yaml(
        &client,
        &format!(
            r#"
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {{name: docs, namespace: {ns}}}
spec:
  type: mcpServer
  identifier: {docs}
  displayName: Docs
  scopes: [{{name: "docs:search"}}]
---
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {{name: orders, namespace: {ns}}}
spec:
  type: api
  identifier: {orders}
  displayName: Orders
  scopes: [{{name: "orders:read"}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: agent, namespace: {ns}}}
spec:
  displayName: Research agent
  tokenEndpointAuthMethod: federated_jwt
  federatedCredentials:
    - {{kubernetes: true, subjects: ["system:serviceaccount:{ns}:agent"]}}
  grantTypes:
    clientCredentials: {{}}
    jwtBearer: {{trustedIssuers: [{{kubernetes: true, subjects: ["system:serviceaccount:{ns}:agent"]}}]}}
    tokenExchange: {{}}
  resources:
    - {{name: docs, scopes: ["docs:search"]}}
    - {{name: orders, scopes: ["orders:read"]}}
"#
        ),
    )
    .await;
    let o = ReplicaOptions::new(&hub, &[&ns]);
    o.clock
        .store(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), Ordering::SeqCst);
    let replica = start_replica(&client, o).await;
    eventually(30, "agent Ready", || ready(&client, &ns, "agent")).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    assert!(secrets.get_opt("agent-credentials").await.unwrap().is_none(), "a federated client gets no Secret");

    let client_id = format!("agent.{ns}");
    let token = sa_token(&client, &ns, "agent", ISSUER).await;
    let intruder = sa_token(&client, &ns, "intruder", ISSUER).await;
    let post = |form: Vec<(&'static str, String)>| {
        let base = replica.base.clone();
        async move {
            let r = reqwest::Client::new().post(format!("{base}/token")).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let authenticated = |assertion: &str| {
        vec![
            ("client_id", client_id.clone()),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned()),
            ("client_assertion", assertion.to_owned()),
        ]
    };
    let with = |mut auth: Vec<(&'static str, String)>, more: &[(&'static str, &str)]| {
        auth.extend(more.iter().map(|(k, v)| (*k, (*v).to_owned())));
        auth
    };

    // client_credentials; the cluster's issuer is discovered in the background.
    let cc = with(authenticated(&token), &[("grant_type", "client_credentials"), ("resource", &docs)]);
    let body = eventually(30, "the service-account token authenticates the client", || async {
        let (s, b) = post(cc.clone()).await;
        (s == 200).then_some(b)
    })
    .await;
    assert_eq!(body["scope"], "docs:search");

    // The JWT bearer grant, the same token as both client authentication and
    // grant assertion: the token's subject is the service account.
    let jb = with(
        authenticated(&token),
        &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &token), ("resource", &docs)],
    );
    let (s, b) = post(jb).await;
    assert_eq!(s, 200, "{b}");
    let docs_token = b["access_token"].as_str().unwrap().to_owned();

    // The hop: exchange the docs token for one toward orders, again with no secret.
    let te = with(
        authenticated(&token),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", &docs_token),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("resource", &orders),
        ],
    );
    let (s, b) = post(te.clone()).await;
    assert_eq!(s, 200, "{b}");
    let claims = {
        use base64::Engine;
        let p = b["access_token"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
        serde_json::from_slice::<serde_json::Value>(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        (claims["aud"].as_str(), claims["sub"].as_str(), claims["client_id"].as_str(), claims["scope"].as_str()),
        (
            Some(orders.as_str()),
            Some(format!("system:serviceaccount:{ns}:agent").as_str()),
            Some(client_id.as_str()),
            Some("orders:read")
        )
    );

    // Another service account of the same cluster is not this client.
    let subject = format!("system:serviceaccount:{ns}:intruder");
    for form in [
        with(authenticated(&intruder), &[("grant_type", "client_credentials"), ("resource", &docs)]),
        with(authenticated(&intruder), &te[3..].iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()),
    ] {
        let (s, b) = post(form).await;
        assert_eq!(
            (s, b["error"].as_str(), b["error_description"].as_str()),
            (
                401,
                Some("invalid_client"),
                Some(format!("client assertion: subject '{subject}' is not allowed for this client").as_str())
            )
        );
    }
    // A token for another audience, and a secret, are refused too.
    let elsewhere = sa_token(&client, &ns, "agent", "https://other.example.test").await;
    let (s, b) = post(with(authenticated(&elsewhere), &[("grant_type", "client_credentials")])).await;
    assert_eq!(
        (s, b["error_description"].as_str()),
        (401, Some("client assertion: the assertion is not for this hub (aud)"))
    );
    let (s, b) = post(vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", client_id.clone()),
        ("client_secret", "guess".to_owned()),
    ])
    .await;
    assert_eq!(
        (s, b["error_description"].as_str()),
        (401, Some("client is registered for federated_jwt, not client_secret_post"))
    );
}

/// A `private_key_jwt` assertion signed with the example client's test key
/// (tests/fixtures), for `client_id` at the replicas' clock `now`.
fn client_assertion(client_id: &str, now: u64) -> String {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let der = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/example-mcp-client.pk8")).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).unwrap();
    let header = serde_json::json!({"alg": "ES256", "kid": "k1", "typ": "client-authentication+jwt"});
    let claims = serde_json::json!({"iss": client_id, "sub": client_id, "aud": ISSUER, "iat": now, "exp": now + 60,
        "jti": unique("jti")});
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let sig = key.sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", B64.encode(sig.as_ref()))
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn a_private_key_jwt_client_is_ready_without_a_secret_and_each_assertion_works_once_across_replicas() {
    let Some((client, ns, hub)) = setup("private_key_jwt").await else { return };
    apply_yaml(&client, &world(&ns)).await;
    apply_yaml(
        &client,
        &format!(
            r#"
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: keyed, namespace: {ns}}}
spec:
  displayName: Keyed
  tokenEndpointAuthMethod: private_key_jwt
  jwks:
    keys:
      - {{kty: EC, crv: P-256, kid: k1, x: JdaYV0MLMxB6wNYD-BhTA8JV0M7hrZ3xu0pt58noF4M, y: sGV22Xeo2AYCihOaoaYuzrFJMLGX5YYcAcomfELBTSY}}
  grantTypes: {{clientCredentials: {{}}}}
  resources: [{{name: orders, scopes: ["orders:read"]}}]
"#
        ),
    )
    .await;
    let a = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    let b = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    let keyed = eventually(30, "keyed Ready", || ready(&client, &ns, "keyed")).await;
    let status = keyed.status.unwrap();
    assert_eq!(status.secret_ref, None, "a private_key_jwt client has no Secret");
    assert!(secret(&client, &ns, "keyed-credentials").await.is_none());

    let id = format!("keyed.{ns}");
    let assertion = client_assertion(&id, a.clock.load(Ordering::SeqCst));
    let post = |base: String, assertion: String| async move {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion.as_str()),
        ];
        let r = reqwest::Client::new().post(format!("{base}/token")).form(&form).send().await.unwrap();
        (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
    };
    // Both replicas must have the client before the replay check means anything.
    eventually(30, "b knows the client", || {
        let (base, assertion) = (b.base.clone(), client_assertion(&id, b.clock.load(Ordering::SeqCst)));
        async move { (post(base, assertion).await.0 == 200).then_some(()) }
    })
    .await;
    let (code, body) = post(a.base.clone(), assertion.clone()).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["scope"], "orders:read");
    let (code, body) = post(b.base.clone(), assertion).await;
    assert_eq!((code, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    assert_eq!(body["error_description"], "the client assertion was already used (jti)");
}
