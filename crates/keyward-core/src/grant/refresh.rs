//! The refresh token grant (RFC 6749 §6, OAuth 2.1 §4.3). The presented token
//! names the resources and scopes originally granted; every refresh decides
//! again with the user's current roles and the current policies, so a scope a
//! policy took away is gone at the next refresh, and never comes back wider
//! than the original grant.

use std::time::Duration;

pub use super::common::Grant;
use super::common::{Facts, decide_scopes};
use super::request::Params;
use crate::claims::access_token_lifetime;
use crate::error::{OAuthError, echo};
use crate::identity::User;
use crate::model::GrantType;
use crate::policy::Trace;
use crate::scope::parse_scope_param;
use crate::sessions::RefreshToken;
use crate::snapshot::{CompiledClient, HubSettings, HubSnapshot};
use crate::time::UnixTime;

/// How long a rotated refresh token still works, for a client that retries a
/// refresh whose answer it lost (a timeout, a dropped connection). Reuse
/// after this is theft: the family is revoked.
pub const ROTATION_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct RefreshRequest<'r> {
    pub refresh_token: &'r str,
    pub scope: Option<&'r str>,
    pub resources: Vec<&'r str>,
}

impl<'r> RefreshRequest<'r> {
    pub fn parse(p: &'r impl Params) -> Result<Self, OAuthError> {
        Ok(RefreshRequest {
            refresh_token: p
                .one("refresh_token")?
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?,
            scope: p.one("scope")?,
            resources: p.all("resource"),
        })
    }
}

/// Idle and absolute lifetimes of a client's refresh tokens.
pub fn lifetimes(settings: &HubSettings, client: &CompiledClient) -> (Duration, Duration) {
    (
        client.session.refresh_token.unwrap_or(settings.defaults.refresh_token),
        client.session.session_token.unwrap_or(settings.defaults.session_token),
    )
}

/// Whether this client may use this token now.
pub fn check(token: &RefreshToken, client: &CompiledClient, now: UnixTime) -> Result<(), OAuthError> {
    if token.client_id != *client.client_id || token.incarnation != *client.incarnation {
        return Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked"));
    }
    if now.0 >= token.expires.min(token.family_expires) {
        return Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked"));
    }
    Ok(())
}

/// The access token of a refresh, for `user` as the provider knows them now.
pub fn refresh<'a>(
    snapshot: &'a HubSnapshot,
    client: &'a CompiledClient,
    token: &'a RefreshToken,
    user: &'a User,
    req: &RefreshRequest<'_>,
    now: UnixTime,
    trace: &mut impl Trace,
) -> Result<Grant<'a>, OAuthError> {
    let resources: Vec<String> = token.grants.iter().map(|g| g.resource.clone()).collect();
    let resource = super::authorization_code::pick(&resources, &req.resources)?;
    let original = token.grants.iter().find(|g| g.resource == resource).map(|g| &g.scopes);
    let original = original.ok_or_else(|| OAuthError::invalid_target("resource was not part of the authorization"))?;
    let assoc = client
        .association(resource)
        .ok_or_else(|| OAuthError::invalid_target("this client may no longer request this resource"))?;
    let requested: Vec<&str> = match req.scope {
        None => original.iter().map(String::as_str).collect(),
        Some(s) => {
            let asked = parse_scope_param(s)
                .map_err(|_| OAuthError::invalid_scope("scope is malformed (RFC 6749 section 3.3)"))?;
            let asked: Vec<&str> = asked.into_iter().filter(|s| !super::authorize::OPENID_SCOPES.contains(s)).collect();
            if let Some(extra) = asked.iter().find(|s| !original.iter().any(|o| o == *s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope '{}' was not granted originally (RFC 6749 section 6)",
                    echo(extra)
                )));
            }
            asked
        }
    };
    let roles: Vec<&str> = user.roles.iter().map(String::as_str).collect();
    let facts = Facts { grant: GrantType::RefreshToken, tenant: None, subject: Some(&user.sub), roles: &roles, now };
    let granted =
        if requested.is_empty() { Vec::new() } else { decide_scopes(assoc, Some(&requested), &facts, trace)? };
    Ok(Grant {
        resource: &assoc.resource,
        scope: granted.join(" "),
        tenant: None,
        lifetime: access_token_lifetime(&snapshot.settings, client, &assoc.resource),
        sub: &user.sub,
        roles: &user.roles,
        act: None,
    })
}
