use std::collections::BTreeMap;

use keyward_core::model::{self, Effect, GrantType, ObjectKey};

use crate::convert::Invalid;
use crate::convert::tests::{NS, assert_invalid, object_meta, problems};
use crate::v1alpha1::{AccessPolicy, AccessPolicySpec, ClientSelectorSpec, GrantTypeName, ResourceSelectorSpec};

fn convert(edit: impl FnOnce(&mut AccessPolicySpec)) -> Result<model::Policy, Invalid> {
    let mut spec = AccessPolicySpec {
        effect: crate::v1alpha1::Effect::Deny,
        scopes: vec!["orders:write".into()],
        resources: None,
        clients: None,
        grant_types: vec![],
        tenants: vec![],
    };
    edit(&mut spec);
    model::Policy::try_from(&AccessPolicy { metadata: object_meta("no-writes"), spec, status: None })
}

fn clients(edit: impl FnOnce(&mut ClientSelectorSpec)) -> Result<model::Policy, Invalid> {
    convert(|s| {
        let mut sel = ClientSelectorSpec::default();
        edit(&mut sel);
        s.clients = Some(sel);
    })
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn policy_without_selectors_selects_everything() {
    let p = convert(|_| {}).unwrap();
    assert_eq!(p.meta.key, ObjectKey::new(NS, "no-writes"));
    assert_eq!((p.effect, p.scopes.as_slice()), (Effect::Deny, ["orders:write".to_owned()].as_slice()));
    assert_eq!(p.resources, model::ResourceSelector::default());
    assert_eq!(p.clients, model::ClientSelector::default());
    assert!(p.grant_types.is_empty() && p.tenants.is_empty());
}

#[test]
fn policy_converts_field_by_field() {
    let labels = BTreeMap::from([("tier".to_owned(), "prod".to_owned())]);
    let p = convert(|s| {
        s.effect = crate::v1alpha1::Effect::Allow;
        s.resources = Some(ResourceSelectorSpec { names: strings(&["orders"]), match_labels: labels.clone() });
        s.clients = Some(ClientSelectorSpec {
            names: strings(&["billing-agent", "ops/cron"]),
            namespaces: strings(&["ops"]),
            tags: strings(&["agents"]),
            match_labels: labels.clone(),
        });
        s.grant_types = vec![GrantTypeName::ClientCredentials, GrantTypeName::TokenExchange];
        s.tenants = strings(&["acme"]);
    })
    .unwrap();
    assert_eq!(p.effect, Effect::Allow);
    assert_eq!(p.resources.names, ["orders"]);
    assert_eq!(p.resources.match_labels, labels);
    assert_eq!(p.clients.names, [ObjectKey::new(NS, "billing-agent"), ObjectKey::new("ops", "cron")]);
    assert_eq!(
        (p.clients.namespaces.as_slice(), p.clients.tags.as_slice()),
        (&strings(&["ops"])[..], &strings(&["agents"])[..])
    );
    assert_eq!(p.grant_types, [GrantType::ClientCredentials, GrantType::TokenExchange]);
    assert_eq!(p.tenants, ["acme"]);
}

#[test]
fn every_grant_type_name_maps_to_its_grant() {
    let all = vec![
        GrantTypeName::AuthorizationCode,
        GrantTypeName::RefreshToken,
        GrantTypeName::ClientCredentials,
        GrantTypeName::JwtBearer,
        GrantTypeName::TokenExchange,
        GrantTypeName::Ciba,
    ];
    let p = convert(|s| s.grant_types = all).unwrap();
    assert_eq!(
        p.grant_types,
        [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
            GrantType::JwtBearer,
            GrantType::TokenExchange,
            GrantType::Ciba
        ]
    );
}

#[test]
fn policy_without_scopes_is_invalid() {
    assert_invalid(convert(|s| s.scopes.clear()), "spec.scopes", "at least one scope");
}

#[test]
fn policy_scope_that_is_not_a_scope_token_is_invalid_at_its_path() {
    assert_invalid(convert(|s| s.scopes = strings(&["a", "b c"])), "spec.scopes[1]", "not a scope token");
    assert_invalid(convert(|s| s.scopes = strings(&["a", "a"])), "spec.scopes[1]", "listed twice");
}

#[test]
fn resource_selector_names_must_be_object_names() {
    let sel = |n: &[&str]| Some(ResourceSelectorSpec { names: strings(n), ..ResourceSelectorSpec::default() });
    assert_invalid(convert(|s| s.resources = sel(&["Orders"])), "spec.resources.names[0]", "not a valid name");
    assert_invalid(convert(|s| s.resources = sel(&["a", "a"])), "spec.resources.names[1]", "listed twice");
    // Resources are always in the policy's namespace: no `namespace/name` here.
    assert_invalid(convert(|s| s.resources = sel(&["ops/orders"])), "spec.resources.names[0]", "not a valid name");
}

#[test]
fn resource_selector_labels_are_checked() {
    let sel = Some(ResourceSelectorSpec {
        names: vec![],
        match_labels: BTreeMap::from([("tier".to_owned(), "not valid".to_owned())]),
    });
    assert_invalid(convert(|s| s.resources = sel), "spec.resources.matchLabels[tier]", "not a valid label value");
}

#[test]
fn client_names_are_names_or_namespace_slash_name() {
    assert_invalid(clients(|c| c.names = strings(&["Billing"])), "spec.clients.names[0]", "not a valid name");
    assert_invalid(clients(|c| c.names = strings(&["team.a/x"])), "spec.clients.names[0]", "not a valid namespace");
    assert_invalid(clients(|c| c.names = strings(&["/x"])), "spec.clients.names[0]", "must not be empty");
    assert_invalid(clients(|c| c.names = strings(&["a/b/c"])), "spec.clients.names[0]", "not a valid name");
}

#[test]
fn client_named_twice_is_invalid_even_when_spelled_differently() {
    assert_invalid(
        clients(|c| c.names = strings(&["billing", "team-a/billing"])),
        "spec.clients.names[1]",
        "'team-a/billing' is listed twice",
    );
}

#[test]
fn client_selector_namespaces_tags_and_labels_are_checked() {
    assert_invalid(
        clients(|c| c.namespaces = strings(&["Ops"])),
        "spec.clients.namespaces[0]",
        "not a valid namespace",
    );
    assert_invalid(clients(|c| c.namespaces = strings(&["ops", "ops"])), "spec.clients.namespaces[1]", "listed twice");
    assert_invalid(clients(|c| c.tags = strings(&["a b"])), "spec.clients.tags[0]", "not a valid tag");
    assert_invalid(
        clients(|c| c.match_labels = BTreeMap::from([("-x".to_owned(), "y".to_owned())])),
        "spec.clients.matchLabels[-x]",
        "not a valid label key",
    );
}

#[test]
fn grant_type_listed_twice_is_invalid() {
    assert_invalid(
        convert(|s| s.grant_types = vec![GrantTypeName::Ciba, GrantTypeName::Ciba]),
        "spec.grantTypes[1]",
        "'ciba' is listed twice",
    );
}

#[test]
fn malformed_tenant_is_invalid_at_its_path() {
    assert_invalid(convert(|s| s.tenants = strings(&["acme", "a/b"])), "spec.tenants[1]", "not a valid tenant");
}

#[test]
fn every_policy_problem_is_reported_in_one_pass() {
    let p = problems(convert(|s| {
        s.scopes = strings(&["a b"]);
        s.clients = Some(ClientSelectorSpec { names: strings(&["X"]), ..ClientSelectorSpec::default() });
        s.tenants = strings(&[""]);
    }));
    let fields: Vec<_> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["spec.scopes[0]", "spec.clients.names[0]", "spec.tenants[0]"]);
}

#[test]
fn unknown_grant_type_is_a_deserialization_error_not_a_silent_skip() {
    let yaml = "effect: deny\nscopes: [a]\ngrantTypes: [password]\n";
    let err = serde_yaml::from_str::<AccessPolicySpec>(yaml).unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");
}
