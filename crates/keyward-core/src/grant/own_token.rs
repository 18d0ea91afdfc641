//! An access token of this hub, presented back to it: at introspection
//! (RFC 7662) and as a subject or actor token in an exchange (RFC 8693). Its
//! signature and expiry are checked at the edge; this decides whether it
//! still counts, and for whom, so both endpoints apply the same rules.

use crate::snapshot::{CompiledClient, HubSnapshot};

/// What the hub reads back from its own token.
#[derive(Clone, Copy, Debug)]
pub struct OwnToken<'t> {
    pub client_id: &'t str,
    /// The private claim `client_incarnation`.
    pub client_incarnation: &'t str,
    pub aud: &'t str,
    pub jti: &'t str,
}

/// Why an own token no longer counts for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// Its client was deleted (and maybe applied again: a new incarnation
    /// does not revive the old one's tokens).
    ClientGone,
    /// Its Resource was deleted.
    ResourceGone,
    /// The caller is neither the client it was issued to nor an introspector
    /// of its Resource (the resource server it was sent to).
    NotAddressed,
    Revoked,
}

impl Unusable {
    pub fn describe(self) -> &'static str {
        match self {
            Unusable::ClientGone => "the token's client no longer exists",
            Unusable::ResourceGone => "the token's resource no longer exists",
            Unusable::NotAddressed => "the token is not addressed to this client",
            Unusable::Revoked => "the token has been revoked",
        }
    }
}

/// Whether `caller` may use the token. `is_revoked` is asked last, and only
/// when everything else holds (it is the one lookup outside the snapshot);
/// its error is the caller's to map.
pub fn usable<E>(
    hub: &HubSnapshot,
    token: &OwnToken<'_>,
    caller: &CompiledClient,
    is_revoked: impl FnOnce(&str) -> Result<bool, E>,
) -> Result<Result<(), Unusable>, E> {
    if hub.issuing_client(token.client_id, token.client_incarnation).is_none() {
        return Ok(Err(Unusable::ClientGone));
    }
    let Some(resource) = hub.resource(token.aud) else { return Ok(Err(Unusable::ResourceGone)) };
    let addressed =
        *caller.client_id == *token.client_id || resource.introspectors.iter().any(|c| **c == *caller.client_id);
    if !addressed {
        return Ok(Err(Unusable::NotAddressed));
    }
    if is_revoked(token.jti)? {
        return Ok(Err(Unusable::Revoked));
    }
    Ok(Ok(()))
}
