//! Client assertions at the edge (RFC 7523 §2.2).
//!
//! `private_key_jwt`: parses the client assertion, finds the client's key (in
//! its manifest, or at its `jwksUri` through the guarded fetcher), checks the
//! signature with jsonwebtoken and hands the claims to the core's rules
//! (`grant::client_assertion`). A `jti` is accepted once.
//!
//! `federated_jwt` (workload identity federation): the client names itself
//! with `client_id`, and the assertion is a JWT one of its federated
//! credentials issued — a pod's projected service-account token — verified
//! exactly as a JWT bearer assertion is (`assertion.rs`: keys or TokenReview,
//! audience, lifetime, subjects). Every refusal is `invalid_client`.
//!
//! As for grant assertions, everything that needs no key (size, shape,
//! `typ`, `alg`, `kid`, which client) is refused before any outbound fetch.

use std::sync::Arc;

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse};
use keyward_core::error::{ErrorCode, echo};
use keyward_core::grant::client_assertion::{
    Audience, ClientAssertion, HubAudiences, algorithm, check, claimed_client, select_key, typ_is_explicit,
};
use keyward_core::model::{ClientKeys, JwsAlgorithm, PublicJwk, PublicKey, TrustedIssuer};
use keyward_core::snapshot::{CompiledClient, Credential, HubSnapshot};
use keyward_core::store::Use;
use keyward_core::{OAuthError, UnixTime};
use serde_json::Value;

use super::AppState;
use super::assertion::{Fault, MAX_ASSERTION, numeric, parts, signature, valid_kid};

fn invalid(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::invalid_client(d)
}

/// RFC 7521 §4.2.1: every fault of a client assertion fails client
/// authentication.
fn fault(f: Fault) -> OAuthError {
    invalid(f.describe("the client assertion"))
}

fn audience(v: Option<&Value>) -> Audience {
    match v {
        Some(Value::String(s)) => Audience::One(s.clone()),
        Some(Value::Array(items)) => {
            let strings: Option<Vec<String>> = items.iter().map(|x| x.as_str().map(str::to_owned)).collect();
            strings.map_or(Audience::Missing, Audience::Many)
        }
        _ => Audience::Missing,
    }
}

/// Authenticates the client `token` speaks for, at the endpoint `path`.
pub async fn verify(
    st: &AppState,
    hub: &HubSnapshot,
    client_id_param: Option<&str>,
    token: &str,
    path: &str,
    now: UnixTime,
) -> Result<Arc<CompiledClient>, OAuthError> {
    if token.len() > MAX_ASSERTION {
        return Err(invalid("the client assertion is too large"));
    }
    if let Some(client) = client_id_param.and_then(|id| hub.client(id))
        && let Credential::Federated(issuers) = &client.credential
    {
        return federated(st, client, issuers, token, now).await;
    }
    let (header, payload) = parts(token).map_err(fault)?;
    let explicitly_typed = typ_is_explicit(header.get("typ").and_then(Value::as_str))?;
    let alg = algorithm(header.get("alg").and_then(Value::as_str))?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if valid_kid(k) => Some(k.as_str()),
        Some(_) => return Err(invalid("kid is malformed")),
    };
    let claims = ClientAssertion {
        explicitly_typed,
        iss: payload.get("iss").and_then(Value::as_str),
        sub: payload.get("sub").and_then(Value::as_str),
        aud: audience(payload.get("aud")),
        exp: numeric(&payload, "exp").map_err(fault)?,
        nbf: numeric(&payload, "nbf").map_err(fault)?,
        iat: numeric(&payload, "iat").map_err(fault)?,
        jti: payload.get("jti").and_then(Value::as_str),
    };
    let client = claimed_client(hub, client_id_param, &claims)?;
    let Credential::Keys(keys) = &client.credential else {
        return Err(invalid("client is not registered for private_key_jwt"));
    };
    let key = match keys {
        ClientKeys::Inline(list) => decoding_key(select_key(list, alg, kid)?)?,
        ClientKeys::Uri(uri) => fetched_key(st, uri, alg, kid).await?,
    };
    signature(token, &key, alg).map_err(fault)?;
    let issuer = hub.settings.issuer.as_str();
    let (token_endpoint, this_endpoint) = (hub.settings.endpoint("/token"), hub.settings.endpoint(path));
    let audiences = HubAudiences { issuer, token_endpoint: &token_endpoint, this_endpoint: &this_endpoint };
    let (jti, exp) = check(&claims, &audiences, now)?;
    // Scoped by client id, which never holds ':' and so never equals the
    // issuer URL that scopes grant assertions in the same replay memory.
    if super::replay::once(st, &client.client_id, jti, exp, now).await? == Use::Replayed {
        return Err(invalid("the client assertion was already used (jti)"));
    }
    Ok(Arc::clone(client))
}

