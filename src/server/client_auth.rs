//! Reads the client's credentials off a request (RFC 6749 §2.3.1): HTTP Basic,
//! or `client_id`/`client_secret` in the body, never both. Secrets are digested
//! here and dropped; only the digest travels on.

use aws_lc_rs::digest::{SHA256, digest};
use axum::http::{HeaderMap, header};
use base64::Engine;
use keyward_core::OAuthError;
use keyward_core::grant::authenticate::Presented;
use keyward_core::secret::SecretDigest;

use super::form::{Form, decode};

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
}

pub fn digest_secret(secret: &[u8]) -> SecretDigest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, secret).as_ref());
    SecretDigest(out)
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
        if let Some(value) = first {
            let (id, secret) = basic(value.as_bytes())?;
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "more than one client authentication method (RFC 6749 section 2.3)",
                ));
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

    pub fn presented(&self) -> Presented<'_> {
        match (&self.kind, &self.secret) {
            (Kind::Nothing, _) => Presented::Nothing,
            (Kind::Basic, Some(s)) => Presented::Basic { client_id: &self.client_id, secret: s.clone() },
            (Kind::Post, Some(s)) => Presented::Post { client_id: &self.client_id, secret: s.clone() },
            (_, None) => Presented::IdOnly { client_id: &self.client_id },
        }
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
