//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, RFC 7521
//! §4.2, OpenID Connect Core §9): what a client assertion must say. The edge
//! parses the JWT and checks its signature with the key chosen here; these
//! rules decide everything else. Every failure is `invalid_client` (RFC 7521
//! §4.2.1). Time is a parameter.
//!
//! Audience, after the 2025 audience-injection disclosure and the
//! rfc7523bis draft that answers it: an assertion explicitly typed
//! `client-authentication+jwt` must name the hub's issuer identifier, as a
//! single string and nothing else. An untyped (legacy) assertion may instead
//! name the token endpoint or the endpoint it was sent to, as RFC 7523 §3,
//! OpenID Connect Core §9 and FAPI 2.0 allow, so today's MCP SDKs and OIDC
//! libraries keep working.

use std::sync::Arc;

use crate::error::{OAuthError, echo};
use crate::grant::jwt_bearer::LEEWAY;
use crate::model::{AuthMethod, JwsAlgorithm, PublicJwk};
use crate::snapshot::{CompiledClient, HubSnapshot};
use crate::time::UnixTime;

/// RFC 7521 §4.2: the one `client_assertion_type` this hub accepts.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The explicit `typ` of rfc7523bis client assertions (media type without
/// its `application/` prefix, RFC 7515 §4.1.9).
pub const TYP_CLIENT_AUTHENTICATION: &str = "client-authentication+jwt";

/// The longest `exp - iat` (or `exp - now` without `iat`) accepted. A client
/// assertion is made for one request; an hour bounds how long its `jti` must
/// be remembered and how long a leaked one is worth anything.
pub const MAX_LIFETIME: u64 = 3600;

/// The longest `jti` kept; longer ones are refused rather than truncated.
pub const MAX_JTI: usize = 256;

/// The `aud` claim as it was written: a string or an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
    /// Absent, or neither a string nor an array of strings.
    Missing,
}

impl Audience {
    fn contains(&self, value: &str) -> bool {
        match self {
            Audience::One(a) => a == value,
            Audience::Many(list) => list.iter().any(|a| a == value),
            Audience::Missing => false,
        }
    }
}

/// A client assertion's header facts and claims, read (not yet trusted) by
/// the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAssertion<'a> {
    /// Whether the header says `typ: client-authentication+jwt`.
    pub explicitly_typed: bool,
    pub iss: Option<&'a str>,
    pub sub: Option<&'a str>,
    pub aud: Audience,
    pub exp: Option<u64>,
    pub nbf: Option<u64>,
    pub iat: Option<u64>,
    pub jti: Option<&'a str>,
}

/// Where the hub is known by, for the audience check.
#[derive(Debug, Clone, Copy)]
pub struct HubAudiences<'a> {
    pub issuer: &'a str,
    pub token_endpoint: &'a str,
    /// The endpoint the assertion was sent to (introspection, revocation).
    pub this_endpoint: &'a str,
}

fn invalid(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::invalid_client(d)
}

/// The `typ` header: absent, `JWT`, or the explicit client-authentication
/// type. Anything else (an access token's `at+jwt`, a logout token...) is a
/// JWT made for another purpose and is refused, so no other JWT can be
/// replayed as a client credential.
pub fn typ_is_explicit(typ: Option<&str>) -> Result<bool, OAuthError> {
    let Some(t) = typ else { return Ok(false) };
    let t = t.strip_prefix("application/").unwrap_or(t);
    if t.eq_ignore_ascii_case(TYP_CLIENT_AUTHENTICATION) {
        Ok(true)
    } else if t.eq_ignore_ascii_case("JWT") {
        Ok(false)
    } else {
        Err(invalid(format!("a JWT of type '{}' is not a client assertion", echo(t))))
    }
}

