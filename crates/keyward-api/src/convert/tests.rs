//! Shared test helpers for the conversions, and the tests of what all three
//! share: metadata, `Invalid`, and the hand-written twins of the schema
//! patterns.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use keyward_core::status::{Problem, Reason};

use super::*;
use crate::v1alpha1::common::patterns;

pub(super) const NS: &str = "team-a";

/// Metadata as the API server would hand it over.
pub(super) fn object_meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(NS.to_owned()),
        generation: Some(3),
        labels: Some(BTreeMap::from([("team".to_owned(), "a".to_owned())])),
        creation_timestamp: Some(Time("2025-01-02T03:04:05Z".parse().unwrap())),
        ..ObjectMeta::default()
    }
}

/// The problems of a conversion that must have failed.
#[track_caller]
pub(super) fn problems<T: std::fmt::Debug>(r: Result<T, Invalid>) -> Vec<Problem> {
    match r {
        Ok(v) => panic!("expected problems, converted to {v:?}"),
        Err(Invalid(p)) => p,
    }
}

/// Asserts exactly one InvalidSpec problem, at `field`, mentioning `fragment`.
#[track_caller]
pub(super) fn assert_invalid<T: std::fmt::Debug>(r: Result<T, Invalid>, field: &str, fragment: &str) {
    let p = problems(r);
    assert_eq!(p.len(), 1, "expected one problem at {field}, got {p:#?}");
    assert_eq!(p[0].reason, Reason::InvalidSpec, "{p:#?}");
    assert_eq!(p[0].field, field, "{p:#?}");
    assert!(p[0].message.contains(fragment), "message {:?} lacks {fragment:?}", p[0].message);
}

fn meta_of(m: &ObjectMeta) -> Result<Meta, Invalid> {
    let mut c = Check::default();
    let meta = c.meta(m);
    c.finish(meta)
}

#[test]
fn metadata_converts_into_key_generation_labels_and_creation_time() {
    let meta = meta_of(&object_meta("orders")).unwrap();
    assert_eq!(meta.key, ObjectKey::new(NS, "orders"));
    assert_eq!(meta.generation, Some(3));
    assert_eq!(meta.labels.get("team").map(String::as_str), Some("a"));
    assert_eq!(meta.created, Some(UnixTime(1_735_787_045)));
}

#[test]
fn metadata_without_namespace_is_an_invalid_manifest() {
    let m = ObjectMeta { namespace: None, ..object_meta("orders") };
    let p = problems(meta_of(&m));
    assert_eq!(p, vec![Problem::new(Reason::InvalidManifest, "metadata.namespace", p[0].message.clone())]);
    assert!(p[0].message.contains("required"));
}

#[test]
fn metadata_without_name_is_an_invalid_manifest() {
    let m = ObjectMeta { name: None, ..object_meta("x") };
    let p = problems(meta_of(&m));
    assert_eq!((p.len(), p[0].reason, p[0].field.as_str()), (1, Reason::InvalidManifest, "metadata.name"));
}

#[test]
fn metadata_with_names_kubernetes_would_refuse_is_an_invalid_manifest() {
    let m = ObjectMeta { name: Some("Orders".into()), namespace: Some("team.a".into()), ..object_meta("x") };
    let p = problems(meta_of(&m));
    let fields: Vec<_> = p.iter().map(|p| (p.reason, p.field.as_str())).collect();
    assert_eq!(fields, [(Reason::InvalidManifest, "metadata.name"), (Reason::InvalidManifest, "metadata.namespace")]);
}

#[test]
fn metadata_without_creation_time_has_no_created() {
    let m = ObjectMeta { creation_timestamp: None, generation: None, labels: None, ..object_meta("x") };
    let meta = meta_of(&m).unwrap();
    assert_eq!((meta.created, meta.generation, meta.labels.len()), (None, None, 0));
}

#[test]
fn invalid_displays_every_problem_with_its_field() {
    let e = Invalid(vec![
        Problem::new(Reason::InvalidSpec, "spec.a", "bad"),
        Problem::new(Reason::InvalidSpec, "spec.b[1]", "worse"),
    ]);
    assert_eq!(e.to_string(), "spec.a: bad; spec.b[1]: worse");
}

#[test]
fn length_counts_characters_not_bytes() {
    let mut c = Check::default();
    assert!(c.length("f", "ééé", 1, 3));
    assert!(!c.length("f", "éééé", 1, 3));
    assert!(!c.length("f", "", 1, 3));
    let p = problems(c.finish(()));
    assert!(p[0].message.contains("at most 3 characters long, not 4"), "{p:?}");
    assert!(p[1].message.contains("must not be empty"), "{p:?}");
}

#[test]
fn match_labels_with_keys_or_values_no_object_can_carry_are_invalid() {
    let mut c = Check::default();
    let labels = BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "orders".to_owned()),
        ("ok".to_owned(), String::new()),
        ("bad key".to_owned(), "v".to_owned()),
        ("k".to_owned(), "-v".to_owned()),
        ("Upper.Prefix/x".to_owned(), "v".to_owned()),
    ]);
    c.match_labels("spec.clients.matchLabels", &labels);
    let p = problems(c.finish(()));
    let fields: Vec<_> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            // An invalid key is not shown: the map's path only.
            "spec.clients.matchLabels",
            "spec.clients.matchLabels",
            "spec.clients.matchLabels[k]"
        ]
    );
    assert!(p[2].message.contains("label value"));
}

