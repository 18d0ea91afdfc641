//! Unit tests of the controller's pure builders.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use keyward_core::UnixTime;
use keyward_core::model::{self, Kind, ObjectKey, SecretRotation};
use keyward_core::snapshot::{HubSettings, Lifetimes, Runtime};
use keyward_core::status::{ObjectStatus, Problem, Reason};
use serde_json::json;

use super::client_secret::*;
use super::status::*;

pub(super) fn settings() -> HubSettings {
    HubSettings { issuer: "https://auth.example.com".into(), defaults: Lifetimes::default(), runtime: Runtime::Cluster }
}

pub(super) fn client() -> model::Client {
    model::Client {
        meta: model::Meta { key: ObjectKey::new("agents", "bot"), ..Default::default() },
        display_name: "Bot".into(),
        description: None,
        logo_uri: None,
        tags: vec![],
        client_id: None,
        auth_method: model::AuthMethod::ClientSecretBasic,
        keys: None,
        federated: vec![],
        secret_name: "bot-credentials".into(),
        secret_labels: Default::default(),
        secret_annotations: Default::default(),
        secret_provided: false,
        secret_rotation: None,
        grants: Default::default(),
        resources: vec![],
        session: Default::default(),
        identity_provider: None,
    }
}

fn desired<'a>(c: &'a model::Client, s: &'a HubSettings, now: u64) -> Desired<'a> {
    Desired {
        owner: Owner { name: "bot", namespace: "agents", uid: "uid-1" },
        client: c,
        client_id: "bot.agents",
        settings: s,
        audiences: vec!["https://api/orders", "https://mcp/mcp"],
        now: UnixTime(now),
    }
}

fn counter() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("secret-{n}")
    }
}

fn data(s: &Secret, k: &str) -> Option<String> {
    s.data.as_ref()?.get(k).map(|b| String::from_utf8(b.0.clone()).unwrap())
}

fn created(c: &model::Client) -> Secret {
    let s = settings();
    match plan(&desired(c, &s, 0), None, &mut counter()) {
        SecretPlan::Create(secret) => *secret,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_secret_is_created_with_connection_fields_labels_and_owner() {
    let s = created(&client());
    assert_eq!(s.metadata.name.as_deref(), Some("bot-credentials"));
    assert_eq!(s.metadata.namespace.as_deref(), Some("agents"));
    assert_eq!(data(&s, "client_secret").as_deref(), Some("secret-1"));
    assert_eq!(data(&s, "client_id").as_deref(), Some("bot.agents"));
    assert_eq!(data(&s, "issuer").as_deref(), Some("https://auth.example.com"));
    assert_eq!(data(&s, "token_endpoint").as_deref(), Some("https://auth.example.com/token"));
    assert_eq!(
        data(&s, "discovery_url").as_deref(),
        Some("https://auth.example.com/.well-known/oauth-authorization-server")
    );
    assert_eq!(data(&s, "audiences").as_deref(), Some("https://api/orders https://mcp/mcp"));
    let labels = s.metadata.labels.as_ref().unwrap();
    assert_eq!(labels.get(LABEL_CLIENT).map(String::as_str), Some("bot"));
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.uid.as_str(), owner.controller), ("OAuthClient", "uid-1", Some(true)));
}

#[test]
fn an_owned_secret_is_never_regenerated_by_a_reconcile() {
    let c = client();
    let s = settings();
    let secret = created(&c);
    assert_eq!(plan(&desired(&c, &s, 100), Some(&secret), &mut || panic!("no new secret")), SecretPlan::UpToDate);
}

