//! The JWT bearer grant (RFC 7523) end to end, against the test issuer: real
//! keys fetched through the guarded fetcher, every refusal with its exact
//! RFC error.

use std::time::Instant;

use serde_json::{Value, json};

use crate::issuer::TestIssuer;
use crate::support::*;

pub const HUB: &str = "https://hub.example.test";
const ORDERS: &str = "https://api.example.test/orders";

/// `wl` trusts the test issuer's `good` and misbehaving variants; `once`
/// rejects replays (the default); `ui` and `liar` go through userinfo.
pub fn workloads(iss: &TestIssuer) -> String {
    let issuer = |v: &str, extra: &str| {
        format!("{{issuer: '{}', subjects: ['spiffe://test/*'], rejectReplay: false{extra}}}", iss.issuer(v))
    };
    format!(
        r#"
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: wl, namespace: agents}}
spec:
  displayName: Workload
  clientId: wl
  grantTypes:
    jwtBearer:
      trustedIssuers:
        - {good}
        - {slow}
        - {huge}
        - {redirect}
  resources: [{{name: orders, namespace: shop, scopes: ["orders:read", "orders:write"]}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: once, namespace: agents}}
spec:
  displayName: One-time assertions
  clientId: once
  grantTypes:
    jwtBearer:
      trustedIssuers: [{{issuer: '{once}', algorithms: [ES256]}}]
  resources: [{{name: orders, namespace: shop, scopes: ["orders:read"]}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: ui, namespace: agents}}
spec:
  displayName: Userinfo
  clientId: ui
  grantTypes:
    jwtBearer:
      trustedIssuers:
        - {{issuer: '{ui}', userInfoEndpoint: '{ui}/userinfo', rejectReplay: false}}
        - {{issuer: '{liar}', userInfoEndpoint: '{liar}/userinfo', rejectReplay: false}}
  resources: [{{name: orders, namespace: shop, scopes: ["orders:read"]}}]
"#,
        good = issuer("good", ""),
        slow = issuer("slow", ""),
        huge = issuer("huge", ""),
        redirect = issuer("redirect", ""),
        once = iss.issuer("once"),
        ui = iss.issuer("ui"),
        liar = iss.issuer("liar"),
    )
}

pub async fn hub_with_issuer() -> (TestHub, TestIssuer) {
    let iss = TestIssuer::start().await;
    let h = hub().file("world.yaml", WORLD).file("workloads.yaml", &workloads(&iss)).issuer(HUB).start().await;
    (h, iss)
}

pub fn claims(iss: &TestIssuer, variant: &str, now: u64) -> Value {
    json!({"iss": iss.issuer(variant), "sub": "spiffe://test/agent", "aud": HUB, "iat": now, "exp": now + 300, "jti": format!("j-{now}-{}", rand_suffix())})
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

pub fn rs256() -> Value {
    json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"})
}

async fn grant(h: &TestHub, client: &str, assertion: &str) -> Reply {
    h.post(
        "/token",
        None,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", client),
            ("assertion", assertion),
            ("resource", ORDERS),
        ],
    )
    .await
}

