//! The JWT bearer grant (RFC 7523 §2.1, §3): what an assertion must say once
//! its signature has been verified at the edge, and what the grant then
//! issues. Time is a parameter.

use super::common::{Facts, Grant, decide_scopes, requested_scopes, target};
use super::request::Params;
use crate::claims::access_token_lifetime;
use crate::error::{OAuthError, echo};
use crate::model::{GrantType, IssuerSource, JwsAlgorithm, TrustedIssuer};
use crate::policy::{Trace, wildcard_match};
use crate::snapshot::{CompiledClient, HubSnapshot};
use crate::time::UnixTime;

/// The grant's parameters.
#[derive(Debug, Default)]
pub struct JwtBearerRequest<'r> {
    /// The JWT, unverified.
    pub assertion: &'r str,
    pub scope: Option<&'r str>,
    pub resources: Vec<&'r str>,
}

impl<'r> JwtBearerRequest<'r> {
    pub fn parse(p: &'r impl Params) -> Result<Self, OAuthError> {
        Ok(JwtBearerRequest {
            assertion: p.one("assertion")?.ok_or_else(|| OAuthError::invalid_request("assertion is required"))?,
            scope: p.one("scope")?,
            resources: p.all("resource"),
        })
    }
}

/// Whom a verified assertion is about ([`check`] has accepted it).
#[derive(Debug, Default)]
pub struct Asserted {
    pub subject: String,
    /// The roles (and groups) the issuer states, as the edge read them.
    pub roles: Vec<String>,
}

/// The grant, once the assertion is verified: the token's subject is the
/// assertion's, the client the one it was presented by.
pub fn jwt_bearer<'a>(
    snapshot: &'a HubSnapshot,
    client: &'a CompiledClient,
    req: &JwtBearerRequest<'a>,
    asserted: &'a Asserted,
    now: UnixTime,
    trace: &mut impl Trace,
) -> Result<Grant<'a>, OAuthError> {
    if client.jwt_bearer.is_none() {
        return Err(not_enabled());
    }
    let assoc = target(snapshot, client, &req.resources)?;
    let resource = &*assoc.resource;
    let requested = requested_scopes(req.scope, resource)?;
    let roles: Vec<&str> = asserted.roles.iter().map(String::as_str).collect();
    let facts =
        Facts { grant: GrantType::JwtBearer, tenant: None, subject: Some(&asserted.subject), roles: &roles, now };
    let granted = decide_scopes(assoc, requested.as_deref(), &facts, trace)?;
    Ok(Grant {
        resource,
        scope: granted.join(" "),
        tenant: None,
        lifetime: access_token_lifetime(&snapshot.settings, client, resource),
        sub: &asserted.subject,
        roles: &asserted.roles,
        act: None,
    })
}

fn not_enabled() -> OAuthError {
    OAuthError::unauthorized_client("the JWT bearer grant is not enabled for this client")
}

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

/// The issuers whose assertions the JWT bearer grant accepts from `client`.
pub fn grant_issuers(client: &CompiledClient) -> Result<&[TrustedIssuer], OAuthError> {
    client.jwt_bearer.as_ref().map(|jb| jb.trusted_issuers.as_slice()).ok_or_else(not_enabled)
}

/// The trusted issuer for `iss` among `issuers` (a client's JWT bearer
/// issuers, or its federated credentials), or `invalid_grant`.
pub fn trusted_issuer<'c>(
    issuers: &'c [TrustedIssuer],
    iss: &str,
    cluster_issuer: Option<&str>,
) -> Result<&'c TrustedIssuer, OAuthError> {
    issuers
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

/// Whether the issuer's `subjects` patterns admit `subject` (none: any).
pub fn subject_allowed(t: &TrustedIssuer, subject: &str) -> bool {
    t.subjects.is_empty() || t.subjects.iter().any(|p| wildcard_match(p, subject))
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
    if !subject_allowed(t, subject) {
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

    fn issuer(subjects: &[&str]) -> TrustedIssuer {
        TrustedIssuer {
            source: IssuerSource::Kubernetes { issuer: None, jwks_uri: None, ca_bundle: None },
            algorithms: vec![JwsAlgorithm::RS256],
            audiences: vec![],
            subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
            subject_claim: "sub".into(),
            userinfo: None,
            token_review: false,
            max_lifetime: std::time::Duration::from_secs(3600),
            reject_replay: false,
        }
    }

    #[test]
    fn subject_patterns_match_prefixes_suffixes_and_middles() {
        let agents = issuer(&["system:serviceaccount:agents:*"]);
        assert!(subject_allowed(&agents, "system:serviceaccount:agents:bot"));
        assert!(!subject_allowed(&agents, "system:serviceaccount:other:bot"));
        assert!(subject_allowed(&issuer(&["*:bot"]), "system:serviceaccount:agents:bot"));
        let repo = issuer(&["repo:org/*:ref:*"]);
        assert!(subject_allowed(&repo, "repo:org/app:ref:refs/heads/main"));
        assert!(!subject_allowed(&repo, "repo:org/app"));
        assert!(subject_allowed(&issuer(&["exact"]), "exact"));
        assert!(!subject_allowed(&issuer(&["exact"]), "exact2"));
        assert!(subject_allowed(&issuer(&["*"]), ""));
        assert!(!subject_allowed(&issuer(&["a*a"]), "a"));
        assert!(subject_allowed(&issuer(&[]), "anyone"));
    }
}
