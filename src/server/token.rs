//! `POST /token` (RFC 6749 §3.2). This is the hot path: no Kubernetes call, no
//! blocking I/O, one snapshot load, one digest, one signature.

use std::sync::Arc;

use aws_lc_rs::rand::SecureRandom;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keyward_core::OAuthError;
use keyward_core::claims::client_credentials_claims;
use keyward_core::error::{ErrorCode, echo};
use keyward_core::grant::client_credentials::{ClientCredentialsRequest, client_credentials};
use keyward_core::model::GrantType;
use serde::Serialize;

use super::client_auth::{Credentials, Endpoint, authenticate};
use super::error::{ApiError, json_response};
use super::{AppState, MAX_BODY, form};

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
    let mut grant = None;
    match issue(&st, &headers, body, &mut grant).await {
        Ok(r) => {
            st.metrics.token_issued(grant);
            r
        }
        Err(e) => {
            st.metrics.token_refused(grant, e.code());
            e.into_response()
        }
    }
}

pub(crate) fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge(MAX_BODY)
        }
        _ => ApiError::OAuth(OAuthError::invalid_request("could not read the request body")),
    })
}

/// `grant` is set as soon as the request names a known grant, so a refusal
/// is counted under it.
async fn issue(
    st: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    grant: &mut Option<GrantType>,
) -> Result<Response, ApiError> {
    let body = read_body(body)?;
    form::require_form_content_type(headers)?;
    let form = form::parse(&body)?;
    let grant_type = form.one("grant_type")?.ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    *grant = GrantType::from_wire(grant_type);
    match *grant {
        Some(GrantType::ClientCredentials) => client_credentials_grant(st, headers, &form).await,
        Some(GrantType::JwtBearer) => super::jwt_bearer::issue(st, headers, &form).await,
        Some(GrantType::TokenExchange) => super::token_exchange::issue(st, headers, &form).await,
        Some(_) => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type '{grant_type}' is not supported by this hub yet"),
        )
        .into()),
        None => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type '{}' is not supported", echo(grant_type)),
        )
        .into()),
    }
}

/// The hot path: no store, one signature. With a secret nothing here waits;
/// only a `private_key_jwt` client whose keys are at a `jwksUri` may wait for
/// them (cached).
async fn client_credentials_grant(
    st: &AppState,
    headers: &HeaderMap,
    form: &form::Form<'_>,
) -> Result<Response, ApiError> {
    let hub = st.hub.load_full();
    let now = st.now();
    let credentials = Credentials::read(headers, form)?;
    let client = authenticate(st, &hub, &credentials, Endpoint::Token, now).await?;
    let client = &client;
    let resources = form.all("resource");
    let request =
        ClientCredentialsRequest { scope: form.one("scope")?, resources: &resources, tenant: form.one("tenant")?, now };
    let granted = client_credentials(&hub, client, &request)?;
    let jti = new_jti(st)?;
    let claims = client_credentials_claims(&hub.settings, client, &granted, now, &jti);
    let access_token = sign(st, &claims)?;
    Ok(token_response(&access_token, granted.lifetime.as_secs(), &granted.scope, None))
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
