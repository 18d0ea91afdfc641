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
use axum::response::Response;
use keyward_core::grant::own_token::{OwnToken, usable};
use serde::Serialize;

use super::AppState;
use super::client_auth::Endpoint;
use super::error::{ApiError, json_response};
use super::token_param::{self, TokenParamRequest};
use super::verify::verify;
use crate::audit::{Event, Kind, Outcome};

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
    let mut ev = st.event(Kind::Introspection);
    let result = run(&st, &headers, body, &mut ev).await.map(|active| match active {
        Some(body) => (json_response(StatusCode::OK, body), Outcome::Active),
        None => (json_response(StatusCode::OK, INACTIVE.to_vec()), Outcome::Inactive),
    });
    st.answer(&ev, result)
}

/// The active token's body, or `None` for `{"active":false}`.
async fn run(
    st: &Arc<AppState>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    ev: &mut Event,
) -> Result<Option<Vec<u8>>, ApiError> {
    let TokenParamRequest { hub, caller, token, now } =
        token_param::read(st, headers, body, Endpoint::Introspect).await?;
    ev.client_id = Some(caller.client_id.to_string());
    let Ok(claims) = verify(st, &token, now, false) else { return Ok(None) };
    // Tokens of a deleted client or Resource die with it; a stranger sees
    // nothing (not even that the token exists); revoked ones are inactive.
    // The revocation lookup is from memory in every backend.
    let own = OwnToken {
        client_id: &claims.client_id,
        client_incarnation: &claims.client_incarnation,
        aud: &claims.aud,
        jti: &claims.jti,
    };
    if usable(&hub, &own, &caller, |jti| st.store.is_revoked(jti))?.is_err() {
        return Ok(None);
    }
    ev.token_id = Some(claims.jti.clone());
    ev.token_client_id = Some(claims.client_id.clone());
    ev.subject = Some(claims.sub.clone());
    ev.resource = Some(claims.aud.clone());
    ev.scope = claims.scope.clone();
    ev.tenant = claims.tenant.clone();
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
    .ok();
    Ok(body)
}