#[tokio::test]
async fn a_signed_assertion_buys_a_token_for_its_subject() {
    let (h, iss) = hub_with_issuer().await;
    let assertion = iss.sign(&rs256(), &claims(&iss, "good", h.now()));
    let r = grant(&h, "wl", &assertion).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["scope"], "orders:read orders:write");
    let c = h.verify(r.body["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!(c["sub"], "spiffe://test/agent");
    assert_eq!(c["client_id"], "wl");
    // ES256 too, and with client authentication as well as the assertion.
    let es = iss.sign(&json!({"alg": "ES256", "kid": "ec-1"}), &claims(&iss, "good", h.now()));
    let secret = h.secret("agents", "wl");
    let r = h
        .post(
            "/token",
            Some(("wl", &secret)),
            &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &es)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The keys were fetched once and cached.
    assert_eq!(iss.hits("/good/jwks"), 1);
}

#[tokio::test]
async fn a_replayed_assertion_is_refused_where_the_issuer_asks_for_it() {
    let (h, iss) = hub_with_issuer().await;
    let a = iss.sign(&json!({"alg": "ES256", "kid": "ec-1"}), &claims(&iss, "once", h.now()));
    assert_eq!(grant(&h, "once", &a).await.status, 200);
    grant(&h, "once", &a).await.assert_error(400, "invalid_grant", "the assertion was already used (jti)");
    let mut no_jti = claims(&iss, "once", h.now());
    no_jti.as_object_mut().unwrap().remove("jti");
    let a = iss.sign(&json!({"alg": "ES256", "kid": "ec-1"}), &no_jti);
    grant(&h, "once", &a).await.assert_error(
        400,
        "invalid_grant",
        "the assertion has no jti, and this issuer's assertions may be used once only",
    );
    // The same issuer's RS256 key is not accepted where only ES256 is.
    let rs = iss.sign(&rs256(), &claims(&iss, "once", h.now()));
    grant(&h, "once", &rs).await.assert_error(400, "invalid_grant", "alg 'RS256' is not accepted for this issuer");
}

#[tokio::test]
async fn malformed_and_hostile_assertions_get_the_exact_error() {
    let (h, iss) = hub_with_issuer().await;
    let now = h.now();
    let good = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = claims(&iss, "good", now);
        f(c.as_object_mut().unwrap());
        c
    };
    let signed = |header: Value, c: Value| iss.sign(&header, &c);
    let mut tampered = signed(rs256(), good(&|_| {}));
    let parts: Vec<&str> = tampered.split('.').collect();
    let other_payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            good(&|c| {
                c.insert("sub".into(), "spiffe://test/admin".into());
            })
            .to_string(),
        )
    };
    tampered = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", signed(json!({"alg": "none"}), good(&|_| {})), "alg 'none' is not accepted for this issuer"),
        (
            "HS256 with the public key",
            signed(json!({"alg": "HS256", "kid": "rsa-1"}), good(&|_| {})),
            "alg 'HS256' is not accepted for this issuer",
        ),
        (
            "unknown kid",
            signed(json!({"alg": "RS256", "kid": "nope"}), good(&|_| {})),
            "unknown key 'nope' for this issuer",
        ),
        (
            "kid as a path",
            signed(json!({"alg": "RS256", "kid": "../../../etc/passwd"}), good(&|_| {})),
            "unknown key '../../../etc/passwd' for this issuer",
        ),
        (
            "kid as a URL",
            signed(json!({"alg": "RS256", "kid": "http://127.0.0.1:1/evil"}), good(&|_| {})),
            "unknown key 'http://127.0.0.1:1/evil' for this issuer",
        ),
        ("kid with spaces", signed(json!({"alg": "RS256", "kid": "a b"}), good(&|_| {})), "kid is malformed"),
        ("kid not a string", signed(json!({"alg": "RS256", "kid": 7}), good(&|_| {})), "kid is malformed"),
        ("bad signature", tampered, "the assertion's signature is invalid"),
        (
            "expired",
            signed(
                rs256(),
                good(&|c| {
                    c.insert("iat".into(), (now - 400).into());
                    c.insert("exp".into(), (now - 60).into());
                }),
            ),
            "the assertion has expired",
        ),
        (
            "not yet valid",
            signed(
                rs256(),
                good(&|c| {
                    c.insert("nbf".into(), (now + 120).into());
                }),
            ),
            "the assertion is not valid yet (nbf)",
        ),
        (
            "issued in the future",
            signed(
                rs256(),
                good(&|c| {
                    c.insert("iat".into(), (now + 120).into());
                    c.insert("exp".into(), (now + 400).into());
                }),
            ),
            "the assertion is issued in the future (iat)",
        ),
        (
            "far-future exp",
            signed(
                rs256(),
                good(&|c| {
                    c.insert("exp".into(), (now + 86400 * 365).into());
                }),
            ),
            "the assertion lives longer than this issuer's maxLifetime",
        ),
        (
            "no exp",
            signed(
                rs256(),
                good(&|c| {
                    c.remove("exp");
                }),
            ),
            "the assertion has no exp",
        ),
        (
            "exp not a number",
            signed(
                rs256(),
                good(&|c| {
                    c.insert("exp".into(), "soon".into());
                }),
            ),
            "exp is not a NumericDate",
        ),
        (
            "wrong aud",
            signed(
                rs256(),
                good(&|c| {
                    c.insert("aud".into(), "https://elsewhere.test".into());
                }),
            ),
            "the assertion is not for this hub (aud)",
        ),
        (
            "no sub",
            signed(
                rs256(),
                good(&|c| {
                    c.remove("sub");
                }),
            ),
            "the assertion has no 'sub'",
        ),
        (
            "subject not allowed",
            signed(
                rs256(),
                good(&|c| {
                    c.insert("sub".into(), "spiffe://other/agent".into());
                }),
            ),
            "subject 'spiffe://other/agent' is not allowed for this client",
        ),
        (
            "untrusted issuer",
            signed(
                rs256(),
                good(&|c| {
                    c.insert("iss".into(), "https://evil.test".into());
                }),
            ),
            "issuer 'https://evil.test' is not trusted by this client",
        ),
        (
            "no iss",
            signed(
                rs256(),
                good(&|c| {
                    c.remove("iss");
                }),
            ),
            "the assertion has no iss",
        ),
        (
            "nested JWT",
            signed(json!({"alg": "RS256", "kid": "rsa-1", "cty": "JWT"}), good(&|_| {})),
            "nested JWTs are not accepted",
        ),
        (
            "crit header",
            signed(json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}), good(&|_| {})),
            "the assertion has critical header parameters this hub does not understand",
        ),
        ("encrypted", "a.b.c.d.e".into(), "encrypted assertions are not accepted"),
        ("not a JWT", "not-a-jwt".into(), "the assertion is not a JWT"),
        ("header not JSON", "e30x.e30.e30".into(), "the assertion is not a JWT"),
        ("oversized", format!("{}.{}.x", "a".repeat(5000), "b".repeat(5000)), "the assertion is too large"),
    ];
    for (name, assertion, description) in cases {
        eprintln!("case: {name}");
        grant(&h, "wl", &assertion).await.assert_error(400, "invalid_grant", description);
    }
    // kid tricks never made the hub fetch anything but the issuer's own documents.
    for path in iss.all_paths() {
        assert!(path.starts_with("/good/"), "unexpected fetch of {path}");
    }
    assert!(
        iss.hits("/good/jwks") <= 2,
        "unknown kids refresh the JWKS at most once per interval: {}",
        iss.hits("/good/jwks")
    );
}

