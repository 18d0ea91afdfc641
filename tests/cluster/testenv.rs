//! The generated CRDs on a current API server: the schemas and CEL rules are
//! enforced by the server itself, and every example is accepted.

use keyward_api::v1alpha1::OAuthClient;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

use crate::support::*;

const VAR: &str = "KEYWARD_TESTENV_KUBECONFIG";

/// Every example manifest, created for real.
#[tokio::test]
#[cfg_attr(not(keyward_testenv), ignore = "needs KEYWARD_TESTENV_KUBECONFIG (see tests/cluster/main.rs)")]
async fn every_example_is_accepted_by_a_current_api_server() {
    let Some(client) = client(VAR, "every_example_is_accepted").await else { return };
    install_crds(&client, VAR).await;
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"));
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
            if v.is_null() || !v["apiVersion"].as_str().unwrap_or_default().starts_with("keyward.dev/") {
                continue;
            }
            apply_value(&client, v).await;
            n += 1;
        }
    }
    assert!(n >= 8, "{n} objects");
}

/// Sends the manifest as it is (even what our own types could not hold) and
/// returns the server's refusal.
async fn create_err(client: &kube::Client, yaml: &str) -> String {
    let obj: kube::api::DynamicObject = serde_yaml::from_str(yaml).unwrap();
    let ar = kube::api::ApiResource::erase::<OAuthClient>(&());
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(client.clone(), obj.metadata.namespace.as_deref().unwrap(), &ar);
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => panic!("accepted: {yaml}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
#[cfg_attr(not(keyward_testenv), ignore = "needs KEYWARD_TESTENV_KUBECONFIG (see tests/cluster/main.rs)")]
async fn cel_rules_and_schemas_refuse_bad_clients_with_their_messages() {
    let Some(client) = client(VAR, "cel_rules_refuse_bad_clients").await else { return };
    install_crds(&client, VAR).await;
    let ns = unique("cel");
    let base = format!(
        "apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata: {{name: c, namespace: {ns}}}\nspec:\n  displayName: C\n"
    );
    let e = create_err(&client, &format!("{base}  session: {{accessKeySessionTokenTimeout: 25h}}\n")).await;
    assert!(e.contains("accessKeySessionTokenTimeout must be between 1m and 24h"), "{e}");
    let e =
        create_err(&client, &format!("{base}  resources: [{{name: a, scopes: []}}, {{name: a, scopes: []}}]\n")).await;
    assert!(e.contains("each Resource may be listed only once"), "{e}");
    let e = create_err(&client, &format!("{base}  clientId: 'has:colon'\n")).await;
    assert!(e.contains("spec.clientId"), "{e}");
    let e = create_err(&client, &format!("{base}  tokenEndpointAuthMethod: client_secret_jwt\n")).await;
    assert!(e.contains("tokenEndpointAuthMethod"), "{e}");
    let e = create_err(&client, &format!("{base}  tokenEndpointAuthMethod: federated_jwt\n")).await;
    assert!(e.contains("federated_jwt needs federatedCredentials, and only federated_jwt uses them"), "{e}");
    let federated =
        format!("{base}  tokenEndpointAuthMethod: federated_jwt\n  federatedCredentials: [{{kubernetes: true}}]\n");
    let e = create_err(&client, &federated).await;
    assert!(e.contains("each federated credential must name the subjects"), "{e}");
    let e =
        create_err(&client, &format!("{base}  federatedCredentials: [{{kubernetes: true, subjects: [a]}}]\n")).await;
    assert!(e.contains("only federated_jwt uses them"), "{e}");
    let with_secret = format!(
        "{base}  tokenEndpointAuthMethod: federated_jwt\n  federatedCredentials: [{{kubernetes: true, subjects: [a]}}]\n  secret: {{name: s}}\n"
    );
    let e = create_err(&client, &with_secret).await;
    assert!(e.contains("a federated_jwt client has no secret"), "{e}");
}

#[tokio::test]
#[cfg_attr(not(keyward_testenv), ignore = "needs KEYWARD_TESTENV_KUBECONFIG (see tests/cluster/main.rs)")]
async fn a_client_id_cannot_change_once_set() {
    let Some(client) = client(VAR, "a_client_id_cannot_change").await else { return };
    install_crds(&client, VAR).await;
    let ns = unique("imm");
    let obj: OAuthClient = serde_yaml::from_str(&format!(
        "apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata: {{name: c, namespace: {ns}}}\nspec: {{displayName: C, clientId: first}}\n"
    ))
    .unwrap();
    let api: Api<OAuthClient> = Api::namespaced(client.clone(), &ns);
    api.create(&PostParams::default(), &obj).await.unwrap();
    let patch = serde_json::json!({"spec": {"clientId": "second"}});
    let e = api.patch("c", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap_err().to_string();
    assert!(e.contains("clientId cannot be changed"), "{e}");
    // Status by server-side apply, as the controller writes it.
    let status = serde_json::json!({"apiVersion": "keyward.dev/v1alpha1", "kind": "OAuthClient", "status": {"clientId": "first", "observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True", "reason": "Accepted", "message": "ok", "lastTransitionTime": "2026-11-23T00:00:00Z"}]}});
    let c = api.patch_status("c", &PatchParams::apply("keyward").force(), &Patch::Apply(&status)).await.unwrap();
    assert_eq!(c.status.unwrap().client_id.as_deref(), Some("first"));
}
