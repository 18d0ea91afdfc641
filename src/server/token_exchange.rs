//! Token exchange at `/token` (RFC 8693). The requesting client must
//! authenticate. A subject token from this hub must be addressed to that
//! client (issued to it, or for a Resource that lists it as an introspector:
//! the resource server exchanging what it received); one from a trusted
//! issuer is verified like an assertion. Problems with either token are
//! `invalid_request` (§2.2.2).

use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use keyward_core::claims::{Subject, access_token_claims};
use keyward_core::error::{ErrorCode, echo};
use keyward_core::grant::token_exchange::{
    ExchangeRequest, PresentedToken, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT, exchange,
};
use keyward_core::snapshot::CompiledClient;
use keyward_core::{OAuthError, UnixTime};
use serde_json::Value;

use super::client_auth::{Credentials, Endpoint, authenticate};
use super::error::{ApiError, store_unavailable};
use super::form::Form;
use super::token::{new_jti, sign, token_response};
use super::verify::{Rejected, verify};
use super::{AppState, assertion};

fn invalid_request(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::invalid_request(d)
}

/// RFC 8693 §2.2.2: an unacceptable subject or actor token is
/// `invalid_request`; a hub that cannot check it now stays 503.
fn as_request_error(which: &'static str, e: OAuthError) -> OAuthError {
    match e.code {
        ErrorCode::TemporarilyUnavailable => e,
        _ => invalid_request(format!("{which}: {}", e.description)),
    }
}

fn token_type(form: &Form<'_>, name: &'static str) -> Result<(), OAuthError> {
    match form.one(name)? {
        None => Err(invalid_request(format!("{name} is required"))),
        Some(TOKEN_TYPE_ACCESS_TOKEN | TOKEN_TYPE_JWT) => Ok(()),
        Some(other) => Err(invalid_request(format!("{name} '{}' is not supported", echo(other)))),
    }
}

pub async fn issue(st: &AppState, headers: &HeaderMap, form: &Form<'_>) -> Result<Response, ApiError> {
    let hub = st.hub.load_full();
    let now = st.now();
    let caller = authenticate(st, &hub, &Credentials::read(headers, form)?, Endpoint::Token, now).await?;
    let subject_token = form.one("subject_token")?.ok_or_else(|| invalid_request("subject_token is required"))?;
    token_type(form, "subject_token_type")?;
    let actor_token = form.one("actor_token")?;
    match (actor_token, form.one("actor_token_type")?) {
        (Some(_), _) => token_type(form, "actor_token_type")?,
        (None, Some(_)) => return Err(invalid_request("actor_token_type without actor_token").into()),
        (None, None) => {}
    }
    let subject = presented(st, &caller, subject_token, now).await.map_err(|e| as_request_error("subject_token", e))?;
    let actor = match actor_token {
        Some(t) => Some(presented(st, &caller, t, now).await.map_err(|e| as_request_error("actor_token", e))?),
        None => None,
    };
    let resources = form.all("resource");
    let audiences = form.all("audience");
    let req = ExchangeRequest {
        scope: form.one("scope")?,
        resources: &resources,
        audiences: &audiences,
        requested_token_type: form.one("requested_token_type")?,
        now,
    };
    let ex = exchange(&hub, &caller, &subject, actor.as_ref(), &req)?;
    let jti = new_jti(st)?;
    let who = Subject { sub: &subject.sub, roles: &subject.roles, act: Some(&ex.act) };
    let claims = access_token_claims(&hub.settings, &caller, &ex.grant, who, now, &jti);
    let token = sign(st, &claims)?;
    Ok(token_response(&token, ex.grant.lifetime.as_secs(), &ex.grant.scope, Some(TOKEN_TYPE_ACCESS_TOKEN)))
}

fn unverified_iss(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss").and_then(Value::as_str).map(str::to_owned)
}

async fn presented(
    st: &AppState,
    caller: &CompiledClient,
    token: &str,
    now: UnixTime,
) -> Result<PresentedToken, OAuthError> {
    let hub = st.hub.load_full();
    let iss = unverified_iss(token).ok_or_else(|| invalid_request("not a JWT"))?;
    if iss != hub.settings.issuer {
        let v = assertion::verify(st, caller, token, now).await?;
        return Ok(PresentedToken {
            sub: v.subject,
            roles: v.roles,
            tenant: None,
            aud: None,
            scopes: None,
            act: v.claims.get("act").cloned(),
            may_act: v.claims.get("may_act").cloned(),
        });
    }
    let claims = verify(st, token, now, false).map_err(|r| match r {
        Rejected::Expired => invalid_request("the token has expired"),
        _ => invalid_request("the token is not valid"),
    })?;
    let revoked = st.store.is_revoked(&claims.jti).map_err(|e| store_unavailable(&e, "try again later"))?;
    if revoked {
        return Err(invalid_request("the token has been revoked"));
    }
    if hub.issuing_client(&claims.client_id, &claims.client_incarnation).is_none() {
        return Err(invalid_request("the token's client no longer exists"));
    }
    let addressed = *claims.client_id == *caller.client_id
        || hub.resource(&claims.aud).is_some_and(|r| r.introspectors.iter().any(|c| **c == *caller.client_id));
    if !addressed {
        return Err(invalid_request("the token is not addressed to this client"));
    }
    Ok(PresentedToken {
        sub: claims.sub,
        roles: claims.roles,
        tenant: claims.tenant,
        aud: Some(claims.aud),
        scopes: claims.scope.map(|s| s.split(' ').map(str::to_owned).collect()),
        act: claims.act,
        may_act: None,
    })
}
