//! Token exchange (RFC 8693): an MCP server trades the token it received for
//! one toward the API behind it. Scopes only narrow, `act` names who acts,
//! and every unacceptable token is `invalid_request` (§2.2.2).

use serde_json::json;

use crate::issuer::TestIssuer;
use crate::jwt_bearer::HUB;
use crate::support::*;

const MCP: &str = "https://mcp.example.test/mcp";
const ORDERS: &str = "https://api.example.test/orders";
const TE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";

fn world(iss: &TestIssuer) -> String {
    format!(
        r#"
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {{name: docs, namespace: shop}}
spec:
  type: mcpServer
  identifier: {MCP}
  displayName: Docs
  scopes: [{{name: "docs:search"}}]
  introspection: {{clients: [{{name: mcp-server, namespace: agents}}]}}
---
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {{name: orders, namespace: shop}}
spec:
  type: api
  identifier: {ORDERS}
  displayName: Orders
  scopes: [{{name: "orders:read"}}, {{name: "orders:write"}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: bot, namespace: agents}}
spec:
  displayName: Bot
  clientId: bot
  grantTypes: {{clientCredentials: {{}}}}
  resources: [{{name: docs, namespace: shop, scopes: ["docs:search"]}}, {{name: orders, namespace: shop, scopes: ["orders:read"]}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: mcp-server, namespace: agents}}
spec:
  displayName: Docs MCP server
  clientId: mcp-server
  grantTypes:
    tokenExchange: {{}}
    jwtBearer: {{trustedIssuers: [{{issuer: '{good}', rejectReplay: false}}]}}
  resources: [{{name: orders, namespace: shop, scopes: ["orders:read", "orders:write"]}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: stranger, namespace: agents}}
spec:
  displayName: Stranger
  clientId: stranger
  grantTypes: {{tokenExchange: {{}}}}
  resources: [{{name: orders, namespace: shop, scopes: ["orders:read"]}}]
"#,
        good = iss.issuer("good")
    )
}

