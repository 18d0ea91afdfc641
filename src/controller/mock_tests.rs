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

use super::keys;

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