/// Strings that probe every pattern's edges.
const SAMPLES: &[&str] = &[
    "",
    "a",
    "abc",
    "a-b",
    "-a",
    "a-",
    "a.b",
    "a..b",
    ".a",
    "A",
    "a_b",
    "a:b",
    "a b",
    "a/b",
    "ns/name",
    "/name",
    "ns/",
    "a/b/c",
    "é",
    "orders:read",
    "quote\"d",
    "back\\slash",
    "tab\t",
    "!#[]~",
    "1h",
    "1h30m",
    "90s",
    "30m1h",
    "1.5h",
    "h",
    "https://mcp.example.com/mcp",
    "https://mcp.example.com",
    "https://mcp.example.com?x=1",
    "https://",
    "https:///path",
    "https://user@host/mcp",
    "https://host/p@th",
    "https://host#frag",
    "https://ho st",
    "HTTPS://host",
    "http://localhost:8080/mcp",
    "http://localhost/mcp",
    "http://localhost",
    "http://localhost:/mcp",
    "http://localhost:80x",
    "http://localhost.evil.com/mcp",
    "http://127.0.0.1:3000",
    "http://[::1]:3000/mcp",
    "http://example.com/mcp",
    "urn:example:orders",
    "urn:",
    "1urn:x",
    "api://orders",
    "a+b-c.d:x",
    "scheme:with#fragment",
];

fn agrees(pattern: &str, twin: fn(&str) -> bool) {
    let re = regex::Regex::new(pattern).unwrap();
    for s in SAMPLES {
        assert_eq!(re.is_match(s), twin(s), "pattern {pattern} and its twin disagree on {s:?}");
    }
}

#[test]
fn hand_written_checks_agree_with_the_schema_patterns() {
    agrees(patterns::SCOPE_TOKEN, keyward_core::scope::is_scope_token);
    agrees(patterns::CLIENT_ID, super::is_client_id_syntax);
    agrees(patterns::TAG, is_tag);
    agrees(patterns::ROLE, is_role);
    agrees(patterns::DNS_SUBDOMAIN, is_dns_subdomain);
    agrees(patterns::DNS_LABEL, is_dns_label);
    agrees(patterns::HTTPS_URL, is_https_url);
    agrees(patterns::LOOPBACK_HTTP_URL, is_loopback_http_url);
    agrees(patterns::ABSOLUTE_URI, keyward_core::syntax::is_absolute_uri_without_fragment);
    // Tenants and qualified names carry their length limits in the twin or
    // split across fields, so compare on the samples within those limits.
    agrees(patterns::TENANT, keyward_core::syntax::is_tenant);
    agrees(patterns::QUALIFIED_NAME, |s| {
        let (ns, name) = split_qualified_name(s);
        ns.is_none_or(is_dns_label) && is_dns_subdomain(name)
    });
    // The schema pairs the duration pattern with `minLength: 2`.
    let re = regex::Regex::new(patterns::DURATION).unwrap();
    for s in SAMPLES {
        assert_eq!(re.is_match(s) && s.len() >= 2, duration::parse_go_duration(s).is_ok(), "duration {s:?}");
    }
}

mod secret_rotation {
    use crate::v1alpha1::OAuthClient;
    use keyward_core::model;

    fn with_rotation(rotation: &str) -> OAuthClient {
        serde_yaml::from_str(&format!(
            "apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata: {{name: bot, namespace: agents}}\nspec:\n  displayName: Bot\n  secret:\n    rotation: {rotation}\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_rotation_id_with_default_grace_converts() {
        let c = model::Client::try_from(&with_rotation("{id: '2026-11'}")).unwrap();
        let r = c.secret_rotation.unwrap();
        assert_eq!(r.id, "2026-11");
        assert_eq!(r.grace, std::time::Duration::from_secs(24 * 3600));
    }

    #[test]
    fn a_zero_grace_period_is_allowed() {
        let c = model::Client::try_from(&with_rotation("{id: a, gracePeriod: 0s}")).unwrap();
        assert_eq!(c.secret_rotation.unwrap().grace, std::time::Duration::ZERO);
    }

    #[test]
    fn a_rotation_id_with_a_slash_or_a_long_grace_is_invalid_at_its_path() {
        let e = model::Client::try_from(&with_rotation("{id: 'a/b', gracePeriod: 721h}")).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, vec!["spec.secret.rotation.id", "spec.secret.rotation.gracePeriod"]);
        assert!(e.0[1].message.contains("between 0s and 720h"), "{}", e.0[1].message);
    }

    #[test]
    fn secret_labels_under_the_hubs_prefix_or_invalid_are_refused_at_their_key() {
        let c: OAuthClient = serde_yaml::from_str(
            "apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata: {name: bot, namespace: agents}\nspec:\n  displayName: Bot\n  secret:\n    labels: {'keyward.dev/x': a, 'bad key!': b}\n    annotations: {'keyward.dev/y': c}\n",
        )
        .unwrap();
        let e = model::Client::try_from(&c).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, vec!["spec.secret.labels", "spec.secret.labels", "spec.secret.annotations"]);
    }
}
