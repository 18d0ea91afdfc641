//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3). The edge parses the request and digests the presented
//! secret; this decides.

use std::sync::Arc;

use crate::error::{OAuthError, echo};
use crate::model::AuthMethod;
use crate::secret::SecretDigest;
use crate::snapshot::{CompiledClient, Credential, HubSnapshot};
use crate::time::UnixTime;

/// The credentials a request carried.
#[derive(Debug)]
pub enum Presented<'r> {
    /// No credentials at all.
    Nothing,
    /// `Authorization: Basic` (RFC 6749 §2.3.1).
    Basic { client_id: &'r str, secret: SecretDigest },
    /// `client_id` + `client_secret` in the body.
    Post { client_id: &'r str, secret: SecretDigest },
    /// `client_id` alone in the body: a public client (`none`).
    IdOnly { client_id: &'r str },
}

pub fn authenticate<'s>(
    snapshot: &'s HubSnapshot,
    presented: &Presented<'_>,
    now: UnixTime,
) -> Result<&'s Arc<CompiledClient>, OAuthError> {
    let (client_id, secret, method) = match presented {
        Presented::Nothing => return Err(OAuthError::invalid_client("client authentication is required")),
        Presented::IdOnly { client_id } => {
            return match snapshot.client(client_id) {
                // Nothing to prove: what a public client may do is limited by
                // its grants (compile allows it only authorization code with
                // PKCE) and by each endpoint.
                Some(c) if c.auth_method == AuthMethod::None => Ok(c),
                Some(c) if !c.auth_method.uses_secret() => Err(OAuthError::invalid_client(format!(
                    "client_assertion is required: this client authenticates with {}",
                    c.auth_method.as_str()
                ))),
                Some(_) => Err(OAuthError::invalid_client("client_secret is required")),
                None => Err(unknown(client_id)),
            };
        }
        Presented::Basic { client_id, secret } => (*client_id, secret, AuthMethod::ClientSecretBasic),
        Presented::Post { client_id, secret } => (*client_id, secret, AuthMethod::ClientSecretPost),
    };
    let client = snapshot.client(client_id).ok_or_else(|| unknown(client_id))?;
    if client.auth_method != method {
        return Err(OAuthError::invalid_client(format!(
            "client is registered for {}, not {}",
            client.auth_method.as_str(),
            method.as_str()
        )));
    }
    let verified = match &client.credential {
        Credential::Secrets(secrets) => secrets.verify(secret, now),
        Credential::Keys(_) | Credential::Federated(_) | Credential::Public => false,
    };
    if !verified {
        return Err(OAuthError::invalid_client("client authentication failed"));
    }
    Ok(client)
}

fn unknown(client_id: &str) -> OAuthError {
    OAuthError::invalid_client(format!("unknown client '{}'", echo(client_id)))
}

/// The JWT bearer grant may name the client by `client_id` alone: the
/// assertion authenticates the request (RFC 7523 §3.1). Credentials, when
/// given, must still be right.
pub fn identify_for_assertion<'s>(
    snapshot: &'s HubSnapshot,
    presented: &Presented<'_>,
    now: UnixTime,
) -> Result<&'s Arc<CompiledClient>, OAuthError> {
    match presented {
        Presented::Nothing => Err(OAuthError::invalid_client("client_id is required")),
        Presented::IdOnly { client_id } => {
            let client = snapshot.client(client_id).ok_or_else(|| unknown(client_id))?;
            if client.jwt_bearer.is_none() {
                return Err(OAuthError::invalid_client("client_secret is required"));
            }
            Ok(client)
        }
        _ => authenticate(snapshot, presented, now),
    }
}
