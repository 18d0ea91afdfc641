//! Unit tests for the public surface that needs no server: allow-list
//! parsing, policy validation, CA-bundle clients, redaction, key filtering.
//! Real HTTP exchanges are in `tests/integration/fetch/`.

use super::*;
use serde_json::json;

/// A self-signed P-256 CA certificate (public part only), valid until 2126.
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBjDCCATGgAwIBAgIUf2gy4xXYBrV1G3Vd9KJ5b54arsAwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPa2V5d2FyZCB0ZXN0IENBMCAXDTI2MTEyMzA5MzEzMFoYDzIx
MjYxMDMwMDkzMTMwWjAaMRgwFgYDVQQDDA9rZXl3YXJkIHRlc3QgQ0EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAASszsDtrR73OoW7lOgKLRVn1tasAW5XPKAWE/Nc
bLot5Onah0idoChPmdaw2qmOi7/2UHjUwiBwKw28z3fTi2QJo1MwUTAdBgNVHQ4E
FgQUJBtl9iapCuCB9MOxDlHvFXXlN54wHwYDVR0jBBgwFoAUJBtl9iapCuCB9MOx
DlHvFXXlN54wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAncfK
Lo30t4ueo46jFKD6x5TsxSST37ETL4q2vJifM9MCIQCkMcqK1LIdYVk9nMOnOhAH
J7P+xr2O2ombf4U+GQKj4A==
-----END CERTIFICATE-----
";

#[test]
fn allow_entries_parse_nets_addresses_and_hosts() {
    let net = |s: &str| AllowEntry::Net(s.parse().unwrap());
    assert_eq!("10.0.0.0/8".parse(), Ok(net("10.0.0.0/8")));
    // Host bits are dropped rather than rejected.
    assert_eq!("10.1.2.3/8".parse(), Ok(net("10.0.0.0/8")));
    assert_eq!("127.0.0.1".parse(), Ok(net("127.0.0.1/32")));
    assert_eq!(" ::1 ".parse(), Ok(net("::1/128")));
    assert_eq!("[fd00::1]".parse(), Ok(net("fd00::1/128")));
    assert_eq!("fd00::/8".parse(), Ok(net("fd00::/8")));
    assert_eq!("kubernetes.default.svc".parse(), Ok(AllowEntry::Host("kubernetes.default.svc".into())));
    assert_eq!("Issuer.Example.".parse(), Ok(AllowEntry::Host("issuer.example".into())));
    assert_eq!("localhost".parse(), Ok(AllowEntry::Host("localhost".into())));
    for bad in ["", "a b", "https://issuer.example", "-bad.example", "a..b", "1.2.3", "999.1.1.1", "10.0.0.0/33", "x/8"]
    {
        assert_eq!(bad.parse::<AllowEntry>(), Err(InvalidAllowEntry(bad.into())), "{bad:?}");
    }
}

#[test]
fn the_default_policy_is_the_documented_one() {
    let p = FetchPolicy::default();
    assert!(!p.allow_http);
    assert!(p.allow.is_empty());
    assert_eq!(p.timeout, Duration::from_secs(5));
    assert_eq!(p.max_bytes, 262_144);
    assert_eq!(p.min_refresh_interval, Duration::from_secs(30));
    assert_eq!(
        (p.min_ttl, p.default_ttl, p.max_ttl),
        (Duration::from_secs(60), Duration::from_secs(300), Duration::from_secs(86_400))
    );
    assert_eq!(p.max_stale, Duration::from_secs(86_400));
}

#[test]
fn nonsensical_policies_are_rejected() {
    let zero = FetchPolicy { timeout: Duration::ZERO, ..FetchPolicy::default() };
    assert!(matches!(Fetcher::new(zero), Err(FetchError::Config(_))));
    let empty = FetchPolicy { max_bytes: 0, ..FetchPolicy::default() };
    assert!(matches!(Fetcher::new(empty), Err(FetchError::Config(_))));
    let inverted =
        FetchPolicy { min_ttl: Duration::from_secs(10), max_ttl: Duration::from_secs(5), ..FetchPolicy::default() };
    assert!(matches!(Fetcher::new(inverted), Err(FetchError::Config(_))));
    // Absurd but valid durations must not overflow anywhere.
    let huge = FetchPolicy { max_ttl: Duration::MAX, default_ttl: Duration::MAX, ..FetchPolicy::default() };
    assert!(Fetcher::new(huge).is_ok());
}

