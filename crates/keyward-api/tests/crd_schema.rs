//! The generated CRDs: names, columns and subresources; every CEL rule compiles
//! and stays inside the cost budget; and the rules accept and reject what the
//! conversion does, evaluated client-side with kube's CEL engine.

use keyward_api::{AccessPolicy, IdentityProvider, OAuthClient, Resource};
use keyward_core::model;
use kube::CustomResourceExt;
use kube::core::cel::{ScopeContext, Validator, WarningKind, analyze_rule, compile_schema};
use serde_json::{Value, json};

fn schema<K: CustomResourceExt>() -> Value {
    let crd = K::crd();
    serde_json::to_value(crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap()).unwrap()
}

/// CEL messages the API server would return for `obj` (and `old` on update).
fn cel_errors<K: CustomResourceExt>(obj: &Value, old: Option<&Value>) -> Vec<String> {
    match Validator::new().validate(&schema::<K>(), obj, old) {
        Ok(()) => vec![],
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

fn object(kind: &str, spec: Value) -> Value {
    json!({"apiVersion": "keyward.dev/v1alpha1", "kind": kind, "metadata": {"name": "x", "namespace": "team-a"}, "spec": spec})
}

fn client(spec: Value) -> Value {
    let mut s = json!({"displayName": "X"});
    s.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    object("OAuthClient", s)
}

fn mcp(spec: Value) -> Value {
    let mut s = json!({"type": "mcpServer", "identifier": "https://mcp.example.com/mcp", "displayName": "X"});
    s.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    object("Resource", s)
}

fn api(spec: Value) -> Value {
    let mut s = json!({"type": "api", "identifier": "https://api.example.com", "displayName": "X"});
    s.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    object("Resource", s)
}

/// Whether the conversion accepts the same object the CEL rules judged.
fn converts<K, M>(obj: &Value) -> bool
where
    K: serde::de::DeserializeOwned,
    for<'a> M: TryFrom<&'a K>,
{
    let k: K = serde_json::from_value(obj.clone()).unwrap();
    M::try_from(&k).is_ok()
}

/// Every `(json pointer, rule, message)` in a schema.
fn rules(schema: &Value, at: &str, out: &mut Vec<(String, Value)>) {
    if let Some(rs) = schema.get("x-kubernetes-validations").and_then(Value::as_array) {
        out.extend(rs.iter().map(|r| (at.to_owned(), r.clone())));
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            rules(v, &format!("{at}.{k}"), out);
        }
    }
    if let Some(items) = schema.get("items") {
        rules(items, &format!("{at}[]"), out);
    }
}

fn all_rules<K: CustomResourceExt>() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    rules(&schema::<K>(), "", &mut out);
    out
}

fn has_rule<K: CustomResourceExt>(at: &str, rule_fragment: &str) -> Value {
    all_rules::<K>()
        .into_iter()
        .find(|(p, r)| p == at && r["rule"].as_str().unwrap().contains(rule_fragment))
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no rule containing {rule_fragment:?} at {at}"))
}

fn node<'a>(schema: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(schema, |s, p| if *p == "[]" { &s["items"] } else { &s["properties"][*p] })
}

#[test]
fn every_cel_rule_compiles_and_fits_the_cost_budget() {
    for (kind, schema) in [
        ("OAuthClient", schema::<OAuthClient>()),
        ("Resource", schema::<Resource>()),
        ("AccessPolicy", schema::<AccessPolicy>()),
        ("IdentityProvider", schema::<IdentityProvider>()),
    ] {
        let mut found = Vec::new();
        rules(&schema, "", &mut found);
        for (at, rule) in found {
            let path: Vec<&str> = at
                .split(['.'])
                .filter(|s| !s.is_empty())
                .flat_map(|s| match s.strip_suffix("[]") {
                    Some(p) => vec![p, "[]"],
                    None => vec![s],
                })
                .collect();
            let compiled = compile_schema(node(&schema, &path));
            assert!(!compiled.has_errors(), "{kind}{at}: {:?}", compiled.compilation_errors());
            let warnings = analyze_rule(rule["rule"].as_str().unwrap(), &compiled, ScopeContext::CrdValidation);
            // Not WrongScope: kube-cel 0.8 mistakes the variables of
            // `exists_one` for free ones; evaluating the rules (below) is the
            // real check that they only use `self` and `oldSelf`.
            let serious: Vec<_> = warnings.iter().filter(|w| w.kind == WarningKind::CostExceeded).collect();
            assert!(serious.is_empty(), "{kind}{at}: {serious:?}");
            assert!(rule.get("message").is_some(), "{kind}{at}: every rule explains itself: {rule}");
        }
    }
}

