//! Metadata documents (RFC 8414, OpenID Discovery), health and readiness.

use crate::support::*;

#[tokio::test]
async fn authorization_server_metadata_describes_the_endpoints() {
    let h = world().await;
    let r = h.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(r.status, 200);
    let m = &r.body;
    let iss = h.issuer();
    assert_eq!(m["issuer"], iss);
    assert_eq!(m["token_endpoint"], format!("{iss}/token"));
    assert_eq!(m["jwks_uri"], format!("{iss}/jwks.json"));
    assert_eq!(m["introspection_endpoint"], format!("{iss}/introspect"));
    assert_eq!(m["revocation_endpoint"], format!("{iss}/revoke"));
    assert_eq!(
        m["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(m["authorization_endpoint"], format!("{iss}/authorize"));
    assert_eq!(m["userinfo_endpoint"], format!("{iss}/userinfo"));
    assert_eq!(m["prompt_values_supported"], serde_json::json!(["none", "login", "consent"]));
    // A public client redeems its code and revokes its refresh token with
    // `none`; it may not introspect.
    let public = serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]);
    assert_eq!(m["token_endpoint_auth_methods_supported"], public);
    assert_eq!(m["revocation_endpoint_auth_methods_supported"], public);
    let methods = serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt"]);
    let algs = serde_json::json!(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]);
    for endpoint in ["token", "introspection", "revocation"] {
        if endpoint == "introspection" {
            assert_eq!(m[format!("{endpoint}_endpoint_auth_methods_supported")], methods);
        }
        // RFC 8414 §2: required once private_key_jwt is listed; never none or HS*.
        assert_eq!(m[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")], algs);
    }
    assert!(m.get("subject_types_supported").is_none());
    let o = h.get("/.well-known/openid-configuration").await;
    assert_eq!(o.body["issuer"], iss);
    assert_eq!(o.body["subject_types_supported"], serde_json::json!(["public"]));
    assert_eq!(o.body["id_token_signing_alg_values_supported"], serde_json::json!(["ES256"]));
}

#[tokio::test]
async fn an_issuer_with_a_path_serves_under_it_and_inserts_well_known_before_it() {
    // The port is unknown before binding, so the issuer names another host: the
    // routes depend only on its path.
    let h = hub().file("world.yaml", WORLD).issuer("https://hub.example.test/tenant-a").start().await;
    let r = h.get("/.well-known/oauth-authorization-server/tenant-a").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["token_endpoint"], "https://hub.example.test/tenant-a/token");
    assert_eq!(h.get("/tenant-a/.well-known/openid-configuration").await.status, 200);
    assert_eq!(h.get("/tenant-a/jwks.json").await.status, 200);
    let s = h.secret("agents", "bot");
    let r = h
        .post(
            "/tenant-a/token",
            Some(("bot", &s)),
            &[("grant_type", "client_credentials"), ("resource", "https://mcp.example.test/mcp")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(h.get("/token").await.status, 404);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let h = world().await;
    assert_eq!(h.get("/healthz").await.status, 200);
    assert_eq!(h.get("/readyz").await.status, 200);
}

#[test]
fn issuers_must_be_urls_without_query_fragment_or_trailing_slash() {
    use keyward::issuer::check_issuer;
    assert!(check_issuer("https://hub.example").is_ok());
    assert!(check_issuer("https://hub.example/path").is_ok());
    assert!(check_issuer("http://127.0.0.1:8080").is_ok());
    for bad in ["hub.example", "ftp://x", "https://", "https:///x", "https://x?a=b", "https://x#f", "https://x/"] {
        assert!(check_issuer(bad).is_err(), "{bad}");
    }
}
