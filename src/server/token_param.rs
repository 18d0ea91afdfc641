//! The request shape introspection (RFC 7662 §2.1) and revocation (RFC 7009
//! §2.1) share: a form with `token` and an optional `token_type_hint`, from an
//! authenticated client.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use keyward_core::snapshot::{CompiledClient, HubSnapshot};
use keyward_core::{OAuthError, UnixTime};

use super::client_auth::{Credentials, Endpoint, authenticate};
use super::error::ApiError;
use super::token::read_body;
use super::{AppState, form};

pub struct TokenParamRequest {
    pub hub: Arc<HubSnapshot>,
    pub caller: Arc<CompiledClient>,
    pub token: String,
    pub now: UnixTime,
}

pub async fn read(
    st: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    endpoint: Endpoint,
) -> Result<TokenParamRequest, ApiError> {
    let body = read_body(body)?;
    form::require_form_content_type(headers)?;
    let form = form::parse(&body)?;
    let token = form.one("token")?.ok_or_else(|| OAuthError::invalid_request("token is required"))?.to_owned();
    // There is one kind of token to look for, so the hint (even an unknown one,
    // RFC 7009 §2.1) changes nothing; it still may not be repeated.
    form.one("token_type_hint")?;
    let hub = st.hub.load_full();
    let now = st.now();
    let credentials = Credentials::read(headers, &form)?;
    let caller = authenticate(st, &hub, &credentials, endpoint, now).await?;
    Ok(TokenParamRequest { hub, caller, token, now })
}
