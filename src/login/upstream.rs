//! Signing in at an upstream OpenID provider (`IdentityProvider` of type
//! `oidc`): the hub is the upstream's client. Authorization code with PKCE
//! and a nonce towards the upstream; the ID token is verified against the
//! upstream's JWKS (through the guarded fetcher), its claims become the user.
//! Nothing of the upstream's tokens is kept.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keyward_core::UnixTime;
use keyward_core::identity::{CompiledIdentityProvider, User};
use keyward_core::model::Upstream;
use serde::Deserialize;
use serde_json::Value;

use crate::fetch::{FetchError, Fetcher};

/// Why a sign-in at the upstream failed. The messages name what failed,
/// never a value the upstream sent.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream provider cannot be reached: {0}")]
    Fetch(#[from] FetchError),
    #[error("the upstream provider's metadata lacks {0}")]
    Metadata(&'static str),
    #[error("the upstream provider answered without an id_token")]
    NoIdToken,
    #[error("the upstream ID token is not valid: {0}")]
    IdToken(&'static str),
    #[error("the upstream ID token has no usable {0} claim")]
    Claim(&'static str),
}

/// Where to send the browser: the upstream's authorization endpoint.
#[allow(clippy::too_many_arguments)]
pub async fn authorize_url(
    fetcher: &Fetcher,
    up: &Upstream,
    redirect_uri: &str,
    state: &str,
    nonce: &str,
    challenge: &str,
    login_hint: Option<&str>,
) -> Result<String, UpstreamError> {
    let fetcher = for_upstream(fetcher, up)?;
    let d = fetcher.discovery(&up.issuer).await?;
    let endpoint = d.authorization_endpoint.as_deref().ok_or(UpstreamError::Metadata("authorization_endpoint"))?;
    let mut q = form_urlencoded::Serializer::new(String::new());
    // (no await while `q` lives)
    q.append_pair("response_type", "code")
        .append_pair("client_id", &up.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &up.scopes.join(" "))
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(h) = login_hint {
        q.append_pair("login_hint", h);
    }
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    Ok(format!("{endpoint}{sep}{}", q.finish()))
}

fn for_upstream(fetcher: &Fetcher, up: &Upstream) -> Result<Fetcher, UpstreamError> {
    match &up.certificate_authority {
        Some(pem) => Ok(fetcher.with_ca(pem)?),
        None => Ok(fetcher.clone()),
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

/// Redeems the upstream's code and turns its ID token into the user.
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    fetcher: &Fetcher,
    provider: &CompiledIdentityProvider,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
    nonce: &str,
    now: UnixTime,
) -> Result<User, UpstreamError> {
    let Some((up, secret)) = &provider.upstream else { return Err(UpstreamError::Metadata("an upstream")) };
    let fetcher = for_upstream(fetcher, up)?;
    let d = fetcher.discovery(&up.issuer).await?;
    let endpoint = d.token_endpoint.as_deref().ok_or(UpstreamError::Metadata("token_endpoint"))?;
    // Built before the await: the serializer is not Send.
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_verifier", verifier)
        .finish();
    let answer: TokenAnswer = fetcher.post_form(endpoint, &form, (&up.client_id, secret)).await?;
    let id_token = answer.id_token.ok_or(UpstreamError::NoIdToken)?;
    let claims = verify(&fetcher, up, &d.jwks_uri, &id_token, nonce, now).await?;
    user(provider, up, &claims)
}

async fn verify(
    fetcher: &Fetcher,
    up: &Upstream,
    jwks_uri: &str,
    token: &str,
    nonce: &str,
    now: UnixTime,
) -> Result<Value, UpstreamError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| UpstreamError::IdToken("malformed"))?;
    // Asymmetric algorithms only: an HMAC ID token would be keyed with the
    // client secret, which the hub never accepts as a signature key here.
    if !matches!(
        header.alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
            | Algorithm::ES256
            | Algorithm::ES384
            | Algorithm::EdDSA
    ) {
        return Err(UpstreamError::IdToken("its algorithm is not an asymmetric one"));
    }
    let kid = header.kid.ok_or(UpstreamError::IdToken("no kid"))?;
    let jwk = fetcher.key(jwks_uri, &kid).await?.ok_or(UpstreamError::IdToken("its key is not in the JWKS"))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| UpstreamError::IdToken("its key is not usable"))?;
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[up.issuer.as_str()]);
    v.set_audience(&[up.client_id.as_str()]);
    // The hub's clock decides expiry (below), not the process's.
    v.validate_exp = false;
    v.set_required_spec_claims(&["iss", "aud", "exp"]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => UpstreamError::IdToken("bad signature"),
        jsonwebtoken::errors::ErrorKind::InvalidIssuer => UpstreamError::IdToken("another issuer"),
        jsonwebtoken::errors::ErrorKind::InvalidAudience => UpstreamError::IdToken("another audience"),
        _ => UpstreamError::IdToken("malformed"),
    })?;
    let c = data.claims;
    let exp = c.get("exp").and_then(Value::as_u64).ok_or(UpstreamError::IdToken("no exp"))?;
    // One minute of leeway for clock skew between the two providers.
    if exp + 60 <= now.0 {
        return Err(UpstreamError::IdToken("expired"));
    }
    if c.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err(UpstreamError::IdToken("the nonce does not match"));
    }
    Ok(c)
}

