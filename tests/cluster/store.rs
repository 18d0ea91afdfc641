//! The cluster store against kube-apiserver 1.20: what one replica records,
//! the others see. Revocations cross replicas through the watch, one-time use
//! through `create`, the leader collects what expired, and an unreachable API
//! server is a 503. Each test has its own namespaces.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use keyward::keys::signer::{Signer, generate};
use keyward::store::KubeStore;
use keyward_core::UnixTime;
use keyward_core::keys::Algorithm;
use keyward_core::store::{Store, Use};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::support::*;

const VAR: &str = "KEYWARD_TEST_KUBECONFIG";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

async fn setup(test: &str) -> Option<(Client, String, String)> {
    let client = client(VAR, test).await?;
    install_crds(&client, VAR).await;
    let (ns, hub) = (unique("st"), unique("sthub"));
    create_namespace(&client, &ns).await;
    create_namespace(&client, &hub).await;
    Some((client, ns, hub))
}

/// A JWT issuer on 127.0.0.1 with one ES256 key (discovery and JWKS).
struct Issuer {
    url: String,
    key: EcdsaKeyPair,
}

impl Issuer {
    async fn start() -> Issuer {
        use axum::routing::get;
        let der = generate(Algorithm::ES256, &SystemRandom::new()).unwrap();
        let jwks = json!({"keys": [Signer::from_pkcs8("ec-1", Algorithm::ES256, &der).unwrap().public_jwk()]});
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/iss", listener.local_addr().unwrap());
        let discovery = json!({"issuer": url, "jwks_uri": format!("{url}/jwks")});
        let app = axum::Router::new()
            .route("/iss/.well-known/openid-configuration", get(move || async move { axum::Json(discovery) }))
            .route("/iss/jwks", get(move || async move { axum::Json(jwks) }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Issuer { url, key: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).unwrap() }
    }

    /// An assertion for the hub, valid five minutes from `now`, with `jti`.
    fn assertion(&self, jti: &str, now: u64) -> String {
        let header = json!({"alg": "ES256", "kid": "ec-1", "typ": "JWT"});
        let claims = json!({"iss": self.url, "sub": "spiffe://test/agent", "aud": ISSUER, "iat": now, "exp": now + 300, "jti": jti});
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let sig = self.key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }
}

/// `bot` gets tokens with a secret; `once` trusts the issuer, which refuses
/// replays by default (not a Kubernetes issuer).
fn world(ns: &str, issuer: &str) -> String {
    format!(
        r#"
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {{name: orders, namespace: {ns}}}
spec:
  type: api
  identifier: https://orders.{ns}.example.test
  displayName: Orders
  scopes: [{{name: "orders:read"}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: bot, namespace: {ns}}}
spec:
  displayName: Bot
  grantTypes: {{clientCredentials: {{}}}}
  resources: [{{name: orders, scopes: ["orders:read"]}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: once, namespace: {ns}}}
spec:
  displayName: One-time assertions
  grantTypes:
    jwtBearer:
      trustedIssuers: [{{issuer: '{issuer}', algorithms: [ES256]}}]
  resources: [{{name: orders, scopes: ["orders:read"]}}]
"#
    )
}

async fn ready(client: &Client, ns: &str, name: &str) -> Option<()> {
    let c = Api::<keyward_api::v1alpha1::OAuthClient>::namespaced(client.clone(), ns).get_opt(name).await.ok()??;
    c.status?.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True").then_some(())
}

async fn credentials(client: &Client, ns: &str) -> (String, String) {
    let s = Api::<Secret>::namespaced(client.clone(), ns).get("bot-credentials").await.unwrap();
    let text = |k: &str| String::from_utf8(s.data.as_ref().unwrap()[k].0.clone()).unwrap();
    (text("client_id"), text("client_secret"))
}

async fn post(base: &str, path: &str, auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut r = reqwest::Client::new().post(format!("{base}{path}")).form(form);
    if let Some((id, secret)) = auth {
        r = r.basic_auth(id, Some(secret));
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn active(base: &str, (id, secret): (&str, &str), token: &str) -> bool {
    let (status, body) = post(base, "/introspect", Some((id, secret)), &[("token", token)]).await;
    assert_eq!(status, 200, "{body}");
    body["active"].as_bool().unwrap()
}

async fn grant(base: &str, ns: &str, assertion: &str) -> (u16, Value) {
    let client_id = format!("once.{ns}");
    post(base, "/token", None, &[("grant_type", JWT_BEARER), ("client_id", &client_id), ("assertion", assertion)]).await
}

async fn records(client: &Client, hub: &str, kind: &str) -> Vec<String> {
    let lp = ListParams::default().labels(&format!("app.kubernetes.io/managed-by=keyward,keyward.dev/record={kind}"));
    let list = Api::<Lease>::namespaced(client.clone(), hub).list(&lp).await.unwrap();
    list.items.into_iter().filter_map(|l| l.metadata.name).collect()
}

fn median_and_p99(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(v[v.len() / 2]), ms(v[(v.len() * 99 / 100).min(v.len() - 1)]))
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn a_token_revoked_at_one_replica_is_inactive_at_the_other_within_a_second() {
    let Some((client, ns, hub)) = setup("a_token_revoked_at_one_replica").await else { return };
    let issuer = Issuer::start().await;
    apply_yaml(&client, &world(&ns, &issuer.url)).await;
    let a = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    let b = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    eventually(30, "bot Ready", || ready(&client, &ns, "bot")).await;
    let (id, secret) = credentials(&client, &ns).await;
    let token = eventually(10, "a token from A", || async {
        let (s, body) = a.token(&id, &secret, &[]).await;
        (s == 200).then(|| body["access_token"].as_str().unwrap().to_owned())
    })
    .await;
    eventually(10, "B serves introspection", || async {
        (post(&b.base, "/introspect", Some((&id, &secret)), &[("token", &token)]).await.0 == 200).then_some(())
    })
    .await;
    assert!(active(&b.base, (&id, &secret), &token).await);

    let (status, body) = post(&a.base, "/revoke", Some((&id, &secret)), &[("token", &token)]).await;
    assert_eq!(status, 200, "{body}");
    let revoked = Instant::now();
    assert!(!active(&a.base, (&id, &secret), &token).await, "at once where it was revoked");
    loop {
        if !active(&b.base, (&id, &secret), &token).await {
            break;
        }
        assert!(revoked.elapsed() < Duration::from_secs(1), "still active at B after {:?}", revoked.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("revoked at A -> inactive at B: {} ms", revoked.elapsed().as_millis());
    // B also refuses it as a subject token.
    let (status, body) = post(
        &b.base,
        "/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", &token),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ],
    )
    .await;
    assert_eq!((status, body["error_description"].as_str()), (400, Some("subject_token: the token has been revoked")));
    let names = records(&client, &hub, "revoked").await;
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(!names[0].contains(&token[..20]), "a hash names the record");
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn an_assertion_used_at_one_replica_is_refused_at_the_other() {
    let Some((client, ns, hub)) = setup("an_assertion_used_at_one_replica").await else { return };
    let issuer = Issuer::start().await;
    apply_yaml(&client, &world(&ns, &issuer.url)).await;
    let a = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    let b = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    eventually(30, "once Ready", || ready(&client, &ns, "once")).await;
    // Each replica must know the client before the replay means anything.
    for r in [&a, &b] {
        eventually(10, "the replica accepts a fresh assertion", || async {
            (grant(&r.base, &ns, &issuer.assertion(&unique("warm"), START)).await.0 == 200).then_some(())
        })
        .await;
    }

    let assertion = issuer.assertion("used-once", START);
    let (status, body) = grant(&a.base, &ns, &assertion).await;
    assert_eq!(status, 200, "{body}");
    for (r, at) in [(&b, "the other replica"), (&a, "the same replica")] {
        let (status, body) = grant(&r.base, &ns, &assertion).await;
        assert_eq!(
            (status, body["error"].as_str(), body["error_description"].as_str()),
            (400, Some("invalid_grant"), Some("the assertion was already used (jti)")),
            "at {at}"
        );
    }
    let names = records(&client, &hub, "jti").await;
    assert_eq!(names.len(), 3, "two warm-ups and one assertion: {names:?}");
    assert!(names.iter().all(|n| n.starts_with("keyward-jti-") && !n.contains("used-once")), "{names:?}");
}

/// The store's own guarantee, measured: two stores (two replicas' worth) on
/// one API server, the same keys sent to both at once.
#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn of_two_stores_racing_for_the_same_key_exactly_one_gets_first_use() {
    let Some((client, _ns, hub)) = setup("of_two_stores_racing").await else { return };
    let x = KubeStore::new(client.clone(), &hub, "keyward").unwrap();
    let y = KubeStore::new(client.clone(), &hub, "keyward").unwrap();
    let (until, now) = (UnixTime(START + 300), UnixTime(START));
    for i in 0..20 {
        let key = format!("https://issuer.example\0race-{i}");
        let (p, q) = tokio::join!(x.first_use(&key, until, now), y.first_use(&key, until, now));
        let firsts = [p.unwrap(), q.unwrap()].iter().filter(|u| **u == Use::First).count();
        assert_eq!(firsts, 1, "key {i}");
    }

    let mut first_use = Vec::new();
    for i in 0..200 {
        let started = Instant::now();
        assert_eq!(x.first_use(&format!("latency-{i}"), until, now).await.unwrap(), Use::First);
        first_use.push(started.elapsed());
    }
    let mut replayed = Vec::new();
    for i in 0..50 {
        let started = Instant::now();
        assert_eq!(y.first_use(&format!("latency-{i}"), until, now).await.unwrap(), Use::Replayed);
        replayed.push(started.elapsed());
    }
    let mut revoke = Vec::new();
    for i in 0..100 {
        let started = Instant::now();
        x.revoke(&format!("revoked-{i}"), until).await.unwrap();
        revoke.push(started.elapsed());
    }
    let (fm, fp) = median_and_p99(first_use);
    let (rm, rp) = median_and_p99(replayed);
    let (vm, vp) = median_and_p99(revoke);
    eprintln!(
        "KubeStore on kube-apiserver 1.20: first_use median {fm:.1} ms (p99 {fp:.1}); replay at another store (409) median {rm:.1} ms (p99 {rp:.1}); revoke median {vm:.1} ms (p99 {vp:.1})"
    );
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn expired_records_are_deleted_by_the_leaders_collector_and_nothing_else_is() {
    let Some((client, _ns, hub)) = setup("expired_records_are_deleted").await else { return };
    let store = KubeStore::new(client.clone(), &hub, "keyward").unwrap();
    for i in 0..3 {
        store.first_use(&format!("short-{i}"), UnixTime(START + 5), UnixTime(START)).await.unwrap();
    }
    store.first_use("long", UnixTime(START + 10_000), UnixTime(START)).await.unwrap();
    store.revoke("long-revoked", UnixTime(START + 10_000)).await.unwrap();
    // Labelled like a record but not named like one of this hub's.
    let foreign: Lease = serde_json::from_value(json!({"metadata": {"name": "someone-else", "labels": {"app.kubernetes.io/managed-by": "keyward", "keyward.dev/record": "jti"}, "annotations": {"keyward.dev/expires-at": "1"}}})).unwrap();
    Api::<Lease>::namespaced(client.clone(), &hub).create(&PostParams::default(), &foreign).await.unwrap();
    assert_eq!(records(&client, &hub, "jti").await.len(), 5);

    let mut o = ReplicaOptions::new(&hub, &[]);
    o.store_gc_interval = Duration::from_secs(1);
    let replica = start_replica(&client, o).await;
    eventually(30, "the replica leads", || async { replica.is_leader().then_some(()) }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(records(&client, &hub, "jti").await.len(), 5, "nothing has expired yet");

    replica.clock.store(START + 10, Ordering::SeqCst);
    let started = Instant::now();
    let left = eventually(30, "the expired records are gone", || async {
        let left = records(&client, &hub, "jti").await;
        (left.len() == 2).then_some(left)
    })
    .await;
    eprintln!("expired -> collected: {} ms (collector every 1 s)", started.elapsed().as_millis());
    assert!(left.contains(&"someone-else".to_owned()), "{left:?}");
    assert_eq!(records(&client, &hub, "revoked").await.len(), 1);
    let metrics = reqwest::get(format!("http://{}/metrics", replica.running.as_ref().unwrap().admin_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("keyward_store_records_purged_total 3"), "{metrics}");
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn an_unreachable_api_server_makes_revocation_and_replay_checks_503_and_keeps_introspection() {
    let Some((client, ns, hub)) = setup("an_unreachable_api_server_store").await else { return };
    let issuer = Issuer::start().await;
    apply_yaml(&client, &world(&ns, &issuer.url)).await;
    let mut relay = Relay::start(api_server_addr(VAR).await).await;
    let through_relay = client_via(VAR, relay.port).await;
    let replica = start_replica(&through_relay, ReplicaOptions::new(&hub, &[&ns])).await;
    eventually(30, "once Ready", || ready(&client, &ns, "once")).await;
    eventually(30, "bot Ready", || ready(&client, &ns, "bot")).await;
    let (id, secret) = credentials(&client, &ns).await;
    let token = |r: &Replica| {
        let (id, secret) = (id.clone(), secret.clone());
        let r = r.base.clone();
        async move {
            let (s, body) = post(&r, "/token", Some((&id, &secret)), &[("grant_type", "client_credentials")]).await;
            (s == 200).then(|| body["access_token"].as_str().unwrap().to_owned())
        }
    };
    let (first, second) = (eventually(10, "a token", || token(&replica)).await, token(&replica).await.unwrap());
    eventually(10, "the issuer's keys are cached", || async {
        (grant(&replica.base, &ns, &issuer.assertion(&unique("warm"), START)).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(post(&replica.base, "/revoke", Some((&id, &secret)), &[("token", &first)]).await.0, 200);

    relay.cut();
    let started = Instant::now();
    let (status, body) = post(&replica.base, "/revoke", Some((&id, &secret)), &[("token", &second)]).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    let (status, body) = grant(&replica.base, &ns, &issuer.assertion("during-outage", START)).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    eprintln!("API server cut: revoke and one-time use answered 503 within {} ms", started.elapsed().as_millis());
    // What is known stays known, from memory; tokens keep flowing.
    assert!(!active(&replica.base, (&id, &secret), &first).await);
    assert!(active(&replica.base, (&id, &secret), &second).await);
    assert!(token(&replica).await.is_some());

    relay.restore().await;
    eventually(30, "revocation works again", || async {
        (post(&replica.base, "/revoke", Some((&id, &secret)), &[("token", &second)]).await.0 == 200).then_some(())
    })
    .await;
    let (status, body) = grant(&replica.base, &ns, &issuer.assertion("during-outage", START)).await;
    assert_eq!(status, 200, "the refused attempt did not use the assertion up: {body}");
}
