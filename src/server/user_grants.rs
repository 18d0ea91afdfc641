//! The user grants at `/token`: redeeming an authorization code and rotating
//! a refresh token. The store operations that must be atomic (one
//! redemption, one rotation winner) are `keyward_core::sessions`'; the
//! decisions are the grant functions'; this signs and answers.

use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest as sha256};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keyward_core::grant::Grant;
use keyward_core::grant::authorization_code::{
    AuthorizationCodeRequest, authorization_code, check_redemption, check_shape, pick,
};
use keyward_core::grant::authorize::decide_for_user;
use keyward_core::grant::refresh::{self, ROTATION_GRACE, RefreshRequest};
use keyward_core::identity::User;
use keyward_core::model::GrantType;
use keyward_core::sessions::{self, Consent, Family, Presented, Redemption, RefreshToken, ResourceGrant};
use keyward_core::snapshot::{CompiledClient, HubSnapshot};
use keyward_core::store::{RecordKind, Records};
use keyward_core::{OAuthError, UnixTime};
use serde::Serialize;

use super::AppState;
use super::browser;
use super::error::{ApiError, json_response};
use super::token::{new_jti, sign};
use crate::audit::Event;

#[derive(Serialize)]
struct UserTokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    refresh_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
}

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    azp: &'a str,
    exp: u64,
    iat: u64,
    auth_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
}

fn records(st: &AppState) -> Result<&dyn Records, ApiError> {
    st.records.as_deref().ok_or_else(|| {
        ApiError::OAuth(OAuthError::unauthorized_client("this hub keeps no user sessions: the grant is not available"))
    })
}

fn invalid_grant() -> ApiError {
    ApiError::OAuth(OAuthError::invalid_grant("the code is invalid, expired or already used"))
}

/// `grant_type=authorization_code`.
pub async fn redeem(
    st: &AppState,
    ev: &mut Event,
    hub: &HubSnapshot,
    client: &CompiledClient,
    req: &AuthorizationCodeRequest<'_>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    if client.authorization_code.is_none() {
        return Err(OAuthError::unauthorized_client("authorization_code is not enabled for this client").into());
    }
    let records = records(st)?;
    check_shape(req)?;
    let jti = new_jti(st)?;
    let key = browser::digest(req.code);
    let code = match sessions::redeem_code(records, &key, &jti, now).await? {
        Redemption::First(code) => code,
        Redemption::Unknown => return Err(invalid_grant()),
        Redemption::Replayed(code) => {
            // RFC 6749 §4.1.2: a second use revokes what the first issued.
            sessions::revoke_family(records, &code.family, now).await?;
            if let Some(first) = &code.redeemed {
                let until = now.plus(hub.longest_access_token_lifetime());
                st.store.revoke(first, until).await?;
            }
            tracing::warn!(client_id = %client.client_id, "an authorization code was used twice: its tokens are revoked");
            return Err(invalid_grant());
        }
    };
    let verifier_s256 = req.code_verifier.map(|v| B64.encode(sha256(&SHA256, v.as_bytes()).as_ref()));
    check_redemption(&code, client, req, verifier_s256.as_deref(), now)?;
    ev.subject = Some(code.user.sub.clone());
    let resource = pick(&code.resources, &req.resources)?.to_owned();
    let grant = authorization_code(hub, client, &code, &resource, now, &mut ev.removed)?;

    // What the refresh token may ask for later: each resource's decision now.
    let decided = decide_for_user(
        client,
        &code.resources,
        code.scope.as_deref(),
        &code.user.sub,
        &code.user.roles,
        GrantType::AuthorizationCode,
        now,
        &mut (),
    )?;
    let (idle, absolute) = refresh::lifetimes(&hub.settings, client);
    let family_expires = UnixTime(code.auth_time).plus(absolute).0.max(now.0 + 1);
    let token = RefreshToken {
        family: code.family.clone(),
        client_id: client.client_id.to_string(),
        incarnation: client.incarnation.to_string(),
        user: code.user.clone(),
        auth_time: code.auth_time,
        grants: decided
            .into_iter()
            .zip(code.consents.iter())
            .map(|((resource, scopes), consent)| ResourceGrant { resource, scopes, consent: consent.clone() })
            .collect(),
        openid: code.openid.clone(),
        family_expires,
        expires: now.plus(idle).0.min(family_expires),
        rotated_at: None,
    };
    let refresh_token = browser::random(st).ok_or_else(unavailable)?;
    let until = UnixTime(token.expires);
    if !sessions::create(records, RecordKind::Refresh, &browser::digest(&refresh_token), &token, until, None, now)
        .await?
    {
        return Err(unavailable());
    }
    let id_token = if code.openid.iter().any(|o| o == "openid") {
        Some(id_token(st, hub, client, &code.user, code.auth_time, code.nonce.as_deref(), &code.openid, now)?)
    } else {
        None
    };
    respond(st, ev, hub, client, &grant, &jti, now, &refresh_token, id_token.as_deref())
}

