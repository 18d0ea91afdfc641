//! The shipped examples: they load with zero errors and do what their comments
//! say.

use std::path::Path;

use keyward_core::snapshot::Runtime;

use crate::support::*;

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
}

#[test]
fn keyward_check_finds_every_example_ready() {
    let mut out = Vec::new();
    let ok = keyward::check::run(
        &keyward::check::CheckOptions {
            manifests: examples().to_owned(),
            namespace: "default".into(),
            runtime: Runtime::Cluster,
        },
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(ok, "{text}");
    assert!(!text.contains("note:"), "{text}");
    assert!(text.contains("0 not ready"), "{text}");
}

#[test]
fn for_keyward_serve_only_the_workload_identity_example_needs_a_cluster() {
    let mut out = Vec::new();
    let opts = keyward::check::CheckOptions {
        manifests: examples().to_owned(),
        namespace: "default".into(),
        runtime: Runtime::Folder,
    };
    assert!(!keyward::check::run(&opts, &mut out).unwrap());
    let text = String::from_utf8(out).unwrap();
    let not_ready: Vec<&str> = text.lines().filter(|l| l.contains("NotReady")).collect();
    assert_eq!(not_ready.len(), 2, "{text}");
    assert!(not_ready[0].starts_with("OAuthClient      agents/report-generator"), "{text}");
    assert!(not_ready[1].starts_with("OAuthClient      agents/research-agent"), "{text}");
    assert!(not_ready.iter().all(|l| l.contains("Unsupported")), "{text}");
}

async fn examples_hub() -> TestHub {
    let mut b = hub();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "yaml") {
            b = b.file(p.file_name().unwrap().to_str().unwrap(), &std::fs::read_to_string(&p).unwrap());
        }
    }
    b.start().await
}

#[tokio::test]
async fn the_billing_agent_gets_refunds_for_acme_but_not_for_globex() {
    let h = examples_hub().await;
    let s = h.secret("agents", "billing-agent");
    let orders = "https://api.example.internal/orders";
    let ask = |tenant: &'static str| {
        let s = s.clone();
        let h = &h;
        async move {
            h.post(
                "/token",
                Some(("billing-agent", &s)),
                &[("grant_type", "client_credentials"), ("resource", orders), ("tenant", tenant)],
            )
            .await
        }
    };
    let acme = ask("acme").await;
    assert_eq!(acme.body["scope"], "orders:read orders:write orders:refund", "{}", acme.text);
    assert_eq!(acme.body["expires_in"], 1800, "the resource's 30m lifetime");
    let claims = h.verify(acme.body["access_token"].as_str().unwrap(), orders).await;
    assert_eq!(claims["tenant"], "acme");
    let globex = ask("globex").await;
    assert_eq!(globex.body["scope"], "orders:read orders:write", "deny wins: {}", globex.text);
    let initech = ask("initech").await;
    initech.assert_error(400, "invalid_request", "tenant 'initech' is not allowed for this client");
}

#[tokio::test]
async fn the_support_agent_reads_docs_through_the_mcp_server_with_its_own_lifetime() {
    let h = examples_hub().await;
    let s = h.secret("agents", "support-agent");
    let r = docs_token(&h, &[("client_id", "support-agent"), ("client_secret", &s)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["scope"], "docs:search docs:read");
    assert_eq!(r.body["expires_in"], 900);
    h.verify(r.body["access_token"].as_str().unwrap(), DOCS_MCP).await;
}

const DOCS_MCP: &str = "https://mcp.example.internal/docs/mcp";

/// A client_credentials request for the docs MCP server, authenticated in the body.
async fn docs_token(h: &TestHub, auth: &[(&str, &str)]) -> Reply {
    let mut pairs = vec![("grant_type", "client_credentials"), ("resource", DOCS_MCP)];
    pairs.extend_from_slice(auth);
    h.post("/token", None, &pairs).await
}

#[tokio::test]
async fn the_orders_api_server_introspects_agent_tokens() {
    let h = examples_hub().await;
    let s = h.secret("agents", "billing-agent");
    let orders = "https://api.example.internal/orders";
    let r = h
        .post(
            "/token",
            Some(("billing-agent", &s)),
            &[("grant_type", "client_credentials"), ("resource", orders), ("tenant", "acme"), ("scope", "orders:read")],
        )
        .await;
    let token = r.body["access_token"].as_str().unwrap();
    let server = h.secret("agents", "orders-api-server");
    let i = h.post("/introspect", Some(("orders-api-server", &server)), &[("token", token)]).await;
    assert_eq!(i.body["active"], true, "{}", i.text);
    assert_eq!(i.body["tenant"], "acme");
}

#[tokio::test]
async fn the_docs_indexer_authenticates_with_its_private_key_and_holds_no_secret() {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    let h = examples_hub().await;
    let der = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/example-mcp-client.pk8")).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).unwrap();
    let header = serde_json::json!({"alg": "ES256", "kid": "indexer-2026-11", "typ": "client-authentication+jwt"});
    let now = h.now();
    let claims = serde_json::json!({"iss": "docs-indexer", "sub": "docs-indexer", "aud": h.issuer(),
        "iat": now, "exp": now + 60, "jti": "indexer-run-1"});
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let sig = key.sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes()).unwrap();
    let assertion = format!("{input}.{}", B64.encode(sig.as_ref()));
    let auth = [
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion.as_str()),
    ];
    let r = docs_token(&h, &auth).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["scope"], "docs:search docs:read");
    let c = h.verify(r.body["access_token"].as_str().unwrap(), DOCS_MCP).await;
    assert_eq!(c["client_id"], "docs-indexer");
    assert!(!h.state.join("credentials/agents/docs-indexer-credentials.yaml").exists());
}
