//! The JWT bearer grant at `/token` (RFC 7523 §2.1). The client may be named
//! by `client_id` alone (§3.1: the assertion authenticates the request); the
//! token's `sub` is the assertion's subject, `client_id` the client.

use axum::http::HeaderMap;
use axum::response::Response;
use keyward_core::OAuthError;
use keyward_core::claims::{Subject, access_token_claims, access_token_lifetime};
use keyward_core::grant::common::{Facts, Grant, decide_scopes, requested_scopes, target};
use keyward_core::model::GrantType;

use super::client_auth::{Credentials, identify};
use super::error::ApiError;
use super::form::Form;
use super::token::{new_jti, sign, token_response};
use super::{AppState, assertion};

pub async fn issue(st: &AppState, headers: &HeaderMap, form: &Form<'_>) -> Result<Response, ApiError> {
    let assertion = form.one("assertion")?.ok_or_else(|| OAuthError::invalid_request("assertion is required"))?;
    let hub = st.hub.load_full();
    let now = st.now();
    let credentials = Credentials::read(headers, form)?;
    let client = identify(st, &hub, &credentials, now).await?;
    let client = &client;
    let verified = assertion::verify(st, client, assertion, now).await?;

    let resources = form.all("resource");
    let assoc = target(&hub, client, &resources)?;
    let resource = &*assoc.resource;
    let requested = requested_scopes(form.one("scope")?, resource)?;
    let roles: Vec<&str> = verified.roles.iter().map(String::as_str).collect();
    let facts =
        Facts { grant: GrantType::JwtBearer, tenant: None, subject: Some(&verified.subject), roles: &roles, now };
    let granted = decide_scopes(assoc, requested.as_deref(), &facts)?;
    let grant = Grant {
        resource,
        scope: granted.join(" "),
        tenant: None,
        lifetime: access_token_lifetime(&hub.settings, client, resource),
    };
    let jti = new_jti(st)?;
    let subject = Subject { sub: &verified.subject, roles: &verified.roles, act: None };
    let claims = access_token_claims(&hub.settings, client, &grant, subject, now, &jti);
    let token = sign(st, &claims)?;
    Ok(token_response(&token, grant.lifetime.as_secs(), &grant.scope, None))
}
