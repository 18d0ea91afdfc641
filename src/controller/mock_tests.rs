//! Exact-call tests of the leader's writes against kube's tower-test mock: each
//! scenario states every request the controller makes, in order, and nothing
//! else may happen (the pattern of kube-rs/controller-rs `fixtures.rs`).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::core::v1::Secret;
use keyward_core::UnixTime;
use keyward_core::keys::{Algorithm, RotationPolicy};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use super::client_secret::{Desired, Owner};
use super::keys;
use super::secret_sync::{self, Outcome, Stale};
use keyward_api::v1alpha1::OAuthClient;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn mock() -> (Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), handle)
}

fn policy() -> RotationPolicy {
    RotationPolicy {
        algorithm: Algorithm::ES256,
        rotate_after: Duration::from_secs(30 * 86400),
        publish_ahead: Duration::from_secs(3600),
        retain_after_retire: Duration::from_secs(7200),
    }
}

/// Expects one request; checks method and path; answers `status` + `body`.
async fn expect(handle: &mut Handle, method: Method, path: &str, status: StatusCode, body: Value) -> Value {
    let (request, send) = handle.next_request().await.expect("a request");
    assert_eq!((request.method(), request.uri().path()), (&method, path), "unexpected call");
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let sent: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    send.send_response(
        Response::builder().status(status).body(Body::from(serde_json::to_vec(&body).unwrap())).unwrap(),
    );
    sent
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})
}

#[tokio::test]
async fn a_missing_key_ring_is_created_once_with_an_active_and_a_next_key() {
    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        let sent =
            expect(&mut handle, Method::POST, "/api/v1/namespaces/hub/secrets", StatusCode::CREATED, json!({})).await;
        assert_eq!(sent["metadata"]["name"], "keyward-signing-keys");
        let raw = sent["data"]["keys.json"].as_str().unwrap();
        use base64::Engine;
        let file: Value =
            serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(raw).unwrap()).unwrap();
        let states: Vec<&str> = file["keys"].as_array().unwrap().iter().map(|k| k["state"].as_str().unwrap()).collect();
        assert_eq!(states, vec!["active", "next"]);
        sent
    });
    let keys = keys::reconcile(&client, "hub", "keyward-signing-keys", None, &policy(), UnixTime(1000)).await.unwrap();
    assert!(keys.is_some());
    let sent = server.await.unwrap();

    // Read back as the watch would deliver it: settled, so no call at all.
    let mut secret: Secret = serde_json::from_value(sent).unwrap();
    secret.metadata.resource_version = Some("1".into());
    let (client, mut handle) = mock();
    let again = keys::reconcile(&client, "hub", "keyward-signing-keys", Some(&secret), &policy(), UnixTime(2000))
        .await
        .unwrap();
    assert!(again.is_none());
    drop(client);
    assert!(handle.next_request().await.is_none(), "a settled ring makes no call");
}

#[tokio::test]
async fn a_due_rotation_replaces_the_secret_guarded_by_its_resource_version() {
    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        expect(&mut handle, Method::POST, "/api/v1/namespaces/hub/secrets", StatusCode::CREATED, json!({})).await
    });
    keys::reconcile(&client, "hub", "k", None, &policy(), UnixTime(0)).await.unwrap();
    let mut secret: Secret = serde_json::from_value(server.await.unwrap()).unwrap();
    secret.metadata.resource_version = Some("41".into());

    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        expect(&mut handle, Method::PUT, "/api/v1/namespaces/hub/secrets/k", StatusCode::OK, json!({})).await
    });
    let rotated = keys::reconcile(&client, "hub", "k", Some(&secret), &policy(), UnixTime(31 * 86400)).await.unwrap();
    let sent = server.await.unwrap();
    assert_eq!(sent["metadata"]["resourceVersion"], "41", "optimistic concurrency against a former leader");
    let active = rotated.unwrap().active.kid;
    assert!(!active.is_empty());
}

