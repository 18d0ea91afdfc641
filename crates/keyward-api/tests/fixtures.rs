//! The example manifests under tests/fixtures read, convert and pass the CRD's
//! CEL rules: the documentation's examples cannot rot.

use keyward_api::{AccessPolicy, OAuthClient, Resource};
use keyward_core::model;
use kube::CustomResourceExt;
use kube::core::cel::Validator;
use serde::de::DeserializeOwned;

fn load<T: DeserializeOwned + serde::Serialize + CustomResourceExt>(file: &str) -> T {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let obj: T = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema =
        serde_json::to_value(T::crd().spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap())
            .unwrap();
    let json = serde_json::to_value(&obj).unwrap();
    if let Err(errors) = Validator::new().validate(&schema, &json, None) {
        panic!("{path} fails the CRD's CEL rules: {errors:?}");
    }
    obj
}

#[test]
fn oauth_client_fixture_converts_without_problems() {
    let obj: OAuthClient = load("oauth-client.yaml");
    let c = model::Client::try_from(&obj).unwrap();
    assert_eq!(c.secret_name, "billing-agent-oauth");
    assert_eq!(c.resources.len(), 3);
    assert_eq!(c.resources[1].resource, model::ObjectKey::new("finance", "ledger-mcp"));
    assert!(c.grants.client_credentials.is_some());
}

#[test]
fn resource_fixture_converts_without_problems() {
    let obj: Resource = load("resource.yaml");
    let r = model::Resource::try_from(&obj).unwrap();
    assert_eq!(r.kind, model::ResourceKind::McpServer);
    assert_eq!(
        r.introspectors,
        [model::ObjectKey::new("finance", "ledger-mcp-server"), model::ObjectKey::new("edge", "api-gateway")]
    );
}

#[test]
fn access_policy_fixture_converts_without_problems() {
    let obj: AccessPolicy = load("access-policy.yaml");
    let p = model::Policy::try_from(&obj).unwrap();
    assert_eq!(p.effect, model::Effect::Allow);
    assert_eq!(p.clients.names[0], model::ObjectKey::new("billing", "billing-agent"));
}