#[tokio::test]
async fn request_level_errors_are_exact() {
    let (h, iss) = hub_with_issuer().await;
    let a = iss.sign(&rs256(), &claims(&iss, "good", h.now()));
    let r = h
        .post("/token", None, &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", "wl")])
        .await;
    r.assert_error(400, "invalid_request", "assertion is required");
    let r = h
        .post("/token", None, &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &a)])
        .await;
    r.assert_error(401, "invalid_client", "client_id is required");
    // A client without the grant must authenticate, and then is refused the grant.
    grant(&h, "bot", &a).await.assert_error(401, "invalid_client", "client_secret is required");
    let s = h.secret("agents", "bot");
    let r = h
        .post(
            "/token",
            Some(("bot", &s)),
            &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &a)],
        )
        .await;
    r.assert_error(400, "unauthorized_client", "the JWT bearer grant is not enabled for this client");
}

#[tokio::test]
async fn a_slow_huge_or_redirecting_issuer_fails_alone_and_fast() {
    let (h, iss) = hub_with_issuer().await;
    for variant in ["slow", "huge", "redirect"] {
        let a = iss.sign(&rs256(), &claims(&iss, variant, h.now()));
        let started = Instant::now();
        let (slow, fast) = tokio::join!(grant(&h, "wl", &a), async {
            // Meanwhile another issuer and another grant are served at once.
            let ok = iss.sign(&rs256(), &claims(&iss, "good", h.now()));
            let t = Instant::now();
            let r = grant(&h, "wl", &ok).await;
            let cc = h.bot_token(&[("resource", "https://mcp.example.test/mcp")]).await;
            (r.status, cc.status, t.elapsed())
        });
        eprintln!("{variant}: refused after {:?}; meanwhile others took {:?}", started.elapsed(), fast.2);
        slow.assert_error(503, "temporarily_unavailable", "the issuer's keys cannot be fetched right now");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{variant}: bounded by the fetch timeout");
        assert_eq!((fast.0.as_u16(), fast.1.as_u16()), (200, 200));
        assert!(fast.2 < std::time::Duration::from_secs(1), "{variant} stalled others: {:?}", fast.2);
    }
}

#[tokio::test]
async fn userinfo_must_confirm_the_subject() {
    let (h, iss) = hub_with_issuer().await;
    let a = iss.sign(&rs256(), &claims(&iss, "ui", h.now()));
    let r = grant(&h, "ui", &a).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let a = iss.sign(&rs256(), &claims(&iss, "liar", h.now()));
    grant(&h, "ui", &a).await.assert_error(400, "invalid_grant", "the issuer's userinfo does not confirm the subject");
}
