//! `GET|POST /userinfo` (OpenID Connect Core §5.3): the claims of the user an
//! access token was issued to, from the consent it rests on (the hub keeps no
//! user table). The consent gone — revoked, or its client deleted — the
//! token no longer reads the profile.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_core::sessions::{self, Consent};
use keyward_core::store::RecordKind;
use serde_json::json;

use super::AppState;
use super::browser;
use super::verify::verify;

fn unauthorized(error: &'static str) -> Response {
    let mut r = StatusCode::UNAUTHORIZED.into_response();
    let challenge = format!(r#"Bearer error="{error}""#);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

pub async fn userinfo(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(token) = super::bearer_token(&headers) else {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    };
    let now = st.now();
    let Ok(t) = verify(&st, token, now, false) else { return unauthorized("invalid_token") };
    if st.store.is_revoked(&t.jti).unwrap_or(true) {
        return unauthorized("invalid_token");
    }
    let hub = st.hub.load();
    if hub.issuing_client(&t.client_id, &t.client_incarnation).is_none() {
        return unauthorized("invalid_token");
    }
    let Some(records) = &st.records else { return unauthorized("invalid_token") };
    let key = browser::digest(&sessions::consent_key(&t.sub, &t.client_id, &t.aud));
    let consent = match sessions::get::<Consent>(&**records, RecordKind::Consent, &key, now).await {
        Ok(Some((_, c, _))) if c.incarnation == t.client_incarnation => c,
        Ok(_) => return unauthorized("invalid_token"),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    if !consent.openid.iter().any(|o| o == "openid") {
        return unauthorized("insufficient_scope");
    }
    let u = &consent.user;
    let mut body = json!({ "sub": u.sub });
    if consent.openid.iter().any(|o| o == "profile") {
        body["preferred_username"] = json!(u.username);
        if let Some(n) = &u.name {
            body["name"] = json!(n);
        }
    }
    if consent.openid.iter().any(|o| o == "email")
        && let Some(e) = &u.email
    {
        body["email"] = json!(e);
    }
    super::error::json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default())
}
