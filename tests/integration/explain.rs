//! `POST /admin/explain`: the explanation over HTTP, for admin clients only.

use crate::support::*;

/// The usual world, an admin client, a policy with a condition and one whose
/// condition does not compile.
const ADMIN: &str = r#"
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: ops, namespace: platform}
spec:
  displayName: Platform operators
  clientId: ops
  tags: [keyward-admin]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: ops-post, namespace: platform}
spec:
  displayName: Operators (body credentials)
  clientId: ops-post
  tags: [keyward-admin]
  tokenEndpointAuthMethod: client_secret_post
---
apiVersion: keyward.dev/v1alpha1
kind: AccessPolicy
metadata: {name: no-writes-for-globex, namespace: shop}
spec:
  effect: deny
  condition: "request.tenant == 'globex'"
  scopes: ["orders:write"]
"#;

async fn admin_hub() -> TestHub {
    hub().file("world.yaml", WORLD).file("admin.yaml", ADMIN).start().await
}

const ORDERS: &str = "https://api.example.test/orders";

#[tokio::test]
async fn an_admin_client_gets_the_explanation_from_a_form() {
    let h = admin_hub().await;
    let s = h.secret("platform", "ops");
    let r = h
        .post("/admin/explain", Some(("ops", &s)), &[("client", "bot"), ("resource", ORDERS), ("tenant", "globex")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.body["granted"], serde_json::json!(["orders:read"]));
    assert_eq!(r.body["client"]["id"], "bot");
    assert_eq!(r.body["request"]["tenant"], "globex");
    assert_eq!(r.body["request"]["time"], START);
    let write = r.body["scopes"].as_array().unwrap().iter().find(|s| s["scope"] == "orders:write").unwrap();
    assert_eq!(write["rule"], "denied");
    assert_eq!(write["policies"], serde_json::json!(["shop/no-writes-for-globex"]));
    // Without the tenant the condition is false: the policy is listed as skipped.
    let r = h.post("/admin/explain", Some(("ops", &s)), &[("client", "bot"), ("resource", ORDERS)]).await;
    assert_eq!(r.body["granted"], serde_json::json!(["orders:read", "orders:write"]));
    assert_eq!(
        r.body["policies"][0],
        serde_json::json!({
            "policy": "shop/no-writes-for-globex", "effect": "deny", "scopes": ["orders:write"],
            "outcome": "skipped", "reason": "spec.condition is false",
        })
    );
}

#[tokio::test]
async fn an_admin_client_gets_the_explanation_from_json() {
    let h = admin_hub().await;
    let s = h.secret("platform", "ops");
    let auth = basic("ops", &s);
    let body = serde_json::json!({
        "client": "bot", "resource": ORDERS, "scope": "orders:write", "grant": "tokenExchange",
        "subject": "alice", "roles": ["editor"], "tenant": "acme", "time": 1_900_000_000u64,
    });
    let r = h
        .post_raw("/admin/explain", &[("content-type", "application/json"), ("authorization", &auth)], body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["request"]["grant"], "tokenExchange");
    assert_eq!(r.body["request"]["roles"], serde_json::json!(["editor"]));
    assert_eq!(r.body["request"]["time"], 1_900_000_000u64);
    // bot has no token exchange grant: the endpoint would refuse, and says so.
    assert_eq!(r.body["refused"]["error"], "unauthorized_client");
    assert_eq!(r.body["granted"], serde_json::json!([]));
    assert_eq!(r.body["scopes"][0]["granted"], true, "what the policies alone decide: {}", r.text);
}

#[tokio::test]
async fn the_admin_endpoint_requires_client_authentication() {
    let h = admin_hub().await;
    let r = h.post("/admin/explain", None, &[("client", "bot")]).await;
    r.assert_error(401, "invalid_client", "client authentication is required (client_secret_basic)");
    let r = h.post("/admin/explain", Some(("ops", "wrong")), &[("client", "bot")]).await;
    r.assert_error(401, "invalid_client", "client authentication failed");
    let r = h.post("/admin/explain", Some(("nobody", "x")), &[("client", "bot")]).await;
    r.assert_error(401, "invalid_client", "unknown client 'nobody'");
    let r = h.post_raw("/admin/explain", &[("content-type", "application/json")], r#"{"client":"bot"}"#).await;
    r.assert_error(401, "invalid_client", "client authentication is required (client_secret_basic)");
}

#[tokio::test]
async fn the_admin_endpoint_accepts_only_client_secret_basic() {
    let h = admin_hub().await;
    let s = h.secret("platform", "ops-post");
    let r =
        h.post("/admin/explain", None, &[("client_id", "ops-post"), ("client_secret", &s), ("client", "bot")]).await;
    r.assert_error(401, "invalid_client", "the admin API accepts only client_secret_basic");
}

#[tokio::test]
async fn an_authenticated_client_without_the_admin_tag_is_forbidden() {
    let h = admin_hub().await;
    let s = h.secret("agents", "bot");
    let r = h.post("/admin/explain", Some(("bot", &s)), &[("client", "bot")]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["error"], "access_denied");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("www-authenticate"), None);
}

#[tokio::test]
async fn malformed_explain_requests_are_invalid_request() {
    let h = admin_hub().await;
    let s = h.secret("platform", "ops");
    let auth = basic("ops", &s);
    let r = h.post("/admin/explain", Some(("ops", &s)), &[("resource", ORDERS)]).await;
    r.assert_error(400, "invalid_request", "client is required");
    let r = h.post("/admin/explain", Some(("ops", &s)), &[("client", "nobody")]).await;
    r.assert_error(400, "invalid_request", "unknown client 'nobody': no Ready OAuthClient has this client id");
    let r = h.post("/admin/explain", Some(("ops", &s)), &[("client", "bot"), ("grant", "password")]).await;
    assert_eq!((r.status.as_u16(), r.body["error"].as_str()), (400, Some("invalid_request")), "{}", r.text);
    let r = h
        .post_raw(
            "/admin/explain",
            &[("content-type", "application/json"), ("authorization", &auth)],
            r#"{"client":"bot","bogus":1}"#,
        )
        .await;
    assert_eq!((r.status.as_u16(), r.body["error"].as_str()), (400, Some("invalid_request")), "{}", r.text);
    let r =
        h.post_raw("/admin/explain", &[("content-type", "text/plain"), ("authorization", &auth)], "client=bot").await;
    assert_eq!(r.status, 400, "{}", r.text);
}
