//! Reads the client's credentials off a request (RFC 6749 §2.3.1): HTTP Basic,
//! `client_id`/`client_secret` in the body, or a client assertion (RFC 7521
//! §4.2, `private_key_jwt`) — exactly one method. Secrets are digested here
//! and dropped; only the digest travels on. [`authenticate`] is the one entry
//! point every endpoint uses.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::Engine;
use keyward_core::grant::authenticate::{Presented, identify_for_assertion};
use keyward_core::grant::client_assertion::CLIENT_ASSERTION_TYPE;
use keyward_core::secret::SecretDigest;
use keyward_core::snapshot::{CompiledClient, HubSnapshot};
use keyward_core::{OAuthError, UnixTime};

use super::AppState;
use super::form::{Form, decode};
use crate::secret_digest::digest_secret;

/// Owned credentials, so `Presented` can borrow from them.
pub struct Credentials {
    kind: Kind,
    client_id: String,
    secret: Option<SecretDigest>,
}

enum Kind {
    Nothing,
    Basic,
    Post,
    /// `client_assertion` (the JWT) with the optional `client_id` parameter
    /// in `client_id`.
    Assertion(String),
}

fn several_methods() -> OAuthError {
    OAuthError::invalid_request("more than one client authentication method (RFC 6749 section 2.3)")
}

impl Credentials {
    pub fn read(headers: &HeaderMap, form: &Form<'_>) -> Result<Credentials, OAuthError> {
        let mut auth = headers.get_all(header::AUTHORIZATION).iter();
        let first = auth.next();
        if auth.next().is_some() {
            return Err(OAuthError::invalid_request("Authorization header is repeated"));
        }
        let body_id = form.one("client_id")?;
        let body_secret = form.one("client_secret")?;
        let assertion = match (form.one("client_assertion_type")?, form.one("client_assertion")?) {
            (None, None) => None,
            (Some(CLIENT_ASSERTION_TYPE), Some(jwt)) => Some(jwt),
            // RFC 7521 §4.2.1: an assertion this hub cannot use fails client
            // authentication.
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_client(format!(
                    "client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
                )));
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_request("client_assertion_type without client_assertion"));
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_request("client_assertion without client_assertion_type"));
            }
        };
        if let Some(jwt) = assertion {
            if first.is_some() || body_secret.is_some() {
                return Err(several_methods());
            }
            return Ok(Credentials {
                kind: Kind::Assertion(jwt.to_owned()),
                client_id: body_id.unwrap_or_default().to_owned(),
                secret: None,
            });
        }
        if let Some(value) = first {
            let (id, secret) = basic(value.as_bytes())?;
            if body_secret.is_some() {
                return Err(several_methods());
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request("client_id does not match the Basic credentials"));
            }
            return Ok(Credentials {
                kind: Kind::Basic,
                client_id: id,
                secret: Some(digest_secret(secret.as_bytes())),
            });
        }
        match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(Credentials {
                kind: Kind::Post,
                client_id: id.to_owned(),
                secret: Some(digest_secret(secret.as_bytes())),
            }),
            (Some(id), None) => Ok(Credentials { kind: Kind::Post, client_id: id.to_owned(), secret: None }),
            (None, Some(_)) => Err(OAuthError::invalid_request("client_secret without client_id")),
            (None, None) => Ok(Credentials { kind: Kind::Nothing, client_id: String::new(), secret: None }),
        }
    }

    /// The secret-based credentials (a client assertion presents as
    /// `Nothing` here: see [`Credentials::is_assertion`]).
    pub fn presented(&self) -> Presented<'_> {
        match (&self.kind, &self.secret) {
            (Kind::Nothing | Kind::Assertion(_), _) => Presented::Nothing,
            (Kind::Basic, Some(s)) => Presented::Basic { client_id: &self.client_id, secret: s.clone() },
            (Kind::Post, Some(s)) => Presented::Post { client_id: &self.client_id, secret: s.clone() },
            (_, None) => Presented::IdOnly { client_id: &self.client_id },
        }
    }

    pub fn is_assertion(&self) -> bool {
        matches!(self.kind, Kind::Assertion(_))
    }

    fn client_id_param(&self) -> Option<&str> {
        (!self.client_id.is_empty()).then_some(self.client_id.as_str())
    }
}

/// Which endpoint a client authenticates at: a legacy client assertion may
/// name it as its audience.
#[derive(Clone, Copy)]
pub enum Endpoint {
    Token,
    Introspect,
    Revoke,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Token => "/token",
            Endpoint::Introspect => "/introspect",
            Endpoint::Revoke => "/revoke",
        }
    }
}

/// Client authentication at `endpoint`. A secret is checked without a
/// suspension point (the client_credentials hot path stays synchronous in
/// effect); only a client assertion whose keys live at a `jwksUri` may wait
/// for the guarded fetcher.
pub async fn authenticate(
    st: &AppState,
    hub: &HubSnapshot,
    credentials: &Credentials,
    endpoint: Endpoint,
    now: UnixTime,
) -> Result<Arc<CompiledClient>, OAuthError> {
    match &credentials.kind {
        Kind::Assertion(jwt) => {
            super::client_assertion::verify(st, hub, credentials.client_id_param(), jwt, endpoint.path(), now).await
        }
        _ => keyward_core::grant::authenticate::authenticate(hub, &credentials.presented(), now).map(Arc::clone),
    }
}

/// For the JWT bearer grant, where the grant's assertion may stand in for
/// client authentication (RFC 7523 §3.1): a `client_id` alone names the client.
pub async fn identify(
    st: &AppState,
    hub: &HubSnapshot,
    credentials: &Credentials,
    now: UnixTime,
) -> Result<Arc<CompiledClient>, OAuthError> {
    match &credentials.kind {
        Kind::Assertion(_) => authenticate(st, hub, credentials, Endpoint::Token, now).await,
        _ => identify_for_assertion(hub, &credentials.presented(), now).map(Arc::clone),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic(value: &[u8]) -> Result<(String, String), OAuthError> {
    let malformed = || OAuthError::invalid_client("malformed Basic credentials");
    let scheme_len = "Basic ".len();
    if value.len() < scheme_len || !value[..scheme_len].eq_ignore_ascii_case(b"Basic ") {
        return Err(OAuthError::invalid_client("unsupported authentication scheme: use Basic"));
    }
    let raw =
        base64::engine::general_purpose::STANDARD.decode(value[scheme_len..].trim_ascii()).map_err(|_| malformed())?;
    let colon = raw.iter().position(|&b| b == b':').ok_or_else(malformed)?;
    let id = decode(&raw[..colon]).map_err(|_| malformed())?;
    let secret = decode(&raw[colon + 1..]).map_err(|_| malformed())?;
    if id.is_empty() {
        return Err(malformed());
    }
    Ok((id.into_owned(), secret.into_owned()))
}
