//! The tokens a token exchange presents (RFC 8693 §2.1), verified for the
//! grant (`keyward_core::grant::token_exchange`). A subject token from this
//! hub must still be usable by the caller (`grant::own_token`: issued to it,
//! or for a Resource that lists it as an introspector — the resource server
//! exchanging what it received); one from a trusted issuer is verified like
//! an assertion. Problems with either token are `invalid_request` (§2.2.2).

use base64::Engine;
use keyward_core::error::ErrorCode;
use keyward_core::grant::jwt_bearer::grant_issuers;
use keyward_core::grant::own_token::{OwnToken, usable};
use keyward_core::grant::token_exchange::PresentedToken;
use keyward_core::snapshot::{CompiledClient, HubSnapshot};
use keyward_core::{OAuthError, UnixTime};
use serde_json::Value;

use super::error::store_unavailable;
use super::verify::{Rejected, verify};
use super::{AppState, assertion};

fn invalid_request(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::invalid_request(d)
}

/// RFC 8693 §2.2.2: an unacceptable subject or actor token is
/// `invalid_request`; a hub that cannot check it now stays 503.
pub(super) fn as_request_error(which: &'static str, e: OAuthError) -> OAuthError {
    match e.code {
        ErrorCode::TemporarilyUnavailable => e,
        _ => invalid_request(format!("{which}: {}", e.description)),
    }
}

fn unverified_iss(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss").and_then(Value::as_str).map(str::to_owned)
}

/// Verifies a subject or actor token for `caller`.
pub(super) async fn presented(
    st: &AppState,
    hub: &HubSnapshot,
    caller: &CompiledClient,
    token: &str,
    now: UnixTime,
) -> Result<PresentedToken, OAuthError> {
    let iss = unverified_iss(token).ok_or_else(|| invalid_request("not a JWT"))?;
    if iss != hub.settings.issuer {
        let v = assertion::verify(st, grant_issuers(caller)?, token, now).await?;
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
    let own = OwnToken {
        client_id: &claims.client_id,
        client_incarnation: &claims.client_incarnation,
        aud: &claims.aud,
        jti: &claims.jti,
    };
    usable(hub, &own, caller, |jti| st.store.is_revoked(jti))
        .map_err(|e| store_unavailable(&e, "try again later"))?
        .map_err(|why| invalid_request(why.describe()))?;
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