/// A `federated_jwt` client: the assertion's faults are the client's
/// (`invalid_client`, RFC 7521 §4.2.1); a hub that cannot check it now says so
/// (503).
async fn federated(
    st: &AppState,
    client: &Arc<CompiledClient>,
    issuers: &[TrustedIssuer],
    token: &str,
    now: UnixTime,
) -> Result<Arc<CompiledClient>, OAuthError> {
    match super::assertion::verify(st, issuers, token, now).await {
        Ok(_) => Ok(Arc::clone(client)),
        Err(e) if e.code == ErrorCode::TemporarilyUnavailable => Err(e),
        Err(e) => Err(invalid(format!("client assertion: {}", e.description))),
    }
}

/// A manifest key as jsonwebtoken's verification key. The members were
/// checked when the manifest was read; a key the crypto library still
/// refuses fails authentication, it is not a server fault.
fn decoding_key(k: &PublicJwk) -> Result<DecodingKey, OAuthError> {
    let unusable = |_| invalid("the client's key is not usable");
    match &k.key {
        PublicKey::Rsa { n, e } => DecodingKey::from_rsa_components(n, e).map_err(unusable),
        PublicKey::Ec { x, y, .. } => DecodingKey::from_ec_components(x, y).map_err(unusable),
        PublicKey::Ed25519 { x } => DecodingKey::from_ed_components(x).map_err(unusable),
    }
}

/// A key from the client's `jwksUri`: by `kid` (an unknown kid refreshes the
/// set, rate-limited by the fetcher), or the only key when there is no kid.
/// The JWK's own `alg` and `use`, when present, must allow this signature.
async fn fetched_key(
    st: &AppState,
    uri: &str,
    alg: JwsAlgorithm,
    kid: Option<&str>,
) -> Result<DecodingKey, OAuthError> {
    let fetcher = st.outbound.fetcher.as_ref().ok_or_else(|| {
        OAuthError::new(ErrorCode::TemporarilyUnavailable, "outbound fetches are disabled on this hub")
    })?;
    let failed = |e: crate::fetch::FetchError| {
        tracing::warn!(error = %e, "cannot fetch a client's keys");
        OAuthError::new(ErrorCode::TemporarilyUnavailable, "the client's keys cannot be fetched right now")
    };
    let jwk: Jwk = match kid {
        Some(kid) => fetcher
            .key(uri, kid)
            .await
            .map_err(failed)?
            .ok_or_else(|| invalid(format!("unknown key '{}' for this client", echo(kid))))?,
        None => {
            let set = fetcher.jwks(uri).await.map_err(failed)?;
            match set.keys.as_slice() {
                [only] => only.clone(),
                _ => return Err(invalid("the client assertion has no kid and the client has several keys")),
            }
        }
    };
    if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
        return Err(invalid("the client's key is not a signing key (use)"));
    }
    if let Some(pinned) = jwk.common.key_algorithm
        && !same_alg(pinned, alg)
    {
        return Err(invalid(format!("the client's key does not verify {}", alg.as_str())));
    }
    DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the client's key is not usable"))
}

fn same_alg(pinned: KeyAlgorithm, alg: JwsAlgorithm) -> bool {
    pinned.to_string() == alg.as_str()
}
