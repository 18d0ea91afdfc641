//! Access-token claims (RFC 9068 §2.2) and lifetimes. Serialization only: the
//! signature is made at the edge with a pre-parsed key.

use serde::Serialize;
use std::time::Duration;

use crate::grant::common::Grant;
use crate::snapshot::{CompiledClient, CompiledResource, HubSettings};
use crate::time::UnixTime;

/// The JWT body of an access token. Borrowed everywhere so building it allocates
/// nothing beyond the scope string the decision produced.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AccessTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: u64,
    pub iat: u64,
    pub jti: &'a str,
    pub client_id: &'a str,
    /// The incarnation of the client (`CompiledClient::incarnation`): a
    /// private claim the hub reads back at introspection and exchange, so a
    /// client deleted and re-created under the same id does not revive them.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub client_incarnation: &'a str,
    /// RFC 9068 §2.2.3: space-delimited, omitted when nothing was granted.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<&'a str>,
    /// RFC 9068 §2.2.3.1: the subject's roles (and groups) as the hub saw
    /// them, so a token exchange later decides on the same facts.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub roles: &'a [String],
    /// RFC 8693 §4.1: who acts for the subject, nested for chains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<&'a serde_json::Value>,
}

/// Whom a token is about: the subject, the roles the decision saw, and who
/// acts for it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub sub: &'a str,
    pub roles: &'a [String],
    pub act: Option<&'a serde_json::Value>,
}

/// Lifetime of a token a client gets for itself: the shorter of the client's
/// `accessKeySessionTokenTimeout` and the resource's `accessTokenLifetime`, so
/// both owners can only shorten it; the hub default where neither says.
pub fn access_token_lifetime(settings: &HubSettings, client: &CompiledClient, resource: &CompiledResource) -> Duration {
    match (client.session.access_key_session_token, resource.access_token_lifetime) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => settings.defaults.access_token,
    }
}

/// The claims of any access token: `sub` is the client itself, an asserted
/// subject, or the subject of an exchanged token. Grants reach it through
/// [`Grant::claims`].
pub fn access_token_claims<'a>(
    settings: &'a HubSettings,
    client: &'a CompiledClient,
    grant: &'a Grant<'a>,
    subject: Subject<'a>,
    now: UnixTime,
    jti: &'a str,
) -> AccessTokenClaims<'a> {
    AccessTokenClaims {
        act: subject.act,
        roles: subject.roles,
        iss: &settings.issuer,
        sub: subject.sub,
        aud: &grant.resource.identifier,
        exp: now.plus(grant.lifetime).0,
        iat: now.0,
        jti,
        client_id: &client.client_id,
        client_incarnation: &client.incarnation,
        scope: &grant.scope,
        tenant: grant.tenant,
    }
}
