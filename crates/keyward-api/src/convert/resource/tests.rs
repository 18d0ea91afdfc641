use std::time::Duration;

use keyward_core::model::{self, ObjectKey, ResourceKind};

use crate::convert::Invalid;
use crate::convert::tests::{NS, assert_invalid, object_meta, problems};
use crate::v1alpha1::{IntrospectionSpec, ObjectRef, Resource, ResourceSpec, ResourceType, ScopeSpec};

fn spec(resource_type: ResourceType, identifier: &str) -> ResourceSpec {
    ResourceSpec {
        resource_type,
        identifier: identifier.into(),
        display_name: "Orders".into(),
        description: None,
        scopes: vec![],
        access_token_lifetime: None,
        introspection: None,
        client_registration: None,
    }
}

fn api(edit: impl FnOnce(&mut ResourceSpec)) -> Result<model::Resource, Invalid> {
    let mut s = spec(ResourceType::Api, "https://orders.example.com");
    edit(&mut s);
    model::Resource::try_from(&Resource { metadata: object_meta("orders"), spec: s, status: None })
}

fn mcp(edit: impl FnOnce(&mut ResourceSpec)) -> Result<model::Resource, Invalid> {
    let mut s = spec(ResourceType::McpServer, "https://mcp.example.com/mcp");
    edit(&mut s);
    model::Resource::try_from(&Resource { metadata: object_meta("orders-mcp"), spec: s, status: None })
}

fn scope(name: &str) -> ScopeSpec {
    ScopeSpec { name: name.into(), ..ScopeSpec::default() }
}

fn with_roles(name: &str, roles: &[&str]) -> ScopeSpec {
    ScopeSpec { roles: roles.iter().map(|r| r.to_string()).collect(), ..scope(name) }
}

fn with_connection(name: &str, conn: &[&str]) -> ScopeSpec {
    ScopeSpec { connection_scopes: conn.iter().map(|r| r.to_string()).collect(), ..scope(name) }
}

#[test]
fn api_resource_converts_field_by_field() {
    let r = api(|s| {
        s.description = Some("The orders service".into());
        s.scopes = vec![
            ScopeSpec { description: Some("Read orders".into()), ..with_roles("orders:read", &["viewer", "admin"]) },
            scope("orders:write"),
        ];
        s.access_token_lifetime = Some("15m".into());
    })
    .unwrap();
    assert_eq!(r.meta.key, ObjectKey::new(NS, "orders"));
    assert_eq!((r.kind, r.identifier.as_str()), (ResourceKind::Api, "https://orders.example.com"));
    assert_eq!(r.description.as_deref(), Some("The orders service"));
    assert_eq!(r.scopes.len(), 2);
    assert_eq!(r.scopes[0].roles, ["viewer", "admin"]);
    assert_eq!(r.scopes[0].description.as_deref(), Some("Read orders"));
    assert_eq!(r.access_token_lifetime, Some(Duration::from_secs(900)));
    assert!(r.introspectors.is_empty());
}

#[test]
fn mcp_server_with_connection_scopes_converts() {
    let r = mcp(|s| s.scopes = vec![scope("tools:read"), with_connection("tools:call", &["tools:read"])]).unwrap();
    assert_eq!(r.kind, ResourceKind::McpServer);
    assert_eq!(r.scopes[1].connection_scopes, ["tools:read"]);
}

#[test]
fn non_url_audiences_are_fine_for_apis() {
    for id in ["urn:example:orders", "api://orders", "http://orders.internal"] {
        assert!(api(|s| s.identifier = id.into()).is_ok(), "{id}");
    }
}

#[test]
fn identifier_that_is_not_an_absolute_uri_is_invalid() {
    for id in ["orders.example.com", "/orders", "1http://x", "https://orders.example.com/#top", "https://a b"] {
        assert_invalid(api(|s| s.identifier = id.into()), "spec.identifier", "not an absolute URI without a fragment");
    }
    assert_invalid(api(|s| s.identifier = String::new()), "spec.identifier", "must not be empty");
    let long = format!("https://x/{}", "a".repeat(2048));
    assert_invalid(api(|s| s.identifier = long), "spec.identifier", "at most 2048");
}

