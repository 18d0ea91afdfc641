//! `private_key_jwt` client authentication (RFC 7523 §2.2) end to end: a
//! client whose public keys are in its manifest, one whose keys are at a
//! `jwksUri` on the test issuer, and every malformed or hostile client
//! assertion with the exact error a client sees.

use serde_json::{Value, json};

use crate::issuer::TestIssuer;
use crate::support::*;

const HUB: &str = "https://hub.example.test";
const ORDERS: &str = "https://api.example.test/orders";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The public members of the test issuer's keys, as a manifest holds them.
fn manifest_keys(iss: &TestIssuer) -> String {
    let keys: Vec<Value> = iss.jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let mut m = serde_json::Map::new();
            for member in ["kty", "kid", "alg", "use", "n", "e", "crv", "x", "y"] {
                if let Some(v) = k.get(member) {
                    m.insert(member.into(), v.clone());
                }
            }
            Value::Object(m)
        })
        .collect();
    serde_json::to_string(&keys).unwrap()
}

fn clients(iss: &TestIssuer) -> String {
    format!(
        r#"
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: keyed, namespace: agents}}
spec:
  displayName: Keys in the manifest
  clientId: keyed
  tokenEndpointAuthMethod: private_key_jwt
  jwks: {{keys: {keys}}}
  grantTypes: {{clientCredentials: {{}}}}
  resources: [{{name: orders, namespace: shop, scopes: ["orders:read"]}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: fetched, namespace: agents}}
spec:
  displayName: Keys at a jwksUri
  clientId: fetched
  tokenEndpointAuthMethod: private_key_jwt
  jwksUri: '{good}/jwks'
  grantTypes: {{clientCredentials: {{}}}}
  resources: [{{name: orders, namespace: shop, scopes: ["orders:read"]}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: misled, namespace: agents}}
spec:
  displayName: Keys behind a redirect to the metadata service
  clientId: misled
  tokenEndpointAuthMethod: private_key_jwt
  jwksUri: '{redirect}/jwks'
  grantTypes: {{clientCredentials: {{}}}}
  resources: [{{name: orders, namespace: shop, scopes: ["orders:read"]}}]
"#,
        keys = manifest_keys(iss),
        good = iss.issuer("good"),
        redirect = iss.issuer("redirect"),
    )
}

async fn setup() -> (TestHub, TestIssuer) {
    let iss = TestIssuer::start().await;
    let h = hub().file("world.yaml", WORLD).file("keyed.yaml", &clients(&iss)).issuer(HUB).start().await;
    (h, iss)
}

fn next_jti() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("ca-{}", N.fetch_add(1, Ordering::SeqCst))
}

/// Legacy (untyped) claims for `client`, audience the token endpoint.
fn claims(client: &str, now: u64) -> Value {
    json!({"iss": client, "sub": client, "aud": format!("{HUB}/token"), "iat": now, "exp": now + 60, "jti": next_jti()})
}

fn es256() -> Value {
    json!({"alg": "ES256", "kid": "ec-1"})
}

async fn token_with(h: &TestHub, assertion: &str, extra: &[(&str, &str)]) -> Reply {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
        ("resource", ORDERS),
    ];
    pairs.extend_from_slice(extra);
    h.post("/token", None, &pairs).await
}

