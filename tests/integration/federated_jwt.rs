//! `federated_jwt` in `keyward serve` (workload identity federation): a JWT
//! from one of the client's federated credentials is its client
//! authentication at every endpoint, so a workload needs no secret to get a
//! token, hop by token exchange, introspect or revoke. The real cluster's
//! service-account tokens are tested in tests/cluster (`fullenv.rs`).

use serde_json::{Value, json};

use crate::issuer::TestIssuer;
use crate::jwt_bearer::HUB;
use crate::support::*;

const DOCS: &str = "https://mcp.example.test/mcp";
const ORDERS: &str = "https://api.example.test/orders";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn world(iss: &TestIssuer) -> String {
    format!(
        r#"
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {{name: docs, namespace: shop}}
spec:
  type: mcpServer
  identifier: {DOCS}
  displayName: Docs
  scopes: [{{name: "docs:search"}}]
---
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {{name: orders, namespace: shop}}
spec:
  type: api
  identifier: {ORDERS}
  displayName: Orders
  scopes: [{{name: "orders:read"}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: agent, namespace: agents}}
spec:
  displayName: Agent
  clientId: agent
  tokenEndpointAuthMethod: federated_jwt
  federatedCredentials:
    # Presented many times, like a projected service-account token.
    - {{issuer: '{good}', subjects: ["spiffe://test/agent"], rejectReplay: false}}
  grantTypes: {{clientCredentials: {{}}, tokenExchange: {{}}}}
  resources:
    - {{name: docs, namespace: shop, scopes: ["docs:search"]}}
    - {{name: orders, namespace: shop, scopes: ["orders:read"]}}
"#,
        good = iss.issuer("good"),
    )
}

fn jwt(iss: &TestIssuer, sub: &str, now: u64, aud: &str) -> String {
    iss.sign(
        &json!({"alg": "ES256", "kid": "ec-1"}),
        &json!({"iss": iss.issuer("good"), "sub": sub, "aud": aud, "iat": now, "exp": now + 300}),
    )
}

async fn post(h: &TestHub, path: &str, assertion: &str, extra: &[(&str, &str)]) -> Reply {
    let mut form =
        vec![("client_id", "agent"), ("client_assertion_type", ASSERTION_TYPE), ("client_assertion", assertion)];
    form.extend_from_slice(extra);
    h.post(path, None, &form).await
}

#[tokio::test]
async fn a_workload_jwt_authenticates_the_client_at_every_endpoint_and_no_secret_exists() {
    let iss = TestIssuer::start().await;
    let h = hub().file("world.yaml", &world(&iss)).issuer(HUB).start().await;
    let own = jwt(&iss, "spiffe://test/agent", h.now(), HUB);
    assert!(
        !h.state.join("credentials/agents/agent-credentials.yaml").exists(),
        "a federated client gets no credentials file"
    );

    let r = post(&h, "/token", &own, &[("grant_type", "client_credentials"), ("resource", DOCS)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let docs_token = r.body["access_token"].as_str().unwrap().to_owned();
    let c = h.verify(&docs_token, DOCS).await;
    assert_eq!((c["sub"].as_str(), c["client_id"].as_str()), (Some("agent"), Some("agent")));

    let te = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", docs_token.as_str()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("resource", ORDERS),
    ];
    let r = post(&h, "/token", &own, &te).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = h.verify(r.body["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!((c["scope"].as_str(), c["act"].clone()), (Some("orders:read"), json!({"sub": "agent"})));

    let r = post(&h, "/introspect", &own, &[("token", &docs_token)]).await;
    assert_eq!((r.status.as_u16(), r.body["active"].clone()), (200, Value::Bool(true)), "{}", r.text);
    let r = post(&h, "/revoke", &own, &[("token", &docs_token)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post(&h, "/introspect", &own, &[("token", &docs_token)]).await;
    assert_eq!(r.body["active"], false);
}

#[tokio::test]
async fn another_subject_another_audience_or_a_secret_is_invalid_client() {
    let iss = TestIssuer::start().await;
    let h = hub().file("world.yaml", &world(&iss)).issuer(HUB).start().await;
    let cc = [("grant_type", "client_credentials"), ("resource", DOCS)];

    let other = jwt(&iss, "spiffe://test/other", h.now(), HUB);
    post(&h, "/token", &other, &cc).await.assert_error(
        401,
        "invalid_client",
        "client assertion: subject 'spiffe://test/other' is not allowed for this client",
    );
    let elsewhere = jwt(&iss, "spiffe://test/agent", h.now(), "https://elsewhere.example");
    post(&h, "/token", &elsewhere, &cc).await.assert_error(
        401,
        "invalid_client",
        "client assertion: the assertion is not for this hub (aud)",
    );
    let expired = jwt(&iss, "spiffe://test/agent", h.now() - 1000, HUB);
    post(&h, "/token", &expired, &cc).await.assert_error(
        401,
        "invalid_client",
        "client assertion: the assertion has expired",
    );
    // Without client_id the JWT's own iss/sub would have to name the client
    // (private_key_jwt's rule), and they do not.
    let own = jwt(&iss, "spiffe://test/agent", h.now(), HUB);
    let r = h
        .post("/token", None, &[("client_assertion_type", ASSERTION_TYPE), ("client_assertion", &own), cc[0], cc[1]])
        .await;
    assert_eq!((r.status.as_u16(), r.body["error"].as_str()), (401, Some("invalid_client")), "{}", r.text);
    h.post("/token", Some(("agent", "guess")), &cc).await.assert_error(
        401,
        "invalid_client",
        "client is registered for federated_jwt, not client_secret_basic",
    );
    h.post("/token", None, &[("client_id", "agent"), cc[0], cc[1]]).await.assert_error(
        401,
        "invalid_client",
        "client_assertion is required: this client authenticates with federated_jwt",
    );
}