#[test]
fn mcp_server_identifier_must_be_https() {
    for id in ["http://mcp.example.com/mcp", "urn:mcp:orders", "https://user@mcp.example.com/mcp", "ws://localhost/mcp"]
    {
        assert_invalid(mcp(|s| s.identifier = id.into()), "spec.identifier", "not an https URL");
    }
}

#[test]
fn mcp_server_may_use_plain_http_on_the_local_machine_only() {
    for id in ["http://localhost:8080/mcp", "http://127.0.0.1:3000/mcp", "http://[::1]/mcp", "http://localhost"] {
        assert!(mcp(|s| s.identifier = id.into()).is_ok(), "{id}");
    }
    for id in ["http://localhost.example.com/mcp", "http://localhost:/mcp", "http://10.0.0.1/mcp"] {
        assert_invalid(mcp(|s| s.identifier = id.into()), "spec.identifier", "not an https URL");
    }
}

#[test]
fn resource_display_name_and_description_lengths_are_checked() {
    assert_invalid(api(|s| s.display_name = String::new()), "spec.displayName", "must not be empty");
    assert_invalid(api(|s| s.display_name = "x".repeat(201)), "spec.displayName", "at most 200");
    assert_invalid(api(|s| s.description = Some("x".repeat(2001))), "spec.description", "at most 2000");
}

#[test]
fn scope_name_that_is_not_a_scope_token_is_invalid_at_its_path() {
    assert_invalid(
        api(|s| s.scopes = vec![scope("ok"), scope("orders read")]),
        "spec.scopes[1].name",
        "not a scope token",
    );
    assert_invalid(api(|s| s.scopes = vec![scope(&"s".repeat(129))]), "spec.scopes[0].name", "at most 128");
    assert_invalid(api(|s| s.scopes = vec![scope("")]), "spec.scopes[0].name", "must not be empty");
}

#[test]
fn scope_defined_twice_is_invalid_at_the_repeat() {
    assert_invalid(
        api(|s| s.scopes = vec![scope("a"), scope("b"), scope("a")]),
        "spec.scopes[2].name",
        "defined twice (first at spec.scopes[0])",
    );
}

#[test]
fn scope_description_over_2000_characters_is_invalid() {
    let long = ScopeSpec { description: Some("d".repeat(2001)), ..scope("a") };
    assert_invalid(api(|s| s.scopes = vec![long]), "spec.scopes[0].description", "at most 2000");
}

#[test]
fn too_many_scopes_is_invalid() {
    let scopes = (0..129).map(|i| scope(&format!("s{i}"))).collect();
    assert_invalid(api(|s| s.scopes = scopes), "spec.scopes", "at most 128 entries");
}

#[test]
fn roles_on_an_mcp_server_scope_are_invalid() {
    assert_invalid(mcp(|s| s.scopes = vec![with_roles("a", &["admin"])]), "spec.scopes[0].roles", "type api");
}

#[test]
fn malformed_or_duplicate_roles_are_invalid_at_their_index() {
    assert_invalid(
        api(|s| s.scopes = vec![with_roles("a", &["ok", "order admin"])]),
        "spec.scopes[0].roles[1]",
        "not a valid role",
    );
    assert_invalid(api(|s| s.scopes = vec![with_roles("a", &[""])]), "spec.scopes[0].roles[0]", "must not be empty");
    let long = "r".repeat(254);
    assert_invalid(api(|s| s.scopes = vec![with_roles("a", &[&long])]), "spec.scopes[0].roles[0]", "at most 253");
    assert_invalid(api(|s| s.scopes = vec![with_roles("a", &["x", "x"])]), "spec.scopes[0].roles[1]", "listed twice");
}

#[test]
fn connection_scopes_on_an_api_scope_are_invalid() {
    assert_invalid(
        api(|s| s.scopes = vec![scope("a"), with_connection("b", &["a"])]),
        "spec.scopes[1].connectionScopes",
        "type mcpServer",
    );
}

