//! Deleting a client is final for what it was issued, on a real API server:
//! the same manifest applied again (same client id, and here the same secret
//! kept in a user's Secret, as a GitOps repository would) is another client.

use k8s_openapi::api::core::v1::Secret;
use keyward_api::v1alpha1::OAuthClient;
use kube::Api;
use kube::api::{DeleteParams, PostParams};

use crate::support::*;

const VAR: &str = "KEYWARD_TEST_KUBECONFIG";

fn manifest(ns: &str) -> String {
    format!(
        r#"
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {{name: orders, namespace: {ns}}}
spec:
  type: api
  identifier: https://orders.{ns}.example.test
  displayName: Orders
  scopes: [{{name: "orders:read"}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: bot, namespace: {ns}}}
spec:
  displayName: Bot
  clientId: bot-{ns}
  secret: {{provided: true}}
  grantTypes: {{clientCredentials: {{}}}}
  resources: [{{name: orders, scopes: ["orders:read"]}}]
"#
    )
}

async fn introspect(replica: &Replica, id: &str, secret: &str, token: &str) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(format!("{}/introspect", replica.base))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn a_client_deleted_and_applied_again_does_not_revive_its_old_tokens() {
    let Some((client, ns, hub)) = setup_namespaces(VAR, "a_client_deleted_and_applied_again").await else { return };
    let (id, value) = (format!("bot-{ns}"), "a-secret-the-user-keeps-in-git-0123456789".to_owned());
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "bot-credentials", "namespace": ns},
        "stringData": {"client_secret": value},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns).create(&PostParams::default(), &secret).await.unwrap();
    apply_yaml(&client, &manifest(&ns)).await;
    let replica = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;

    let old = eventually(30, "a token", || async {
        let (code, body) = replica.token(&id, &value, &[]).await;
        (code == 200).then(|| body["access_token"].as_str().unwrap().to_owned())
    })
    .await;
    assert_eq!(introspect(&replica, &id, &value, &old).await["active"], true);

    let clients = Api::<OAuthClient>::namespaced(client.clone(), &ns);
    let first_uid = clients.get("bot").await.unwrap().metadata.uid;
    clients.delete("bot", &DeleteParams::default()).await.unwrap();
    eventually(10, "bot gone", || async { (replica.token(&id, &value, &[]).await.0 == 401).then_some(()) }).await;

    apply_yaml(&client, &manifest(&ns)).await;
    let new = eventually(30, "bot back", || async {
        let (code, body) = replica.token(&id, &value, &[]).await;
        (code == 200).then(|| body["access_token"].as_str().unwrap().to_owned())
    })
    .await;
    assert_ne!(clients.get("bot").await.unwrap().metadata.uid, first_uid);
    assert_eq!(introspect(&replica, &id, &value, &new).await["active"], true);
    assert_eq!(introspect(&replica, &id, &value, &old).await["active"], false, "the old token stays dead");
}
