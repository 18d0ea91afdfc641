//! Issuing tokens: what a client sends, what it gets, and that a resource
//! server can verify it.

use keyward_core::keys::Algorithm;

use crate::support::*;

#[tokio::test]
async fn client_credentials_token_verifies_against_the_published_jwks() {
    let h = world().await;
    let r = h.bot_token(&[("resource", "https://api.example.test/orders"), ("scope", "orders:read")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3600);
    assert_eq!(r.body["scope"], "orders:read");
    let token = r.body["access_token"].as_str().unwrap();
    let claims = h.verify(token, "https://api.example.test/orders").await;
    assert_eq!(claims["iss"], h.issuer());
    assert_eq!(claims["sub"], "bot");
    assert_eq!(claims["client_id"], "bot");
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(claims["iat"], START);
    assert_eq!(claims["exp"], START + 3600);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 22);
    assert!(claims.get("tenant").is_none());
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
}

#[tokio::test]
async fn every_token_has_its_own_jti() {
    let h = world().await;
    let a = h.bot_token(&[("resource", "https://mcp.example.test/mcp")]).await;
    let b = h.bot_token(&[("resource", "https://mcp.example.test/mcp")]).await;
    let ca = h.verify(a.body["access_token"].as_str().unwrap(), "https://mcp.example.test/mcp").await;
    let cb = h.verify(b.body["access_token"].as_str().unwrap(), "https://mcp.example.test/mcp").await;
    assert_ne!(ca["jti"], cb["jti"]);
}

#[tokio::test]
async fn no_scope_requested_grants_the_whole_association() {
    let h = world().await;
    let r = h.bot_token(&[("resource", "https://api.example.test/orders")]).await;
    assert_eq!(r.body["scope"], "orders:read orders:write");
}

#[tokio::test]
async fn client_secret_post_authenticates_in_the_body() {
    let h = world().await;
    let secret = h.secret("agents", "poster");
    let r = h
        .post(
            "/token",
            None,
            &[("grant_type", "client_credentials"), ("client_id", "poster"), ("client_secret", &secret)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    h.verify(r.body["access_token"].as_str().unwrap(), "https://api.example.test/orders").await;
}

#[tokio::test]
async fn a_pinned_tenant_and_the_client_lifetime_reach_the_token() {
    let h = world().await;
    let secret = h.secret("agents", "pinned");
    let r = h.post("/token", Some(("pinned", &secret)), &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["expires_in"], 300);
    let claims = h.verify(r.body["access_token"].as_str().unwrap(), "https://api.example.test/orders").await;
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["exp"], START + 300);
}

#[tokio::test]
async fn a_bring_your_own_secret_with_reserved_characters_works_through_basic() {
    // RFC 6749 §2.3.1: id and secret are form-encoded before base64, so ':' '+' '%'
    // and spaces in the secret survive.
    let secret = "s3cr:et+with%20 spaces/and=more";
    let byo = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: bot-credentials, namespace: agents}}\nstringData:\n  client_secret: '{secret}'\n"
    );
    let h = hub().file("world.yaml", WORLD).file("secret.yaml", &byo).start().await;
    let r = h
        .post(
            "/token",
            Some(("bot", secret)),
            &[("grant_type", "client_credentials"), ("resource", "https://mcp.example.test/mcp")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!h.state.join("credentials/agents/bot-credentials.yaml").exists(), "a BYO secret is never generated");
}

#[tokio::test]
async fn a_bring_your_own_secret_in_data_is_base64_decoded() {
    let byo = "apiVersion: v1\nkind: Secret\nmetadata: {name: bot-credentials, namespace: agents}\ndata:\n  client_secret: aHVudGVyMg==\n";
    let h = hub().file("world.yaml", WORLD).file("secret.yaml", byo).start().await;
    let r = h
        .post(
            "/token",
            Some(("bot", "hunter2")),
            &[("grant_type", "client_credentials"), ("resource", "https://mcp.example.test/mcp")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn generated_credentials_hold_connection_fields_and_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let h = world().await;
    let c = h.credentials("agents", "bot-credentials");
    assert_eq!(c["client_id"], "bot");
    assert_eq!(c["issuer"], h.issuer());
    assert_eq!(c["token_endpoint"], format!("{}/token", h.issuer()));
    assert_eq!(c["client_secret"].len(), 43, "256 bits, base64url");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&h.state.join("credentials/agents/bot-credentials.yaml")), 0o600);
    assert_eq!(mode(&h.state.join("signing-keys.json")), 0o600);
    assert_eq!(mode(&h.state.join("state.redb")), 0o600);
    assert_eq!(mode(&h.state.join("records.journal")), 0o600);
    assert_eq!(mode(&h.state), 0o700);
}

#[tokio::test]
async fn keys_and_secrets_survive_a_restart_so_issued_tokens_stay_valid() {
    let h = world().await;
    let secret = h.secret("agents", "bot");
    let r = h.bot_token(&[("resource", "https://mcp.example.test/mcp")]).await;
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    let h = h.restart().await;
    assert_eq!(h.secret("agents", "bot"), secret);
    h.verify(&token, "https://mcp.example.test/mcp").await;
    let again = h.bot_token(&[("resource", "https://mcp.example.test/mcp")]).await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn eddsa_and_rs256_are_selectable() {
    for (alg, jwt_alg, kty) in [
        (Algorithm::EdDSA, jsonwebtoken::Algorithm::EdDSA, "OKP"),
        (Algorithm::RS256, jsonwebtoken::Algorithm::RS256, "RSA"),
    ] {
        let h = hub().file("world.yaml", WORLD).alg(alg).start().await;
        let r = h.bot_token(&[("resource", "https://mcp.example.test/mcp")]).await;
        let token = r.body["access_token"].as_str().unwrap();
        assert_eq!(jsonwebtoken::decode_header(token).unwrap().alg, jwt_alg);
        h.verify(token, "https://mcp.example.test/mcp").await;
        let jwks = h.get("/jwks.json").await;
        assert_eq!(jwks.body["keys"][0]["kty"], kty);
    }
}

#[tokio::test]
async fn the_jwks_publishes_the_next_key_before_it_signs() {
    let h = world().await;
    let jwks = h.get("/jwks.json").await;
    assert_eq!(jwks.header("content-type"), Some("application/jwk-set+json"));
    let keys = jwks.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "active and next: {}", jwks.text);
    for k in keys {
        assert_eq!(k["use"], "sig");
        assert_eq!(k["alg"], "ES256");
        assert_eq!(k["crv"], "P-256");
        assert!(k.get("d").is_none(), "never a private member");
    }
    let r = h.bot_token(&[("resource", "https://mcp.example.test/mcp")]).await;
    let kid = jsonwebtoken::decode_header(r.body["access_token"].as_str().unwrap()).unwrap().kid.unwrap();
    assert!(keys.iter().any(|k| k["kid"] == kid.as_str()));
}

#[tokio::test]
async fn serve_publishes_metrics_that_count_each_grant_and_result() {
    let h = world().await;
    assert_eq!(h.bot_token(&[("resource", "https://api.example.test/orders")]).await.status, 200);
    let r = h.post("/token", Some(("bot", "wrong")), &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, 401);
    let r = h.post("/token", None, &[("grant_type", "password")]).await;
    assert_eq!(r.status, 400);
    let text = h.get("/metrics").await.text;
    for line in [
        r#"keyward_tokens_total{grant="clientCredentials",result="issued"} 1"#,
        r#"keyward_tokens_total{grant="clientCredentials",result="invalid_client"} 1"#,
        r#"keyward_tokens_total{grant="unknown",result="unsupported_grant_type"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
    }
}