#[test]
fn connection_scope_must_name_another_scope_of_the_resource() {
    assert_invalid(
        mcp(|s| s.scopes = vec![with_connection("a", &["missing"])]),
        "spec.scopes[0].connectionScopes[0]",
        "is not a scope of this Resource",
    );
    assert_invalid(
        mcp(|s| s.scopes = vec![with_connection("a", &["a"])]),
        "spec.scopes[0].connectionScopes[0]",
        "this scope itself",
    );
}

#[test]
fn malformed_or_duplicate_connection_scopes_are_invalid_once() {
    assert_invalid(
        mcp(|s| s.scopes = vec![scope("b"), with_connection("a", &["b c"])]),
        "spec.scopes[1].connectionScopes[0]",
        "not a scope token",
    );
    assert_invalid(
        mcp(|s| s.scopes = vec![scope("b"), with_connection("a", &["b", "b"])]),
        "spec.scopes[1].connectionScopes[1]",
        "listed twice",
    );
}

#[test]
fn access_token_lifetime_is_1m_to_24h() {
    assert_invalid(
        api(|s| s.access_token_lifetime = Some("48h".into())),
        "spec.accessTokenLifetime",
        "is out of range: must be between 1m and 24h",
    );
    assert_invalid(api(|s| s.access_token_lifetime = Some("30".into())), "spec.accessTokenLifetime", "not a duration");
    assert!(api(|s| s.access_token_lifetime = Some("24h".into())).is_ok());
}

#[test]
fn introspecting_clients_default_to_the_resource_namespace() {
    let r = api(|s| {
        s.introspection = Some(IntrospectionSpec {
            clients: vec![
                ObjectRef { name: "orders-rs".into(), namespace: None },
                ObjectRef { name: "gateway".into(), namespace: Some("edge".into()) },
            ],
        })
    })
    .unwrap();
    assert_eq!(r.introspectors, [ObjectKey::new(NS, "orders-rs"), ObjectKey::new("edge", "gateway")]);
}

#[test]
fn introspecting_client_listed_twice_or_malformed_is_invalid() {
    let clients = |c: Vec<ObjectRef>| Some(IntrospectionSpec { clients: c });
    let own = ObjectRef { name: "rs".into(), namespace: None };
    let explicit = ObjectRef { name: "rs".into(), namespace: Some(NS.into()) };
    assert_invalid(
        api(|s| s.introspection = clients(vec![own, explicit])),
        "spec.introspection.clients[1]",
        "listed twice",
    );
    let bad = ObjectRef { name: "RS".into(), namespace: None };
    assert_invalid(
        api(|s| s.introspection = clients(vec![bad])),
        "spec.introspection.clients[0].name",
        "not a valid name",
    );
}

#[test]
fn every_resource_problem_is_reported_in_one_pass() {
    let p = problems(mcp(|s| {
        s.identifier = "http://mcp.example.com".into();
        s.scopes = vec![with_roles("a b", &["admin"])];
        s.access_token_lifetime = Some("0s".into());
    }));
    let fields: Vec<_> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["spec.identifier", "spec.scopes[0].name", "spec.scopes[0].roles", "spec.accessTokenLifetime"]);
}

#[test]
fn tools_name_what_a_scope_guards_on_an_mcp_server_only() {
    let r = mcp(|s| {
        s.scopes = vec![ScopeSpec { tools: vec!["search_docs".into(), "read_page".into()], ..scope("docs:read") }]
    })
    .unwrap();
    assert_eq!(r.scopes[0].tools, ["search_docs", "read_page"]);
    assert_invalid(
        api(|s| s.scopes = vec![ScopeSpec { tools: vec!["x".into()], ..scope("a") }]),
        "spec.scopes[0].tools",
        "tools can only be set on scopes of a Resource of type mcpServer",
    );
    let bad =
        mcp(|s| s.scopes = vec![ScopeSpec { tools: vec!["two words".into(), "a".into(), "a".into()], ..scope("a") }]);
    let fields: Vec<String> = problems(bad).into_iter().map(|p| p.field).collect();
    assert!(fields.contains(&"spec.scopes[0].tools[0]".to_owned()), "{fields:?}");
    assert!(fields.iter().any(|f| f.starts_with("spec.scopes[0].tools")), "{fields:?}");
}
