//! What every grant that issues an access token shares: choosing the target
//! Resource (RFC 8707), deciding the scopes (RFC 6749 §3.3) through the
//! policy decision, and the [`Grant`] every grant function returns.

use std::time::Duration;

use serde_json::Value;

use crate::claims::{AccessTokenClaims, Subject, access_token_claims};
use crate::error::{OAuthError, echo};
use crate::model::GrantType;
use crate::policy::{DecisionInput, Trace, decide};
use crate::scope::parse_scope_param;
use crate::snapshot::{Association, CompiledClient, CompiledResource, HubSettings, HubSnapshot};
use crate::syntax::is_absolute_uri_without_fragment;
use crate::time::UnixTime;

/// What a grant decided: everything the access token says, before its `jti`
/// and signature. Every grant function returns one, so the edge signs them
/// all the same way.
#[derive(Debug)]
pub struct Grant<'a> {
    pub resource: &'a CompiledResource,
    /// Space-delimited granted scopes.
    pub scope: String,
    pub tenant: Option<&'a str>,
    pub lifetime: Duration,
    /// The token's `sub`: the client itself, an asserted subject, or the
    /// subject of an exchanged token.
    pub sub: &'a str,
    /// The subject's roles as the decision saw them.
    pub roles: &'a [String],
    /// RFC 8693 §4.1: who acts for the subject.
    pub act: Option<Value>,
}

impl<'a> Grant<'a> {
    /// The token's claims. `jti` is random, so the caller brings it.
    pub fn claims(
        &'a self,
        settings: &'a HubSettings,
        client: &'a CompiledClient,
        now: UnixTime,
        jti: &'a str,
    ) -> AccessTokenClaims<'a> {
        let subject = Subject { sub: self.sub, roles: self.roles, act: self.act.as_ref() };
        access_token_claims(settings, client, self, subject, now, jti)
    }
}

/// The Resource a request targets: the one `resource` names, or the client's
/// only one when none is named.
pub fn target<'a>(
    snapshot: &HubSnapshot,
    client: &'a CompiledClient,
    resources: &[&str],
) -> Result<&'a Association, OAuthError> {
    match resources {
        [] => match client.associations.as_slice() {
            [only] => Ok(only),
            [] => Err(OAuthError::invalid_target("this client may not request any resource")),
            _ => Err(OAuthError::invalid_target("resource is required: this client may request several resources")),
        },
        [one] => {
            if !is_absolute_uri_without_fragment(one) {
                return Err(OAuthError::invalid_target("resource must be an absolute URI without a fragment"));
            }
            if snapshot.resource(one).is_none() {
                return Err(OAuthError::invalid_target(format!("unknown resource '{}'", echo(one))));
            }
            client.association(one).ok_or_else(|| {
                OAuthError::invalid_target(format!("this client may not request resource '{}'", echo(one)))
            })
        }
        _ => Err(OAuthError::invalid_target("only one resource per token request is supported")),
    }
}

/// Parses `scope` and refuses scopes the Resource does not define.
pub fn requested_scopes<'r>(
    scope: Option<&'r str>,
    resource: &CompiledResource,
) -> Result<Option<Vec<&'r str>>, OAuthError> {
    let Some(s) = scope else { return Ok(None) };
    let requested =
        parse_scope_param(s).map_err(|_| OAuthError::invalid_scope("scope is malformed (RFC 6749 section 3.3)"))?;
    if let Some(unknown) = requested.iter().find(|s| !resource.defines_scope(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{}' is not defined by resource '{}'",
            echo(unknown),
            resource.identifier
        )));
    }
    Ok(Some(requested))
}

/// The facts of a request that the decision needs, besides the scopes.
pub struct Facts<'r> {
    pub grant: GrantType,
    pub tenant: Option<&'r str>,
    pub subject: Option<&'r str>,
    pub roles: &'r [&'r str],
    pub now: UnixTime,
}

/// Granted scopes. Nothing granted out of a non-empty request (or default) is
/// `invalid_scope`. Every verdict goes to `trace`: the audit trail's removals,
/// or `explain`'s full explanation.
pub fn decide_scopes(
    assoc: &Association,
    requested: Option<&[&str]>,
    facts: &Facts<'_>,
    trace: &mut impl Trace,
) -> Result<Vec<String>, OAuthError> {
    let input = DecisionInput {
        requested,
        grant: facts.grant,
        tenant: facts.tenant,
        subject: facts.subject,
        roles: facts.roles,
        now: facts.now,
    };
    let granted = decide(assoc, &input, trace);
    let asked_for_something = requested.map_or(!assoc.scopes.is_empty(), |r| !r.is_empty());
    if granted.is_empty() && asked_for_something {
        return Err(OAuthError::invalid_scope("none of the requested scopes may be granted to this client"));
    }
    Ok(granted.into_iter().map(str::to_owned).collect())
}
