//! `POST /token` (RFC 6749 §3.2). The handler reads the body once into a
//! typed request (`keyward_core::grant::request`), authenticates the client,
//! verifies what the grant presents (an assertion, a subject token), calls
//! the grant's core function and signs what it decided. This is the hot path:
//! no Kubernetes call, no blocking I/O, one snapshot load, one digest, one
//! signature.

use std::sync::Arc;

use aws_lc_rs::rand::SecureRandom;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keyward_core::error::ErrorCode;
use keyward_core::grant::client_credentials::client_credentials;
use keyward_core::grant::jwt_bearer::{grant_issuers, jwt_bearer};
use keyward_core::grant::request::grant_type;
use keyward_core::grant::token_exchange::{TOKEN_TYPE_ACCESS_TOKEN, exchange};
use keyward_core::grant::{Grant, TokenRequest};
use keyward_core::snapshot::{CompiledClient, HubSnapshot};
use keyward_core::{OAuthError, UnixTime};
use serde::Serialize;

use super::client_auth::{Credentials, Endpoint, authenticate, identify};
use super::error::{ApiError, json_response};
use super::{AppState, MAX_BODY, assertion, form, token_exchange};
use crate::audit::{Event, Kind, Outcome};
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    /// RFC 6749 §5.1: required when it differs from the request; always sent
    /// when something was granted so clients need not compare.
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    /// RFC 8693 §2.2.1, for exchanged tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<&'static str>,
}

pub(crate) fn token_response(
    access_token: &str,
    expires_in: u64,
    scope: &str,
    issued_token_type: Option<&'static str>,
) -> Response {
    let body = TokenResponse { access_token, token_type: "Bearer", expires_in, scope, issued_token_type };
    // Serializing borrowed strings and numbers cannot fail.
    json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default())
}

pub async fn token(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut ev = st.event(Kind::Token);
    let result = issue(&st, &headers, body, &mut ev).await;
    st.answer(&ev, result.map(|r| (r, Outcome::Issued)))
}

pub(crate) fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge(MAX_BODY)
        }
        _ => ApiError::OAuth(OAuthError::invalid_request("could not read the request body")),
    })
}

/// Extract, call, map. `ev` learns each fact as soon as it is known, so a
/// refusal is recorded with everything decided before it.
async fn issue(
    st: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    ev: &mut Event,
) -> Result<Response, ApiError> {
    let body = read_body(body)?;
    form::require_form_content_type(headers)?;
    let form = form::parse(&body)?;
    let grant = grant_type(&form)?;
    ev.grant = Some(grant);
    let request = TokenRequest::parse(grant, &form)?;
    let credentials = Credentials::read(headers, &form)?;
    let hub = st.hub.load_full();
    let now = st.now();
    match request {
        TokenRequest::AuthorizationCode(req) => {
            let client = authenticate(st, &hub, &credentials, Endpoint::Token, now).await?;
            ev.client_id = Some(client.client_id.to_string());
            super::user_grants::redeem(st, ev, &hub, &client, &req, now).await
        }
        TokenRequest::RefreshToken(req) => {
            let client = authenticate(st, &hub, &credentials, Endpoint::Token, now).await?;
            ev.client_id = Some(client.client_id.to_string());
            super::user_grants::rotate(st, ev, &hub, &client, &req, now).await
        }
        TokenRequest::ClientCredentials(req) => {
            // With a secret nothing here waits; only a `private_key_jwt`
            // client whose keys are at a `jwksUri` may wait for them (cached).
            let client = authenticate(st, &hub, &credentials, Endpoint::Token, now).await?;
            ev.client_id = Some(client.client_id.to_string());
            let grant = client_credentials(&hub, &client, &req, now, &mut ev.removed)?;
            respond(st, ev, &hub, &client, &grant, now, None)
        }
        TokenRequest::JwtBearer(req) => {
            let client = identify(st, &hub, &credentials, now).await?;
            ev.client_id = Some(client.client_id.to_string());
            let asserted = assertion::verify(st, grant_issuers(&client)?, req.assertion, now).await?.asserted();
            ev.subject = Some(asserted.subject.clone());
            let grant = jwt_bearer(&hub, &client, &req, &asserted, now, &mut ev.removed)?;
            respond(st, ev, &hub, &client, &grant, now, None)
        }
        TokenRequest::TokenExchange(req) => {
            let client = authenticate(st, &hub, &credentials, Endpoint::Token, now).await?;
            ev.client_id = Some(client.client_id.to_string());
            let subject = token_exchange::presented(st, &hub, &client, req.subject_token, now)
                .await
                .map_err(|e| token_exchange::as_request_error("subject_token", e))?;
            ev.subject = Some(subject.sub.clone());
            let actor = match req.actor_token {
                Some(t) => Some(
                    token_exchange::presented(st, &hub, &client, t, now)
                        .await
                        .map_err(|e| token_exchange::as_request_error("actor_token", e))?,
                ),
                None => None,
            };
            let grant = exchange(&hub, &client, &subject, actor.as_ref(), &req, now, &mut ev.removed)?;
            respond(st, ev, &hub, &client, &grant, now, Some(TOKEN_TYPE_ACCESS_TOKEN))
        }
    }
}

/// Signs what a grant decided.
fn respond(
    st: &AppState,
    ev: &mut Event,
    hub: &HubSnapshot,
    client: &CompiledClient,
    grant: &Grant<'_>,
    now: UnixTime,
    issued_token_type: Option<&'static str>,
) -> Result<Response, ApiError> {
    ev.resource = Some(grant.resource.identifier.to_string());
    ev.tenant = grant.tenant.map(str::to_owned);
    ev.scope = Some(grant.scope.clone());
    let jti = new_jti(st)?;
    let claims = grant.claims(&hub.settings, client, now, &jti);
    let access_token = sign(st, &claims)?;
    ev.token_id = Some(jti);
    Ok(token_response(&access_token, grant.lifetime.as_secs(), &grant.scope, issued_token_type))
}

/// 128 random bits, base64url: unique per token, and the handle revocation uses.
pub(crate) fn new_jti(st: &AppState) -> Result<String, ApiError> {
    let mut raw = [0u8; 16];
    st.rng.fill(&mut raw).map_err(|_| unavailable())?;
    Ok(B64.encode(raw))
}

pub(crate) fn sign(st: &AppState, claims: &impl Serialize) -> Result<String, ApiError> {
    let json = serde_json::to_vec(claims).map_err(|_| unavailable())?;
    let keys = st.keys.load();
    let keys = keys.as_ref().ok_or_else(unavailable)?;
    keys.active.sign_jwt(&json, &st.rng).map_err(|_| unavailable())
}

fn unavailable() -> ApiError {
    ApiError::OAuth(OAuthError::new(ErrorCode::TemporarilyUnavailable, "could not issue a token, try again"))
}
