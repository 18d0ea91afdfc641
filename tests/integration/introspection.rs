//! Introspection (RFC 7662) and revocation (RFC 7009).

use crate::support::*;

const ORDERS: &str = "https://api.example.test/orders";

async fn bot_orders_token(h: &TestHub) -> String {
    let r = h.bot_token(&[("resource", ORDERS), ("scope", "orders:read")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["access_token"].as_str().unwrap().to_owned()
}

async fn introspect(h: &TestHub, as_client: &str, token: &str) -> Reply {
    let secret = h.secret("agents", as_client);
    h.post("/introspect", Some((as_client, &secret)), &[("token", token)]).await
}

#[tokio::test]
async fn the_owner_sees_its_token_active_with_its_claims() {
    let h = world().await;
    let token = bot_orders_token(&h).await;
    let r = introspect(&h, "bot", &token).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let b = &r.body;
    assert_eq!(b["active"], true);
    assert_eq!(b["client_id"], "bot");
    assert_eq!(b["sub"], "bot");
    assert_eq!(b["aud"], ORDERS);
    assert_eq!(b["scope"], "orders:read");
    assert_eq!(b["iss"], h.issuer());
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["exp"], START + 3600);
}

#[tokio::test]
async fn the_resources_introspector_sees_it_and_strangers_do_not() {
    let h = world().await;
    let token = bot_orders_token(&h).await;
    assert_eq!(introspect(&h, "server", &token).await.body["active"], true);
    let r = introspect(&h, "pinned", &token).await;
    assert_eq!(r.text, r#"{"active":false}"#);
}

#[tokio::test]
async fn garbage_expired_and_foreign_tokens_are_inactive() {
    let h = world().await;
    let token = bot_orders_token(&h).await;
    for t in ["garbage", "a.b.c", &token[..token.len() - 2], &format!("{token}x")] {
        assert_eq!(introspect(&h, "bot", t).await.text, r#"{"active":false}"#, "{t}");
    }
    h.advance(3600);
    assert_eq!(introspect(&h, "bot", &token).await.text, r#"{"active":false}"#);
}

#[tokio::test]
async fn introspection_requires_client_authentication_and_a_token() {
    let h = world().await;
    let r = h.post("/introspect", None, &[("token", "x")]).await;
    r.assert_error(401, "invalid_client", "client authentication is required");
    let s = h.secret("agents", "bot");
    let r = h.post("/introspect", Some(("bot", &s)), &[]).await;
    r.assert_error(400, "invalid_request", "token is required");
    let r = h.post("/introspect", Some(("bot", &s)), &[("token", "a"), ("token", "b")]).await;
    r.assert_error(400, "invalid_request", "parameter 'token' is repeated");
}

#[tokio::test]
async fn a_revoked_token_is_inactive_until_it_expires_even_after_a_restart() {
    let h = world().await;
    let token = bot_orders_token(&h).await;
    let s = h.secret("agents", "bot");
    let r = h.post("/revoke", Some(("bot", &s)), &[("token", &token), ("token_type_hint", "access_token")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(introspect(&h, "bot", &token).await.body["active"], false);
    assert_eq!(introspect(&h, "server", &token).await.body["active"], false);
    let h = h.restart().await;
    assert_eq!(introspect(&h, "bot", &token).await.body["active"], false);
    // Another token of the same client is unaffected.
    let other = bot_orders_token(&h).await;
    assert_eq!(introspect(&h, "bot", &other).await.body["active"], true);
}

#[tokio::test]
async fn only_the_owner_may_revoke_and_unknown_tokens_are_not_an_error() {
    let h = world().await;
    let token = bot_orders_token(&h).await;
    let s = h.secret("agents", "server");
    let r = h.post("/revoke", Some(("server", &s)), &[("token", &token)]).await;
    r.assert_error(400, "unauthorized_client", "the token was not issued to this client");
    assert_eq!(introspect(&h, "bot", &token).await.body["active"], true);
    let r = h.post("/revoke", Some(("server", &s)), &[("token", "not-a-token"), ("token_type_hint", "whatever")]).await;
    assert_eq!(r.status, 200);
    let r = h.post("/revoke", None, &[("token", &token)]).await;
    r.assert_error(401, "invalid_client", "client authentication is required");
}

#[tokio::test]
async fn deleting_a_client_deactivates_its_tokens_and_refuses_it_at_once() {
    let h = world().await;
    let token = bot_orders_token(&h).await;
    let without_bot: String =
        WORLD.split("\n---\n").filter(|d| !d.contains("name: bot,")).collect::<Vec<_>>().join("\n---\n");
    h.write("world.yaml", &without_bot);
    let s = h.secret("agents", "bot");
    h.eventually("bot is gone", || async {
        h.post("/token", Some(("bot", &s)), &[("grant_type", "client_credentials")]).await.status == 401
    })
    .await;
    assert_eq!(introspect(&h, "server", &token).await.body["active"], false);
}

const LATE: &str = r#"
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: late, namespace: agents}
spec:
  displayName: Late
  clientId: late
  grantTypes: {clientCredentials: {}, tokenExchange: {}}
  resources: [{name: orders, namespace: shop, scopes: ["orders:read"]}]
"#;

async fn late_token(h: &TestHub) -> Option<String> {
    let path = h.state.join("credentials/agents/late-credentials.yaml");
    if !path.exists() {
        return None;
    }
    let s = h.secret("agents", "late");
    let r = h.post("/token", Some(("late", &s)), &[("grant_type", "client_credentials"), ("resource", ORDERS)]).await;
    (r.status == 200).then(|| r.body["access_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_client_deleted_and_applied_again_does_not_revive_its_old_tokens() {
    let h = hub().file("world.yaml", WORLD).file("late.yaml", LATE).start().await;
    let old = late_token(&h).await.expect("late gets a token");
    assert_eq!(introspect(&h, "server", &old).await.body["active"], true);

    h.remove("late.yaml");
    h.eventually("late is gone", || async { late_token(&h).await.is_none() }).await;
    assert_eq!(introspect(&h, "server", &old).await.body["active"], false);

    // The same manifest again: the same client id and secret, another client.
    h.write("late.yaml", LATE);
    h.eventually("late is back", || async { late_token(&h).await.is_some() }).await;
    let new = late_token(&h).await.unwrap();
    assert_eq!(introspect(&h, "server", &new).await.body["active"], true);
    assert_eq!(introspect(&h, "server", &old).await.body["active"], false, "the old token stays dead");
    assert_eq!(introspect(&h, "late", &old).await.body["active"], false);
    // Nor can it be exchanged for a fresh one.
    let s = h.secret("agents", "late");
    let r = h
        .post(
            "/token",
            Some(("late", &s)),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("subject_token", &old),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
                ("resource", ORDERS),
            ],
        )
        .await;
    r.assert_error(400, "invalid_request", "subject_token: the token's client no longer exists");
}

#[tokio::test]
async fn a_restart_keeps_a_clients_tokens_alive() {
    let h = hub().file("world.yaml", WORLD).file("late.yaml", LATE).start().await;
    let token = late_token(&h).await.unwrap();
    let h = h.restart().await;
    assert_eq!(introspect(&h, "server", &token).await.body["active"], true);
}
