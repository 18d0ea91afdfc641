//! The folder is watched: changes apply without a restart, broken files keep
//! their last good objects.

use crate::support::*;

const EXTRA: &str = r#"
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: late, namespace: agents}
spec:
  displayName: Late
  clientId: late
  grantTypes: {clientCredentials: {}}
  resources: [{name: docs, namespace: shop, scopes: ["docs:search"]}]
"#;

async fn late_token(h: &TestHub) -> u16 {
    let path = h.state.join("credentials/agents/late-credentials.yaml");
    if !path.exists() {
        return 0;
    }
    let s = h.secret("agents", "late");
    h.post("/token", Some(("late", &s)), &[("grant_type", "client_credentials")]).await.status.as_u16()
}

#[tokio::test]
async fn a_new_file_is_picked_up_without_a_restart() {
    let h = world().await;
    assert_eq!(late_token(&h).await, 0);
    h.write("late.yaml", EXTRA);
    h.eventually("late client works", || async { late_token(&h).await == 200 }).await;
}

#[tokio::test]
async fn a_broken_file_keeps_its_last_good_objects() {
    let h = world().await;
    h.write("late.yaml", EXTRA);
    h.eventually("late client works", || async { late_token(&h).await == 200 }).await;
    // Invalid YAML: the whole file keeps its last good version.
    h.write("late.yaml", "apiVersion: [\n");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(late_token(&h).await, 200);
    // An unknown field in the object: that object keeps its last good version.
    h.write("late.yaml", &EXTRA.replace("displayName: Late", "displayName: Late\n  colour: blue"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(late_token(&h).await, 200);
    // Removing the file removes the client.
    h.remove("late.yaml");
    h.eventually("late client is gone", || async { late_token(&h).await == 401 }).await;
}

#[tokio::test]
async fn an_invalid_object_is_left_out_and_the_rest_keep_working() {
    let broken = EXTRA.replace("scopes: [\"docs:search\"]", "scopes: [\"docs:delete\"]");
    let h = hub().file("world.yaml", WORLD).file("late.yaml", &broken).start().await;
    let r = h.bot_token(&[("resource", "https://mcp.example.test/mcp")]).await;
    assert_eq!(r.status, 200);
    let s = h.secret("agents", "late");
    let r = h.post("/token", Some(("late", &s)), &[("grant_type", "client_credentials")]).await;
    r.assert_error(401, "invalid_client", "unknown client 'late'");
}
