//! `POST /introspect` (RFC 7662). The caller authenticates as a client and sees
//! a token as active only if it was issued to that client, or if the caller is
//! one of the introspectors of the token's Resource. Everything else is
//! `{"active":false}` (§2.2), so introspection never tells a stranger whether a
//! token exists.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::client_auth::Endpoint;
use super::error::{ApiError, json_response};
use super::token_param::{self, TokenParamRequest};
use super::verify::verify;

#[derive(Serialize)]
struct Active<'a> {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    client_id: &'a str,
    sub: &'a str,
    aud: &'a str,
    iss: &'a str,
    exp: u64,
    iat: u64,
    jti: &'a str,
    token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
}

const INACTIVE: &[u8] = br#"{"active":false}"#;

pub async fn introspect(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match run(&st, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(
    st: &Arc<AppState>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let TokenParamRequest { hub, caller, token, now } =
        token_param::read(st, headers, body, Endpoint::Introspect).await?;
    let Ok(claims) = verify(st, &token, now, false) else {
        return Ok(json_response(StatusCode::OK, INACTIVE.to_vec()));
    };
    // Tokens of a deleted client, or for a deleted Resource, die with it.
    if hub.issuing_client(&claims.client_id, &claims.client_incarnation).is_none()
        || hub.resource(&claims.aud).is_none()
    {
        return Ok(json_response(StatusCode::OK, INACTIVE.to_vec()));
    }
    let may_see = *caller.client_id == *claims.client_id
        || hub.resource(&claims.aud).is_some_and(|r| r.introspectors.iter().any(|c| **c == *caller.client_id));
    if !may_see {
        return Ok(json_response(StatusCode::OK, INACTIVE.to_vec()));
    }
    // From memory in every backend: no disk or API call here.
    if st.store.is_revoked(&claims.jti)? {
        return Ok(json_response(StatusCode::OK, INACTIVE.to_vec()));
    }
    let body = serde_json::to_vec(&Active {
        active: true,
        scope: claims.scope.as_deref(),
        client_id: &claims.client_id,
        sub: &claims.sub,
        aud: &claims.aud,
        iss: &claims.iss,
        exp: claims.exp,
        iat: claims.iat,
        jti: &claims.jti,
        token_type: "Bearer",
        tenant: claims.tenant.as_deref(),
    })
    .unwrap_or_else(|_| INACTIVE.to_vec());
    Ok(json_response(StatusCode::OK, body))
}