#[test]
fn crds_have_names_categories_columns_and_a_status_subresource() {
    let expected = [
        (OAuthClient::crd(), "oauthclients.keyward.dev", "oac", vec!["Client ID", "Ready", "Reason", "Origin", "Age"]),
        (Resource::crd(), "resources.keyward.dev", "kres", vec!["Type", "Identifier", "Ready", "Age"]),
        (AccessPolicy::crd(), "accesspolicies.keyward.dev", "kap", vec!["Effect", "Ready", "Age"]),
        (IdentityProvider::crd(), "identityproviders.keyward.dev", "kidp", vec!["Type", "Ready", "Age"]),
    ];
    for (crd, name, short, columns) in expected {
        assert_eq!(crd.metadata.name.as_deref(), Some(name));
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.short_names, Some(vec![short.to_owned()]));
        assert_eq!(crd.spec.names.categories, Some(vec!["keyward".to_owned()]));
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(v.subresources.as_ref().unwrap().status.is_some());
        let names: Vec<_> = v.additional_printer_columns.as_ref().unwrap().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, columns);
    }
    let ready = &OAuthClient::crd().spec.versions[0].additional_printer_columns.clone().unwrap()[1];
    assert_eq!(ready.json_path, r#".status.conditions[?(@.type=="Ready")].status"#);
    // kubectl get oauthclients shows which clients registered themselves.
    let origin = &OAuthClient::crd().spec.versions[0].additional_printer_columns.clone().unwrap()[3];
    assert_eq!(origin.json_path, r#".metadata.labels.keyward\.dev/origin"#);
}

#[test]
fn lists_declare_their_merge_semantics() {
    let c = schema::<OAuthClient>();
    assert_eq!(node(&c, &["spec", "tags"])["x-kubernetes-list-type"], "set");
    assert_eq!(node(&c, &["status", "conditions"])["x-kubernetes-list-type"], "map");
    assert_eq!(node(&c, &["status", "conditions"])["x-kubernetes-list-map-keys"], json!(["type"]));
    let r = schema::<Resource>();
    assert_eq!(node(&r, &["spec", "scopes"])["x-kubernetes-list-map-keys"], json!(["name"]));
    assert_eq!(node(&r, &["spec", "scopes", "[]", "roles"])["x-kubernetes-list-type"], "set");
    let p = schema::<AccessPolicy>();
    assert_eq!(node(&p, &["spec", "scopes"])["minItems"], 1);
    assert_eq!(node(&p, &["spec", "grantTypes"])["x-kubernetes-list-type"], "set");
}

#[test]
fn schema_carries_the_limits_and_patterns_the_conversion_checks() {
    let c = schema::<OAuthClient>();
    let id = node(&c, &["spec", "clientId"]);
    assert_eq!((id["minLength"].as_u64(), id["maxLength"].as_u64()), (Some(1), Some(255)));
    // A plain id has no ':' (HTTP Basic); an https URL is a metadata
    // document's client, which the conversion admits only with its label.
    assert_eq!(id["pattern"], "^([!-9;-~]+|https://[!-~]+)$");
    let timeout = node(&c, &["spec", "session", "refreshTokenTimeout"]);
    assert_eq!(timeout["pattern"], "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$");
    assert_eq!(node(&c, &["spec", "resources", "[]", "scopes", "[]"])["pattern"], r"^[!#-\[\]-~]+$");
    assert_eq!(
        node(&c, &["spec", "tokenEndpointAuthMethod"])["enum"],
        json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "federated_jwt", "none"])
    );
    let r = schema::<Resource>();
    assert_eq!(node(&r, &["spec", "identifier"])["maxLength"], 2048);
    assert_eq!(node(&r, &["spec", "type"])["enum"], json!(["api", "mcpServer"]));
}

