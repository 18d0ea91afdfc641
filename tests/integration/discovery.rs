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

#[tokio::test]
async fn every_resource_has_its_protected_resource_metadata_at_the_hub() {
    let h = world().await;
    let r = h.get("/protected-resources/shop/docs").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        r.body,
        serde_json::json!({
            "resource": "https://mcp.example.test/mcp",
            "authorization_servers": [h.issuer()],
            "scopes_supported": ["docs:search"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Docs",
        })
    );
    // An api Resource is a protected resource too.
    let r = h.get("/protected-resources/shop/orders").await;
    assert_eq!(r.body["resource"], "https://api.example.test/orders");
    assert_eq!(r.body["scopes_supported"], serde_json::json!(["orders:read", "orders:write"]));
    // What is not a Resource of this hub: nothing, not even its name back.
    for missing in ["/protected-resources/shop/nope", "/protected-resources/other/docs", "/protected-resources/shop"] {
        let r = h.get(missing).await;
        assert_eq!(r.status, 404, "{missing}");
        assert_eq!(r.text, "", "{missing}");
    }
}

#[tokio::test]
async fn a_resource_removed_from_the_folder_loses_its_metadata_at_once() {
    let h = world().await;
    assert_eq!(h.get("/protected-resources/shop/docs").await.status, 200);
    let without: String = WORLD
        .split("\n---\n")
        .filter(|doc| !doc.contains("name: docs, namespace: shop"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    h.write("world.yaml", &without);
    h.eventually("the metadata of a removed Resource is gone", || async {
        h.get("/protected-resources/shop/docs").await.status == 404
    })
    .await;
}

#[tokio::test]
async fn browser_clients_may_call_discovery_jwks_token_and_metadata_from_any_origin() {
    let h = hub().file("world.yaml", WORLD).issuer("https://hub.example.test/tenant-a").start().await;
    let http = reqwest::Client::new();
    let origin = "https://inspector.example";
    // The MCP SDKs send MCP-Protocol-Version with discovery: a preflight.
    for path in [
        "/.well-known/oauth-authorization-server/tenant-a",
        "/.well-known/openid-configuration/tenant-a",
        "/tenant-a/.well-known/openid-configuration",
        "/tenant-a/jwks.json",
        "/tenant-a/token",
        "/tenant-a/revoke",
        "/tenant-a/userinfo",
        "/tenant-a/protected-resources/shop/docs",
    ] {
        let r = http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", h.base))
            .header("origin", origin)
            .header("access-control-request-method", if path.ends_with("token") { "POST" } else { "GET" })
            .header("access-control-request-headers", "authorization, content-type, mcp-protocol-version")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let hd = r.headers();
        assert_eq!(hd["access-control-allow-origin"], "*", "{path}");
        let allowed = hd["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
        for name in ["authorization", "content-type", "mcp-protocol-version"] {
            assert!(allowed.contains(name), "{path}: {allowed}");
        }
        // A wildcard never admits cookies.
        assert!(hd.get("access-control-allow-credentials").is_none(), "{path}");
    }
    // The simple requests carry the header too, and a 401's challenge is
    // readable by the page.
    let r = http.get(format!("{}/tenant-a/jwks.json", h.base)).header("origin", origin).send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let r = http
        .post(format!("{}/tenant-a/token", h.base))
        .header("origin", origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=bot&client_secret=wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(
        r.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("www-authenticate")
    );
    // Pages, introspection and the admin endpoint are not for other origins.
    for (method, path) in [
        ("GET", "/tenant-a/authorize"),
        ("POST", "/tenant-a/introspect"),
        ("POST", "/tenant-a/login"),
        ("POST", "/tenant-a/consent"),
        ("POST", "/tenant-a/admin/consents"),
    ] {
        let r = http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", h.base))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .send()
            .await
            .unwrap();
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{path}");
    }
}

#[tokio::test]
async fn an_issuer_with_a_path_has_openid_configuration_inserted_and_appended() {
    let h = hub().file("world.yaml", WORLD).issuer("https://hub.example.test/tenant-a").start().await;
    let inserted = h.get("/.well-known/openid-configuration/tenant-a").await;
    let appended = h.get("/tenant-a/.well-known/openid-configuration").await;
    assert_eq!(inserted.status, 200);
    assert_eq!(inserted.body, appended.body);
    assert_eq!(inserted.body["issuer"], "https://hub.example.test/tenant-a");
    // Another path is another issuer: not this one.
    assert_eq!(h.get("/.well-known/openid-configuration/tenant-b").await.status, 404);
    assert_eq!(h.get("/.well-known/oauth-authorization-server/tenant-b").await.status, 404);
}