#[test]
fn a_changed_issuer_patches_only_the_connection_fields() {
    let c = client();
    let secret = created(&c);
    let moved = HubSettings {
        issuer: "https://new.example.com".into(),
        defaults: Lifetimes::default(),
        runtime: Runtime::Cluster,
    };
    let SecretPlan::Patch { patch, changes } = plan(&desired(&c, &moved, 1), Some(&secret), &mut || panic!()) else {
        panic!()
    };
    assert_eq!(changes, vec!["connection"]);
    let keys: Vec<&String> = patch["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["discovery_url", "issuer", "token_endpoint"]);
}

#[test]
fn a_deleted_client_secret_key_is_regenerated() {
    let c = client();
    let mut secret = created(&c);
    secret.data.as_mut().unwrap().remove("client_secret");
    let SecretPlan::Patch { patch, changes } = plan(&desired(&c, &settings(), 1), Some(&secret), &mut counter()) else {
        panic!()
    };
    assert_eq!(changes, vec!["regenerated"]);
    assert_eq!(patch["data"]["client_secret"], json!("c2VjcmV0LTE="));
}

#[test]
fn a_new_rotation_id_rotates_and_keeps_the_previous_secret_for_the_grace_period() {
    let mut c = client();
    let secret = created(&c);
    c.secret_rotation = Some(SecretRotation { id: "r1".into(), grace: Duration::from_secs(3600) });
    let SecretPlan::Patch { patch, changes } =
        plan(&desired(&c, &settings(), 1000), Some(&secret), &mut || "fresh".into())
    else {
        panic!()
    };
    assert_eq!(changes, vec!["rotated"]);
    assert_eq!(patch["data"]["client_secret"], json!("ZnJlc2g="));
    assert_eq!(patch["data"]["previous_client_secret"], json!("c2VjcmV0LTE="));
    assert_eq!(patch["metadata"]["annotations"][ANNOTATION_ROTATION_ID], "r1");
    assert_eq!(patch["metadata"]["annotations"][ANNOTATION_PREVIOUS_UNTIL], "1970-01-01T01:16:40Z");
}

fn rotated_secret(until: &str) -> Secret {
    let mut s = created(&client());
    let d = s.data.as_mut().unwrap();
    d.insert("client_secret".into(), ByteString(b"new".to_vec()));
    d.insert("previous_client_secret".into(), ByteString(b"old".to_vec()));
    s.metadata.annotations = Some(BTreeMap::from([
        (ANNOTATION_ROTATION_ID.to_owned(), "r1".to_owned()),
        (ANNOTATION_PREVIOUS_UNTIL.to_owned(), until.to_owned()),
    ]));
    s
}

#[test]
fn the_previous_secret_authenticates_until_the_grace_ends_then_is_removed() {
    use crate::secret_digest::digest_secret;
    let secret = rotated_secret("1970-01-01T01:16:40Z");
    let digests = secrets_of(&secret).unwrap();
    assert!(digests.verify(&digest_secret(b"old"), UnixTime(4599)));
    assert!(!digests.verify(&digest_secret(b"old"), UnixTime(4600)));
    assert!(digests.verify(&digest_secret(b"new"), UnixTime(10_000)));

    let mut c = client();
    c.secret_rotation = Some(SecretRotation { id: "r1".into(), grace: Duration::from_secs(3600) });
    let s = settings();
    assert_eq!(plan(&desired(&c, &s, 4599), Some(&secret), &mut || panic!()), SecretPlan::UpToDate);
    let SecretPlan::Patch { patch, changes } = plan(&desired(&c, &s, 4600), Some(&secret), &mut || panic!()) else {
        panic!()
    };
    assert_eq!(changes, vec!["previous secret expired"]);
    assert_eq!(patch["data"]["previous_client_secret"], json!(null));
}

fn foreign(data: Option<&str>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some("bot-credentials".into()),
            namespace: Some("agents".into()),
            ..Default::default()
        },
        data: data.map(|v| BTreeMap::from([("client_secret".to_owned(), ByteString(v.as_bytes().to_vec()))])),
        ..Default::default()
    }
}

#[test]
fn a_foreign_secret_with_a_client_secret_is_adopted_by_label_only() {
    let c = client();
    let SecretPlan::Patch { patch, changes } =
        plan(&desired(&c, &settings(), 0), Some(&foreign(Some("byo"))), &mut || panic!())
    else {
        panic!()
    };
    assert_eq!(changes, vec!["adopted"]);
    assert_eq!(patch, json!({"metadata": {"labels": {LABEL_CLIENT: "bot"}}}));
    let mut labelled = foreign(Some("byo"));
    labelled.metadata.labels = Some(BTreeMap::from([(LABEL_CLIENT.to_owned(), "bot".to_owned())]));
    assert_eq!(plan(&desired(&c, &settings(), 0), Some(&labelled), &mut || panic!()), SecretPlan::UpToDate);
}

#[test]
fn a_foreign_secret_without_a_client_secret_is_a_conflict_never_overwritten() {
    let c = client();
    let SecretPlan::Conflict(m) = plan(&desired(&c, &settings(), 0), Some(&foreign(None)), &mut || panic!()) else {
        panic!()
    };
    assert!(m.contains("is not managed by this OAuthClient"), "{m}");
}

#[test]
fn a_secret_controlled_by_another_object_is_a_conflict() {
    let mut s = foreign(Some("x"));
    s.metadata.owner_references =
        Some(vec![OwnerReference { uid: "other".into(), controller: Some(true), ..Default::default() }]);
    let c = client();
    assert!(matches!(plan(&desired(&c, &settings(), 0), Some(&s), &mut || panic!()), SecretPlan::Conflict(_)));
}

