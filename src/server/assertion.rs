//! Verifies a JWT from one of a client's trusted issuers (RFC 7523): the
//! assertion of the JWT bearer grant, or an external subject/actor token in a
//! token exchange.
//!
//! Order matters: everything that needs no key (size, shape, `alg`, `kid`,
//! issuer) is refused before any outbound fetch, so a hostile assertion never
//! makes the hub call anyone. The signature is checked by jsonwebtoken; the
//! claims by the core (`grant::jwt_bearer::check`), with the hub's clock.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation};
use keyward_core::error::{ErrorCode, echo};
use keyward_core::grant::jwt_bearer::{Asserted, Assertion, check, check_algorithm, issuer_url, trusted_issuer};
use keyward_core::model::{IssuerSource, JwsAlgorithm, TrustedIssuer};
use keyward_core::{OAuthError, UnixTime};
use serde_json::Value;

use super::AppState;
use keyward_core::store::Use;

/// Larger than any assertion an issuer mints; refused unread.
pub const MAX_ASSERTION: usize = 8 * 1024;

/// Bounds on the roles and groups a subject brings (see `verify`).
pub const MAX_ROLES: usize = 64;
pub const MAX_ROLE_LEN: usize = 128;

/// A verified assertion.
#[derive(Debug)]
pub struct Verified {
    pub subject: String,
    pub roles: Vec<String>,
    pub claims: Value,
}

impl Verified {
    /// What the JWT bearer grant decides with.
    pub fn asserted(self) -> Asserted {
        Asserted { subject: self.subject, roles: self.roles }
    }
}

fn invalid_grant(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, d)
}

fn unavailable(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::TemporarilyUnavailable, d)
}

/// What is wrong with a JWT before its claims are read. Grant assertions
/// report it as `invalid_grant`, client assertions as `invalid_client`;
/// `describe` words it for either.
pub(super) enum Fault {
    NotJwt,
    Encrypted,
    Critical,
    Nested,
    NotNumericDate(&'static str),
    BadSignature,
    WrongAlgorithm,
    Malformed,
}

impl Fault {
    /// `what` names the JWT: "the assertion", "the client assertion".
    pub(super) fn describe(&self, what: &str) -> String {
        match self {
            Fault::NotJwt => format!("{what} is not a JWT"),
            Fault::Encrypted => "encrypted assertions are not accepted".into(),
            Fault::Critical => format!("{what} has critical header parameters this hub does not understand"),
            Fault::Nested => "nested JWTs are not accepted".into(),
            Fault::NotNumericDate(name) => format!("{name} is not a NumericDate"),
            Fault::BadSignature => format!("{what}'s signature is invalid"),
            Fault::WrongAlgorithm => format!("{what}'s alg does not match the key"),
            Fault::Malformed => format!("{what} is malformed"),
        }
    }
}

impl From<Fault> for OAuthError {
    /// The grant assertion's wording and code.
    fn from(f: Fault) -> OAuthError {
        invalid_grant(f.describe("the assertion"))
    }
}

fn segment(part: &str) -> Result<Value, Fault> {
    let bytes = B64.decode(part).map_err(|_| Fault::NotJwt)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| Fault::NotJwt)?;
    if v.is_object() { Ok(v) } else { Err(Fault::NotJwt) }
}

/// `kid`s are looked up, never used as a path or URL; still, a kid no issuer
/// would mint is refused before any lookup.
pub(super) fn valid_kid(kid: &str) -> bool {
    !kid.is_empty() && kid.len() <= 256 && kid.bytes().all(|b| b.is_ascii_graphic())
}

pub(super) fn jwt_alg(a: JwsAlgorithm) -> jsonwebtoken::Algorithm {
    use jsonwebtoken::Algorithm as A;
    match a {
        JwsAlgorithm::RS256 => A::RS256,
        JwsAlgorithm::RS384 => A::RS384,
        JwsAlgorithm::RS512 => A::RS512,
        JwsAlgorithm::PS256 => A::PS256,
        JwsAlgorithm::PS384 => A::PS384,
        JwsAlgorithm::PS512 => A::PS512,
        JwsAlgorithm::ES256 => A::ES256,
        JwsAlgorithm::ES384 => A::ES384,
        JwsAlgorithm::EdDSA => A::EdDSA,
    }
}

