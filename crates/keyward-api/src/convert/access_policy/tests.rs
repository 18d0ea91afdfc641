use std::collections::BTreeMap;

use keyward_core::model::{self, Effect, GrantType, ObjectKey};

use crate::convert::Invalid;
use crate::convert::tests::{NS, assert_invalid, object_meta, problems};
use crate::v1alpha1::access_policy::{SERVICE_ACCOUNT_PATTERN, SubjectSelectorSpec};
use crate::v1alpha1::{AccessPolicy, AccessPolicySpec, ClientSelectorSpec, GrantTypeName, ResourceSelectorSpec};

fn convert(edit: impl FnOnce(&mut AccessPolicySpec)) -> Result<model::Policy, Invalid> {
    let mut spec = AccessPolicySpec {
        effect: crate::v1alpha1::Effect::Deny,
        scopes: vec!["orders:write".into()],
        resources: None,
        clients: None,
        grant_types: vec![],
        tenants: vec![],
        subjects: None,
        condition: None,
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
        "is listed twice",
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
        "spec.clients.matchLabels",
        "a key is not a valid label key",
    );
}

#[test]
fn grant_type_listed_twice_is_invalid() {
    assert_invalid(
        convert(|s| s.grant_types = vec![GrantTypeName::Ciba, GrantTypeName::Ciba]),
        "spec.grantTypes[1]",
        "is listed twice",
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

fn subjects(edit: impl FnOnce(&mut SubjectSelectorSpec)) -> Result<model::Policy, Invalid> {
    convert(|s| {
        let mut sel = SubjectSelectorSpec::default();
        edit(&mut sel);
        s.subjects = Some(sel);
    })
}

#[test]
fn policy_without_subjects_or_condition_selects_every_subject_unconditionally() {
    let p = convert(|_| {}).unwrap();
    assert_eq!(p.subjects, model::SubjectSelector::default());
    assert_eq!(p.condition, None);
}

#[test]
fn subjects_and_condition_convert_field_by_field() {
    let p = convert(|s| {
        s.subjects = Some(SubjectSelectorSpec {
            names: strings(&["alice@example.com", "system:serviceaccount:ops:*"]),
            service_accounts: strings(&["agents/report-generator", "sandbox/*", "*/deployer", "*/*"]),
            roles: strings(&["finance", "orders:admin"]),
        });
        s.condition = Some("request.tenant == 'acme'".into());
    })
    .unwrap();
    assert_eq!(p.subjects.names, ["alice@example.com", "system:serviceaccount:ops:*"]);
    assert_eq!(p.subjects.service_accounts, ["agents/report-generator", "sandbox/*", "*/deployer", "*/*"]);
    assert_eq!(p.subjects.roles, ["finance", "orders:admin"]);
    assert_eq!(p.condition.as_deref(), Some("request.tenant == 'acme'"));
}

#[test]
fn subjects_without_any_criterion_are_invalid() {
    assert_invalid(subjects(|_| {}), "spec.subjects", "must set names, serviceAccounts or roles");
}

#[test]
fn subject_names_are_checked_at_their_path() {
    assert_invalid(subjects(|s| s.names = strings(&["alice", ""])), "spec.subjects.names[1]", "must not be empty");
    assert_invalid(subjects(|s| s.names = strings(&["a\nb"])), "spec.subjects.names[0]", "control characters");
    assert_invalid(subjects(|s| s.names = strings(&["x", "x"])), "spec.subjects.names[1]", "is listed twice");
    assert_invalid(
        subjects(|s| s.names = vec!["x".repeat(513)]),
        "spec.subjects.names[0]",
        "must be at most 512 characters long, not 513",
    );
}

#[test]
fn service_accounts_are_namespace_slash_name_with_wildcards() {
    for bad in ["agents", "agents/", "/x", "Agents/x", "a/b/c", "a*/x", "ns/x*", "**/x", "*"] {
        let field = "spec.subjects.serviceAccounts[0]";
        let p = problems(subjects(|s| s.service_accounts = strings(&[bad])));
        assert_eq!(p.len(), 1, "{bad}: {p:?}");
        assert_eq!(p[0].field, field, "{bad}");
        assert!(
            p[0].message.contains("is not a service account") || p[0].message.contains("characters long"),
            "{bad}: {}",
            p[0].message
        );
    }
    assert_invalid(
        subjects(|s| s.service_accounts = strings(&["a/b", "a/b"])),
        "spec.subjects.serviceAccounts[1]",
        "listed twice",
    );
}

#[test]
fn subject_roles_are_checked_at_their_path() {
    assert_invalid(subjects(|s| s.roles = strings(&["ok", "not ok"])), "spec.subjects.roles[1]", "not a valid role");
    assert_invalid(subjects(|s| s.roles = strings(&["r", "r"])), "spec.subjects.roles[1]", "listed twice");
}

#[test]
fn a_condition_is_converted_as_written_and_only_its_length_is_checked() {
    // Not parsed here: compile judges it, so a broken deny policy stays in
    // force (fail closed) instead of vanishing with a conversion error.
    let p = convert(|s| s.condition = Some("request.tenant ==".into())).unwrap();
    assert_eq!(p.condition.as_deref(), Some("request.tenant =="));
    assert_invalid(convert(|s| s.condition = Some(String::new())), "spec.condition", "must not be empty");
    assert_invalid(convert(|s| s.condition = Some(" \n\t".into())), "spec.condition", "must not be blank");
    assert_invalid(
        convert(|s| s.condition = Some("x".repeat(4097))),
        "spec.condition",
        "must be at most 4096 characters long, not 4097",
    );
}

#[test]
fn every_subject_and_condition_problem_is_reported_in_one_pass() {
    let p = problems(convert(|s| {
        s.subjects = Some(SubjectSelectorSpec {
            names: strings(&[""]),
            service_accounts: strings(&["nope"]),
            roles: strings(&["a b"]),
        });
        s.condition = Some("  ".into());
    }));
    let fields: Vec<_> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["spec.subjects.names[0]", "spec.subjects.serviceAccounts[0]", "spec.subjects.roles[0]", "spec.condition"]
    );
    assert!(p.iter().all(|p| p.reason == keyward_core::status::Reason::InvalidSpec));
}

#[test]
fn the_service_account_pattern_agrees_with_the_conversion() {
    let re = regex::Regex::new(SERVICE_ACCOUNT_PATTERN).unwrap();
    for sample in [
        "agents/bot",
        "agents/*",
        "*/bot",
        "*/*",
        "a-b/c.d-e",
        "agents",
        "agents/",
        "/x",
        "Agents/x",
        "a/b/c",
        "a*/x",
        "ns/x*",
        "**/x",
        "*",
        "-a/b",
        "a/b.",
        "a/.b",
    ] {
        let converts = subjects(|s| s.service_accounts = strings(&[sample])).is_ok();
        assert_eq!(re.is_match(sample), converts, "{sample}");
    }
}

mod schema {
    //! The CEL rules this kind adds, evaluated client-side as the API server
    //! would.
    use kube::CustomResourceExt;
    use kube::core::cel::Validator;
    use serde_json::{Value, json};

    use crate::v1alpha1::AccessPolicy;

    fn errors(spec: Value) -> Vec<String> {
        let crd = AccessPolicy::crd();
        let schema =
            serde_json::to_value(crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap())
                .unwrap();
        let obj = json!({"apiVersion": "keyward.dev/v1alpha1", "kind": "AccessPolicy",
            "metadata": {"name": "x", "namespace": "team-a"}, "spec": spec});
        match Validator::new().validate(&schema, &obj, None) {
            Ok(()) => vec![],
            Err(e) => e.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn subjects_without_a_criterion_are_refused_by_the_api_server_too() {
        let base = json!({"effect": "deny", "scopes": ["a"]});
        let with = |subjects: Value| {
            let mut s = base.clone();
            s["subjects"] = subjects;
            errors(s)
        };
        let empty = with(json!({}));
        assert!(empty.iter().any(|e| e.contains("subjects must set names")), "{empty:?}");
        let empty_lists = with(json!({"names": [], "roles": []}));
        assert!(empty_lists.iter().any(|e| e.contains("subjects must set names")), "{empty_lists:?}");
        assert_eq!(with(json!({"roles": ["finance"]})), Vec::<String>::new());
        assert_eq!(with(json!({"serviceAccounts": ["agents/*"]})), Vec::<String>::new());
        assert_eq!(
            errors(json!({"effect": "deny", "scopes": ["a"], "condition": "request.tenant == 'a'"})),
            Vec::<String>::new()
        );
    }

    #[test]
    fn schema_publishes_the_subject_and_condition_limits() {
        let crd = AccessPolicy::crd();
        let schema =
            serde_json::to_value(crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap())
                .unwrap();
        let spec = &schema["properties"]["spec"]["properties"];
        assert_eq!(spec["condition"]["maxLength"], 4096);
        assert_eq!(spec["condition"]["pattern"], r"\S");
        let subjects = &spec["subjects"]["properties"];
        assert_eq!(subjects["serviceAccounts"]["items"]["pattern"], super::SERVICE_ACCOUNT_PATTERN);
        assert_eq!(subjects["names"]["items"]["maxLength"], 512);
        assert_eq!(subjects["roles"]["x-kubernetes-list-type"], "set");
    }
}