async fn setup() -> (TestHub, TestIssuer, String) {
    let iss = TestIssuer::start().await;
    let h = hub().file("world.yaml", &world(&iss)).issuer(HUB).start().await;
    let r = h.bot_token(&[("resource", MCP)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = r.body["access_token"].as_str().unwrap().to_owned();
    (h, iss, t)
}

async fn exchange(h: &TestHub, client: &str, extra: &[(&str, &str)]) -> Reply {
    let secret = h.secret("agents", client);
    let mut form = vec![("grant_type", TE)];
    form.extend_from_slice(extra);
    h.post("/token", Some((client, &secret)), &form).await
}

#[tokio::test]
async fn an_mcp_server_exchanges_the_token_it_received_for_one_toward_the_api() {
    let (h, _iss, token) = setup().await;
    let r = exchange(
        &h,
        "mcp-server",
        &[("subject_token", &token), ("subject_token_type", AT), ("resource", ORDERS), ("scope", "orders:read")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["issued_token_type"], AT);
    assert_eq!(r.body["scope"], "orders:read");
    let exchanged = r.body["access_token"].as_str().unwrap().to_owned();
    let c = h.verify(&exchanged, ORDERS).await;
    assert_eq!((c["sub"].as_str(), c["client_id"].as_str()), (Some("bot"), Some("mcp-server")));
    assert_eq!(c["act"], json!({"sub": "mcp-server"}));

    // A chain: the exchanged token exchanged again nests the earlier actor.
    let r =
        exchange(&h, "mcp-server", &[("subject_token", &exchanged), ("subject_token_type", AT), ("audience", ORDERS)])
            .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = h.verify(r.body["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!(c["act"], json!({"sub": "mcp-server", "act": {"sub": "mcp-server"}}));
    assert_eq!(c["scope"], "orders:read", "toward the same Resource, no more than the subject token held");

    // Widening toward the same Resource is refused.
    let r = exchange(
        &h,
        "mcp-server",
        &[("subject_token", &exchanged), ("subject_token_type", AT), ("resource", ORDERS), ("scope", "orders:write")],
    )
    .await;
    r.assert_error(400, "invalid_scope", "scope 'orders:write' is wider than the subject token or this client allows");
}

#[tokio::test]
async fn unacceptable_subject_tokens_are_invalid_request() {
    let (h, _iss, token) = setup().await;
    let base = |t: &str| {
        vec![("subject_token", t.to_owned()), ("subject_token_type", AT.to_owned()), ("resource", ORDERS.to_owned())]
    };
    let go = |client: &'static str, form: Vec<(&'static str, String)>| {
        let h = &h;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            exchange(h, client, &pairs).await
        }
    };
    go("stranger", base(&token)).await.assert_error(
        400,
        "invalid_request",
        "subject_token: the token is not addressed to this client",
    );
    go("mcp-server", base("garbage")).await.assert_error(400, "invalid_request", "subject_token: not a JWT");
    go("mcp-server", vec![("subject_token_type", AT.into())]).await.assert_error(
        400,
        "invalid_request",
        "subject_token is required",
    );
    go("mcp-server", vec![("subject_token", token.clone())]).await.assert_error(
        400,
        "invalid_request",
        "subject_token_type is required",
    );
    go("mcp-server", vec![("subject_token", token.clone()), ("subject_token_type", "urn:x".into())])
        .await
        .assert_error(400, "invalid_request", "subject_token_type 'urn:x' is not supported");
    let mut with_actor_type = base(&token);
    with_actor_type.push(("actor_token_type", AT.into()));
    go("mcp-server", with_actor_type).await.assert_error(
        400,
        "invalid_request",
        "actor_token_type without actor_token",
    );
    let mut wrong_type = base(&token);
    wrong_type.push(("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token".into()));
    go("mcp-server", wrong_type).await.assert_error(
        400,
        "invalid_request",
        "requested_token_type must be urn:ietf:params:oauth:token-type:access_token",
    );
    let mut elsewhere = base(&token);
    elsewhere[2].1 = MCP.into();
    go("mcp-server", elsewhere).await.assert_error(
        400,
        "invalid_target",
        &format!("this client may not request resource '{MCP}'"),
    );
    let s = h.secret("agents", "bot");
    let r = h
        .post("/token", Some(("bot", &s)), &[("grant_type", TE), ("subject_token", &token), ("subject_token_type", AT)])
        .await;
    r.assert_error(400, "unauthorized_client", "token exchange is not enabled for this client");

    // Revoked, then expired.
    let r = h.post("/revoke", Some(("bot", &s)), &[("token", &token)]).await;
    assert_eq!(r.status, 200);
    go("mcp-server", base(&token)).await.assert_error(
        400,
        "invalid_request",
        "subject_token: the token has been revoked",
    );
    let fresh = h.bot_token(&[("resource", MCP)]).await.body["access_token"].as_str().unwrap().to_owned();
    h.advance(3600);
    go("mcp-server", base(&fresh)).await.assert_error(400, "invalid_request", "subject_token: the token has expired");
}

#[tokio::test]
async fn an_external_subject_token_obeys_may_act_and_its_audience() {
    let (h, iss, _) = setup().await;
    let now = h.now();
    let ext = |claims: serde_json::Value| iss.sign(&crate::jwt_bearer::rs256(), &claims);
    let c = |extra: serde_json::Value| {
        let mut c = json!({"iss": iss.issuer("good"), "sub": "user-42", "aud": HUB, "iat": now, "exp": now + 300});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        c
    };
    let ok = ext(c(json!({"may_act": {"sub": "mcp-server"}})));
    let r = exchange(
        &h,
        "mcp-server",
        &[("subject_token", &ok), ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"), ("resource", ORDERS)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(h.verify(r.body["access_token"].as_str().unwrap(), ORDERS).await["sub"], "user-42");

    let other_actor = ext(c(json!({"may_act": {"sub": "someone-else"}})));
    let r = exchange(
        &h,
        "mcp-server",
        &[("subject_token", &other_actor), ("subject_token_type", AT), ("resource", ORDERS)],
    )
    .await;
    r.assert_error(400, "invalid_request", "the subject token does not allow 'mcp-server' to act for it (may_act)");

    let not_for_us = ext(c(json!({"aud": "https://elsewhere.test"})));
    let r =
        exchange(&h, "mcp-server", &[("subject_token", &not_for_us), ("subject_token_type", AT), ("resource", ORDERS)])
            .await;
    r.assert_error(400, "invalid_request", "subject_token: the assertion is not for this hub (aud)");
}

/// Policies on the target see the subject token's tenant and roles, so
/// exchanging a token sheds neither.
fn tenants_and_roles(iss: &TestIssuer) -> String {
    format!(
        r#"
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: tenant-bot, namespace: agents}}
spec:
  displayName: Tenant bot
  clientId: tenant-bot
  grantTypes: {{clientCredentials: {{allowedTenants: [acme, globex]}}}}
  resources: [{{name: docs, namespace: shop, scopes: ["docs:search"]}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: worker, namespace: agents}}
spec:
  displayName: Worker with roles from userinfo
  clientId: worker
  grantTypes:
    jwtBearer: {{trustedIssuers: [{{issuer: '{ui}', userInfoEndpoint: '{ui}/userinfo', rejectReplay: false}}]}}
  resources: [{{name: docs, namespace: shop, scopes: ["docs:search"]}}]
---
apiVersion: keyward.dev/v1alpha1
kind: AccessPolicy
metadata: {{name: no-writes-for-globex, namespace: shop}}
spec:
  effect: deny
  resources: {{names: [orders]}}
  tenants: [globex]
  scopes: ["orders:write"]
---
apiVersion: keyward.dev/v1alpha1
kind: AccessPolicy
metadata: {{name: readers-only-read, namespace: shop}}
spec:
  effect: deny
  resources: {{names: [orders]}}
  subjects: {{roles: [reader]}}
  scopes: ["orders:write"]
"#,
        ui = iss.issuer("ui")
    )
}

#[tokio::test]
async fn the_subject_tokens_tenant_and_roles_reach_the_targets_policies_and_the_new_token() {
    let iss = TestIssuer::start().await;
    let h =
        hub().file("world.yaml", &world(&iss)).file("more.yaml", &tenants_and_roles(&iss)).issuer(HUB).start().await;
    let to_orders = |subject: String| {
        let h = &h;
        async move {
            exchange(h, "mcp-server", &[("subject_token", &subject), ("subject_token_type", AT), ("resource", ORDERS)])
                .await
        }
    };
    let secret = h.secret("agents", "tenant-bot");
    let for_tenant = |tenant: &'static str| {
        let (h, secret) = (&h, secret.clone());
        async move {
            let r = h
                .post(
                    "/token",
                    Some(("tenant-bot", &secret)),
                    &[("grant_type", "client_credentials"), ("resource", MCP), ("tenant", tenant)],
                )
                .await;
            r.body["access_token"].as_str().unwrap().to_owned()
        }
    };

    let acme = to_orders(for_tenant("acme").await).await;
    assert_eq!(acme.body["scope"], "orders:read orders:write", "{}", acme.text);
    assert_eq!(h.verify(acme.body["access_token"].as_str().unwrap(), ORDERS).await["tenant"], "acme");
    let globex = to_orders(for_tenant("globex").await).await;
    assert_eq!(globex.body["scope"], "orders:read", "the tenant deny still applies: {}", globex.text);
    assert_eq!(h.verify(globex.body["access_token"].as_str().unwrap(), ORDERS).await["tenant"], "globex");

    // A workload whose userinfo says it is a reader: its token carries the
    // role, and the role's deny applies after the exchange.
    let mut claims = crate::jwt_bearer::claims(&iss, "ui", h.now());
    claims["sub"] = json!("spiffe://test/reader");
    let assertion = iss.sign(&crate::jwt_bearer::rs256(), &claims);
    let r = h
        .post(
            "/token",
            None,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("client_id", "worker"),
                ("assertion", &assertion),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(h.verify(&token, MCP).await["roles"], json!(["reader"]));
    let r = to_orders(token).await;
    assert_eq!(r.body["scope"], "orders:read", "{}", r.text);
    let c = h.verify(r.body["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!((c["sub"].as_str(), c["roles"].clone()), (Some("spiffe://test/reader"), json!(["reader"])));
}