/// Step 1, before any key is looked at: which registered client the assertion
/// speaks for. RFC 7523 §3 items 1 and 2: `iss` and `sub` are the client id;
/// RFC 7521 §4.2: a `client_id` parameter, if sent, must be the same.
pub fn claimed_client<'s>(
    snapshot: &'s HubSnapshot,
    client_id_param: Option<&str>,
    a: &ClientAssertion<'_>,
) -> Result<&'s Arc<CompiledClient>, OAuthError> {
    let sub = a.sub.filter(|s| !s.is_empty()).ok_or_else(|| invalid("the client assertion has no sub"))?;
    let iss = a.iss.filter(|s| !s.is_empty()).ok_or_else(|| invalid("the client assertion has no iss"))?;
    if iss != sub {
        return Err(invalid("the client assertion's iss and sub must both be the client id"));
    }
    if client_id_param.is_some_and(|id| id != sub) {
        return Err(invalid("client_id does not match the client assertion's sub"));
    }
    let client = snapshot.client(sub).ok_or_else(|| invalid(format!("unknown client '{}'", echo(sub))))?;
    if client.auth_method != AuthMethod::PrivateKeyJwt {
        return Err(invalid(format!("client is registered for {}, not private_key_jwt", client.auth_method.as_str())));
    }
    Ok(client)
}

/// The signature algorithm of the header: an asymmetric one this hub
/// implements. `none` and the HMACs are refused by name (a key the hub can
/// read is no secret).
pub fn algorithm(alg: Option<&str>) -> Result<JwsAlgorithm, OAuthError> {
    let alg = alg.unwrap_or("none");
    JwsAlgorithm::parse(alg)
        .ok_or_else(|| invalid(format!("alg '{}' is not accepted for client authentication", echo(alg))))
}

/// Step 2, for keys in the manifest: the key for `kid` (or the only key that
/// can verify `alg` when the header has no `kid`), which must accept `alg`.
pub fn select_key<'k>(
    keys: &'k [PublicJwk],
    alg: JwsAlgorithm,
    kid: Option<&str>,
) -> Result<&'k PublicJwk, OAuthError> {
    let key = match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
            .ok_or_else(|| invalid(format!("unknown key '{}' for this client", echo(kid))))?,
        None => {
            let mut usable = keys.iter().filter(|k| k.accepts(alg));
            match (usable.next(), usable.next()) {
                (Some(only), None) => only,
                (None, _) => return Err(invalid(format!("no key of this client verifies {}", alg.as_str()))),
                (Some(_), Some(_)) => {
                    return Err(invalid("the client assertion has no kid and the client has several keys"));
                }
            }
        }
    };
    if !key.accepts(alg) {
        return Err(invalid(format!("the client's key does not verify {}", alg.as_str())));
    }
    Ok(key)
}

