//! The client_credentials grant (RFC 6749 §4.4) with resource indicators
//! (RFC 8707) and Keyward's tenants.

pub use super::common::Grant;
use super::common::{Facts, decide_scopes, requested_scopes, target};
use super::request::Params;
use crate::claims::access_token_lifetime;
use crate::error::{OAuthError, echo};
use crate::model::GrantType;
use crate::policy::Trace;
use crate::snapshot::{CompiledClient, HubSnapshot};
use crate::syntax::is_tenant;
use crate::time::UnixTime;

/// The grant's parameters.
#[derive(Debug, Default)]
pub struct ClientCredentialsRequest<'r> {
    pub scope: Option<&'r str>,
    /// Every `resource` parameter (RFC 8707 allows several).
    pub resources: Vec<&'r str>,
    pub tenant: Option<&'r str>,
}

impl<'r> ClientCredentialsRequest<'r> {
    pub fn parse(p: &'r impl Params) -> Result<Self, OAuthError> {
        Ok(ClientCredentialsRequest { scope: p.one("scope")?, resources: p.all("resource"), tenant: p.one("tenant")? })
    }
}

/// The grant, for an authenticated client: the client is its own subject.
pub fn client_credentials<'a>(
    snapshot: &'a HubSnapshot,
    client: &'a CompiledClient,
    req: &ClientCredentialsRequest<'a>,
    now: UnixTime,
    trace: &mut impl Trace,
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

    let assoc = target(snapshot, client, &req.resources)?;
    let resource = &*assoc.resource;
    let requested = requested_scopes(req.scope, resource)?;
    let facts = Facts { grant: GrantType::ClientCredentials, tenant, subject: None, roles: &[], now };
    let granted = decide_scopes(assoc, requested.as_deref(), &facts, trace)?;
    Ok(Grant {
        resource,
        scope: granted.join(" "),
        tenant,
        lifetime: access_token_lifetime(&snapshot.settings, client, resource),
        sub: &client.client_id,
        roles: &[],
        act: None,
    })
}