pub(super) fn numeric(v: &Value, name: &'static str) -> Result<Option<u64>, Fault> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or(Fault::NotNumericDate(name)),
        Some(_) => Err(Fault::NotNumericDate(name)),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// The signature alone, by jsonwebtoken (which also refuses a key of another
/// family than `alg`); every claim is checked by the core with the hub's clock.
pub(super) fn signature(token: &str, key: &DecodingKey, alg: JwsAlgorithm) -> Result<(), Fault> {
    let mut v = Validation::new(jwt_alg(alg));
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<serde::de::IgnoredAny>(token, key, &v).map(drop).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => Fault::BadSignature,
        jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => Fault::WrongAlgorithm,
        _ => Fault::Malformed,
    })
}

/// Header and payload of a compact JWS, unverified. A JWE, `crit` headers
/// and nested JWTs are refused: this hub understands none of them.
pub(super) fn parts(token: &str) -> Result<(Value, Value), Fault> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() == 5 {
        return Err(Fault::Encrypted);
    }
    let [h, p, _sig] = parts.as_slice() else { return Err(Fault::NotJwt) };
    let header = segment(h)?;
    let payload = segment(p)?;
    if header.get("crit").is_some() {
        return Err(Fault::Critical);
    }
    if header.get("cty").and_then(Value::as_str).is_some_and(|c| c.eq_ignore_ascii_case("JWT")) {
        return Err(Fault::Nested);
    }
    Ok((header, payload))
}

/// Verifies `token` as an assertion of one of `issuers`: a client's JWT
/// bearer issuers (`grant_issuers`), or its federated credentials.
pub async fn verify(
    st: &AppState,
    issuers: &[TrustedIssuer],
    token: &str,
    now: UnixTime,
) -> Result<Verified, OAuthError> {
    if token.len() > MAX_ASSERTION {
        return Err(invalid_grant("the assertion is too large"));
    }
    let (header, payload) = parts(token)?;
    let iss = payload.get("iss").and_then(Value::as_str).ok_or_else(|| invalid_grant("the assertion has no iss"))?;
    let cluster_issuer = st.outbound.cluster.as_ref().and_then(|c| c.issuer());
    let t = trusted_issuer(issuers, iss, cluster_issuer.as_deref())?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("none");
    let alg = check_algorithm(t, alg)?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if valid_kid(k) => Some(k.as_str()),
        Some(_) => return Err(invalid_grant("kid is malformed")),
    };
    let hub = st.hub.load();
    let hub_issuer = hub.settings.issuer.clone();
    let token_endpoint = hub.settings.endpoint("/token");

    let is_kubernetes = matches!(t.source, IssuerSource::Kubernetes { .. });
    let mut subject_override = None;
    let mut groups = Vec::new();
    if is_kubernetes && t.token_review {
        let Some(cluster) = &st.outbound.cluster else {
            return Err(invalid_grant("this hub cannot ask a cluster (tokenReview needs keyward run)"));
        };
        let audiences = if t.audiences.is_empty() { vec![hub_issuer.clone()] } else { t.audiences.clone() };
        match cluster.review(token, &audiences).await {
            Ok(Some(r)) => {
                subject_override = Some(r.username);
                groups = r.groups;
            }
            Ok(None) => return Err(invalid_grant("the Kubernetes API did not authenticate the token (TokenReview)")),
            Err(e) => {
                tracing::warn!(error = %e, "TokenReview failed");
                return Err(unavailable("the Kubernetes API cannot review tokens right now"));
            }
        }
    } else {
        let jwk = key(st, t, iss, kid).await?;
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| invalid_grant("the issuer's key is not usable"))?;
        signature(token, &decoding, alg)?;
    }

    let aud = strings(payload.get("aud"));
    let subject_claim = payload.get(&t.subject_claim).and_then(Value::as_str);
    let assertion = Assertion {
        iss,
        subject: subject_override.as_deref().or(subject_claim),
        aud: &aud,
        exp: numeric(&payload, "exp")?,
        nbf: numeric(&payload, "nbf")?,
        iat: numeric(&payload, "iat")?,
        jti: payload.get("jti").and_then(Value::as_str),
    };
    let subject = check(t, &hub_issuer, &token_endpoint, &assertion, now)?;
    if t.reject_replay {
        let (jti, exp) = (assertion.jti.unwrap_or_default(), assertion.exp.unwrap_or_default());
        if super::replay::once(st, iss, jti, exp, now).await? == Use::Replayed {
            return Err(invalid_grant("the assertion was already used (jti)"));
        }
    }
    let mut roles = strings(payload.get("roles"));
    roles.extend(strings(payload.get("groups")));
    roles.extend(groups);
    if let Some(ui) = &t.userinfo {
        let fetcher = st.outbound.fetcher.as_ref().ok_or_else(|| unavailable("outbound fetches are disabled"))?;
        let info: Value = fetcher.json(&ui.endpoint, Some(token)).await.map_err(|e| {
            tracing::warn!(issuer = iss, error = %e, "userinfo failed");
            unavailable("the issuer's userinfo endpoint cannot be reached right now")
        })?;
        if info.get(&ui.login_id_field).and_then(Value::as_str) != Some(subject.as_str()) {
            return Err(invalid_grant("the issuer's userinfo does not confirm the subject"));
        }
        roles.extend(strings(info.get("roles")));
        roles.extend(strings(info.get("groups")));
    }
    roles.sort();
    roles.dedup();
    // They travel in the issued token (`roles`), which must stay small enough
    // for every resource server; a subject beyond these bounds is refused
    // rather than given a token that silently lacks some of its roles.
    if roles.len() > MAX_ROLES || roles.iter().any(|r| r.len() > MAX_ROLE_LEN) {
        return Err(invalid_grant(format!(
            "the subject holds more than {MAX_ROLES} roles and groups, or one longer than {MAX_ROLE_LEN} bytes"
        )));
    }
    Ok(Verified { subject, roles, claims: payload })
}