#[tokio::test]
async fn the_jwks_configmap_is_created_then_left_alone_while_unchanged() {
    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        expect(
            &mut handle,
            Method::GET,
            "/api/v1/namespaces/hub/configmaps/keyward-jwks",
            StatusCode::NOT_FOUND,
            not_found(),
        )
        .await;
        let sent =
            expect(&mut handle, Method::POST, "/api/v1/namespaces/hub/configmaps", StatusCode::CREATED, json!({}))
                .await;
        assert_eq!(sent["data"]["jwks.json"], r#"{"keys":[]}"#);
        // Second round: the same JWKS is already there, so only the read.
        expect(
            &mut handle,
            Method::GET,
            "/api/v1/namespaces/hub/configmaps/keyward-jwks",
            StatusCode::OK,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keyward-jwks", "resourceVersion": "3"}, "data": {"jwks.json": r#"{"keys":[]}"#}}),
        )
        .await;
        handle
    });
    assert!(keys::publish_jwks(&client, "hub", "keyward-jwks", r#"{"keys":[]}"#).await.unwrap());
    assert!(!keys::publish_jwks(&client, "hub", "keyward-jwks", r#"{"keys":[]}"#).await.unwrap());
    drop(client);
    let mut handle = server.await.unwrap();
    assert!(handle.next_request().await.is_none());
}

// The leader's write of a client Secret: planned from the caches, written only
// after a fresh read of the owning OAuthClient (secret_sync.rs).

const SECRET: &str = "/api/v1/namespaces/agents/secrets/bot-credentials";
const SECRETS: &str = "/api/v1/namespaces/agents/secrets";
const OWNER: &str = "/apis/keyward.dev/v1alpha1/namespaces/agents/oauthclients/bot";

fn oauth_client(uid: &str, generation: i64) -> Value {
    json!({
        "apiVersion": "keyward.dev/v1alpha1", "kind": "OAuthClient",
        "metadata": {"name": "bot", "namespace": "agents", "uid": uid, "generation": generation, "resourceVersion": "7"},
        "spec": {"displayName": "Bot", "grantTypes": {"clientCredentials": {}}}
    })
}

/// The cache's view of the owner: uid-1, generation 1.
fn cached_owner() -> OAuthClient {
    serde_json::from_value(oauth_client("uid-1", 1)).unwrap()
}

/// Runs one sync of bot's Secret against `answers` (each: method, path,
/// status, body), in order; nothing else may be asked. Returns the outcome and
/// what was sent with each request.
async fn sync_against(
    cached: Option<Secret>,
    answers: Vec<(Method, &'static str, StatusCode, Value)>,
) -> (Outcome, Vec<Value>) {
    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        let mut sent = Vec::new();
        for (method, path, status, body) in answers {
            sent.push(expect(&mut handle, method, path, status, body).await);
        }
        (handle, sent)
    });
    let (model, settings) = (super::tests::client(), super::tests::settings());
    let desired = Desired {
        owner: Owner { name: "bot", namespace: "agents", uid: "uid-1" },
        client: &model,
        client_id: "bot.agents",
        settings: &settings,
        audiences: vec![],
        now: UnixTime(1000),
    };
    let mut n = 0;
    let mut new_secret = || {
        n += 1;
        format!("generated-{n}")
    };
    let outcome =
        secret_sync::sync(&client, &cached_owner(), &desired, cached.as_ref(), &mut new_secret).await.unwrap();
    drop(client);
    let (mut handle, sent) = server.await.unwrap();
    assert!(handle.next_request().await.is_none(), "a call beyond the scenario");
    (outcome, sent)
}

#[tokio::test]
async fn a_missing_secret_is_created_only_after_a_fresh_read_of_its_client() {
    let (outcome, sent) = sync_against(
        None,
        vec![
            (Method::GET, SECRET, StatusCode::NOT_FOUND, not_found()),
            (Method::GET, OWNER, StatusCode::OK, oauth_client("uid-1", 1)),
            (Method::POST, SECRETS, StatusCode::CREATED, json!({})),
        ],
    )
    .await;
    assert_eq!(outcome, Outcome::Created);
    let owner = &sent[2]["metadata"]["ownerReferences"][0];
    assert_eq!((owner["uid"].as_str(), owner["controller"].as_bool()), (Some("uid-1"), Some(true)));
}

#[tokio::test]
async fn a_client_the_api_server_no_longer_has_gets_no_secret() {
    let (outcome, _) = sync_against(
        None,
        vec![
            (Method::GET, SECRET, StatusCode::NOT_FOUND, not_found()),
            (Method::GET, OWNER, StatusCode::NOT_FOUND, not_found()),
        ],
    )
    .await;
    assert_eq!(outcome, Outcome::StaleOwner(Stale::Deleted));
}

#[tokio::test]
async fn a_client_replaced_under_the_same_name_gets_no_secret_from_the_old_view() {
    let (outcome, _) = sync_against(
        None,
        vec![
            (Method::GET, SECRET, StatusCode::NOT_FOUND, not_found()),
            (Method::GET, OWNER, StatusCode::OK, oauth_client("uid-2", 1)),
        ],
    )
    .await;
    assert_eq!(outcome, Outcome::StaleOwner(Stale::Replaced));
}

#[tokio::test]
async fn a_client_being_deleted_or_changed_since_the_cache_gets_no_secret() {
    let mut deleting = oauth_client("uid-1", 1);
    deleting["metadata"]["deletionTimestamp"] = json!("2027-01-15T08:00:00Z");
    deleting["metadata"]["finalizers"] = json!(["example.com/hold"]);
    for (fresh, stale) in [(deleting, Stale::Deleting), (oauth_client("uid-1", 2), Stale::Changed)] {
        let (outcome, _) = sync_against(
            None,
            vec![
                (Method::GET, SECRET, StatusCode::NOT_FOUND, not_found()),
                (Method::GET, OWNER, StatusCode::OK, fresh),
            ],
        )
        .await;
        assert_eq!(outcome, Outcome::StaleOwner(stale));
    }
}

/// A user's Secret with a client_secret, not labelled yet: the plan adopts it.
fn users_secret() -> Secret {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "bot-credentials", "namespace": "agents", "resourceVersion": "3"},
        "data": {"client_secret": "dXNlcnMtb3du"}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_patch_is_also_preceded_by_a_fresh_read_and_skipped_for_a_deleted_client() {
    let (outcome, sent) = sync_against(
        Some(users_secret()),
        vec![
            (Method::GET, OWNER, StatusCode::OK, oauth_client("uid-1", 1)),
            (Method::PATCH, SECRET, StatusCode::OK, json!({})),
        ],
    )
    .await;
    assert_eq!(outcome, Outcome::Patched(vec!["adopted"]));
    assert_eq!(sent[1], json!({"metadata": {"labels": {"keyward.dev/oauthclient": "bot"}}}));

    let (outcome, _) =
        sync_against(Some(users_secret()), vec![(Method::GET, OWNER, StatusCode::NOT_FOUND, not_found())]).await;
    assert_eq!(outcome, Outcome::StaleOwner(Stale::Deleted));
}

#[tokio::test]
async fn an_up_to_date_secret_costs_no_call_at_all() {
    let mut adopted = users_secret();
    adopted.metadata.labels = Some([("keyward.dev/oauthclient".to_owned(), "bot".to_owned())].into());
    let (outcome, _) = sync_against(Some(adopted), vec![]).await;
    assert_eq!(outcome, Outcome::UpToDate);
}