#[test]
fn a_provided_secret_is_awaited_never_generated() {
    let mut c = client();
    c.secret_provided = true;
    let s = settings();
    let SecretPlan::Pending(m) = plan(&desired(&c, &s, 0), None, &mut || panic!()) else { panic!() };
    assert_eq!(m, "Secret bot-credentials does not exist yet (spec.secret.provided: the hub waits for it)");
    assert!(matches!(plan(&desired(&c, &s, 0), Some(&foreign(None)), &mut || panic!()), SecretPlan::Pending(_)));
}

#[test]
fn the_discovery_url_inserts_well_known_before_the_issuer_path() {
    assert_eq!(well_known("https://a.example/hub"), "https://a.example/.well-known/oauth-authorization-server/hub");
}

fn st(problems: Vec<Problem>) -> ObjectStatus {
    ObjectStatus {
        kind: Kind::OAuthClient,
        key: ObjectKey::new("agents", "bot"),
        generation: Some(3),
        problems,
        warnings: vec![],
        client_id: Some("bot.agents".into()),
    }
}

fn t(s: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap())
}

#[test]
fn a_ready_object_has_only_a_ready_condition_with_its_generation() {
    let s = client_status(&st(vec![]), Some("bot-credentials"), None, &t(10));
    assert_eq!(s.client_id.as_deref(), Some("bot.agents"));
    assert_eq!(s.observed_generation, Some(3));
    assert_eq!(s.conditions.len(), 1);
    let c = &s.conditions[0];
    assert_eq!(
        (c.type_.as_str(), c.status.as_str(), c.reason.as_str(), c.observed_generation),
        ("Ready", "True", "Accepted", Some(3))
    );
}

#[test]
fn a_permanent_problem_is_stalled_and_a_transient_one_reconciling() {
    let bad =
        st(vec![Problem::new(Reason::ScopeNotInCatalog, "spec.resources[0].scopes[0]", "scope 'x' is not defined")]);
    let s = client_status(&bad, Some("bot-credentials"), None, &t(10));
    let types: Vec<(&str, &str)> = s.conditions.iter().map(|c| (c.type_.as_str(), c.status.as_str())).collect();
    assert_eq!(types, vec![("Ready", "False"), ("Stalled", "True")]);
    assert_eq!(s.conditions[0].message, "spec.resources[0].scopes[0]: scope 'x' is not defined");
    let waiting = st(vec![Problem::new(Reason::SecretPending, "spec.secret.name", "waiting")]);
    let s = client_status(&waiting, Some("bot-credentials"), None, &t(10));
    assert_eq!(s.conditions[1].type_, "Reconciling");
}

#[test]
fn transition_times_move_only_when_a_condition_flips_and_equal_status_is_not_rewritten() {
    let first = client_status(&st(vec![]), Some("bot-credentials"), None, &t(10));
    let again = client_status(&st(vec![]), Some("bot-credentials"), Some(&first), &t(99));
    assert_eq!(again.conditions[0].last_transition_time, t(10));
    assert!(client_unchanged(&again, Some(&first)));
    let broken = client_status(
        &st(vec![Problem::new(Reason::InvalidSpec, "spec", "bad")]),
        Some("bot-credentials"),
        Some(&first),
        &t(50),
    );
    assert_eq!(broken.conditions[0].last_transition_time, t(50));
    assert!(!client_unchanged(&broken, Some(&first)));
}

#[test]
fn labels_and_annotations_from_the_spec_reach_the_secret_and_are_kept_in_line() {
    let mut c = client();
    c.secret_labels = BTreeMap::from([("team".to_owned(), "payments".to_owned())]);
    c.secret_annotations = BTreeMap::from([("replicate-to".to_owned(), "ns-a".to_owned())]);
    let s = created(&c);
    assert_eq!(s.metadata.labels.as_ref().unwrap()["team"], "payments");
    assert_eq!(s.metadata.labels.as_ref().unwrap()[LABEL_CLIENT], "bot");
    assert_eq!(s.metadata.annotations.as_ref().unwrap()["replicate-to"], "ns-a");
    assert_eq!(plan(&desired(&c, &settings(), 1), Some(&s), &mut || panic!()), SecretPlan::UpToDate);
    c.secret_labels.insert("team".into(), "billing".into());
    let SecretPlan::Patch { patch, changes } = plan(&desired(&c, &settings(), 1), Some(&s), &mut || panic!()) else {
        panic!()
    };
    assert_eq!(changes, vec!["metadata"]);
    assert_eq!(patch, json!({"metadata": {"labels": {"team": "billing"}}}));
}
