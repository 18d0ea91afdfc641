//! Malformed and hostile requests, each with the exact response a client sees.
//! None may produce a panic or a 500.

use crate::support::*;

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// name, request headers, body, then the expected status, error and description.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str, &'a str);

#[tokio::test]
async fn malformed_token_requests_get_the_exact_rfc6749_error() {
    let h = world().await;
    let secret = h.secret("agents", "bot");
    let b = basic("bot", &secret);
    let auth = ("authorization", b.as_str());
    let cc = "grant_type=client_credentials";
    let big = format!("{cc}&scope={}", "a".repeat(20 * 1024));
    let ghost = basic("ghost", "x");
    let wrong = basic("bot", "wrong");
    let poster = basic("poster", &h.secret("agents", "poster"));
    let long_echo = format!("unknown resource 'https://{}...'", "x".repeat(56));
    let cases: Vec<Case<'_>> = vec![
        (
            "no content type",
            vec![auth],
            cc.into(),
            400,
            "invalid_request",
            "content type must be application/x-www-form-urlencoded",
        ),
        (
            "json body",
            vec![("content-type", "application/json"), auth],
            br#"{"grant_type":"client_credentials"}"#.to_vec(),
            400,
            "invalid_request",
            "content type must be application/x-www-form-urlencoded",
        ),
        ("empty body", vec![FORM, auth], vec![], 400, "invalid_request", "grant_type is required"),
        (
            "empty grant_type",
            vec![FORM, auth],
            b"grant_type=".to_vec(),
            400,
            "invalid_request",
            "grant_type is required",
        ),
        (
            "unknown grant",
            vec![FORM, auth],
            b"grant_type=password".to_vec(),
            400,
            "unsupported_grant_type",
            "grant_type 'password' is not supported",
        ),
        (
            "later grant",
            vec![FORM, auth],
            b"grant_type=urn:openid:params:grant-type:ciba&auth_req_id=x".to_vec(),
            400,
            "unsupported_grant_type",
            "grant_type 'urn:openid:params:grant-type:ciba' is not supported by this hub yet",
        ),
        (
            "a grant the client does not have",
            vec![FORM, auth],
            b"grant_type=authorization_code&code=x".to_vec(),
            400,
            "unauthorized_client",
            "authorization_code is not enabled for this client",
        ),
        (
            "repeated grant_type",
            vec![FORM, auth],
            format!("{cc}&{cc}").into_bytes(),
            400,
            "invalid_request",
            "parameter 'grant_type' is repeated",
        ),
        (
            "repeated scope",
            vec![FORM, auth],
            format!("{cc}&scope=a&scope=b").into_bytes(),
            400,
            "invalid_request",
            "parameter 'scope' is repeated",
        ),
        (
            "oversized body",
            vec![FORM, auth],
            big.into_bytes(),
            413,
            "invalid_request",
            "request body exceeds 16384 bytes",
        ),
        (
            "non-UTF-8 byte",
            vec![FORM, auth],
            b"grant_type=client_credentials&scope=\xff".to_vec(),
            400,
            "invalid_request",
            "request is not UTF-8",
        ),
        (
            "non-UTF-8 escape",
            vec![FORM, auth],
            format!("{cc}&scope=%C3%28").into_bytes(),
            400,
            "invalid_request",
            "request is not UTF-8",
        ),
        (
            "broken escape",
            vec![FORM, auth],
            format!("{cc}&scope=%G1").into_bytes(),
            400,
            "invalid_request",
            "request body is not valid form encoding",
        ),
        (
            "too many parameters",
            vec![FORM, auth],
            format!("{cc}{}", "&x=1".repeat(40)).into_bytes(),
            400,
            "invalid_request",
            "more than 32 parameters",
        ),
        ("no client authentication", vec![FORM], cc.into(), 401, "invalid_client", "client authentication is required"),
        (
            "basic and post at once",
            vec![FORM, auth],
            format!("{cc}&client_id=bot&client_secret={}", url_encode(&secret)).into_bytes(),
            400,
            "invalid_request",
            "more than one client authentication method (RFC 6749 section 2.3)",
        ),
        (
            "basic with another body client_id",
            vec![FORM, auth],
            format!("{cc}&client_id=poster").into_bytes(),
            400,
            "invalid_request",
            "client_id does not match the Basic credentials",
        ),
        (
            "secret without id",
            vec![FORM],
            format!("{cc}&client_secret=x").into_bytes(),
            400,
            "invalid_request",
            "client_secret without client_id",
        ),
        (
            "id without secret",
            vec![FORM],
            format!("{cc}&client_id=bot").into_bytes(),
            401,
            "invalid_client",
            "client_secret is required",
        ),
        (
            "basic not base64",
            vec![FORM, ("authorization", "Basic !!!")],
            cc.into(),
            401,
            "invalid_client",
            "malformed Basic credentials",
        ),
        (
            "basic without colon",
            vec![FORM, ("authorization", "Basic Ym90")],
            cc.into(),
            401,
            "invalid_client",
            "malformed Basic credentials",
        ),
        (
            "bearer scheme",
            vec![FORM, ("authorization", "Bearer abc")],
            cc.into(),
            401,
            "invalid_client",
            "unsupported authentication scheme: use Basic",
        ),
        (
            "unknown client",
            vec![FORM, ("authorization", ghost.as_str())],
            cc.into(),
            401,
            "invalid_client",
            "unknown client 'ghost'",
        ),
        (
            "wrong secret",
            vec![FORM, ("authorization", wrong.as_str())],
            cc.into(),
            401,
            "invalid_client",
            "client authentication failed",
        ),
        (
            "post client using basic",
            vec![FORM, ("authorization", poster.as_str())],
            cc.into(),
            401,
            "invalid_client",
            "client is registered for client_secret_post, not client_secret_basic",
        ),
        (
            "basic client using post",
            vec![FORM],
            format!("{cc}&client_id=bot&client_secret={}", url_encode(&secret)).into_bytes(),
            401,
            "invalid_client",
            "client is registered for client_secret_basic, not client_secret_post",
        ),
        (
            "several resources allowed, none named",
            vec![FORM, auth],
            cc.into(),
            400,
            "invalid_target",
            "resource is required: this client may request several resources",
        ),
        (
            "unknown resource",
            vec![FORM, auth],
            format!("{cc}&resource=https%3A%2F%2Fnowhere.test").into_bytes(),
            400,
            "invalid_target",
            "unknown resource 'https://nowhere.test'",
        ),
        (
            "relative resource",
            vec![FORM, auth],
            format!("{cc}&resource=%2Forders").into_bytes(),
            400,
            "invalid_target",
            "resource must be an absolute URI without a fragment",
        ),
        (
            "two resources",
            vec![FORM, auth],
            format!(
                "{cc}&resource=https%3A%2F%2Fapi.example.test%2Forders&resource=https%3A%2F%2Fmcp.example.test%2Fmcp"
            )
            .into_bytes(),
            400,
            "invalid_target",
            "only one resource per token request is supported",
        ),
        (
            "scope outside the catalog",
            vec![FORM, auth],
            format!("{cc}&resource=https%3A%2F%2Fmcp.example.test%2Fmcp&scope=docs%3Adelete").into_bytes(),
            400,
            "invalid_scope",
            "scope 'docs:delete' is not defined by resource 'https://mcp.example.test/mcp'",
        ),
        (
            "malformed scope",
            vec![FORM, auth],
            format!("{cc}&resource=https%3A%2F%2Fmcp.example.test%2Fmcp&scope=a%22b").into_bytes(),
            400,
            "invalid_scope",
            "scope is malformed (RFC 6749 section 3.3)",
        ),
        (
            "quote in an echoed value",
            vec![FORM, auth],
            format!("{cc}&resource=https%3A%2F%2Fx%22y%5C").into_bytes(),
            400,
            "invalid_target",
            "unknown resource 'https://x?y?'",
        ),
        (
            "over-long echoed value",
            vec![FORM, auth],
            format!("{cc}&resource=https%3A%2F%2F{}", "x".repeat(300)).into_bytes(),
            400,
            "invalid_target",
            &long_echo,
        ),
    ];
    for (name, headers, body, status, error, description) in cases {
        let r = h.post_raw("/token", &headers, body).await;
        eprintln!("case: {name}");
        r.assert_error(status, error, description);
    }
}

