//! The Kubernetes store against kube's tower-test mock: each scenario states
//! every request the store makes, in order, and nothing else may happen (the
//! pattern of `controller/mock_tests.rs`).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use keyward_core::UnixTime;
use keyward_core::store::{Store, StoreError, Use};
use kube::Client;
use kube::client::Body;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;
use serde_json::{Value, json};

use super::{KubeStore, hash};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/hub/leases";

fn store() -> (Arc<KubeStore>, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    (Arc::new(KubeStore::new(client, "hub", "keyward").unwrap()), handle)
}

/// Expects one request; checks method and path; answers `status` + `body`
/// (`None`: echo what was sent). Returns the query and the body sent.
async fn expect(
    handle: &mut Handle,
    method: Method,
    path: &str,
    status: StatusCode,
    body: Option<Value>,
) -> (String, Value) {
    let (request, send) = handle.next_request().await.expect("a request");
    assert_eq!((request.method(), request.uri().path()), (&method, path), "unexpected call");
    let query = request.uri().query().unwrap_or_default().to_owned();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let sent: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    let answer = body.unwrap_or_else(|| sent.clone());
    send.send_response(
        Response::builder().status(status).body(Body::from(serde_json::to_vec(&answer).unwrap())).unwrap(),
    );
    (query, sent)
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code, "message": reason})
}

fn meta(name: &str, expires: Option<&str>, rv: &str) -> PartialObjectMeta<k8s_openapi::api::coordination::v1::Lease> {
    let mut v = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": {"name": name, "namespace": "hub", "resourceVersion": rv, "creationTimestamp": "2027-01-15T08:00:00Z"}});
    if let Some(e) = expires {
        v["metadata"]["annotations"] = json!({"keyward.dev/expires-at": e});
    }
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn a_first_use_creates_one_lease_and_a_replay_at_the_same_replica_makes_no_call() {
    let (store, mut handle) = store();
    let server = tokio::spawn(async move {
        let (_, sent) = expect(&mut handle, Method::POST, LEASES, StatusCode::CREATED, None).await;
        handle.next_request().await.is_none().then_some(sent)
    });
    let key = "https://issuer.example\0Raw-Assertion-Id";
    assert_eq!(store.first_use(key, UnixTime(1030), UnixTime(1000)).await.unwrap(), Use::First);
    assert_eq!(store.first_use(key, UnixTime(1030), UnixTime(1001)).await.unwrap(), Use::Replayed);
    drop(store);
    let sent = server.await.unwrap().expect("no second call");
    assert_eq!(sent["metadata"]["name"], format!("keyward-jti-{}", hash(key)));
    assert_eq!(sent["metadata"]["labels"]["keyward.dev/record"], "jti");
    assert_eq!(sent["metadata"]["annotations"]["keyward.dev/expires-at"], "1030");
    assert!(!sent.to_string().contains("Raw-Assertion-Id"), "only the hash leaves the process: {sent}");
}

#[tokio::test]
async fn a_lease_that_already_exists_means_another_replica_used_the_key_first() {
    let (store, mut handle) = store();
    let server = tokio::spawn(async move {
        expect(&mut handle, Method::POST, LEASES, StatusCode::CONFLICT, Some(status(409, "AlreadyExists"))).await;
        handle.next_request().await.is_none()
    });
    assert_eq!(store.first_use("i\0j", UnixTime(1030), UnixTime(1000)).await.unwrap(), Use::Replayed);
    assert_eq!(store.first_use("i\0j", UnixTime(1030), UnixTime(1000)).await.unwrap(), Use::Replayed, "remembered");
    drop(store);
    assert!(server.await.unwrap(), "the second replay made no call");
}

#[tokio::test]
async fn api_errors_and_silence_are_store_errors_not_answers() {
    let (store, mut handle) = store();
    let store = Arc::new(Arc::into_inner(store).unwrap().with_timeout(Duration::from_millis(50)));
    let server = tokio::spawn(async move {
        expect(&mut handle, Method::POST, LEASES, StatusCode::FORBIDDEN, Some(status(403, "Forbidden"))).await;
        expect(
            &mut handle,
            Method::POST,
            LEASES,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(status(500, "InternalError")),
        )
        .await;
        // Never answered: the store gives up on its own.
        let (_request, _send) = handle.next_request().await.expect("a request");
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let e = store.first_use("k", UnixTime(10), UnixTime(0)).await.unwrap_err();
    assert!(matches!(e, StoreError::Backend(_)), "{e:?}");
    let e = store.revoke("jti", UnixTime(10)).await.unwrap_err();
    assert!(matches!(e, StoreError::Backend(_)), "{e:?}");
    let e = store.first_use("k", UnixTime(10), UnixTime(0)).await.unwrap_err();
    assert!(matches!(e, StoreError::Timeout(50)), "{e:?}");
    server.abort();
}

#[tokio::test]
async fn a_revocation_is_created_once_and_seen_at_once_by_the_replica_that_made_it() {
    let (store, mut handle) = store();
    store.observe(Event::InitDone, UnixTime(0));
    let server = tokio::spawn(async move {
        let (_, sent) = expect(&mut handle, Method::POST, LEASES, StatusCode::CREATED, None).await;
        expect(&mut handle, Method::POST, LEASES, StatusCode::CONFLICT, Some(status(409, "AlreadyExists"))).await;
        sent
    });
    assert!(!store.is_revoked("jti-a").unwrap());
    store.revoke("jti-a", UnixTime(2000)).await.unwrap();
    store.revoke("jti-a", UnixTime(2000)).await.expect("revoking twice is fine");
    assert!(store.is_revoked("jti-a").unwrap());
    let sent = server.await.unwrap();
    assert_eq!(sent["metadata"]["name"], format!("keyward-revoked-{}", hash("jti-a")));
    assert_eq!(sent["metadata"]["labels"]["keyward.dev/record"], "revoked");
}

#[tokio::test]
async fn revocations_come_from_the_watch_and_nothing_is_answered_before_the_first_list() {
    let (store, _handle) = store();
    let name = |jti: &str| format!("keyward-revoked-{}", hash(jti));
    assert!(matches!(store.is_revoked("a"), Err(StoreError::NotReady(_))));
    assert!(!store.is_ready());
    store.observe(Event::Init, UnixTime(100));
    store.observe(Event::InitApply(meta(&name("a"), Some("500"), "1")), UnixTime(100));
    store.observe(Event::InitApply(meta(&name("old"), Some("50"), "2")), UnixTime(100));
    store.observe(Event::InitApply(meta(&format!("other-revoked-{}", hash("b")), Some("500"), "3")), UnixTime(100));
    store.observe(Event::InitDone, UnixTime(100));
    assert!(store.is_ready());
    assert!(store.is_revoked("a").unwrap());
    assert!(!store.is_revoked("old").unwrap(), "expired before the list ended");
    assert!(!store.is_revoked("b").unwrap(), "another hub's record");
    store.observe(Event::Apply(meta(&name("c"), Some("500"), "4")), UnixTime(101));
    assert!(store.is_revoked("c").unwrap());
    store.observe(Event::Delete(meta(&name("a"), Some("500"), "5")), UnixTime(102));
    assert!(!store.is_revoked("a").unwrap());
}

#[tokio::test]
async fn the_collector_deletes_only_this_hubs_expired_records_each_guarded_by_its_resource_version() {
    let (store, mut handle) = store();
    let (expired, live, other) = (
        format!("keyward-jti-{}", hash("x")),
        format!("keyward-revoked-{}", hash("y")),
        format!("app-jti-{}", hash("z")),
    );
    let list = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {"resourceVersion": "9"},
        "items": [meta(&expired, Some("1000"), "7"), meta(&live, Some("1001"), "8"), meta(&other, Some("1"), "3")]});
    let (e2, live2) = (expired.clone(), live.clone());
    let server = tokio::spawn(async move {
        let (query, _) = expect(&mut handle, Method::GET, LEASES, StatusCode::OK, Some(list)).await;
        assert!(
            query.contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dkeyward%2Ckeyward.dev%2Frecord"),
            "{query}"
        );
        assert!(query.contains("limit=500"), "{query}");
        let (_, sent) = expect(
            &mut handle,
            Method::DELETE,
            &format!("{LEASES}/{e2}"),
            StatusCode::OK,
            Some(json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200})),
        )
        .await;
        assert_eq!(sent["preconditions"]["resourceVersion"], "7");
        // Second pass: the record changed since the list (409) or is gone (404).
        let list = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {},
            "items": [meta(&e2, Some("1000"), "7"), meta(&live2, Some("1001"), "8")]});
        expect(&mut handle, Method::GET, LEASES, StatusCode::OK, Some(list)).await;
        let mut deletes = Vec::new();
        for _ in 0..2 {
            let (request, send) = handle.next_request().await.expect("a delete");
            deletes.push(request.uri().path().to_owned());
            let answer = if deletes.len() == 1 { status(409, "Conflict") } else { status(404, "NotFound") };
            send.send_response(
                Response::builder()
                    .status(answer["code"].as_u64().unwrap() as u16)
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap(),
            );
        }
        deletes
    });
    assert_eq!(store.purge(UnixTime(1000)).await.unwrap(), 1);
    // At 1001 both are expired; neither delete takes effect, and that is no error.
    let second = tokio::spawn({
        let store = Arc::clone(&store);
        async move { store.purge(UnixTime(1001)).await }
    });
    let deletes = server.await.unwrap();
    assert_eq!(second.await.unwrap().unwrap(), 0);
    assert_eq!(deletes.len(), 2);
    assert!(deletes.iter().all(|p| !p.contains("app-jti-")), "{deletes:?}");
}

