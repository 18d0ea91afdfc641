//! `POST /revoke` (RFC 7009). Access tokens are JWTs, so revoking one records
//! its `jti` until it would have expired: introspection then reports it
//! inactive. A refresh token (opaque) is looked up in the records: revoking
//! it ends its whole family (§2.1: the server may revoke the grant's other
//! tokens too; a family is one authorization). Resource servers that only verify signatures offline keep
//! accepting it until `exp` — the price of stateless tokens, and why lifetimes
//! are short.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_core::sessions;
use keyward_core::store::RecordKind;
use keyward_core::{OAuthError, UnixTime};

use super::AppState;
use super::client_auth::Endpoint;
use super::error::{ApiError, no_store};
use super::token_param::{self, TokenParamRequest};
use super::verify::verify;
use crate::audit::{Event, Kind, Outcome};

pub async fn revoke(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut ev = st.event(Kind::Revocation);
    let result = run(&st, &headers, body, &mut ev).await;
    st.answer(&ev, result.map(|outcome| (no_store(StatusCode::OK.into_response()), outcome)))
}

async fn run(
    st: &Arc<AppState>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    ev: &mut Event,
) -> Result<Outcome, ApiError> {
    let TokenParamRequest { caller, token, now, .. } = token_param::read(st, headers, body, Endpoint::Revoke).await?;
    ev.client_id = Some(caller.client_id.to_string());

    // A refresh token? (`token_type_hint` is only a hint, §2.1: both are tried.)
    if let Some(outcome) = refresh_token(st, &caller.client_id, &token, now, ev).await? {
        return Ok(outcome);
    }
    // §2.2: an invalid, unknown or expired token is not an error.
    let Ok(claims) = verify(st, &token, now, true) else { return Ok(Outcome::Ignored) };
    if now.0 >= claims.exp {
        return Ok(Outcome::Ignored);
    }
    ev.token_id = Some(claims.jti.clone());
    ev.token_client_id = Some(claims.client_id.clone());
    // §2.1: only the client the token was issued to may revoke it.
    if *caller.client_id != *claims.client_id {
        return Err(OAuthError::unauthorized_client("the token was not issued to this client").into());
    }
    let revoked = st.store.revoke(&claims.jti, UnixTime(claims.exp)).await;
    st.metrics.revocation(revoked.is_ok());
    revoked?;
    Ok(Outcome::Revoked)
}

/// Revokes the family of `token` if it is a live refresh token of this hub;
/// `None` if it is none.
async fn refresh_token(
    st: &AppState,
    caller: &str,
    token: &str,
    now: UnixTime,
    ev: &mut Event,
) -> Result<Option<Outcome>, ApiError> {
    let Some(records) = st.records.as_deref() else { return Ok(None) };
    // JWTs have dots; a refresh token is 43 base64url characters.
    if token.len() != 43 || token.contains('.') {
        return Ok(None);
    }
    let key = super::browser::digest(token);
    let Some((_, t, _)) = sessions::get::<sessions::RefreshToken>(records, RecordKind::Refresh, &key, now).await?
    else {
        return Ok(None);
    };
    ev.token_client_id = Some(t.client_id.clone());
    if t.client_id != caller {
        return Err(OAuthError::unauthorized_client("the token was not issued to this client").into());
    }
    sessions::revoke_family(records, &t.family, now).await?;
    Ok(Some(Outcome::Revoked))
}