fn text<'a>(c: &'a Value, claim: &str) -> Option<&'a str> {
    c.get(claim).and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 1024)
}

/// The user the upstream vouched for.
pub fn user(provider: &CompiledIdentityProvider, up: &Upstream, c: &Value) -> Result<User, UpstreamError> {
    let upstream_sub = text(c, &up.subject_claim).ok_or(UpstreamError::Claim("subject"))?;
    let username = match &up.username_claim {
        Some(claim) => text(c, claim).ok_or(UpstreamError::Claim("username"))?,
        None => text(c, "preferred_username").or_else(|| text(c, "email")).unwrap_or(upstream_sub),
    };
    let groups: Vec<String> = match up.groups_claim.as_deref().and_then(|g| c.get(g)) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).take(256).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    Ok(User {
        sub: super::subject(provider, upstream_sub),
        provider: provider.key.to_string(),
        username: username.to_owned(),
        name: text(c, &up.name_claim).map(str::to_owned),
        email: text(c, &up.email_claim).map(str::to_owned),
        roles: provider.roles_of(&groups),
        groups,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::{BTreeMap, HashMap};

    use keyward_core::model::ObjectKey;
    use serde_json::json;

    use super::*;

    fn provider(groups_claim: Option<&str>, username_claim: Option<&str>) -> (CompiledIdentityProvider, Upstream) {
        let up = Upstream {
            issuer: "https://login.example.com".into(),
            client_id: "hub".into(),
            client_secret: ("s".into(), "client_secret".into()),
            scopes: vec!["openid".into()],
            subject_claim: "sub".into(),
            username_claim: username_claim.map(str::to_owned),
            email_claim: "email".into(),
            name_claim: "name".into(),
            groups_claim: groups_claim.map(str::to_owned),
            certificate_authority: None,
        };
        let p = CompiledIdentityProvider {
            key: ObjectKey::new("id", "corp"),
            display_name: "Corp".into(),
            users: HashMap::new(),
            upstream: Some((up.clone(), "secret".into())),
            group_roles: BTreeMap::from([("eng".into(), vec!["editor".into()])]),
        };
        (p, up)
    }

    #[test]
    fn claims_become_the_user_with_a_derived_subject_and_mapped_roles() {
        let (p, up) = provider(Some("groups"), None);
        let u = user(&p, &up, &json!({"sub": "u-1", "email": "a@x.io", "name": "A", "groups": ["eng", "x"]})).unwrap();
        assert_eq!((u.username.as_str(), u.email.as_deref(), u.name.as_deref()), ("a@x.io", Some("a@x.io"), Some("A")));
        assert_eq!((u.groups.len(), u.roles.as_slice()), (2, &["editor".to_owned()][..]));
        assert_eq!(u.sub.len(), 43);
        assert_ne!(u.sub, "u-1", "the upstream subject is never the hub's");
        let again = user(&p, &up, &json!({"sub": "u-1"})).unwrap();
        assert_eq!(again.sub, u.sub, "stable");
        assert_eq!(again.username, "u-1", "no username claims: the subject");
    }

    #[test]
    fn a_missing_subject_or_configured_username_claim_is_refused() {
        let (p, up) = provider(None, Some("upn"));
        assert!(matches!(user(&p, &up, &json!({"upn": "a"})), Err(UpstreamError::Claim("subject"))));
        assert!(matches!(user(&p, &up, &json!({"sub": "a"})), Err(UpstreamError::Claim("username"))));
        assert!(matches!(user(&p, &up, &json!({"sub": "", "upn": "a"})), Err(UpstreamError::Claim("subject"))));
    }
}
