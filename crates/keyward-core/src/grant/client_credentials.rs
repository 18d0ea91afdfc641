//! The client_credentials grant (RFC 6749 §4.4) with resource indicators
//! (RFC 8707) and Keyward's tenants.

use std::time::Duration;

use crate::claims::access_token_lifetime;
use crate::error::{OAuthError, echo};
use crate::model::GrantType;
use crate::policy::{DecisionInput, decide};
use crate::scope::parse_scope_param;
use crate::snapshot::{CompiledClient, CompiledResource, HubSnapshot};
use crate::syntax::{is_absolute_uri_without_fragment, is_tenant};

/// The grant's parameters, as the edge parsed them.
#[derive(Debug, Default)]
pub struct ClientCredentialsRequest<'r> {
    pub scope: Option<&'r str>,
    /// Every `resource` parameter (RFC 8707 allows several).
    pub resources: &'r [&'r str],
    pub tenant: Option<&'r str>,
    pub now: crate::time::UnixTime,
}

/// What to put in the token.
#[derive(Debug)]
pub struct Grant<'a> {
    pub resource: &'a CompiledResource,
    /// Space-delimited granted scopes.
    pub scope: String,
    pub tenant: Option<&'a str>,
    pub lifetime: Duration,
}

pub fn client_credentials<'a>(
    snapshot: &'a HubSnapshot,
    client: &'a CompiledClient,
    req: &ClientCredentialsRequest<'a>,
) -> Result<Grant<'a>, OAuthError> {
    let Some(cc) = &client.client_credentials else {
        return Err(OAuthError::unauthorized_client("client_credentials is not enabled for this client"));
    };
    let tenant = match (req.tenant, cc.allowed_tenants.as_slice()) {
        (Some(t), _) if !is_tenant(t) => return Err(OAuthError::invalid_request("tenant is malformed")),
        (Some(t), []) => Some(t),
        (Some(t), allowed) if allowed.iter().any(|a| a == t) => Some(t),
        (Some(t), _) => {
            return Err(OAuthError::invalid_request(format!("tenant '{}' is not allowed for this client", echo(t))));
        }
        (None, []) => None,
        // A client pinned to one tenant always acts for it; one allowed several
        // must say which, so a token never silently spans tenants.
        (None, [only]) => Some(only.as_str()),
        (None, _) => {
            return Err(OAuthError::invalid_request("tenant is required: this client is limited to several tenants"));
        }
    };

    let assoc = match req.resources {
        [] => match client.associations.as_slice() {
            [only] => only,
            [] => return Err(OAuthError::invalid_target("this client may not request any resource")),
            _ => {
                return Err(OAuthError::invalid_target(
                    "resource is required: this client may request several resources",
                ));
            }
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
            })?
        }
        _ => return Err(OAuthError::invalid_target("only one resource per token request is supported")),
    };
    let resource = &*assoc.resource;

    let requested = match req.scope {
        None => None,
        Some(s) => Some(
            parse_scope_param(s).map_err(|_| OAuthError::invalid_scope("scope is malformed (RFC 6749 section 3.3)"))?,
        ),
    };
    if let Some(unknown) = requested.iter().flatten().find(|s| !resource.defines_scope(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{}' is not defined by resource '{}'",
            echo(unknown),
            resource.identifier
        )));
    }
    let input = DecisionInput {
        requested: requested.as_deref(),
        grant: GrantType::ClientCredentials,
        tenant,
        subject: None,
        roles: &[],
        now: req.now,
    };
    let granted = decide(assoc, &input, &mut ());
    let asked_for_something = requested.as_ref().map_or(!assoc.scopes.is_empty(), |r| !r.is_empty());
    if granted.is_empty() && asked_for_something {
        return Err(OAuthError::invalid_scope("none of the requested scopes may be granted to this client"));
    }
    Ok(Grant {
        resource,
        scope: granted.join(" "),
        tenant,
        lifetime: access_token_lifetime(&snapshot.settings, client, resource),
    })
}