/// Step 3, once the signature holds: audience, times, `jti`. Returns the
/// `jti` and `exp` to remember for replay refusal (OpenID Connect Core §9:
/// a client assertion is used once).
pub fn check<'a>(a: &ClientAssertion<'a>, hub: &HubAudiences<'_>, now: UnixTime) -> Result<(&'a str, u64), OAuthError> {
    let now = now.0;
    let audience_ok = if a.explicitly_typed {
        a.aud == Audience::One(hub.issuer.to_owned())
    } else {
        [hub.issuer, hub.token_endpoint, hub.this_endpoint].iter().any(|x| a.aud.contains(x))
    };
    if !audience_ok {
        return Err(invalid(if a.explicitly_typed {
            "the client assertion's aud must be this hub's issuer identifier, as a single string"
        } else {
            "the client assertion is not for this hub (aud)"
        }));
    }
    let exp = a.exp.ok_or_else(|| invalid("the client assertion has no exp"))?;
    if now >= exp.saturating_add(LEEWAY) {
        return Err(invalid("the client assertion has expired"));
    }
    if a.nbf.is_some_and(|nbf| now.saturating_add(LEEWAY) < nbf) {
        return Err(invalid("the client assertion is not valid yet (nbf)"));
    }
    let start = match a.iat {
        Some(iat) if iat > now.saturating_add(LEEWAY) => {
            return Err(invalid("the client assertion is issued in the future (iat)"));
        }
        Some(iat) => iat,
        None => now,
    };
    if exp.saturating_sub(start) > MAX_LIFETIME {
        return Err(invalid(format!("the client assertion may live at most {MAX_LIFETIME} seconds (exp)")));
    }
    let jti = a.jti.filter(|j| !j.is_empty()).ok_or_else(|| invalid("the client assertion has no jti"))?;
    if jti.len() > MAX_JTI {
        return Err(invalid("the client assertion's jti is too long"));
    }
    Ok((jti, exp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EcCurve, PublicKey};

    const ISS: &str = "https://hub.example";
    const TOKEN: &str = "https://hub.example/token";
    const INTROSPECT: &str = "https://hub.example/introspect";
    const HUB: HubAudiences<'static> = HubAudiences { issuer: ISS, token_endpoint: TOKEN, this_endpoint: INTROSPECT };
    const NOW: UnixTime = UnixTime(1_000_000);

    fn assertion(aud: Audience) -> ClientAssertion<'static> {
        ClientAssertion {
            explicitly_typed: false,
            iss: Some("c"),
            sub: Some("c"),
            aud,
            exp: Some(NOW.0 + 60),
            nbf: None,
            iat: Some(NOW.0),
            jti: Some("j1"),
        }
    }

    fn ec(kid: Option<&str>, alg: Option<JwsAlgorithm>) -> PublicJwk {
        PublicJwk {
            kid: kid.map(str::to_owned),
            alg,
            key: PublicKey::Ec { curve: EcCurve::P256, x: "x".into(), y: "y".into() },
        }
    }

    fn rsa(kid: Option<&str>) -> PublicJwk {
        PublicJwk { kid: kid.map(str::to_owned), alg: None, key: PublicKey::Rsa { n: "n".into(), e: "AQAB".into() } }
    }

    #[test]
    fn legacy_assertions_may_name_the_issuer_the_token_endpoint_or_the_endpoint_called() {
        for aud in [ISS, TOKEN, INTROSPECT] {
            assert_eq!(check(&assertion(Audience::One(aud.into())), &HUB, NOW), Ok(("j1", NOW.0 + 60)));
        }
        let many = Audience::Many(vec!["https://other".into(), TOKEN.into()]);
        assert!(check(&assertion(many), &HUB, NOW).is_ok());
        let e = check(&assertion(Audience::One("https://hub.example/revoke".into())), &HUB, NOW).unwrap_err();
        assert_eq!(e.description, "the client assertion is not for this hub (aud)");
        assert!(check(&assertion(Audience::Missing), &HUB, NOW).is_err());
    }

    #[test]
    fn explicitly_typed_assertions_must_name_the_issuer_alone_as_a_string() {
        let typed = |aud| ClientAssertion { explicitly_typed: true, ..assertion(aud) };
        assert!(check(&typed(Audience::One(ISS.into())), &HUB, NOW).is_ok());
        for aud in [Audience::One(TOKEN.into()), Audience::Many(vec![ISS.into()]), Audience::Missing] {
            let e = check(&typed(aud), &HUB, NOW).unwrap_err();
            assert_eq!(e.code, crate::ErrorCode::InvalidClient);
            assert!(e.description.contains("issuer identifier"), "{}", e.description);
        }
    }

    #[test]
    fn times_are_checked_with_leeway_and_a_bounded_lifetime() {
        let a = |exp: Option<u64>, nbf: Option<u64>, iat: Option<u64>| ClientAssertion {
            exp,
            nbf,
            iat,
            ..assertion(Audience::One(ISS.into()))
        };
        let n = NOW.0;
        let desc = |x: ClientAssertion<'_>| check(&x, &HUB, NOW).unwrap_err().description.into_owned();
        assert_eq!(desc(a(None, None, None)), "the client assertion has no exp");
        assert_eq!(desc(a(Some(n - LEEWAY), None, None)), "the client assertion has expired");
        assert!(check(&a(Some(n - LEEWAY + 1), None, Some(n - 100)), &HUB, NOW).is_ok());
        assert_eq!(desc(a(Some(n + 60), Some(n + LEEWAY + 1), None)), "the client assertion is not valid yet (nbf)");
        assert_eq!(
            desc(a(Some(n + 60), None, Some(n + LEEWAY + 1))),
            "the client assertion is issued in the future (iat)"
        );
        assert!(desc(a(Some(n + MAX_LIFETIME + 1), None, None)).contains("at most 3600 seconds"));
        assert!(desc(a(Some(n + 10), None, Some(n + 10 - MAX_LIFETIME - 1))).contains("at most"));
        assert!(check(&a(Some(n + MAX_LIFETIME), None, None), &HUB, NOW).is_ok());
    }

    #[test]
    fn a_jti_is_required_and_bounded() {
        let no = ClientAssertion { jti: None, ..assertion(Audience::One(ISS.into())) };
        assert_eq!(check(&no, &HUB, NOW).unwrap_err().description, "the client assertion has no jti");
        let empty = ClientAssertion { jti: Some(""), ..assertion(Audience::One(ISS.into())) };
        assert!(check(&empty, &HUB, NOW).is_err());
        let long = "j".repeat(MAX_JTI + 1);
        let long = ClientAssertion { jti: Some(&long), ..assertion(Audience::One(ISS.into())) };
        assert_eq!(check(&long, &HUB, NOW).unwrap_err().description, "the client assertion's jti is too long");
    }

    #[test]
    fn typ_must_be_absent_jwt_or_client_authentication() {
        assert_eq!(typ_is_explicit(None), Ok(false));
        assert_eq!(typ_is_explicit(Some("JWT")), Ok(false));
        assert_eq!(typ_is_explicit(Some("client-authentication+jwt")), Ok(true));
        assert_eq!(typ_is_explicit(Some("application/client-authentication+jwt")), Ok(true));
        let e = typ_is_explicit(Some("at+jwt")).unwrap_err();
        assert_eq!(e.description, "a JWT of type 'at+jwt' is not a client assertion");
    }

    #[test]
    fn none_and_hmac_are_refused_by_name() {
        assert_eq!(algorithm(Some("ES256")), Ok(JwsAlgorithm::ES256));
        for bad in [None, Some("none"), Some("HS256"), Some("es256")] {
            assert_eq!(algorithm(bad).unwrap_err().code, crate::ErrorCode::InvalidClient);
        }
    }

    #[test]
    fn keys_are_chosen_by_kid_and_must_verify_the_headers_alg() {
        let keys = [ec(Some("a"), None), rsa(Some("b")), ec(Some("pinned"), Some(JwsAlgorithm::ES256))];
        assert_eq!(select_key(&keys, JwsAlgorithm::ES256, Some("a")).unwrap().kid.as_deref(), Some("a"));
        assert_eq!(select_key(&keys, JwsAlgorithm::PS256, Some("b")).unwrap().kid.as_deref(), Some("b"));
        let e = select_key(&keys, JwsAlgorithm::RS256, Some("a")).unwrap_err();
        assert_eq!(e.description, "the client's key does not verify RS256");
        let e = select_key(&keys, JwsAlgorithm::ES256, Some("../../etc/passwd")).unwrap_err();
        assert_eq!(e.description, "unknown key '../../etc/passwd' for this client");
        // Without a kid: the one key able to verify the alg, if there is one.
        assert_eq!(select_key(&keys, JwsAlgorithm::RS256, None).unwrap().kid.as_deref(), Some("b"));
        assert!(select_key(&keys, JwsAlgorithm::ES256, None).unwrap_err().description.contains("several keys"));
        assert!(select_key(&keys, JwsAlgorithm::EdDSA, None).unwrap_err().description.contains("no key"));
    }
}