#[tokio::test]
async fn tenant_errors_name_the_tenant() {
    let h = world().await;
    let s = h.secret("agents", "pinned");
    let r = h.post("/token", Some(("pinned", &s)), &[("grant_type", "client_credentials"), ("tenant", "globex")]).await;
    r.assert_error(400, "invalid_request", "tenant 'globex' is not allowed for this client");
    let r = h.post("/token", Some(("pinned", &s)), &[("grant_type", "client_credentials"), ("tenant", "a b")]).await;
    r.assert_error(400, "invalid_request", "tenant is malformed");
}

#[tokio::test]
async fn repeated_authorization_headers_are_invalid_request() {
    let h = world().await;
    let b = basic("bot", &h.secret("agents", "bot"));
    let r = h
        .http
        .post(format!("{}/token", h.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", &b)
        .header("authorization", &b)
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error_description"], "Authorization header is repeated");
}

#[tokio::test]
async fn wrong_methods_and_paths_are_not_500() {
    let h = world().await;
    assert_eq!(h.get("/token").await.status, 405);
    assert_eq!(h.get("/nope").await.status, 404);
    let r = h.post_raw("/jwks.json", &[FORM], "x").await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn random_bodies_never_produce_a_server_error() {
    // A small deterministic fuzz over the form parser and the grant path.
    let h = world().await;
    let b = basic("bot", &h.secret("agents", "bot"));
    let alphabet: &[u8] = b"=&%+ab_:/\xff\x00\"\\#grant_typeclient_credentialsresourcescope";
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..300 {
        let len = (seed % 64) as usize;
        let mut body = b"grant_type=client_credentials&".to_vec();
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            body.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        let r = h.post_raw("/token", &[FORM, ("authorization", &b)], body.clone()).await;
        assert!(r.status.as_u16() < 500, "{:?} -> {} {}", String::from_utf8_lossy(&body), r.status, r.text);
        assert!(r.status == 200 || r.body["error"].is_string(), "{}", r.text);
    }
}