/// The verification key: from the cluster for a Kubernetes issuer (unless a
/// jwksUri is set), otherwise from the issuer's JWKS through the guarded
/// fetcher. A missing kid is accepted only when the issuer has one key.
async fn key(st: &AppState, t: &TrustedIssuer, iss: &str, kid: Option<&str>) -> Result<Jwk, OAuthError> {
    let fetch_failed = |e: String| {
        tracing::warn!(issuer = iss, error = %e, "cannot fetch the issuer's keys");
        unavailable("the issuer's keys cannot be fetched right now")
    };
    let unknown = || invalid_grant(format!("unknown key '{}' for this issuer", echo(kid.unwrap_or("(none)"))));
    let (jwks_uri, discovery_url, ca) = match &t.source {
        IssuerSource::Kubernetes { jwks_uri: None, .. } => {
            let cluster = st.outbound.cluster.as_ref().ok_or_else(|| {
                invalid_grant("this Kubernetes issuer needs a jwksUri outside a cluster (keyward serve)")
            })?;
            let kid = kid.ok_or_else(|| invalid_grant("the assertion has no kid"))?;
            return cluster.key(kid).await.map_err(fetch_failed)?.ok_or_else(unknown);
        }
        IssuerSource::Kubernetes { jwks_uri: Some(u), ca_bundle, .. } => (Some(u.clone()), None, ca_bundle.clone()),
        IssuerSource::Url { jwks_uri, discovery_url, ca_bundle, .. } => {
            (jwks_uri.clone(), discovery_url.clone(), ca_bundle.clone())
        }
    };
    let base = st.outbound.fetcher.as_ref().ok_or_else(|| unavailable("outbound fetches are disabled"))?;
    let fetcher = match &ca {
        Some(pem) => base.with_ca(pem).map_err(|e| fetch_failed(e.to_string()))?,
        None => base.clone(),
    };
    let jwks_uri = match jwks_uri {
        Some(u) => u,
        None => {
            let issuer = issuer_url(t, None).unwrap_or(iss);
            let d = match discovery_url {
                Some(url) => fetcher.json::<keyward_discovery::Doc>(&url, None).await.map(|d| d.jwks_uri),
                None => fetcher.discovery(issuer).await.map(|d| d.jwks_uri.clone()),
            };
            d.map_err(|e| fetch_failed(e.to_string()))?
        }
    };
    match kid {
        Some(kid) => fetcher.key(&jwks_uri, kid).await.map_err(|e| fetch_failed(e.to_string()))?.ok_or_else(unknown),
        None => {
            let set = fetcher.jwks(&jwks_uri).await.map_err(|e| fetch_failed(e.to_string()))?;
            match set.keys.as_slice() {
                [only] => Ok(only.clone()),
                _ => Err(invalid_grant("the assertion has no kid and the issuer has several keys")),
            }
        }
    }
}

mod keyward_discovery {
    /// The one member of a discovery document fetched from an explicit URL.
    #[derive(serde::Deserialize)]
    pub struct Doc {
        pub jwks_uri: String,
    }
}