#[tokio::test]
async fn the_collector_resumes_a_long_list_on_its_next_pass() {
    let (store, mut handle) = store();
    let server = tokio::spawn(async move {
        // A pass reads at most its page budget, then keeps the cursor.
        for page in 0..super::GC_PAGES_PER_PASS {
            let items: Vec<_> = (0..2)
                .map(|i| meta(&format!("keyward-jti-{}", hash(&format!("{page}-{i}"))), Some("5000"), "1"))
                .collect();
            let list = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                "metadata": {"continue": format!("c{}", page + 1)}, "items": items});
            let (query, _) = expect(&mut handle, Method::GET, LEASES, StatusCode::OK, Some(list)).await;
            assert_eq!(query.contains("continue="), page > 0, "{query}");
        }
        let last =
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {}, "items": []});
        let (query, _) = expect(&mut handle, Method::GET, LEASES, StatusCode::OK, Some(last)).await;
        assert!(query.contains(&format!("continue=c{}", super::GC_PAGES_PER_PASS)), "{query}");
        // The list is done: the pass after starts from the top again.
        let last =
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {}, "items": []});
        let (query, _) = expect(&mut handle, Method::GET, LEASES, StatusCode::OK, Some(last)).await;
        assert!(!query.contains("continue="), "{query}");
    });
    for _ in 0..3 {
        assert_eq!(store.purge(UnixTime(1000)).await.unwrap(), 0);
    }
    server.await.unwrap();
}