#[tokio::test]
async fn a_client_with_keys_in_its_manifest_gets_a_token_with_a_signed_assertion() {
    let (h, iss) = setup().await;
    // Legacy: untyped, audience the token endpoint, ES256.
    let r = token_with(&h, &iss.sign(&es256(), &claims("keyed", h.now())), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["scope"], "orders:read");
    let c = h.verify(r.body["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!((c["client_id"].as_str(), c["sub"].as_str()), (Some("keyed"), Some("keyed")));
    // rfc7523bis: explicitly typed, audience the issuer alone; RS256; client_id
    // sent as well.
    let mut typed = claims("keyed", h.now());
    typed["aud"] = json!(HUB);
    let header = json!({"alg": "RS256", "kid": "rsa-1", "typ": "client-authentication+jwt"});
    let r = token_with(&h, &iss.sign(&header, &typed), &[("client_id", "keyed")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The hub holds no secret for it: nothing was generated.
    assert!(!h.state.join("credentials/agents/keyed-credentials.yaml").exists());
}

#[tokio::test]
async fn keys_at_a_jwks_uri_are_fetched_once_and_cached() {
    let (h, iss) = setup().await;
    for _ in 0..3 {
        let r = token_with(&h, &iss.sign(&es256(), &claims("fetched", h.now())), &[]).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(iss.hits("/good/jwks"), 1);
    // An unknown kid is refused after one (rate-limited) refresh.
    let r = token_with(&h, &iss.sign(&json!({"alg": "ES256", "kid": "gone"}), &claims("fetched", h.now())), &[]).await;
    r.assert_error(401, "invalid_client", "unknown key 'gone' for this client");
}

#[tokio::test]
async fn keys_behind_a_redirect_to_the_metadata_service_are_never_fetched() {
    let (h, iss) = setup().await;
    let r = token_with(&h, &iss.sign(&es256(), &claims("misled", h.now())), &[]).await;
    r.assert_error(503, "temporarily_unavailable", "the client's keys cannot be fetched right now");
}

#[tokio::test]
async fn a_client_assertion_is_accepted_once() {
    let (h, iss) = setup().await;
    let assertion = iss.sign(&es256(), &claims("keyed", h.now()));
    assert_eq!(token_with(&h, &assertion, &[]).await.status, 200);
    let r = token_with(&h, &assertion, &[]).await;
    r.assert_error(401, "invalid_client", "the client assertion was already used (jti)");
}

#[tokio::test]
async fn client_assertions_authenticate_at_introspection_and_revocation() {
    let (h, iss) = setup().await;
    let r = token_with(&h, &iss.sign(&es256(), &claims("keyed", h.now())), &[]).await;
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    let at = |path: &str| {
        let mut c = claims("keyed", h.now());
        c["aud"] = json!(format!("{HUB}{path}"));
        iss.sign(&es256(), &c)
    };
    let post = |path: &'static str, assertion: String| {
        let (h, token) = (&h, token.clone());
        async move {
            let pairs = [
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion.as_str()),
                ("token", token.as_str()),
            ];
            h.post(path, None, &pairs).await
        }
    };
    let r = post("/introspect", at("/introspect")).await;
    assert_eq!((r.status.as_u16(), r.body["active"].as_bool()), (200, Some(true)), "{}", r.text);
    // An assertion made for introspection does not authenticate revocation.
    let r = post("/revoke", at("/introspect")).await;
    r.assert_error(401, "invalid_client", "the client assertion is not for this hub (aud)");
    let r = post("/revoke", at("/revoke")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post("/introspect", at("/introspect")).await;
    assert_eq!(r.body["active"], false);
}

/// What is sent, extra form fields, and the status, error and description expected.
type Case<'a> = (&'a str, String, &'a [(&'a str, &'a str)], u16, &'a str, String);

#[tokio::test]
async fn hostile_and_malformed_client_assertions_get_the_exact_error() {
    let (h, iss) = setup().await;
    let now = h.now();
    let c = |f: &dyn Fn(&mut Value)| {
        let mut v = claims("keyed", now);
        f(&mut v);
        v
    };
    let signed = |header: Value, claims: Value| iss.sign(&header, &claims);
    let tampered = {
        let good = signed(es256(), claims("keyed", now));
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let other = signed(es256(), c(&|v| v["jti"] = json!("another")));
        parts[1] = other.split('.').nth(1).unwrap().to_owned();
        parts.join(".")
    };
    let cases: Vec<Case<'_>> = vec![
        (
            "alg none",
            signed(json!({"alg": "none"}), claims("keyed", now)),
            &[],
            401,
            "invalid_client",
            "alg 'none' is not accepted for client authentication".into(),
        ),
        (
            "HS256 with the public key",
            signed(json!({"alg": "HS256", "kid": "rsa-1"}), claims("keyed", now)),
            &[],
            401,
            "invalid_client",
            "alg 'HS256' is not accepted for client authentication".into(),
        ),
        (
            "unknown kid",
            signed(json!({"alg": "ES256", "kid": "nope"}), claims("keyed", now)),
            &[],
            401,
            "invalid_client",
            "unknown key 'nope' for this client".into(),
        ),
        (
            "kid with a path",
            signed(json!({"alg": "ES256", "kid": "../../etc/passwd"}), claims("keyed", now)),
            &[],
            401,
            "invalid_client",
            "unknown key '../../etc/passwd' for this client".into(),
        ),
        (
            "kid with a space",
            signed(json!({"alg": "ES256", "kid": "ec 1"}), claims("keyed", now)),
            &[],
            401,
            "invalid_client",
            "kid is malformed".into(),
        ),
        (
            "kid that is a URL",
            signed(json!({"alg": "ES256", "kid": {"url": "http://127.0.0.1/"}}), claims("keyed", now)),
            &[],
            401,
            "invalid_client",
            "kid is malformed".into(),
        ),
        (
            "alg the key cannot do",
            signed(json!({"alg": "ES256", "kid": "rsa-1"}), claims("keyed", now)),
            &[],
            401,
            "invalid_client",
            "the client's key does not verify ES256".into(),
        ),
        ("bad signature", tampered, &[], 401, "invalid_client", "the client assertion's signature is invalid".into()),
        (
            "expired",
            signed(
                es256(),
                c(&|v| {
                    v["iat"] = json!(now - 200);
                    v["exp"] = json!(now - 100)
                }),
            ),
            &[],
            401,
            "invalid_client",
            "the client assertion has expired".into(),
        ),
        (
            "not yet valid",
            signed(es256(), c(&|v| v["nbf"] = json!(now + 120))),
            &[],
            401,
            "invalid_client",
            "the client assertion is not valid yet (nbf)".into(),
        ),
        (
            "issued in the future",
            signed(
                es256(),
                c(&|v| {
                    v["iat"] = json!(now + 600);
                    v["exp"] = json!(now + 700)
                }),
            ),
            &[],
            401,
            "invalid_client",
            "the client assertion is issued in the future (iat)".into(),
        ),
        (
            "lives too long",
            signed(es256(), c(&|v| v["exp"] = json!(now + 7200))),
            &[],
            401,
            "invalid_client",
            "the client assertion may live at most 3600 seconds (exp)".into(),
        ),
        (
            "exp not a number",
            signed(es256(), c(&|v| v["exp"] = json!("soon"))),
            &[],
            401,
            "invalid_client",
            "exp is not a NumericDate".into(),
        ),
        (
            "no exp",
            signed(
                es256(),
                c(&|v| {
                    v.as_object_mut().unwrap().remove("exp");
                }),
            ),
            &[],
            401,
            "invalid_client",
            "the client assertion has no exp".into(),
        ),
        (
            "wrong audience",
            signed(es256(), c(&|v| v["aud"] = json!("https://other.example/token"))),
            &[],
            401,
            "invalid_client",
            "the client assertion is not for this hub (aud)".into(),
        ),
        (
            "typed with the token endpoint as audience",
            signed(json!({"alg": "ES256", "kid": "ec-1", "typ": "client-authentication+jwt"}), claims("keyed", now)),
            &[],
            401,
            "invalid_client",
            "the client assertion's aud must be this hub's issuer identifier, as a single string".into(),
        ),
        (
            "an access token's typ",
            signed(json!({"alg": "ES256", "kid": "ec-1", "typ": "at+jwt"}), claims("keyed", now)),
            &[],
            401,
            "invalid_client",
            "a JWT of type 'at+jwt' is not a client assertion".into(),
        ),
        (
            "iss is not sub",
            signed(es256(), c(&|v| v["iss"] = json!("bot"))),
            &[],
            401,
            "invalid_client",
            "the client assertion's iss and sub must both be the client id".into(),
        ),
        (
            "no sub",
            signed(
                es256(),
                c(&|v| {
                    v.as_object_mut().unwrap().remove("sub");
                }),
            ),
            &[],
            401,
            "invalid_client",
            "the client assertion has no sub".into(),
        ),
        (
            "no jti",
            signed(
                es256(),
                c(&|v| {
                    v.as_object_mut().unwrap().remove("jti");
                }),
            ),
            &[],
            401,
            "invalid_client",
            "the client assertion has no jti".into(),
        ),
        (
            "unknown client",
            signed(es256(), claims("ghost", now)),
            &[],
            401,
            "invalid_client",
            "unknown client 'ghost'".into(),
        ),
        (
            "a secret client",
            signed(es256(), claims("bot", now)),
            &[],
            401,
            "invalid_client",
            "client is registered for client_secret_basic, not private_key_jwt".into(),
        ),
        (
            "client_id that disagrees",
            signed(es256(), claims("keyed", now)),
            &[("client_id", "bot")],
            401,
            "invalid_client",
            "client_id does not match the client assertion's sub".into(),
        ),
        ("not a JWT", "not-a-jwt".into(), &[], 401, "invalid_client", "the client assertion is not a JWT".into()),
        ("a JWE", "a.b.c.d.e".into(), &[], 401, "invalid_client", "encrypted assertions are not accepted".into()),
        (
            "nested JWT",
            signed(json!({"alg": "ES256", "kid": "ec-1", "cty": "JWT"}), claims("keyed", now)),
            &[],
            401,
            "invalid_client",
            "nested JWTs are not accepted".into(),
        ),
        (
            "too large",
            format!("{}.{}.x", "a".repeat(4096), "b".repeat(4200)),
            &[],
            401,
            "invalid_client",
            "the client assertion is too large".into(),
        ),
    ];
    for (what, assertion, extra, status, error, description) in &cases {
        let r = token_with(&h, assertion, extra).await;
        assert_eq!(
            (r.status.as_u16(), r.body["error"].as_str(), r.body["error_description"].as_str()),
            (*status, Some(*error), Some(description.as_str())),
            "{what}: {}",
            r.text
        );
        r.assert_error(*status, error, description);
    }
}

#[tokio::test]
async fn mixing_or_mislabelling_authentication_methods_is_refused() {
    let (h, iss) = setup().await;
    let assertion = iss.sign(&es256(), &claims("keyed", h.now()));
    let secret = h.secret("agents", "bot");
    // An assertion and Basic credentials together.
    let r = h
        .post(
            "/token",
            Some(("bot", &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    r.assert_error(400, "invalid_request", "more than one client authentication method (RFC 6749 section 2.3)");
    let r = h
        .post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    r.assert_error(
        401,
        "invalid_client",
        "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    );
    let r = h.post("/token", None, &[("grant_type", "client_credentials"), ("client_assertion", &assertion)]).await;
    r.assert_error(400, "invalid_request", "client_assertion without client_assertion_type");
    // The keyed client cannot fall back to a secret, or to its id alone.
    let r = h.post("/token", Some(("keyed", "guess")), &[("grant_type", "client_credentials")]).await;
    r.assert_error(401, "invalid_client", "client is registered for private_key_jwt, not client_secret_basic");
    let r = h.post("/token", None, &[("grant_type", "client_credentials"), ("client_id", "keyed")]).await;
    r.assert_error(
        401,
        "invalid_client",
        "client_assertion is required: this client authenticates with private_key_jwt",
    );
}