#[test]
fn client_id_is_immutable_once_set() {
    let rule = has_rule::<OAuthClient>(".spec", "oldSelf.clientId");
    assert_eq!(rule["fieldPath"], ".clientId");
    let set = client(json!({"clientId": "a"}));
    let unset = client(json!({}));
    let changed = client(json!({"clientId": "b"}));
    assert!(cel_errors::<OAuthClient>(&set, Some(&set)).is_empty());
    assert!(cel_errors::<OAuthClient>(&set, Some(&unset)).is_empty(), "setting it later is allowed");
    let errs = cel_errors::<OAuthClient>(&changed, Some(&set));
    assert!(errs.iter().any(|e| e.contains("clientId cannot be changed")), "{errs:?}");
    assert!(!cel_errors::<OAuthClient>(&unset, Some(&set)).is_empty(), "removing it changes the id too");
}

#[test]
fn client_resources_listed_twice_are_rejected_by_cel_and_conversion() {
    has_rule::<OAuthClient>(".spec.resources", "exists_one");
    let twice = client(json!({"resources": [{"name": "a"}, {"name": "a", "scopes": ["x"]}]}));
    let errs = cel_errors::<OAuthClient>(&twice, None);
    assert!(errs.iter().any(|e| e.contains("listed only once")), "{errs:?}");
    assert!(!converts::<OAuthClient, model::Client>(&twice));
    let two_namespaces = client(json!({"resources": [{"name": "a"}, {"name": "a", "namespace": "other"}]}));
    assert!(cel_errors::<OAuthClient>(&two_namespaces, None).is_empty());
    assert!(converts::<OAuthClient, model::Client>(&two_namespaces));
}

#[test]
fn session_ranges_in_cel_match_the_conversion() {
    for (field, inside, outside) in [
        ("accessKeySessionTokenTimeout", ["1m", "24h", "1h30m"], ["59s", "24h1s", "720h"]),
        ("sessionTokenTimeout", ["1m", "720h", "8h"], ["30s", "721h", "8760h"]),
        ("refreshTokenTimeout", ["1m", "8760h", "720h"], ["0s", "8761h", "9000h"]),
    ] {
        for v in inside {
            let obj = client(json!({"session": {field: v}}));
            assert!(cel_errors::<OAuthClient>(&obj, None).is_empty(), "{field}={v}");
            assert!(converts::<OAuthClient, model::Client>(&obj), "{field}={v}");
        }
        for v in outside {
            let obj = client(json!({"session": {field: v}}));
            let errs = cel_errors::<OAuthClient>(&obj, None);
            assert!(errs.iter().any(|e| e.contains(field)), "{field}={v}: {errs:?}");
            assert!(!converts::<OAuthClient, model::Client>(&obj), "{field}={v}");
        }
    }
}

#[test]
fn resource_identifier_is_immutable() {
    let rule = has_rule::<Resource>(".spec.identifier", "self == oldSelf");
    assert!(rule["message"].as_str().unwrap().contains("create a new Resource"));
    let old = api(json!({}));
    let new = api(json!({"identifier": "https://api2.example.com"}));
    let errs = cel_errors::<Resource>(&new, Some(&old));
    assert!(errs.iter().any(|e| e.contains("identifier cannot be changed")), "{errs:?}");
    assert!(cel_errors::<Resource>(&old, Some(&old)).is_empty());
}

#[test]
fn mcp_identifier_rule_agrees_with_the_conversion() {
    for (id, ok) in [
        ("https://mcp.example.com/mcp", true),
        ("https://mcp.example.com", true),
        ("http://localhost:8080/mcp", true),
        ("http://127.0.0.1/mcp", true),
        ("http://[::1]:9000", true),
        ("http://mcp.example.com/mcp", false),
        ("http://localhost.example.com/mcp", false),
        ("https://user@mcp.example.com/mcp", false),
        ("urn:mcp:ledger", false),
    ] {
        let obj = mcp(json!({"identifier": id}));
        assert_eq!(cel_errors::<Resource>(&obj, None).is_empty(), ok, "CEL on {id}");
        assert_eq!(converts::<Resource, model::Resource>(&obj), ok, "conversion on {id}");
    }
    assert!(cel_errors::<Resource>(&api(json!({"identifier": "http://api.internal"})), None).is_empty());
}

