//! The controller when the API server goes away and comes back, on
//! kube-apiserver 1.20: a stale cache never makes the leader write for a
//! client that is gone, and after a restart the hub catches up in seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use keyward_api::v1alpha1::OAuthClient;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
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
  scopes: [{{name: "orders:read"}}]
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

fn a_client(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{displayName: {name}, grantTypes: {{clientCredentials: {{}}}}, resources: [{{name: orders, scopes: [\"orders:read\"]}}]}}\n"
    )
}

async fn setup(test: &str) -> Option<(Client, String, String)> {
    let client = client(VAR, test).await?;
    install_crds(&client, VAR).await;
    let (ns, hub) = (unique("kw"), unique("hub"));
    create_namespace(&client, &ns).await;
    create_namespace(&client, &hub).await;
    Some((client, ns, hub))
}

async fn ready(client: &Client, ns: &str, name: &str) -> Option<()> {
    let c = Api::<OAuthClient>::namespaced(client.clone(), ns).get_opt(name).await.ok()??;
    c.status?.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True").then_some(())
}

/// The client id and secret from the client's generated Secret.
async fn credentials(client: &Client, ns: &str, name: &str) -> (String, String) {
    let s = Api::<Secret>::namespaced(client.clone(), ns).get(&format!("{name}-credentials")).await.unwrap();
    let text = |k: &str| String::from_utf8(s.data.as_ref().unwrap()[k].0.clone()).unwrap();
    (text("client_id"), text("client_secret"))
}

/// `SecretCreated` events about `name`, counting a series (a repeated event
/// the recorder folded into one) as often as it happened.
async fn secret_created_events(client: &Client, ns: &str, name: &str) -> i32 {
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    let list = events.list(&ListParams::default()).await.unwrap();
    list.items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("SecretCreated"))
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum()
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn a_deleted_clients_secret_is_never_written_again_from_a_stale_client_cache() {
    let Some((client, ns, hub)) = setup("a_deleted_clients_secret").await else { return };
    apply_yaml(&client, &world(&ns)).await;
    let mut relay = Relay::start(api_server_addr(VAR).await).await;
    let gate = Gate::new("oauthclients");
    let replica_client = gated_client_via(VAR, relay.port, &gate).await;
    let replica = start_replica(&replica_client, ReplicaOptions::new(&hub, &[&ns])).await;
    eventually(30, "bot Ready", || ready(&client, &ns, "bot")).await;
    eventually(10, "the replica leads", || async { replica.is_leader().then_some(()) }).await;
    assert_eq!(secret_created_events(&client, &ns, "bot").await, 1);

    // The replica's OAuthClient watch is cut and cannot resume; every other
    // watch resumes at once: its OAuthClient cache is stale, the rest current.
    gate.close();
    relay.cut();
    relay.restore().await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Watch the Secret from here on: every creation counts.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let from = secrets.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    let wp = WatchParams::default().fields("metadata.name=bot-credentials").timeout(20);
    let mut stream = secrets.watch(&wp, &from).await.unwrap().boxed();
    let creates = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&creates);
    let watching = tokio::spawn(async move {
        while let Ok(Some(e)) = stream.try_next().await {
            if matches!(e, WatchEvent::Added(_)) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    });

    // The client is deleted; its Secret goes too (the test does what the
    // garbage collector will, without waiting for its discovery resync).
    let (id, value) = credentials(&client, &ns, "bot").await;
    Api::<OAuthClient>::namespaced(client.clone(), &ns).delete("bot", &DeleteParams::background()).await.unwrap();
    secrets.delete("bot-credentials", &DeleteParams::default()).await.unwrap();
    // The replica sees the Secret go (its Secret watch is current) while its
    // OAuthClient cache still holds bot: the state that made the leader
    // create the Secret again.
    eventually(5, "the Secret's deletion reaches the replica", || async {
        (replica.token(&id, &value, &[]).await.0 == 401).then_some(())
    })
    .await;
    // Changes the replica does see make it compile and run write passes from
    // its stale view.
    for i in 0..4 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let patch = serde_json::json!({"spec": {"displayName": format!("Orders {i}")}});
        Api::<keyward_api::v1alpha1::Resource>::namespaced(client.clone(), &ns)
            .patch("orders", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The watch comes back and the cache catches up.
    gate.open();
    tokio::time::sleep(Duration::from_secs(2)).await;
    watching.abort();
    let creates = creates.load(Ordering::SeqCst);
    let events = secret_created_events(&client, &ns, "bot").await - 1;
    let present = secrets.get_opt("bot-credentials").await.unwrap().is_some();
    eprintln!(
        "STALE deleted client, 5 s of write passes from a stale OAuthClient cache: {creates} Secret creates, {events} SecretCreated events (Secret present at the end: {present})"
    );
    assert_eq!(creates, 0, "the deleted client's Secret was created again");
    assert_eq!(events, 0, "SecretCreated events for a deleted client");
    assert!(!present);
}

/// After its API server restarts (etcd kept; the watch cache, and so every
/// watch's resourceVersion, lost: the watches meet 410 Gone), a replica makes
/// a client created after the return Ready, and refuses the tokens of a client
/// deleted after the return, within seconds. Tokens keep flowing meanwhile.
#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn after_an_api_server_restart_new_clients_are_ready_and_deleted_ones_refused_within_seconds() {
    const TEST: &str = "after_an_api_server_restart";
    let Some((client, ns, hub)) = setup(TEST).await else { return };
    let Some(mut own) = OwnApiServer::from_fullenv(VAR, TEST) else { return };
    apply_yaml(&client, &world(&ns)).await;
    apply_yaml(&client, &a_client(&ns, "leaving")).await;
    own.start(VAR).await;
    let replica = start_replica(own.clients(VAR).await, ReplicaOptions::new(&hub, &[&ns])).await;
    eventually(30, "bot Ready", || ready(&client, &ns, "bot")).await;
    eventually(30, "leaving Ready", || ready(&client, &ns, "leaving")).await;
    let (bot_id, bot_secret) = credentials(&client, &ns, "bot").await;
    let (id, value) = credentials(&client, &ns, "leaving").await;
    eventually(10, "tokens work", || async {
        (replica.token(&id, &value, &[]).await.0 == 200 && replica.token(&bot_id, &bot_secret, &[]).await.0 == 200)
            .then_some(())
    })
    .await;

    // Down long enough for a growing backoff to matter (kube-runtime's
    // default reaches 6.4 s steps by then), then ~7 s to start again.
    own.stop();
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(8) {
        assert_eq!(replica.token(&bot_id, &bot_secret, &[]).await.0, 200, "tokens keep flowing while it is down");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    own.start(VAR).await;
    let back = Instant::now();
    eprintln!("RESTART the replica's API server was away {:.1} s", (back - down).as_secs_f64());

    apply_yaml(&client, &a_client(&ns, "after")).await;
    Api::<OAuthClient>::namespaced(client.clone(), &ns).delete("leaving", &DeleteParams::default()).await.unwrap();
    let deleted = Instant::now();
    let (ready_after, refused_after) = tokio::join!(
        async {
            eventually(60, "after Ready", || ready(&client, &ns, "after")).await;
            back.elapsed()
        },
        async {
            eventually(60, "leaving's token refused", || async {
                (replica.token(&id, &value, &[]).await.0 == 401).then_some(())
            })
            .await;
            deleted.elapsed()
        }
    );
    let (after_id, after_secret) = credentials(&client, &ns, "after").await;
    assert_eq!(replica.token(&after_id, &after_secret, &[]).await.0, 200);
    eprintln!(
        "RESTART API server back -> new client Ready: {:.2} s; delete (right after the return) -> token refused: {:.2} s",
        ready_after.as_secs_f64(),
        refused_after.as_secs_f64()
    );
    assert!(ready_after < Duration::from_secs(10), "Ready {ready_after:?} after the API server came back");
    assert!(
        refused_after < Duration::from_secs(2),
        "a deleted client's token worked {refused_after:?} after the delete"
    );
}