/// `grant_type=refresh_token`.
pub async fn rotate(
    st: &AppState,
    ev: &mut Event,
    hub: &HubSnapshot,
    client: &CompiledClient,
    req: &RefreshRequest<'_>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let records = records(st)?;
    let gone = || ApiError::OAuth(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked"));
    let key = browser::digest(req.refresh_token);
    let presented = sessions::present_refresh(records, &key, now, ROTATION_GRACE).await?;
    let token = match &presented {
        Presented::Unknown => return Err(gone()),
        Presented::Reused(t) => {
            // OAuth 2.1 §4.3.1: a rotated token used again means two parties
            // hold it; end the whole family.
            sessions::revoke_family(records, &t.family, now).await?;
            tracing::warn!(client_id = %t.client_id, "a rotated refresh token was used again: its family is revoked");
            return Err(gone());
        }
        Presented::Live { token, .. } => token.clone(),
    };
    refresh::check(&token, client, now)?;
    match sessions::get::<Family>(records, RecordKind::Family, &token.family, now).await? {
        Some((_, f, _)) if !f.revoked => {}
        _ => return Err(gone()),
    }
    // Every consent the token rests on must still be the one it was given under.
    for g in &token.grants {
        let ck = browser::digest(&sessions::consent_key(&token.user.sub, &client.client_id, &g.resource));
        match sessions::get::<Consent>(records, RecordKind::Consent, &ck, now).await? {
            Some((_, c, _)) if c.id == g.consent => {}
            _ => return Err(OAuthError::invalid_grant("the user's consent was revoked").into()),
        }
    }
    // The user as the provider knows them now: roles re-evaluated.
    let user =
        current_user(client, &token.user).ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
    ev.subject = Some(user.sub.clone());
    let grant = refresh::refresh(hub, client, &token, &user, req, now, &mut ev.removed)?;

    let (idle, _) = refresh::lifetimes(&hub.settings, client);
    let successor = RefreshToken {
        user: user.clone(),
        expires: now.plus(idle).0.min(token.family_expires),
        rotated_at: None,
        ..token.clone()
    };
    let new = browser::random(st).ok_or_else(unavailable)?;
    if !sessions::rotate_refresh(records, &key, presented, &browser::digest(&new), &successor, now).await? {
        return Err(gone());
    }
    let jti = new_jti(st)?;
    respond(st, ev, hub, client, &grant, &jti, now, &new, None)
}

/// The user as their provider describes them now; for a static provider a
/// user removed from the manifest no longer refreshes.
fn current_user(client: &CompiledClient, user: &User) -> Option<User> {
    crate::login::current_user(client.identity_provider.as_ref()?, user)
}

#[allow(clippy::too_many_arguments)]
fn id_token(
    st: &AppState,
    hub: &HubSnapshot,
    client: &CompiledClient,
    user: &User,
    auth_time: u64,
    nonce: Option<&str>,
    openid: &[String],
    now: UnixTime,
) -> Result<String, ApiError> {
    let profile = openid.iter().any(|o| o == "profile");
    let email = openid.iter().any(|o| o == "email");
    let claims = IdTokenClaims {
        iss: &hub.settings.issuer,
        sub: &user.sub,
        aud: &client.client_id,
        azp: &client.client_id,
        exp: now.plus(Duration::from_secs(300)).0,
        iat: now.0,
        auth_time,
        nonce,
        name: user.name.as_deref().filter(|_| profile),
        preferred_username: Some(user.username.as_str()).filter(|_| profile),
        email: user.email.as_deref().filter(|_| email),
    };
    let json = serde_json::to_vec(&claims).map_err(|_| unavailable())?;
    let keys = st.keys.load();
    let keys = keys.as_ref().ok_or_else(unavailable)?;
    keys.active.sign_id_token(&json, &st.rng).map_err(|_| unavailable())
}

#[allow(clippy::too_many_arguments)]
fn respond(
    st: &AppState,
    ev: &mut Event,
    hub: &HubSnapshot,
    client: &CompiledClient,
    grant: &Grant<'_>,
    jti: &str,
    now: UnixTime,
    refresh_token: &str,
    id_token: Option<&str>,
) -> Result<Response, ApiError> {
    ev.resource = Some(grant.resource.identifier.to_string());
    ev.scope = Some(grant.scope.clone());
    let claims = grant.claims(&hub.settings, client, now, jti);
    let access_token = sign(st, &claims)?;
    ev.token_id = Some(jti.to_owned());
    let body = UserTokenResponse {
        access_token: &access_token,
        token_type: "Bearer",
        expires_in: grant.lifetime.as_secs(),
        scope: &grant.scope,
        refresh_token,
        id_token,
    };
    Ok(json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default()))
}

fn unavailable() -> ApiError {
    ApiError::OAuth(OAuthError::new(
        keyward_core::ErrorCode::TemporarilyUnavailable,
        "could not issue a token, try again",
    ))
}