#[test]
fn ca_bundle_clients_are_validated_and_kept_per_bundle() {
    let root = Fetcher::new(FetchPolicy::default()).unwrap();
    assert_eq!(
        root.with_ca("not a certificate").err(),
        Some(FetchError::Config("the CA bundle holds no certificate".into()))
    );
    let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    assert!(matches!(root.with_ca(broken), Err(FetchError::Config(_))));

    let a = root.with_ca(TEST_CA).unwrap();
    let b = root.with_ca(&format!("\n{TEST_CA}\n")).unwrap();
    assert!(Arc::ptr_eq(&a.inner, &b.inner), "the same bundle reuses its client");
    assert!(!Arc::ptr_eq(&a.inner, &root.inner), "and does not share the root's caches");
    // Asking a derived fetcher goes through the root's map, not a chain.
    let c = a.with_ca(TEST_CA).unwrap();
    assert!(Arc::ptr_eq(&a.inner, &c.inner));
    // No cycle: dropping the root leaves derived fetchers usable.
    drop(root);
    assert!(a.with_ca(TEST_CA).is_ok());
}

#[test]
fn urls_in_messages_carry_no_secrets() {
    let u = |s: &str| Url::parse(s).unwrap();
    assert_eq!(
        redact(&u("https://user:pw@issuer.example:8443/jwks?key=secret#frag")),
        "https://issuer.example:8443/jwks"
    );
    assert_eq!(redact(&u("https://issuer.example/a/b")), "https://issuer.example/a/b");
    assert_eq!(redact(&u("file:///etc/shadow")), "file:");
    assert_eq!(redact_str("::not a url"), "<invalid URL>");
    assert!(redact(&u(&format!("https://issuer.example/{}", "a".repeat(1000)))).len() <= 256);
}

#[tokio::test]
async fn refusals_name_the_url_without_credentials_or_query() {
    let f = Fetcher::new(FetchPolicy::default()).unwrap();
    let err = f.jwks("http://issuer.example/jwks?token=secret").await.unwrap_err();
    assert_eq!(
        err,
        FetchError::Refused { url: "http://issuer.example/jwks".into(), reason: Refusal::Scheme("http".into()) }
    );
    assert!(!err.to_string().contains("secret"));
    let err = f.json::<serde_json::Value>("https://me:pw@issuer.example/", Some("tok")).await.unwrap_err();
    assert_eq!(err, FetchError::Refused { url: "https://issuer.example/".into(), reason: Refusal::Credentials });
    assert!(matches!(f.json::<serde_json::Value>("not a url", None).await, Err(FetchError::InvalidUrl(_))));
}

#[test]
fn only_asymmetric_signing_keys_are_kept() {
    let raw: RawSet = serde_json::from_value(json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
        {"kty": "RSA", "kid": "rsa", "use": "sig", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "broken"},
        "not even an object",
    ]}))
    .unwrap();
    let set = usable_keys(raw);
    let kids: Vec<_> = set.keys.iter().filter_map(|k| k.common.key_id.as_deref()).collect();
    assert_eq!(kids, ["ec", "rsa"]);
}

#[test]
fn discovery_documents_ignore_unknown_fields() {
    let doc: Discovery = serde_json::from_value(json!({
        "issuer": "https://issuer.example",
        "jwks_uri": "https://issuer.example/jwks",
        "response_types_supported": ["code"],
    }))
    .unwrap();
    assert_eq!(doc.userinfo_endpoint, None);
    assert_eq!(doc.jwks_uri, "https://issuer.example/jwks");
}
