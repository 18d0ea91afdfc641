//! The JWT bearer grant (RFC 7523 §2.1, §3): what an assertion must say once
//! its signature has been verified at the edge. Time is a parameter.

use crate::error::{OAuthError, echo};
use crate::model::{IssuerSource, JwsAlgorithm, TrustedIssuer};
use crate::snapshot::CompiledClient;
use crate::time::UnixTime;

/// Clock skew tolerated on `exp`, `nbf` and `iat` (RFC 7519 §4.1.4 allows "a
/// small leeway").
pub const LEEWAY: u64 = 30;

/// An assertion's claims, read from a verified JWT.
#[derive(Debug, Default)]
pub struct Assertion<'a> {
    pub iss: &'a str,
    /// The value of the issuer's subject claim.
    pub subject: Option<&'a str>,
    pub aud: &'a [String],
    pub exp: Option<u64>,
    pub nbf: Option<u64>,
    pub iat: Option<u64>,
    pub jti: Option<&'a str>,
}

fn invalid_grant(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(crate::ErrorCode::InvalidGrant, d)
}

/// The issuer URL a trusted issuer stands for; for a Kubernetes issuer without
/// one, the cluster's (found at runtime).
pub fn issuer_url<'a>(t: &'a TrustedIssuer, cluster_issuer: Option<&'a str>) -> Option<&'a str> {
    match &t.source {
        IssuerSource::Url { issuer, .. } => Some(issuer),
        IssuerSource::Kubernetes { issuer, .. } => issuer.as_deref().or(cluster_issuer),
    }
}

/// The client's trusted issuer for `iss`, or `invalid_grant`.
pub fn trusted_issuer<'c>(
    client: &'c CompiledClient,
    iss: &str,
    cluster_issuer: Option<&str>,
) -> Result<&'c TrustedIssuer, OAuthError> {
    let Some(jb) = &client.jwt_bearer else {
        return Err(OAuthError::unauthorized_client("the JWT bearer grant is not enabled for this client"));
    };
    jb.trusted_issuers
        .iter()
        .find(|t| issuer_url(t, cluster_issuer) == Some(iss))
        .ok_or_else(|| invalid_grant(format!("issuer '{}' is not trusted by this client", echo(iss))))
}

/// `alg` must be one the issuer is trusted for: never `none`, never an HMAC
/// (an HMAC "signed" with a public key proves nothing).
pub fn check_algorithm(t: &TrustedIssuer, alg: &str) -> Result<JwsAlgorithm, OAuthError> {
    match JwsAlgorithm::parse(alg) {
        Some(a) if t.algorithms.contains(&a) => Ok(a),
        _ => Err(invalid_grant(format!("alg '{}' is not accepted for this issuer", echo(alg)))),
    }
}

/// `*` matches any run of characters (including none); everything else is
/// literal.
pub fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// RFC 7523 §3: audience, expiry, not-before, issued-at and lifetime,
/// subject and its patterns. Returns the subject.
pub fn check(
    t: &TrustedIssuer,
    hub_issuer: &str,
    token_endpoint: &str,
    a: &Assertion<'_>,
    now: UnixTime,
) -> Result<String, OAuthError> {
    let now = now.0;
    // §3 item 3: the hub must be an intended audience: the issuer or the token
    // endpoint by default.
    let audience_ok = if t.audiences.is_empty() {
        a.aud.iter().any(|x| x == hub_issuer || x == token_endpoint)
    } else {
        a.aud.iter().any(|x| t.audiences.contains(x))
    };
    if !audience_ok {
        return Err(invalid_grant("the assertion is not for this hub (aud)"));
    }
    // §3 item 4: exp is required.
    let exp = a.exp.ok_or_else(|| invalid_grant("the assertion has no exp"))?;
    if now >= exp.saturating_add(LEEWAY) {
        return Err(invalid_grant("the assertion has expired"));
    }
    if a.nbf.is_some_and(|nbf| now.saturating_add(LEEWAY) < nbf) {
        return Err(invalid_grant("the assertion is not valid yet (nbf)"));
    }
    if let Some(iat) = a.iat {
        if iat > now.saturating_add(LEEWAY) {
            return Err(invalid_grant("the assertion is issued in the future (iat)"));
        }
        if exp.saturating_sub(iat) > t.max_lifetime.as_secs() {
            return Err(invalid_grant("the assertion lives longer than this issuer's maxLifetime"));
        }
    } else if exp.saturating_sub(now) > t.max_lifetime.as_secs() {
        return Err(invalid_grant("the assertion lives longer than this issuer's maxLifetime"));
    }
    // §3 item 2: a subject is required.
    let subject = a
        .subject
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid_grant(format!("the assertion has no '{}'", t.subject_claim)))?;
    if !t.subjects.is_empty() && !t.subjects.iter().any(|p| glob(p, subject)) {
        return Err(invalid_grant(format!("subject '{}' is not allowed for this client", echo(subject))));
    }
    if t.reject_replay && a.jti.is_none_or(str::is_empty) {
        return Err(invalid_grant("the assertion has no jti, and this issuer's assertions may be used once only"));
    }
    Ok(subject.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_prefixes_suffixes_and_middles() {
        assert!(glob("system:serviceaccount:agents:*", "system:serviceaccount:agents:bot"));
        assert!(!glob("system:serviceaccount:agents:*", "system:serviceaccount:other:bot"));
        assert!(glob("*:bot", "system:serviceaccount:agents:bot"));
        assert!(glob("repo:org/*:ref:*", "repo:org/app:ref:refs/heads/main"));
        assert!(!glob("repo:org/*:ref:*", "repo:org/app"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exact2"));
        assert!(glob("*", ""));
        assert!(!glob("a*a", "a"));
    }
}