#[test]
fn scope_fields_by_resource_type_agree_with_the_conversion() {
    let cases = [
        (api(json!({"scopes": [{"name": "a", "roles": ["admin"]}]})), None),
        (mcp(json!({"scopes": [{"name": "a", "roles": ["admin"]}]})), Some("roles can only be set")),
        (mcp(json!({"scopes": [{"name": "a"}, {"name": "b", "connectionScopes": ["a"]}]})), None),
        (
            api(json!({"scopes": [{"name": "a"}, {"name": "b", "connectionScopes": ["a"]}]})),
            Some("connectionScopes can only be set"),
        ),
        (mcp(json!({"scopes": [{"name": "b", "connectionScopes": ["b"]}]})), Some("cannot list itself")),
    ];
    for (obj, expected) in cases {
        let errs = cel_errors::<Resource>(&obj, None);
        match expected {
            None => assert!(errs.is_empty(), "{obj}: {errs:?}"),
            Some(m) => assert!(errs.iter().any(|e| e.contains(m)), "{obj}: {errs:?}"),
        }
        assert_eq!(converts::<Resource, model::Resource>(&obj), expected.is_none(), "conversion on {obj}");
    }
}

#[test]
fn connection_scope_missing_from_the_catalog_is_left_to_the_conversion() {
    // Too expensive for a CEL rule (see ResourceSpec); the hub reports it in
    // the Ready condition instead.
    let obj = mcp(json!({"scopes": [{"name": "b", "connectionScopes": ["a"]}]}));
    assert!(cel_errors::<Resource>(&obj, None).is_empty());
    assert!(!converts::<Resource, model::Resource>(&obj));
}

#[test]
fn access_token_lifetime_range_in_cel_matches_the_conversion() {
    for (v, ok) in [("1m", true), ("24h", true), ("59s", false), ("25h", false)] {
        let obj = api(json!({"accessTokenLifetime": v}));
        assert_eq!(cel_errors::<Resource>(&obj, None).is_empty(), ok, "{v}");
        assert_eq!(converts::<Resource, model::Resource>(&obj), ok, "{v}");
    }
}

#[test]
fn introspecting_clients_listed_twice_are_rejected() {
    let obj = api(json!({"introspection": {"clients": [{"name": "rs"}, {"name": "rs"}]}}));
    let errs = cel_errors::<Resource>(&obj, None);
    assert!(errs.iter().any(|e| e.contains("listed only once")), "{errs:?}");
    assert!(!converts::<Resource, model::Resource>(&obj));
}

#[test]
fn private_key_jwt_key_rules_in_cel_agree_with_the_conversion() {
    let key = json!({"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": "JdaYV0MLMxB6wNYD-BhTA8JV0M7hrZ3xu0pt58noF4M", "y": "sGV22Xeo2AYCihOaoaYuzrFJMLGX5YYcAcomfELBTSY"});
    let pkjwt = |extra: Value| {
        let mut s = json!({"tokenEndpointAuthMethod": "private_key_jwt"});
        s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        client(s)
    };
    let accepted = [
        pkjwt(json!({"jwks": {"keys": [key]}})),
        pkjwt(json!({"jwksUri": "https://agent.example.com/jwks.json"})),
        client(json!({})),
    ];
    for obj in &accepted {
        assert!(cel_errors::<OAuthClient>(obj, None).is_empty(), "{obj}");
        assert!(converts::<OAuthClient, model::Client>(obj), "{obj}");
    }
    let refused = [
        (pkjwt(json!({})), "private_key_jwt needs"),
        (pkjwt(json!({"jwks": {"keys": [key]}, "jwksUri": "https://a.example/jwks"})), "not both"),
        (client(json!({"jwksUri": "https://a.example/jwks"})), "only private_key_jwt uses them"),
        (pkjwt(json!({"jwks": {"keys": [key]}, "secret": {"name": "s"}})), "has no secret"),
    ];
    for (obj, message) in &refused {
        let errs = cel_errors::<OAuthClient>(obj, None);
        assert!(errs.iter().any(|e| e.contains(message)), "{obj}: {errs:?}");
        assert!(!converts::<OAuthClient, model::Client>(obj), "{obj}");
    }
    // A private member is refused by the schema itself (maxLength 0), and by
    // the conversion with a message that says what to do.
    assert_eq!(node(&schema::<OAuthClient>(), &["spec", "jwks", "keys", "[]", "d"])["maxLength"], 0);
    let mut private = key.clone();
    private["d"] = json!("c2VjcmV0");
    assert!(!converts::<OAuthClient, model::Client>(&pkjwt(json!({"jwks": {"keys": [private]}}))));
}
